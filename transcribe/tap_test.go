package transcribe

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// rtpPackets are packets as browsers and other senders make them: the level
// in a one-byte or a two-byte header extension, with other extensions around
// it, CSRCs, padding.
func rtpPackets(t testing.TB) map[string]struct {
	raw   []byte
	level int
	pl    []byte
} {
	t.Helper()
	out := map[string]struct {
		raw   []byte
		level int
		pl    []byte
	}{}
	add := func(name string, p rtp.Packet, level int) {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out[name] = struct {
			raw   []byte
			level int
			pl    []byte
		}{raw, level, p.Payload}
	}
	base := func() rtp.Packet {
		return rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 0xdeadbeef, SSRC: 1},
			Payload: []byte{0xfc, 1, 2, 3, 4, 5}}
	}
	p := base()
	add("plain", p, -1)
	p = base()
	_ = p.Header.SetExtension(3, []byte{1, 2})
	_ = p.Header.SetExtension(1, []byte{0x80 | 42})
	_ = p.Header.SetExtension(5, []byte{9, 9, 9})
	add("one-byte", p, 42)
	p = base()
	_ = p.Header.SetExtension(2, make([]byte, 20)) // too long for a one-byte header
	_ = p.Header.SetExtension(1, []byte{17})
	if p.Header.ExtensionProfile != 0x1000 {
		t.Fatalf("profile %x, want the two-byte form", p.Header.ExtensionProfile)
	}
	add("two-byte", p, 17)
	p = base()
	p.Header.CSRC = []uint32{1, 2, 3}
	_ = p.Header.SetExtension(1, []byte{99})
	p.Header.Padding, p.Header.PaddingSize = true, 7
	add("csrc-padding", p, 99)
	p = base()
	_ = p.Header.SetExtension(4, []byte{1})
	add("other-extension", p, -1)
	return out
}

// TestParseRTP: the tap's own header reader agrees with pion's.
func TestParseRTP(t *testing.T) {
	for name, c := range rtpPackets(t) {
		ts, pl, level, ok := parseRTP(c.raw, 1)
		if !ok || ts != 0xdeadbeef || level != c.level || !bytes.Equal(pl, c.pl) {
			t.Errorf("%s: ts %x level %d payload %x ok %v; want level %d payload %x", name, ts, level, pl, ok, c.level, c.pl)
		}
		for n := range len(c.raw) { // every truncation is refused or read within bounds
			parseRTP(c.raw[:n], 1)
		}
	}
	if _, _, _, ok := parseRTP([]byte{0x80, 0, 0, 0}, 1); ok {
		t.Error("a 4-byte packet parsed")
	}
}

// FuzzParseRTP: no input makes the reader panic or read past the packet, and
// what it reads agrees with pion where pion reads the packet too.
func FuzzParseRTP(f *testing.F) {
	for _, c := range rtpPackets(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ts, pl, _, ok := parseRTP(raw, 1)
		var p rtp.Packet
		if !ok || p.Unmarshal(raw) != nil {
			return
		}
		if ts != p.Timestamp || !bytes.Equal(pl, p.Payload) {
			t.Errorf("ts %x payload %x; pion %x %x", ts, pl, p.Timestamp, p.Payload)
		}
	})
}

// speechAndSilence are 20 ms packets: 2 s at a speaking level, then 1 s of
// silence, as the tap sees a talking microphone.
func speechAndSilence(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range 150 {
		lv := byte(30)
		if i >= 100 {
			lv = 127
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i * 960), SSRC: 1},
			Payload: bytes.Repeat([]byte{0xfc}, 120)}
		if err := p.Header.SetExtension(1, []byte{lv}); err != nil {
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

// idleTrack is a track whose speech is segmented but sent nowhere (its
// channel is none): the tap and the segmenter alone.
func idleTrack(t testing.TB) (*Service, *Track) {
	t.Helper()
	s, err := New(Config{URL: "http://127.0.0.1:9/v1/audio/transcriptions"})
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Track(Source{Track: "t", LevelID: 1, ClockRate: 48000}, "", "", func(Result) {})
}

// feedOne hands the track one packet, after its goroutine gave back a slot:
// every packet goes the whole way, none is dropped for being early.
func feedOne(tr *Track, raw []byte) {
	for len(tr.free) == 0 {
		runtime.Gosched()
	}
	tr.WriteRTP(raw)
}

// rebase rewrites the timestamp of a packet (in place) to continue the stream.
func rebase(raw []byte, ts uint32) {
	raw[4], raw[5], raw[6], raw[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
}

// TestTapAllocatesNothing: once warm, the media path (WriteRTP) and the
// segmenter behind it allocate nothing per packet, speech or silence.
func TestTapAllocatesNothing(t *testing.T) {
	s, tr := idleTrack(t)
	defer s.Close()
	pkts := speechAndSilence(t)
	ts := uint32(0)
	i := 0
	next := func() {
		raw := pkts[i%len(pkts)]
		rebase(raw, ts)
		ts += 960
		i++
		feedOne(tr, raw)
	}
	for range 3 * len(pkts) { // warm up: the segments' buffers grow to size
		next()
	}
	if n := testing.AllocsPerRun(3*len(pkts), next); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	if st := s.Stats(); st.TapDropped != 0 {
		t.Errorf("the tap dropped %d packets", st.TapDropped)
	}
}

// BenchmarkTap is the cost of one packet through the tap and the segmenter,
// in steady state (speech and silence): go test ./transcribe -bench Tap -benchmem
// shows 0 allocs/op.
func BenchmarkTap(b *testing.B) {
	s, tr := idleTrack(b)
	defer s.Close()
	pkts := speechAndSilence(b)
	ts := uint32(0)
	for i := range 3 * len(pkts) {
		raw := pkts[i%len(pkts)]
		rebase(raw, ts)
		ts += 960
		feedOne(tr, raw)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		raw := pkts[i%len(pkts)]
		rebase(raw, ts)
		ts += 960
		feedOne(tr, raw)
	}
	b.StopTimer()
	tr.Close()
	time.Sleep(10 * time.Millisecond)
	if st := s.Stats(); st.TapDropped != 0 {
		b.Errorf("the tap dropped %d packets", st.TapDropped)
	}
}
