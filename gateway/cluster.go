package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
)

// Cluster is what the gateway asks of the node's cluster.
type Cluster interface {
	// Peers lists the base URLs (scheme://host:port) of the cluster's other
	// nodes, as they registered: a page of this node may be redirected to
	// them, and theirs to this one.
	Peers() []string
	// Live lists the other live nodes' base URLs: a client whose node is
	// lost joins again through one of them (the welcome's "nodes").
	Live() []string
	// Ready is the cluster's part of /readyz: whether the node can place
	// rooms, and the state to report ({"redis": "unreachable"}).
	Ready() (ok bool, state map[string]string)
}

// SetCluster joins the gateway to a cluster; call it before serving.
func (g *Gateway) SetCluster(c Cluster) { g.cluster = c }

// peers are the origins the pages may open their signaling on, besides their own.
func (g *Gateway) peers() []string {
	if g.cluster == nil {
		return nil
	}
	return g.cluster.Peers()
}

// live lists the other live nodes for a welcome.
func (g *Gateway) live() []string {
	if g.cluster == nil {
		return nil
	}
	return g.cluster.Live()
}

// peerOrigin reports a WebSocket request from a page of another node of the
// cluster: its Origin is exactly the base URL a peer registered.
func (g *Gateway) peerOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || g.cluster == nil {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Host == r.Host {
		return false // the default check decides
	}
	return slices.Contains(g.cluster.Peers(), u.Scheme+"://"+u.Host)
}

// clusterReady answers /readyz for a node of a cluster, in JSON: 503 while
// the node drains or cannot reach the cluster's directory (it then hosts
// what it hosts, and places no new room).
func (g *Gateway) clusterReady(w http.ResponseWriter) {
	ok, state := g.cluster.Ready()
	body := map[string]string{}
	for k, v := range state {
		body[k] = v
	}
	status := http.StatusOK
	switch {
	case g.draining.Load():
		ok = false
		body["status"] = "shutting down"
	case ok:
		body["status"] = "ready"
	default:
		body["status"] = "not ready"
	}
	if !ok {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
