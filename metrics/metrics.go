// Package metrics exposes a node's state to Prometheus: rooms, participants
// and tracks read from the rooms at scrape time, the media path's counters,
// downlink quality, join latency, webhook deliveries, the TURN relay and the Go runtime
// (docs/metrics.md). It uses its own registry, so nothing else in the process
// can add to, or break, what /metrics shows.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleyhq/parley/relay"
	"github.com/parleyhq/parley/room"
	"github.com/parleyhq/parley/sfu"
)

// Sources are what a node's metrics are read from. Nil fields are skipped.
type Sources struct {
	Rooms    *room.Manager
	Engine   *sfu.Engine
	Webhooks func() WebhookStats
	TURN     func() relay.Stats
	ASR      func() ASRStats
	Cluster  func() ClusterStats
}

// ClusterStats are the node's cluster as its last heartbeat read it. The
// server wires them from package cluster, which metrics need not know.
type ClusterStats struct {
	Up    bool           // Redis answered the last heartbeat
	Nodes int            // live nodes, this one included
	Rooms map[string]int // rooms in the directory, by node id (every live node present)
}

// ASRStats are the speech recogniser client's counters, all cumulative, and
// its engine latency histogram (cumulative counts per upper bound, seconds).
// The server wires them from package transcribe, which metrics need not know.
type ASRStats struct {
	Segments   uint64 // answered by the engine
	Empty      uint64 // answered with no text
	Errors     uint64 // given up after retries, or refused
	Retries    uint64
	Dropped    uint64 // segments dropped unsent: the queue was full
	TapDropped uint64 // packets dropped before segmenting: a track's goroutine lagged
	// Answering: the engine answers in time (false while captions are paused).
	Answering bool

	LatencyBuckets []float64
	LatencyCounts  []uint64
	LatencySum     float64
	LatencyCount   uint64
}

// WebhookStats are the webhook deliveries' counters, all cumulative. The
// server wires them from the webhook dispatcher, which metrics need not know.
type WebhookStats struct {
	Delivered uint64 // a receiver answered 2xx
	Failed    uint64 // given up: attempts exhausted, refused, or cut by shutdown
	Dropped   uint64 // never tried: the receiver's queue was full
	Retries   uint64 // attempts after the first
}

// Metrics is one node's registry.
type Metrics struct {
	reg   *prometheus.Registry
	joins prometheus.Histogram
	log   *slog.Logger
}

// roomsTimeout bounds how long a scrape waits for the room loops to answer;
// Prometheus's own scrape timeout is 10 s by default.
const roomsTimeout = 3 * time.Second

// New makes the registry. Call Watch once the sources exist: the join
// histogram is needed before the room manager is made, the manager after.
func New(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{reg: prometheus.NewRegistry(), log: log}
	m.joins = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "parley_join_duration_seconds",
		Help: "Time from a join reaching the room manager to the welcome being sent, for admitted joins.",
		// Joins are milliseconds when the node is well, seconds when its
		// rooms are overloaded: cover both ends.
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m.joins,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// ObserveJoin records one join's duration; it fits room.Config.OnJoined. A nil
// *Metrics (metrics off) ignores it.
func (m *Metrics) ObserveJoin(d time.Duration) {
	if m == nil {
		return
	}
	m.joins.Observe(d.Seconds())
}

// Watch adds the collectors that read src at every scrape.
func (m *Metrics) Watch(src Sources) {
	m.reg.MustRegister(&nodeCollector{src: src})
}

// Handler serves the text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // one failing collector must not blank the page
		Timeout:       2 * roomsTimeout,
	})
}

