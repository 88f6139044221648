package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/config"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/server/servertest"
	"github.com/parleyhq/parley/signal"
)

// scrape is one parsed /metrics page.
type scrape map[string]*dto.MetricFamily

func get(t *testing.T, srv *server.Server) scrape {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value is the metric's value (counter, gauge or untyped) for the given
// label pairs ("name", "value", ...), or -1 if it is absent.
func (s scrape) value(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Untyped != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return -1
}

func (s scrape) histogramCount(name string) (count uint64, sum float64) {
	f := s[name]
	if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].Histogram == nil {
		return 0, -1
	}
	h := f.GetMetric()[0].GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum()
}

// poll scrapes until ok holds, failing the test at ctx's end.
func poll(t *testing.T, ctx context.Context, srv *server.Server, what string, ok func(scrape) bool) scrape {
	t.Helper()
	for {
		s := get(t, srv)
		if ok(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: rooms %v participants %v tracks audio %v video %v", what,
				s.value("parley_rooms"), s.value("parley_participants"),
				s.value("parley_tracks", "kind", "audio"), s.value("parley_tracks", "kind", "video"))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestMetricsFollowACall(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(hook.Close)
	srv := servertest.Start(t, func(c *config.Config) {
		c.ReconnectGrace = 0
		c.Webhooks = []config.Webhook{{URL: hook.URL, Secret: "s"}}
	})
	// A second node in the process, which carries nothing: its media
	// counters are its own, and stay at zero through the other's call.
	idle := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	before := get(t, srv)
	for _, name := range []string{"parley_rooms", "parley_participants"} {
		if v := before.value(name); v != 0 {
			t.Errorf("before the call %s = %v, want 0", name, v)
		}
	}
	if v := before.value("parley_tracks", "kind", "video"); v != 0 {
		t.Errorf("before the call parley_tracks{kind=video} = %v, want 0", v)
	}
	joinsBefore, _ := before.histogramCount("parley_join_duration_seconds")
	if before["parley_join_duration_seconds"] == nil {
		t.Fatal("no parley_join_duration_seconds histogram")
	}

	call := servertest.Call(t, ctx, srv, "summit", "head-a", "head-b")
	a, b := call[0], call[1]

	during := poll(t, ctx, srv, "the call in the gauges", func(s scrape) bool {
		return s.value("parley_rooms") == 1 && s.value("parley_participants") == 2 &&
			s.value("parley_tracks", "kind", "audio") == 2 && s.value("parley_tracks", "kind", "video") == 2
	})
	for _, dir := range []string{"in", "out"} {
		for _, name := range []string{"parley_packets_total", "parley_bytes_total"} {
			if b, d := before.value(name, "direction", dir), during.value(name, "direction", dir); b < 0 || d <= b {
				t.Errorf("%s{direction=%s}: %v before, %v during; want it to rise", name, dir, b, d)
			}
		}
	}
	quiet := get(t, idle)
	for _, name := range []string{"parley_packets_total", "parley_bytes_total"} {
		if v := quiet.value(name, "direction", "in"); v != 0 {
			t.Errorf("the idle node's %s{direction=in} = %v, want 0", name, v)
		}
	}
	if n, _ := during.histogramCount("parley_join_duration_seconds"); n != joinsBefore+2 {
		t.Errorf("join histogram count %d, want %d", n, joinsBefore+2)
	}
	if _, sum := during.histogramCount("parley_join_duration_seconds"); sum <= 0 {
		t.Errorf("join histogram sum %v, want > 0", sum)
	}
	if v := during.value("parley_subscribers"); v != 2 {
		t.Errorf("parley_subscribers = %v, want 2", v)
	}
	if v := during.value("parley_subscriber_loss_ratio", "stat", "max"); v < 0 || v > 1 {
		t.Errorf("parley_subscriber_loss_ratio{stat=max} = %v, want a ratio", v)
	}
	if v := during.value("go_goroutines"); v <= 0 {
		t.Errorf("go_goroutines = %v", v)
	}
	for _, name := range []string{"parley_nacks_total", "parley_retransmits_total", "parley_plis_total",
		"parley_keyframe_requests_total", "parley_layer_switches_total", "parley_rooms_recording",
		"parley_keyframe_requests_deferred_total", "parley_nacks_unanswered_total", "parley_ice_candidates_refused_total",
		"parley_send_queue_drops_total", "parley_participants_reconnecting", "parley_webhooks_failed_total", "parley_webhooks_dropped_total", "process_start_time_seconds",
		"parley_turn_allocations", "parley_turn_sessions", "parley_turn_allocations_refused_total", "parley_turn_allocations_revoked_total",
		"parley_turn_lifetimes_capped_total"} {
		if during.value(name) < 0 {
			t.Errorf("%s is missing", name)
		}
	}

	for _, c := range []*client.Client{a, b} {
		if err := c.Send(&signal.Leave{Type: "leave"}); err != nil {
			t.Fatal(err)
		}
	}
	poll(t, ctx, srv, "the room to close", func(s scrape) bool {
		return s.value("parley_rooms") == 0 && s.value("parley_participants") == 0 &&
			s.value("parley_tracks", "kind", "audio") == 0 && s.value("parley_tracks", "kind", "video") == 0
	})
	// room_started, 2 joins, 4 tracks published and unpublished, 2 leaves, room_finished.
	poll(t, ctx, srv, "webhook deliveries", func(s scrape) bool { return s.value("parley_webhooks_delivered_total") == 14 })
}

func TestNoMetricsWhenDisabled(t *testing.T) {
	srv := servertest.Start(t, func(c *config.Config) { c.Metrics = false })
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /metrics with metrics off: %s, want 404", resp.Status)
	}
}
