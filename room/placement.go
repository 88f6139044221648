package room

import (
	"context"
	"errors"
)

// Placement places rooms among the nodes of a cluster; the server wires it
// (Config.Placement), and nil means this node alone. The manager asks it only
// about rooms not open here: a room that is open here stays here, whatever
// the cluster's directory can or cannot say.
type Placement interface {
	// Claim is asked before a room opens here. With here (the operator
	// opens it on this node) the room is claimed for this node or refused;
	// otherwise the cluster picks a node. nil: open it here; with part, as a
	// part of a room that another node holds and that spans nodes (that node
	// keeps its record). An *ElsewhereError: another node holds it.
	// ErrPlacementUnavailable: no node can be chosen now.
	Claim(ctx context.Context, room string, here bool) (part bool, err error)
	// Locate says where a room that is not open here is open: an
	// *ElsewhereError, or nil when it is open nowhere else.
	Locate(ctx context.Context, room string) error
	// Spill is asked before a join of a room that is open here, or whose
	// part opens here: an *ElsewhereError sends the client to a node less
	// busy than this one; nil serves it here.
	Spill(ctx context.Context, room string) error
}

// ElsewhereError says a room is open, or placed, on another node of the
// cluster: the client is sent there.
type ElsewhereError struct {
	Node string // the node's id
	URL  string // its advertised base URL, as the cluster registered it
}

func (e *ElsewhereError) Error() string { return "the room is hosted by node " + e.Node }

// ErrPlacementUnavailable refuses a room that is not open here while the
// cluster cannot say where it should be.
var ErrPlacementUnavailable = errors.New("the cluster cannot place a new room now")

// open reports whether name is open on this node.
func (m *Manager) open(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rooms[name] != nil
}

// place asks the cluster about a room that is not open here; part: it
// opens as a part of a room another node holds.
func (m *Manager) place(ctx context.Context, name string, here bool) (part bool, err error) {
	if m.cfg.Placement == nil || m.open(name) {
		return false, nil
	}
	return m.cfg.Placement.Claim(ctx, name, here)
}

// spill asks the cluster whether a join of a room held here, or of which a
// part would open here, goes to a less busy node. A client taking back its
// seat is served where it came: its seat is here, or kept by every part.
func (m *Manager) spill(ctx context.Context, name string, part bool, resume string) error {
	if m.cfg.Placement == nil || resume != "" || !(part || m.open(name)) {
		return nil
	}
	return m.cfg.Placement.Spill(ctx, name)
}