// Registry is the node's registry (for tests and embedding).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// Everything the node collector emits. Room names are never labels: they
// would leak meeting names to whoever scrapes and make series unbounded.
var (
	roomsDesc        = desc("parley_rooms", "Open rooms on this node.")
	recordingDesc    = desc("parley_rooms_recording", "Rooms being recorded.")
	participantsDesc = desc("parley_participants", "Participants seated in rooms on this node, reconnecting ones included (a room that spans nodes: each counts its own).")
	reconnectingDesc = desc("parley_participants_reconnecting", "Participants whose connection dropped and whose seat is waiting for them.")
	tracksDesc       = desc("parley_tracks", "Published tracks carrying media, by kind (a room that spans nodes: each node counts its own participants').", "kind")

	packetsDesc     = desc("parley_packets_total", "RTP packets received from publishers (in) and sent to subscribers (out, retransmissions included).", "direction")
	bytesDesc       = desc("parley_bytes_total", "RTP bytes received from publishers (in) and sent to subscribers (out).", "direction")
	nacksDesc       = desc("parley_nacks_total", "Packets subscribers asked to be resent (NACK).")
	retransmitsDesc = desc("parley_retransmits_total", "Packets resent to subscribers from the cache.")
	plisDesc        = desc("parley_plis_total", "Keyframe requests (PLI/FIR) from subscribers.")
	keyframesDesc   = desc("parley_keyframe_requests_total", "Keyframe requests sent to publishers, after aggregation.")
	switchesDesc    = desc("parley_layer_switches_total", "Simulcast layer changes made for subscribers.")
	deferredDesc    = desc("parley_keyframe_requests_deferred_total", "Keyframe requests that came within 300 ms of the last one to the same layer, sent when that interval ended unless a keyframe answered them first.")
	keyframesInDesc = desc("parley_keyframes_received_total", "Keyframes arriving from publishers, by simulcast layer (0 lowest).", "layer")
	queueDropsDesc  = desc("parley_send_queue_drops_total", "Packets dropped because a subscriber's send queue was full: a connection not taking what is sent to it (video waits for its next keyframe, audio loses the packet).")
	candidatesDesc  = desc("parley_ice_candidates_refused_total", "Remote ICE candidates refused: addresses a client may not make the server send checks to (unspecified, multicast, link-local, the node's own services, denied networks, beyond 32 a connection).")
	unresentDesc    = desc("parley_nacks_unanswered_total", "NACKed packets not resent: resent less than 100 ms before (held), no longer in the cache (missed; a keyframe is then asked for), or over the subscriber's retransmission budget (limited).", "reason")

	subscribersDesc = desc("parley_subscribers", "Peers receiving media.")
	lossDesc        = desc("parley_subscriber_loss_ratio", "Fraction of packets lost as subscribers last reported it (worst stream per subscriber), over subscribers: mean and max.", "stat")
	lossyDesc       = desc("parley_subscribers_lossy", "Subscribers reporting more than 5% loss.")
	bitrateDesc     = desc("parley_subscriber_estimated_bitrate_bits_per_second", "Bandwidth estimate of subscribers' downlinks, over subscribers that have one: min, mean and max.", "stat")

	hooksDeliveredDesc = desc("parley_webhooks_delivered_total", "Webhook events a receiver accepted (2xx).")
	hooksFailedDesc    = desc("parley_webhooks_failed_total", "Webhook events given up: attempts exhausted, refused, or cut by shutdown.")
	hooksDroppedDesc   = desc("parley_webhooks_dropped_total", "Webhook events dropped because a receiver's queue was full.")
	hooksRetriesDesc   = desc("parley_webhook_retries_total", "Webhook delivery attempts after the first.")

	turnAllocationsDesc = desc("parley_turn_allocations", "Allocations the embedded TURN relay holds.")
	turnSessionsDesc    = desc("parley_turn_sessions", "Sessions (participants and viewers) whose TURN credentials are live.")
	turnRefusedDesc     = desc("parley_turn_allocations_refused_total", "TURN allocations refused: the session held its quota (quota), the node held its maximum (node_cap), credentials of a session that ended or that the node minted before a restart (revoked), expired credentials (expired).", "reason")
	turnRevokedDesc     = desc("parley_turn_allocations_revoked_total", "TURN allocations closed because their session ended.")
	asrSegmentsDesc     = desc("parley_asr_segments_total", "Speech segments the recogniser answered (empty: with no text).", "result")
	asrErrorsDesc       = desc("parley_asr_errors_total", "Speech segments given up: the engine failed after the retries, or refused them.")
	asrRetriesDesc      = desc("parley_asr_retries_total", "Requests to the recogniser tried again.")
	asrDroppedDesc      = desc("parley_asr_dropped_total", "Speech dropped before the recogniser: whole segments when its queue was full (queue), packets when a track's segmenter lagged (tap).", "stage")
	asrLatencyDesc      = desc("parley_asr_latency_seconds", "Time the recogniser took to answer a segment.")
	asrAnsweringDesc    = desc("parley_asr_answering", "1 while the recogniser answers in time, 0 while it does not (transcription and captions are paused).")
	turnCappedDesc      = desc("parley_turn_lifetimes_capped_total", "TURN Allocate and Refresh requests whose asked lifetime was cut to the relay's maximum.")

	clusterUpDesc    = desc("parley_cluster_redis_up", "1 when Redis answered this node's last heartbeat, 0 when it is unreachable (new rooms cannot be placed).")
	clusterNodesDesc = desc("parley_cluster_nodes", "Live nodes of the cluster, this one included, as its last heartbeat read them.")
	clusterRoomsDesc = desc("parley_cluster_rooms", "Rooms of the cluster's directory, by the node hosting them.", "node")
)

