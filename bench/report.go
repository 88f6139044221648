package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// Report is what a run measured. The JSON field names are stable; BENCHMARKS.md
// documents each one. Rates are over the measuring window.
type Report struct {
	Scenario            string `json:"scenario"`
	Rooms               int    `json:"rooms"`
	ParticipantsPerRoom int    `json:"participants_per_room"`
	VideoBitrate        int    `json:"video_bitrate_bps"`

	Clients  int            `json:"clients"`
	Joined   int            `json:"joined"`
	Failed   int            `json:"failed"`
	Failures map[string]int `json:"failures"`

	WindowSeconds    float64 `json:"window_seconds"`
	StreamsPublished int     `json:"streams_published"`
	StreamsExpected  int     `json:"streams_expected"`
	StreamsReceived  int     `json:"streams_received"`

	PublishedPacketsPerSecond float64 `json:"published_packets_per_second"`
	PublishedBytesPerSecond   float64 `json:"published_bytes_per_second"`
	ForwardedPacketsPerSecond float64 `json:"forwarded_packets_per_second"`
	ForwardedBytesPerSecond   float64 `json:"forwarded_bytes_per_second"`

	PacketsExpected  uint64  `json:"packets_expected"`
	PacketsLost      uint64  `json:"packets_lost"`
	LossPercent      float64 `json:"loss_percent"`
	PacketsReordered uint64  `json:"packets_reordered"`

	JoinMs    Distribution `json:"join_ms"`
	LatencyMs Distribution `json:"latency_ms"`

	Server *ServerStats `json:"server"`

	ClientCPUUtilisation  float64  `json:"client_cpu_utilisation"`
	ClientSchedLatencyP99 float64  `json:"client_sched_latency_p99_ms"`
	ClientUDPDrops        uint64   `json:"client_udp_drops"`
	OtherCPUUtilisation   float64  `json:"other_cpu_utilisation"`
	Warnings              []string `json:"warnings"`
}

