package room

import (
	"slices"

	"github.com/parleyhq/parley/auth"
)

// An operator's admin request about a participant connected to another node
// of a room that spans nodes is applied by that node, as a moderator's is:
// it holds the participant's connection and tracks, and it tells everyone.

// SpanOperate carries an operator's request (Operation) about one of the
// receiver's participants.
const SpanOperate = "operate"

// OperateGrants is an Operation that replaces a participant's grants.
const OperateGrants = "grants"

// Operation is an operator's request: ModerateMute (Source, Muted),
// ModerateRemove (Ban) or OperateGrants (Grants).
type Operation struct {
	Action string
	Target string // the participant's id
	Source string
	Muted  bool
	Ban    bool
	Grants []auth.Grant
}

// operateRemote sends op about remote participant p to its node, and
// answers p as it will be once that node applied it (within the link's
// round trip; the node's participant update follows).
func (r *Room) operateRemote(p *Participant, op Operation) ParticipantInfo {
	op.Target = p.id
	p.span.link.Send(SpanMessage{Kind: SpanOperate, Operation: &op})
	info := p.adminInfo()
	switch op.Action {
	case ModerateMute:
		for i := range info.Tracks {
			if info.Tracks[i].Source == op.Source {
				info.Tracks[i].Muted = op.Muted
			}
		}
	case OperateGrants:
		info.Grants = slices.Clone(op.Grants)
	}
	return info
}

// spanOperate applies an operator's request another node sent about one of
// this node's participants. The link is the cluster's, authenticated by its
// key: the operator was checked by the node whose admin API they called.
func (r *Room) spanOperate(op *Operation) {
	if op == nil {
		return
	}
	p := r.participants[op.Target]
	if p == nil || p.remote() {
		return
	}
	switch op.Action {
	case ModerateMute:
		if ValidSource(op.Source) {
			r.operatorMute(p, op.Source, op.Muted)
		}
	case ModerateRemove:
		r.operatorRemove(p, op.Ban)
	case OperateGrants:
		if ValidGrants(op.Grants) == nil {
			r.operatorGrants(p, op.Grants)
		}
	}
}
