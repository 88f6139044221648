package room

import (
	"cmp"
	"slices"
	"strings"
)

// viewerSet is a room's WHEP players and the questions the room asks of
// them: who watches an identity, who came in with a token. Loop-owned.
type viewerSet struct {
	m map[*Viewer]struct{}
}

func (s *viewerSet) add(v *Viewer) {
	if s.m == nil {
		s.m = map[*Viewer]struct{}{}
	}
	s.m[v] = struct{}{}
}

// remove takes v out; false when it was not in.
func (s *viewerSet) remove(v *Viewer) bool {
	if _, ok := s.m[v]; !ok {
		return false
	}
	delete(s.m, v)
	return true
}

func (s *viewerSet) len() int { return len(s.m) }

// byID finds a viewer; nil when there is none.
func (s *viewerSet) byID(id string) *Viewer {
	for v := range s.m {
		if v.id == id {
			return v
		}
	}
	return nil
}

// watching lists the viewers of identity.
func (s *viewerSet) watching(identity string) []*Viewer {
	var out []*Viewer
	for v := range s.m {
		if v.identity == identity {
			out = append(out, v)
		}
	}
	return out
}

// openedBy lists the viewers opened with tokenID or, when personal, by the
// holder of a personal token for identity.
func (s *viewerSet) openedBy(tokenID, identity string, personal bool) []*Viewer {
	var out []*Viewer
	for v := range s.m {
		if (tokenID != "" && v.tokenID == tokenID) || (personal && identity != "" && !v.invite && v.watcher == identity) {
			out = append(out, v)
		}
	}
	return out
}

// all lists every viewer, in no order.
func (s *viewerSet) all() []*Viewer {
	out := make([]*Viewer, 0, len(s.m))
	for v := range s.m {
		out = append(out, v)
	}
	return out
}

// list describes the viewers, oldest first (to the second, then by id).
func (s *viewerSet) list() []ViewerInfo {
	out := make([]ViewerInfo, 0, len(s.m))
	for v := range s.m {
		out = append(out, ViewerInfo{ID: v.id, Watcher: v.watcher, Watched: v.identity, Since: v.since})
	}
	// By the second they began, then by id (the order of their RFC 3339
	// times, without formatting two strings per comparison: that was the
	// largest allocation of a 300-viewer run).
	slices.SortFunc(out, func(a, b ViewerInfo) int {
		if c := cmp.Compare(a.Since.Unix(), b.Since.Unix()); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