// Distribution summarises samples in milliseconds.
type Distribution struct {
	Count  uint64  `json:"count"`
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// ServerStats is the server process's cost over the window (given --server-pid).
type ServerStats struct {
	PID                       int     `json:"pid"`
	CPUSeconds                float64 `json:"cpu_seconds"`
	CPUUtilisation            float64 `json:"cpu_utilisation"`
	StreamSeconds             float64 `json:"stream_seconds"`
	CPUSecondsPerStreamSecond float64 `json:"cpu_seconds_per_stream_second"`
	CPUMicrosPerPacket        float64 `json:"cpu_us_per_forwarded_packet"`
	PeakRSSBytes              uint64  `json:"peak_rss_bytes"`
	VmHWMBytes                uint64  `json:"vm_hwm_bytes"`
	UDPDrops                  uint64  `json:"udp_drops"`
	UDPDropsJoining           uint64  `json:"udp_drops_joining"`
}

func (r *run) report(parts []*participant, w0, w1 snap, srv *procWatch) *Report {
	cfg := r.cfg
	secs := w1.at.Sub(w0.at).Seconds()
	rep := &Report{
		Scenario: cfg.Scenario, Rooms: cfg.Rooms, ParticipantsPerRoom: cfg.Participants, VideoBitrate: cfg.Bitrate,
		Clients: len(parts), Failures: map[string]int{}, WindowSeconds: secs, Warnings: []string{},
	}

	// Who joined, and which streams should arrive where.
	byRoom := map[string][]*participant{}
	var joins []float64
	for _, p := range parts {
		if p.failure != "" {
			rep.Failed++
			rep.Failures[shorten(p.failure)]++
		} else {
			rep.Joined++
		}
		if p.session != nil {
			byRoom[p.room] = append(byRoom[p.room], p)
			if p.publish {
				rep.StreamsPublished += len(p.sources)
			}
		}
		if first := p.first.Load(); p.timeJoin && first != 0 {
			joins = append(joins, float64(first-p.start.UnixNano())/1e6)
		}
	}
	for _, ps := range byRoom {
		for _, sub := range ps {
			for _, pub := range ps {
				if sub.subscribe && pub.publish && pub != sub {
					rep.StreamsExpected += len(pub.sources)
				}
			}
		}
	}
	js := sortedCopy(joins)
	rep.JoinMs = Distribution{Count: uint64(len(js)), Median: quantile(js, 0.5), P95: quantile(js, 0.95), P99: quantile(js, 0.99)}
	if len(js) > 0 {
		rep.JoinMs.Max = js[len(js)-1]
	}

	// What arrived.
	r.mu.Lock()
	streams := r.streams
	r.mu.Unlock()
	var packets, bytes uint64
	for _, s := range streams {
		w, ok := s.window()
		if !ok {
			continue
		}
		rep.StreamsReceived++
		packets += w.received
		bytes += w.bytes
		rep.PacketsExpected += w.expected
		rep.PacketsReordered += w.reordered
		if w.expected > w.received {
			rep.PacketsLost += w.expected - w.received
		}
	}
	if secs > 0 {
		rep.ForwardedPacketsPerSecond = float64(packets) / secs
		rep.ForwardedBytesPerSecond = float64(bytes) / secs
		rep.PublishedPacketsPerSecond = float64(w1.pubPackets-w0.pubPackets) / secs
		rep.PublishedBytesPerSecond = float64(w1.pubBytes-w0.pubBytes) / secs
		rep.ClientCPUUtilisation = (w1.selfCPU - w0.selfCPU) / secs
		if w0.machineErr == nil && w1.machineErr == nil {
			other := (w1.machineCPU - w0.machineCPU) - (w1.selfCPU - w0.selfCPU)
			if w0.serverErr == nil && w1.serverErr == nil && srv != nil {
				other -= w1.serverCPU - w0.serverCPU
			}
			rep.OtherCPUUtilisation = max(other/secs, 0)
		}
	}
	rep.ClientSchedLatencyP99 = schedQuantile(w0.sched, w1.sched, 0.99)
	rep.ClientUDPDrops = dropsSince(w0.selfDrops, w1.selfDrops)
	if rep.PacketsExpected > 0 {
		rep.LossPercent = 100 * float64(rep.PacketsLost) / float64(rep.PacketsExpected)
	}
	h := &r.latency
	rep.LatencyMs = Distribution{
		Count: h.count.Load(), Median: h.quantile(0.5), P95: h.quantile(0.95), P99: h.quantile(0.99),
		Max: float64(h.max.Load()) / 1e6,
	}

	if srv != nil {
		srv.stop()
		st := &ServerStats{PID: cfg.ServerPID, PeakRSSBytes: srv.peakRSS.Load(), UDPDrops: dropsSince(w0.serverDrops, w1.serverDrops)}
		if _, hwm, err := procMem(srv.pid); err == nil {
			st.VmHWMBytes = hwm
		}
		if w0.serverErr == nil && w1.serverErr == nil && secs > 0 {
			st.CPUSeconds = w1.serverCPU - w0.serverCPU
			st.CPUUtilisation = st.CPUSeconds / secs
			st.StreamSeconds = float64(rep.StreamsReceived) * secs
			if st.StreamSeconds > 0 {
				st.CPUSecondsPerStreamSecond = st.CPUSeconds / st.StreamSeconds
			}
			if packets > 0 {
				st.CPUMicrosPerPacket = st.CPUSeconds / float64(packets) * 1e6
			}
		} else {
			rep.Warnings = append(rep.Warnings, "the server's CPU time could not be read")
		}
		rep.Server = st
	}

	// Say when the figures may not mean what they seem to.
	for reason := range rep.Failures {
		if strings.Contains(reason, "429") || strings.Contains(reason, "room_full") || strings.Contains(reason, "rate_limited") {
			rep.Warnings = append(rep.Warnings, "the server's limits refused clients: for load runs start it with "+
				"--joins-per-minute 0 --messages-per-second 0 --max-participants 0 --max-rooms 0 --max-conns-per-ip 0")
			break
		}
	}
	// A connection over max_conns_per_ip is closed before any HTTP is spoken,
	// so the client sees no status, only a reset or an early EOF.
	for reason := range rep.Failures {
		if strings.Contains(reason, "connection reset") || strings.Contains(reason, "EOF") {
			rep.Warnings = append(rep.Warnings, "connections were closed before the server answered: "+
				"if it runs with a max_conns_per_ip (128 by default), start it with --max-conns-per-ip 0 for load runs")
			break
		}
	}
	if rep.StreamsReceived < rep.StreamsExpected {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d of %d expected streams never arrived in the window (not counted in loss)",
			rep.StreamsExpected-rep.StreamsReceived, rep.StreamsExpected))
	}
	if want := r.targetPublishRate(); want > 0 && rep.PublishedPacketsPerSecond < 0.95*want {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("publishers sent %.0f packets/s of %.0f intended: the load generator is short of CPU",
			rep.PublishedPacketsPerSecond, want))
	}
	if rep.ClientUDPDrops > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the load generator's sockets dropped %d packets: part of the loss is its own", rep.ClientUDPDrops))
	}
	if rep.OtherCPUUtilisation > 0.1 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("other processes used %.0f%% of a core meanwhile: figures may be disturbed", 100*rep.OtherCPUUtilisation))
	}
	if rep.ClientCPUUtilisation > 0.9 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the load generator used %.0f%% of a core: loss and latency may be its own", 100*rep.ClientCPUUtilisation))
	}
	if d := w1.pubErrors - w0.pubErrors; d > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d packet writes failed at the publishers", d))
	}
	if n := h.negative.Load(); n > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d packets arrived before their send time (the clock stepped)", n))
	}
	return rep
}

