package transcribe

import (
	"cmp"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/parleyhq/parley/transcribe/testengine"
)

// oggPackets returns the packets of an Ogg stream, headers included.
func oggPackets(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	var cur []byte
	for len(data) > 0 {
		if len(data) < 27 || string(data[:4]) != "OggS" {
			t.Fatalf("not an Ogg page at %d bytes from the end", len(data))
		}
		nseg := int(data[26])
		lacing := data[27 : 27+nseg]
		body := data[27+nseg:]
		for _, l := range lacing {
			cur = append(cur, body[:l]...)
			body = body[l:]
			if l < 255 {
				out = append(out, cur)
				cur = nil
			}
		}
		data = body
	}
	return out
}

// level is the RFC 6464 level (-dBov) of 16-bit samples.
func level(pcm []byte) int {
	var sum float64
	n := len(pcm) / 2
	for i := range n {
		v := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:]))) / 32768
		sum += v * v
	}
	if sum == 0 {
		return 127
	}
	db := 10 * math.Log10(sum/float64(n))
	return int(min(127, max(0, -db)))
}

// speechRTP is the test speech twice, two seconds apart and with a second of
// silence after, as a browser would send it: 20 ms Opus packets (ffmpeg's
// libopus) with their audio level in header extension 1.
func speechRTP(t *testing.T) [][]byte {
	t.Helper()
	speech, err := os.ReadFile(testengine.Speech)
	if err != nil {
		t.Fatal(err)
	}
	const rate = 16000
	silence := func(s float64) []byte { return make([]byte, int(s*rate)*2) }
	pcm := append(append(append(append([]byte{}, speech...), silence(2)...), speech...), silence(1)...)
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", "16000", "-ac", "1", "-i", "pipe:0",
		"-c:a", "libopus", "-application", "voip", "-frame_duration", "20", "-b:a", "32k", "-f", "ogg", "pipe:1")
	cmd.Stdin = strings.NewReader(string(pcm))
	ogg, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	frames := oggPackets(t, ogg)[2:] // after OpusHead and OpusTags
	var out [][]byte
	frame := rate / 50 * 2 // bytes of PCM per 20 ms
	for i, f := range frames {
		lv := 127
		if lo := i * frame; lo < len(pcm) {
			lv = level(pcm[lo:min(len(pcm), lo+frame)])
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 1}, Payload: f}
		if err := p.Header.SetExtension(1, []byte{byte(lv)}); err != nil {
			t.Fatal(err)
		}
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}

// recognised counts the speech's key words in text.
func recognised(text string) int {
	n := 0
	for _, w := range []string{"forward", "ten", "meters"} {
		if strings.Contains(" "+text+" ", " "+w+" ") {
			n++
		}
	}
	return n
}

