package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/room"
)

// Cluster is the view of the node's cluster that the API shows.
type Cluster interface {
	// Node is this node's id.
	Node() string
	// Rooms lists the rooms the other nodes host, as their last heartbeats
	// reported them.
	Rooms() []RemoteRoom
	// Holders maps each room open on some node to the nodes that have it
	// open (a room that spans nodes has several), as their last heartbeats
	// reported them.
	Holders() map[string][]string
}

// RemoteRoom is a room another node of the cluster hosts.
type RemoteRoom struct {
	Name, Node, URL string
	Participants    int
}

// addRemote marks the list with this node and adds the other nodes' rooms.
// Of those only the name, node and participants are known here; the rest is
// the hosting node's to tell.
func (a *API) addRemote(out *adminclient.RoomList) {
	if a.cluster == nil {
		return
	}
	self := a.cluster.Node()
	out.Node = self
	holders := a.cluster.Holders()
	parts := func(name, node string) []string {
		var out []string
		for _, h := range holders[name] {
			if h != node {
				out = append(out, h)
			}
		}
		return out
	}
	for i := range out.Rooms {
		out.Rooms[i].Node = self
		out.Rooms[i].Parts = parts(out.Rooms[i].Name, self)
	}
	for _, r := range a.cluster.Rooms() {
		if r.Node == self || slices.ContainsFunc(out.Rooms, func(l adminclient.Room) bool { return l.Name == r.Name }) {
			continue
		}
		out.Rooms = append(out.Rooms, adminclient.Room{Name: r.Name, Node: r.Node, Participants: r.Participants,
			Languages: []string{}, Settings: fromSettings(room.Settings{}), Parts: parts(r.Name, r.Node)})
	}
	slices.SortStableFunc(out.Rooms, func(x, y adminclient.Room) int { return strings.Compare(x.Name, y.Name) })
}

// elsewhere says, in a room_not_found answer, which node hosts the room.
func (a *API) elsewhere(e *Error, name string) {
	if a.cluster == nil || e.Code != "room_not_found" || name == "" {
		return
	}
	for _, r := range a.cluster.Rooms() {
		if r.Name == name && r.Node != a.cluster.Node() {
			e.Message = fmt.Sprintf("the room is hosted by node %s of the cluster (%s): ask that node's API", r.Node, r.URL)
			return
		}
	}
}
