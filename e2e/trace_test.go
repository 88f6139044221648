package e2e

import (
	"fmt"
	"strings"

	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/sfu"
)

// mediaTrace is a per-sample log of what a viewer's browser and the server did
// for one video: what a failing media test prints, so a freeze can be told
// from its cause (a lost keyframe, a throttled request, a layer switch, the
// estimate) without running it again.
type mediaTrace struct {
	srv    *server.Server
	path   *impairedPath
	rows   []string
	prevIn inbound
	prevT  sfu.Totals
	prevP  proxyStats
}

// newMediaTrace starts a trace; path is the viewer's impaired path, or nil.
func newMediaTrace(srv *server.Server, path *impairedPath, first inbound) *mediaTrace {
	m := &mediaTrace{srv: srv, path: path, prevIn: first, prevT: srv.Engine().Totals()}
	if path != nil {
		m.prevP = path.udp.stats()
	}
	return m
}

const traceHeader = "  t | path to viewer: offered dropped | viewer: kbit/s decoded dropped freezes(s) key PLI NACK lost rtx size" +
	" | server: out NACK resent held missed limited qdrop | PLI up throttled | keyframes in q/h/f | switches layer est loss"

// sample adds one row: the change since the last sample. The server's counters
// are its engine's; in a test with one viewer they are that viewer's (and its
// publisher's).
func (m *mediaTrace) sample(label string, in inbound) {
	t := m.srv.Engine().Totals()
	d, p := in, m.prevIn
	layers, est, loss := "-", "-", "-"
	for _, s := range m.srv.Engine().Subscribers() {
		var ls []string
		for _, l := range s.Layers {
			ls = append(ls, fmt.Sprintf("%d>%d@%dx%d in %d/%d/%dk", l.Current, l.Target, l.ViewW, l.ViewH,
				l.SourceRates[0]/1000, l.SourceRates[1]/1000, l.SourceRates[2]/1000))
		}
		if len(ls) == 0 {
			continue
		}
		layers = strings.Join(ls, ",")
		est = fmt.Sprintf("%dk", s.EstimatedBitrate/1000)
		loss = fmt.Sprintf("%.0f%%", 100*s.FractionLost)
	}
	pt := m.prevT
	var lane laneStats
	if m.path != nil {
		ps := m.path.udp.stats()
		lane = ps.ToClient.sub(m.prevP.ToClient)
		m.prevP = ps
	}
	m.rows = append(m.rows, fmt.Sprintf("%3s | %4d %4d | %4d %4d %3d %2d(%.2f) %2d %2d %3d %3d %3d %dx%d | %4dk %3d %3d %3d %3d %3d %3d | %2d %2d %2d | %d/%d/%d | %d %s %s %s",
		label, lane.Forwarded+lane.Dropped(), lane.Dropped(), (d.BytesReceived-p.BytesReceived)*8/1000,
		d.FramesDecoded-p.FramesDecoded, d.FramesDropped-p.FramesDropped,
		d.FreezeCount-p.FreezeCount, d.TotalFreezesDuration-p.TotalFreezesDuration,
		d.KeyFramesDecoded-p.KeyFramesDecoded, d.PLICount-p.PLICount, d.NackCount-p.NackCount,
		d.PacketsLost-p.PacketsLost, d.RTXReceived-p.RTXReceived, d.FrameWidth, d.FrameHeight,
		(t.BytesOut-pt.BytesOut)*8/1000, t.NACKs-pt.NACKs, t.Retransmits-pt.Retransmits, t.ResendsHeld-pt.ResendsHeld, t.ResendsMissed-pt.ResendsMissed, t.ResendsLimited-pt.ResendsLimited,
		t.QueueDrops-pt.QueueDrops,
		t.PLIs-pt.PLIs, t.KeyframeRequests-pt.KeyframeRequests, t.KeyframesThrottled-pt.KeyframesThrottled,
		t.KeyframesIn[0]-pt.KeyframesIn[0], t.KeyframesIn[1]-pt.KeyframesIn[1], t.KeyframesIn[2]-pt.KeyframesIn[2],
		t.LayerSwitches-pt.LayerSwitches, layers, est, loss))
	m.prevIn, m.prevT = in, t
}

func (m *mediaTrace) String() string {
	return traceHeader + "\n" + strings.Join(m.rows, "\n")
}