// TestTranscribesSpeech: a real recogniser (pocketsphinx) hears the test
// speech said twice as two segments, each with its words.
func TestTranscribesSpeech(t *testing.T) {
	engine := testengine.Start(t, 0)
	s, err := New(Config{URL: engine.URL, Model: "pocketsphinx-en-us", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	results := make(chan Result, 10)
	tr := s.Track(Source{Track: "t1", Participant: "p1", Identity: "alice", LevelID: 1, ClockRate: 48000}, "floor", "", func(r Result) { results <- r })
	for _, raw := range speechRTP(t) {
		tr.WriteRTP(raw)
		time.Sleep(time.Millisecond) // a tap's buffer holds a second; this is 20 times faster than a browser
	}
	tr.Close()
	var got []Result
	for len(got) < 2 {
		select {
		case r := <-results:
			t.Logf("%q (%s, %s, %.1f s of speech, answered %v after it ended)", r.Text, r.Channel, r.Language, r.End.Sub(r.Start).Seconds(), r.Latency)
			got = append(got, r)
		case <-time.After(120 * time.Second):
			t.Fatalf("%d results; stats %+v", len(got), s.Stats())
		}
	}
	for _, r := range got {
		if recognised(r.Text) < 2 {
			t.Errorf("%q: the words of %q are not there", r.Text, "go forward ten meters")
		}
		if r.Channel != "floor" || r.Language != "en" || r.Identity != "alice" || r.Engine == "" || r.Model != "pocketsphinx-en-us" {
			t.Errorf("labels: %+v", r)
		}
	}
	// Two workers: the second segment may be answered first.
	slices.SortFunc(got, func(a, b Result) int { return cmp.Compare(a.RTPStart, b.RTPStart) })
	if got[0].RTPEnd >= got[1].RTPStart {
		t.Errorf("segments overlap: %d-%d, %d-%d", got[0].RTPStart, got[0].RTPEnd, got[1].RTPStart, got[1].RTPEnd)
	}
	st := s.Stats()
	if st.Segments != 2 || st.Errors != 0 || st.Dropped != 0 || st.TapDropped != 0 || st.Latency.Count != 2 {
		t.Errorf("stats: %+v", st)
	}
}

func testSegment(n int) *Segment {
	s := &Segment{Start: time.Unix(0, 0), End: time.Unix(1, 0)}
	for i := range n {
		s.Payloads = append(s.Payloads, []byte{0xfc, 0xff, 0xfe})
		s.Timestamps = append(s.Timestamps, uint32(i*960))
	}
	return s
}

// TestQueueDropsOldest: with the engine stuck on one segment, a full queue
// drops its oldest and counts it; what is left is sent once the engine answers.
func TestQueueDropsOldest(t *testing.T) {
	arrived := make(chan string, 10)
	release := make(chan struct{})
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.FormValue("language")
		<-release
		_, _ = io.WriteString(w, `{"text":"`+r.FormValue("language")+`"}`)
	}))
	defer engine.Close()
	s, err := New(Config{URL: engine.URL + "/v1/audio/transcriptions", Queue: 2, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var mu sync.Mutex
	var texts []string
	done := make(chan struct{}, 10)
	emit := func(r Result) {
		mu.Lock()
		texts = append(texts, r.Text)
		mu.Unlock()
		done <- struct{}{}
	}
	for i, lang := range []string{"a", "b", "c", "d", "e"} {
		s.enqueue(&job{seg: testSegment(10), emit: emit, res: Result{Language: lang}})
		if i == 0 {
			if got := <-arrived; got != "a" {
				t.Fatalf("first request for %q", got)
			}
		}
	}
	if st := s.Stats(); st.Dropped != 2 {
		t.Fatalf("dropped %d, want 2", st.Dropped)
	}
	close(release)
	for range 3 {
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(texts, "") != "ade" {
		t.Errorf("sent %v, want a, d, e", texts)
	}
}

// TestFailingEngineRetriesBounded: a 5xx is tried again Retries times; when
// the engine answered nobody meanwhile, the segment waits in the queue for it
// and a probe sends it again, at most maxTries requests in all before it is
// counted as an error. A 4xx is not tried again.
func TestFailingEngineRetriesBounded(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	code := http.StatusServiceUnavailable
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		c := code
		mu.Unlock()
		http.Error(w, "down", c)
	}))
	defer engine.Close()
	health := make(chan bool, 10)
	s, err := New(Config{URL: engine.URL, Retries: 2, Workers: 1, probeBase: time.Millisecond,
		OnHealth: func(ok bool) { health <- ok }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.enqueue(&job{seg: testSegment(10), emit: func(Result) { t.Error("emitted") }})
	if ok := <-health; ok {
		t.Fatal("the engine answers 503 and counts as answering")
	}
	for s.Stats().Errors == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	if calls != s.maxTries() {
		t.Errorf("%d requests for a 503, want %d", calls, s.maxTries())
	}
	calls, code = 0, http.StatusBadRequest
	mu.Unlock()
	if st := s.Stats(); st.Errors != 1 || st.Retries != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	s.do(&job{seg: testSegment(10), emit: func(Result) { t.Error("emitted") }})
	mu.Lock()
	if calls != 1 {
		t.Errorf("%d requests for a 400, want 1", calls)
	}
	mu.Unlock()
	if st := s.Stats(); st.Errors != 2 {
		t.Errorf("stats %+v", st)
	}
	var se *statusError
	_, err = s.client.transcribe(t.Context(), []byte("x"), "en")
	if !errors.As(err, &se) || se.code != http.StatusBadRequest {
		t.Errorf("err %v", err)
	}
}

// TestEngineDownSlowAndBack: an engine that stops answering is reported at
// its first failure; the segments wait in the bounded queue (the oldest
// dropped and counted) while one probe at a time tries it; when it answers
// again that is reported, and what waited is transcribed. A request that
// waits longer than Stall reports the engine as not answering before its
// answer comes.
func TestEngineDownSlowAndBack(t *testing.T) {
	var mu sync.Mutex
	mode := "ok"
	release := make(chan struct{}) // a "slow" answer waits for it
	engine := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		m := mode
		mu.Unlock()
		if m == "slow" {
			<-release
		}
		if m == "down" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"text":"`+r.FormValue("language")+`"}`)
	}))
	defer engine.Close()
	set := func(m string) {
		mu.Lock()
		mode = m
		mu.Unlock()
	}
	health := make(chan bool, 10)
	// Stall is long enough for a prompt answer on a loaded machine; the slow
	// answer waits until the stall has been reported.
	// One worker: what waited comes back in order, the newest last.
	s, err := New(Config{URL: engine.URL, Queue: 2, Workers: 1, Retries: 1, Stall: 3 * time.Second,
		probeBase: time.Millisecond, OnHealth: func(ok bool) { health <- ok }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	texts := make(chan string, 10)
	late := map[string]bool{}
	var lateMu sync.Mutex
	emit := func(r Result) {
		lateMu.Lock()
		late[r.Text] = r.Late
		lateMu.Unlock()
		texts <- r.Text
	}
	send := func(lang string) { s.enqueue(&job{seg: testSegment(10), emit: emit, res: Result{Language: lang}}) }

	send("a")
	if got := <-texts; got != "a" || !s.Answering() {
		t.Fatalf("text %q, answering %v", got, s.Answering())
	}
	set("down")
	send("b")
	if ok := <-health; ok {
		t.Fatal("reported answering")
	}
	// While it is down nothing is lost but what the queue of 2 cannot hold.
	for _, l := range []string{"c", "d", "e"} {
		send(l)
	}
	if st := s.Stats(); st.Dropped < 1 {
		t.Errorf("nothing dropped from a queue of 2 with 4 waiting: %+v", st)
	}
	set("ok")
	if ok := <-health; !ok {
		t.Fatal("not reported back")
	}
	var got []string
	for len(got) == 0 || got[len(got)-1] != "e" { // the newest is transcribed, last
		got = append(got, <-texts)
	}
	if len(got) > 3 {
		t.Errorf("transcribed %v after the engine came back; the queue holds 2, the worker 1", got)
	}
	lateMu.Lock()
	if late["a"] || !late["e"] {
		t.Errorf("late: %v; want what waited out the engine's absence (e), not what it answered at once (a)", late)
	}
	lateMu.Unlock()

	set("slow")
	send("f")
	if ok := <-health; ok {
		t.Fatal("a stalled request reported answering")
	}
	set("ok")
	close(release)
	if got := <-texts; got != "f" {
		t.Errorf("text %q", got)
	}
	send("g")
	if ok := <-health; !ok {
		t.Fatal("not reported back after the slow spell")
	}
	if got := <-texts; got != "g" {
		t.Errorf("text %q", got)
	}
}

// decodeSegment wraps the packets (but those left out) in Ogg as a segment
// would be, and decodes it with ffmpeg to 48 kHz mono PCM.
func decodeSegment(t *testing.T, raws [][]byte, leftOut func(i int) bool) []byte {
	t.Helper()
	var seg Segment
	for i, raw := range raws {
		if leftOut != nil && leftOut(i) {
			continue
		}
		var p rtp.Packet
		if err := p.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		seg.Payloads = append(seg.Payloads, p.Payload)
		seg.Timestamps = append(seg.Timestamps, p.Timestamp)
	}
	data, err := oggOpus(&seg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0", "-ar", "48000", "-ac", "1", "-f", "s16le", "pipe:1")
	cmd.Stdin = strings.NewReader(string(data))
	pcm, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg cannot read the segment: %v", err)
	}
	return pcm
}

// TestOggOpus: a segment becomes an Ogg/Opus stream that ffmpeg decodes
// to the segment's length.
func TestOggOpus(t *testing.T) {
	testengine.Require(t)
	pcm := decodeSegment(t, speechRTP(t)[:100], nil)
	// 100 packets of 20 ms, less the 80 ms pre-skip the header asks decoders to drop.
	if got := float64(len(pcm)) / 2 / 48000; math.Abs(got-1.92) > 0.02 {
		t.Errorf("decoded %.3f s, want 1.92 s", got)
	}
}

// TestOggOpusKeepsPauses: packets a sender left out (DTX in a pause) come
// back as silence of the same length, so the words keep their spacing.
func TestOggOpusKeepsPauses(t *testing.T) {
	testengine.Require(t)
	pcm := decodeSegment(t, speechRTP(t)[:100], func(i int) bool { return i >= 30 && i < 60 }) // 600 ms not sent
	if got := float64(len(pcm)) / 2 / 48000; math.Abs(got-1.92) > 0.02 {
		t.Errorf("decoded %.3f s, want 1.92 s: the 600 ms pause was not kept", got)
	}
	// The pause decodes quiet, not as the speech around it stretched out.
	var loud int
	for i := 36; i < 60; i++ { // after the concealment's first 120 ms fade
		lo := (i*960 - 3840) * 2
		if level(pcm[lo:lo+1920]) < 60 {
			loud++
		}
	}
	if loud > 0 {
		t.Errorf("%d of 24 frames in the pause are not silent", loud)
	}
}

func TestOpusSamples(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want uint32
	}{
		{nil, 0},
		{[]byte{0x78}, 960},            // Hybrid FB 20 ms... config 15, one frame
		{[]byte{0xfc}, 960},            // CELT FB 20 ms, stereo
		{[]byte{0xf8 | 1, 0, 0}, 1920}, // two frames
		{[]byte{0x08}, 960},            // SILK NB 20 ms
		{[]byte{0x18}, 2880},           // SILK NB 60 ms
		{[]byte{0xe0 | 3, 6}, 6 * 120}, // CELT 2.5 ms, six frames
		{[]byte{0xfb}, 0},              // code 3 without its count
	} {
		if got := opusSamples(c.p); got != c.want {
			t.Errorf("opusSamples(% x) = %d, want %d", c.p, got, c.want)
		}
	}
	for toc, want := range map[byte]byte{0x00: 1, 0x58: 9, 0x60: 13, 0x70: 15, 0x80: 19, 0xf8: 31} {
		if got := fillerConfig(toc); got != want {
			t.Errorf("fillerConfig(%#x) = %d, want %d", toc, got, want)
		}
	}
}