// lossyAbove is where loss becomes visible to people in a call.
const lossyAbove = 0.05

// nodeCollector reads the node's state at scrape time rather than keeping
// copies that could drift from it.
type nodeCollector struct{ src Sources }

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{roomsDesc, recordingDesc, participantsDesc, reconnectingDesc, tracksDesc,
		packetsDesc, bytesDesc, nacksDesc, retransmitsDesc, plisDesc, keyframesDesc, switchesDesc,
		deferredDesc, keyframesInDesc, unresentDesc, candidatesDesc, queueDropsDesc,
		subscribersDesc, lossDesc, lossyDesc, bitrateDesc,
		hooksDeliveredDesc, hooksFailedDesc, hooksDroppedDesc, hooksRetriesDesc,
		turnAllocationsDesc, turnSessionsDesc, turnRefusedDesc, turnRevokedDesc, turnCappedDesc,
		asrSegmentsDesc, asrErrorsDesc, asrRetriesDesc, asrDroppedDesc, asrLatencyDesc, asrAnsweringDesc,
		clusterUpDesc, clusterNodesDesc, clusterRoomsDesc} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.Rooms != nil {
		ctx, cancel := context.WithTimeout(context.Background(), roomsTimeout)
		rooms := c.src.Rooms.Stats(ctx)
		cancel()
		var participants, reconnecting, recording int
		kinds := map[string]int{"audio": 0, "video": 0} // both always present, so rate() and alerts see zeros
		for _, r := range rooms {
			participants += r.Participants
			reconnecting += r.Reconnecting
			if r.Recording {
				recording++
			}
			for k, n := range r.TracksByKind {
				kinds[k] += n
			}
		}
		gauge(roomsDesc, float64(len(rooms)))
		gauge(recordingDesc, float64(recording))
		gauge(participantsDesc, float64(participants))
		gauge(reconnectingDesc, float64(reconnecting))
		for k, n := range kinds {
			gauge(tracksDesc, float64(n), k)
		}
	}

	if c.src.Cluster != nil {
		cs := c.src.Cluster()
		up := 0.0
		if cs.Up {
			up = 1
		}
		gauge(clusterUpDesc, up)
		gauge(clusterNodesDesc, float64(cs.Nodes))
		for node, n := range cs.Rooms {
			gauge(clusterRoomsDesc, float64(n), node)
		}
	}

	if c.src.Engine != nil {
		t := c.src.Engine.Totals()
		counter(packetsDesc, t.PacketsIn, "in")
		counter(packetsDesc, t.PacketsOut, "out")
		counter(bytesDesc, t.BytesIn, "in")
		counter(bytesDesc, t.BytesOut, "out")
		counter(nacksDesc, t.NACKs)
		counter(retransmitsDesc, t.Retransmits)
		counter(plisDesc, t.PLIs)
		counter(keyframesDesc, t.KeyframeRequests)
		counter(switchesDesc, t.LayerSwitches)
		counter(deferredDesc, t.KeyframesThrottled)
		counter(candidatesDesc, t.CandidatesRefused)
		counter(queueDropsDesc, t.QueueDrops)
		for i, n := range t.KeyframesIn {
			counter(keyframesInDesc, n, strconv.Itoa(i))
		}
		counter(unresentDesc, t.ResendsHeld, "held")
		counter(unresentDesc, t.ResendsMissed, "missed")
		counter(unresentDesc, t.ResendsLimited, "limited")

		subs := c.src.Engine.Subscribers()
		var lossSum, lossMax float64
		var lossy int
		var rateSum, rateMin, rateMax uint64
		var rated int
		for _, s := range subs {
			lossSum += s.FractionLost
			lossMax = max(lossMax, s.FractionLost)
			if s.FractionLost > lossyAbove {
				lossy++
			}
			if s.EstimatedBitrate > 0 {
				if rated == 0 || s.EstimatedBitrate < rateMin {
					rateMin = s.EstimatedBitrate
				}
				rateMax = max(rateMax, s.EstimatedBitrate)
				rateSum += s.EstimatedBitrate
				rated++
			}
		}
		gauge(subscribersDesc, float64(len(subs)))
		gauge(lossyDesc, float64(lossy))
		// With nobody to average over, the mean is absent rather than a false 0.
		if len(subs) > 0 {
			gauge(lossDesc, lossSum/float64(len(subs)), "mean")
			gauge(lossDesc, lossMax, "max")
		}
		if rated > 0 {
			gauge(bitrateDesc, float64(rateMin), "min")
			gauge(bitrateDesc, float64(rateSum)/float64(rated), "mean")
			gauge(bitrateDesc, float64(rateMax), "max")
		}
	}

	if c.src.Webhooks != nil {
		h := c.src.Webhooks()
		counter(hooksDeliveredDesc, h.Delivered)
		counter(hooksFailedDesc, h.Failed)
		counter(hooksDroppedDesc, h.Dropped)
		counter(hooksRetriesDesc, h.Retries)
	}

	if c.src.ASR != nil {
		a := c.src.ASR()
		counter(asrSegmentsDesc, a.Segments-a.Empty, "text")
		counter(asrSegmentsDesc, a.Empty, "empty")
		counter(asrErrorsDesc, a.Errors)
		counter(asrRetriesDesc, a.Retries)
		counter(asrDroppedDesc, a.Dropped, "queue")
		counter(asrDroppedDesc, a.TapDropped, "tap")
		answering := 0.0
		if a.Answering {
			answering = 1
		}
		gauge(asrAnsweringDesc, answering)
		buckets := make(map[float64]uint64, len(a.LatencyBuckets))
		for i, b := range a.LatencyBuckets {
			buckets[b] = a.LatencyCounts[i]
		}
		ch <- prometheus.MustNewConstHistogram(asrLatencyDesc, a.LatencyCount, a.LatencySum, buckets)
	}

	if c.src.TURN != nil {
		t := c.src.TURN()
		gauge(turnAllocationsDesc, float64(t.Allocations))
		gauge(turnSessionsDesc, float64(t.Sessions))
		counter(turnRefusedDesc, t.RefusedQuota, "quota")
		counter(turnRefusedDesc, t.RefusedFull, "node_cap")
		counter(turnRefusedDesc, t.RefusedRevoked, "revoked")
		counter(turnRefusedDesc, t.RefusedExpired, "expired")
		counter(turnRevokedDesc, t.Revoked)
		counter(turnCappedDesc, t.LifetimesCapped)
	}
}