// targetPublishRate is the packets per second the publishers should send
// (audio 50/s; video frames at 30/s, each split into packets of at most 1200 bytes).
func (r *run) targetPublishRate() float64 {
	publishers := r.cfg.Participants * r.cfg.Rooms
	if r.cfg.Scenario == Webinar {
		publishers = r.cfg.Rooms
	}
	frame := float64(r.cfg.Bitrate) / 8 / 30
	perFrame := float64(int(frame/1188) + 1)
	return float64(publishers) * (50 + 30*perFrame)
}

func shorten(s string) string {
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

// WriteJSON writes the report as one indented JSON object.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes the report as a table for people.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	row := func(k, format string, args ...any) { fmt.Fprintf(&b, "%-18s %s\n", k, fmt.Sprintf(format, args...)) }
	fmt.Fprintf(&b, "parley bench %s: %d room(s) x %d participants, video %d kbit/s, window %.1f s\n\n",
		rep.Scenario, rep.Rooms, rep.ParticipantsPerRoom, rep.VideoBitrate/1000, rep.WindowSeconds)
	row("clients", "%d joined, %d failed (of %d)", rep.Joined, rep.Failed, rep.Clients)
	for _, k := range slices.Sorted(maps.Keys(rep.Failures)) {
		row("", "%dx %s", rep.Failures[k], k)
	}
	row("streams", "%d published, %d of %d expected arriving", rep.StreamsPublished, rep.StreamsReceived, rep.StreamsExpected)
	row("join time", "median %.0f ms, p95 %.0f ms, max %.0f ms (%d clients)", rep.JoinMs.Median, rep.JoinMs.P95, rep.JoinMs.Max, rep.JoinMs.Count)
	row("published", "%.0f packets/s, %.2f Mbit/s", rep.PublishedPacketsPerSecond, rep.PublishedBytesPerSecond*8/1e6)
	row("forwarded", "%.0f packets/s, %.2f Mbit/s (as received by subscribers)", rep.ForwardedPacketsPerSecond, rep.ForwardedBytesPerSecond*8/1e6)
	row("subscriber loss", "%.3f %% (%d of %d packets; %d arrived out of order)", rep.LossPercent, rep.PacketsLost, rep.PacketsExpected, rep.PacketsReordered)
	row("added latency", "median %.2f ms, p99 %.2f ms, max %.2f ms (%d packets)", rep.LatencyMs.Median, rep.LatencyMs.P99, rep.LatencyMs.Max, rep.LatencyMs.Count)
	if s := rep.Server; s != nil {
		row("server CPU", "%.2f s in the window = %.0f %% of a core (pid %d)", s.CPUSeconds, 100*s.CPUUtilisation, s.PID)
		row("", "%.3f ms per forwarded stream-second, %.1f µs per forwarded packet", 1000*s.CPUSecondsPerStreamSecond, s.CPUMicrosPerPacket)
		row("server memory", "peak RSS %.1f MiB (VmHWM %.1f MiB)", float64(s.PeakRSSBytes)/(1<<20), float64(s.VmHWMBytes)/(1<<20))
		row("server UDP drops", "%d in the window, %d while joining (its receive buffers overflowed)", s.UDPDrops, s.UDPDropsJoining)
	}
	row("load generator", "%.0f %% of a core, scheduling p99 %.1f ms, %d UDP drops", 100*rep.ClientCPUUtilisation, rep.ClientSchedLatencyP99, rep.ClientUDPDrops)
	row("other processes", "%.0f %% of a core", 100*rep.OtherCPUUtilisation)
	for _, warn := range rep.Warnings {
		row("warning", "%s", warn)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
