package room

import "slices"

// Captions cross between the parts of a room that spans nodes: each node
// transcribes (and machine translates) the speakers connected to it, once,
// into the one record, and passes each caption to the parts whose
// participants follow its channel. The parts know each participant's choice
// of captions (SpanPeer.Captions) and channel, so the speaker's node also
// translates into the languages followed on other nodes.

// SpanCaption carries a caption of one of the sender's speakers.
const SpanCaption = "caption"

// captionAcross sends c to each part with a participant who follows its
// channel.
func (r *Room) captionAcross(c Caption) {
	if len(r.spans) == 0 {
		return
	}
	var sent []*span
	for _, q := range r.participants {
		if !q.remote() || !q.can(authSubscribe) || r.router.captionsOf(q.id) != c.Channel {
			continue
		}
		if !slices.Contains(sent, q.span) {
			sent = append(sent, q.span)
			q.span.link.Send(SpanMessage{Kind: SpanCaption, Caption: &c})
		}
	}
}

// spanCaption shows a caption from the part s to this node's participants
// who follow its channel, as its own node does for its own.
func (r *Room) spanCaption(s *span, c *Caption) {
	if c == nil {
		return
	}
	// Only a part's own speakers (or one who left since they spoke).
	if from := r.participants[c.From.ID]; from != nil && from.span != s {
		return
	}
	var live map[string]bool
	if c.Translated {
		live = r.liveChannels() // an interpreter who came on meanwhile speaks for the channel now
	}
	for _, q := range r.participants {
		if !q.remote() && q.can(authSubscribe) && r.router.captionsOf(q.id) == c.Channel && !live[c.Channel] {
			q.client.Caption(*c)
		}
	}
}
