package recordcrypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
)

var update = flag.Bool("update", false, "rewrite testdata (the fuzz seeds) from this test's fixtures")

// seal protects a frame as web/static/sframe.js does; a sender for the tests.
func seal(t testing.TB, secret [32]byte, kid, ctr uint64, frame []byte, clear int) []byte {
	t.Helper()
	suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), 5)
	key, _ := hkdf.Key(sha512.New, secret[:], nil, "SFrame 1.0 Secret key "+string(suffix), 32)
	salt, _ := hkdf.Key(sha512.New, secret[:], nil, "SFrame 1.0 Secret salt "+string(suffix), 12)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, _ := cipher.NewGCM(block)
	header := encodeHeader(kid, ctr)
	nonce := binary.BigEndian.AppendUint64(make([]byte, 4), ctr)
	for i := range nonce {
		nonce[i] ^= salt[i]
	}
	n := min(clear, len(frame))
	aad := append(append([]byte(nil), header...), frame[:n]...)
	out := append(append([]byte(nil), frame[:n]...), header...)
	return gcm.Seal(out, nonce, frame[n:], aad)
}

// encodeHeader is sframe.js's encodeHeader.
func encodeHeader(kid, ctr uint64) []byte {
	minimal := func(v uint64) []byte {
		b := binary.BigEndian.AppendUint64(nil, v)
		for len(b) > 1 && b[0] == 0 {
			b = b[1:]
		}
		return b
	}
	var first byte
	var rest []byte
	if kid < 8 {
		first |= byte(kid) << 4
	} else {
		b := minimal(kid)
		first |= 0x80 | byte(len(b)-1)<<4
		rest = append(rest, b...)
	}
	if ctr < 8 {
		first |= byte(ctr)
	} else {
		b := minimal(ctr)
		first |= 0x08 | byte(len(b)-1)
		rest = append(rest, b...)
	}
	return append([]byte{first}, rest...)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// plainFrame is a made-up encoded frame: a VP8 keyframe every tenth (its tag's
// low bit 0, the start code after), deltas between; for audio a TOC byte.
func plainFrame(video bool, i int) []byte {
	f := []byte(fmt.Sprintf("....frame %d of the meeting, whose words matter....", i))
	if !video {
		f[0] = 0xfc
		return f
	}
	if i%10 == 0 {
		copy(f, []byte{0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	} else {
		f[0] = 0x31
	}
	return f
}

type recorded struct {
	kid    uint64
	secret [32]byte
	frames int
}

// record writes what Parley's recorder writes for an encrypted track (record/track.go's
// writer and track entry): the frames of each generation sealed under its key.
func record(t testing.TB, video bool, gens ...recorded) (file []byte, plain [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	entry := webm.TrackEntry{Name: "mic", TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2,
		CodecPrivate: []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), Audio: &webm.Audio{SamplingFrequency: 48000, Channels: 2}}
	clear := 1
	if video {
		entry = webm.TrackEntry{Name: "camera", TrackNumber: 1, TrackUID: 1, CodecID: "V_VP8", TrackType: 1, Video: &webm.Video{PixelWidth: 320, PixelHeight: 240}}
	}
	ws, err := webm.NewSimpleBlockWriter(nopCloser{&buf}, []webm.TrackEntry{entry})
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, g := range gens {
		for range g.frames {
			f := plainFrame(video, i)
			if video {
				clear = 3
				if f[0]&1 == 0 {
					clear = 10
				}
			}
			if _, err := ws[0].Write(!video || f[0]&1 == 0, int64(i)*33, seal(t, g.secret, g.kid, uint64(i), f, clear)); err != nil {
				t.Fatal(err)
			}
			plain = append(plain, f)
			i++
		}
	}
	if err := ws[0].Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), plain
}

func secretOf(s string) (k [32]byte) {
	copy(k[:], s)
	return k
}

const (
	kidA0 = 0<<40 | 0x1234567890
	kidA1 = 1<<40 | 0x1234567890
)

var (
	alice0 = Key{KID: kidA0, Sender: Sender{"PA_alice", "head-a"}, Secret: secretOf("alice, generation 0")}
	alice1 = Key{KID: kidA1, Sender: Sender{"PA_alice", "head-a"}, Secret: secretOf("alice, generation 1")}
)

// frames reads back the frames of a WebM file.
func frames(t *testing.T, b []byte) (out [][]byte, keys []bool, times []int64) {
	t.Helper()
	var d struct {
		Segment webm.Segment `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(b), &d); err != nil {
		t.Fatalf("the copy does not read back: %v", err)
	}
	for _, c := range d.Segment.Cluster {
		for _, sb := range c.SimpleBlock {
			out = append(out, sb.Data[0])
			keys = append(keys, sb.Keyframe)
			times = append(times, int64(c.Timecode)+int64(sb.Timecode))
		}
	}
	return out, keys, times
}

func decrypt(t *testing.T, in []byte, keys ...Key) (Stats, []byte, error) {
	t.Helper()
	var out bytes.Buffer
	st, err := Decrypt(nopCloser{&out}, bytes.NewReader(in), NewRing(&Keys{Record: "r", Keys: keys}))
	return st, out.Bytes(), err
}

func TestDecryptRoundTrip(t *testing.T) {
	for _, video := range []bool{true, false} {
		in, plain := record(t, video, recorded{alice0.KID, alice0.Secret, 25}, recorded{alice1.KID, alice1.Secret, 15})
		st, out, err := decrypt(t, in, alice0, alice1)
		if err != nil {
			t.Fatal(err)
		}
		if st.Frames != 40 || st.Decrypted != 40 || st.Missing+st.Failed+st.Replayed != 0 {
			t.Fatalf("video %v: %+v, want all 40 decrypted", video, st)
		}
		if len(st.Senders) != 1 || st.Senders[0] != alice0.Sender {
			t.Errorf("senders %v", st.Senders)
		}
		got, keys, times := frames(t, out)
		if len(got) != len(plain) {
			t.Fatalf("%d frames in the copy, want %d", len(got), len(plain))
		}
		for i := range got {
			if !bytes.Equal(got[i], plain[i]) {
				t.Fatalf("frame %d is %q, want %q", i, got[i], plain[i])
			}
			if want := !video || i%10 == 0; keys[i] != want {
				t.Errorf("frame %d keyframe %v, want %v", i, keys[i], want)
			}
			if times[i] != int64(i)*33 {
				t.Errorf("frame %d at %d ms, want %d", i, times[i], i*33)
			}
		}
	}
}

// A file decrypted to a file gets cues and a duration, which players seek by.
func TestDecryptToFileHasCues(t *testing.T) {
	in, _ := record(t, true, recorded{alice0.KID, alice0.Secret, 60})
	path := filepath.Join(t.TempDir(), "out.webm")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := Decrypt(f, bytes.NewReader(in), NewRing(&Keys{Keys: []Key{alice0}})); err != nil || st.Decrypted != 60 {
		t.Fatalf("%+v %v", st, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Segment webm.Segment `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(b), &d); err != nil {
		t.Fatal(err)
	}
	if d.Segment.Info.Duration < 1900 || len(d.Segment.Cues.CuePoint) == 0 {
		t.Errorf("duration %.0f ms, %d cue points; want about 1950 ms and cues", d.Segment.Info.Duration, len(d.Segment.Cues.CuePoint))
	}
}

func TestDecryptWrongKeyFailsAuthentication(t *testing.T) {
	in, _ := record(t, true, recorded{alice0.KID, alice0.Secret, 20})
	wrong := alice0
	wrong.Secret = secretOf("someone else's secret, same key id")
	st, out, err := decrypt(t, in, wrong)
	if err != nil {
		t.Fatal(err)
	}
	if st.Frames != 20 || st.Failed != 20 || st.Decrypted != 0 {
		t.Fatalf("%+v, want 20 failing authentication", st)
	}
	if got, _, _ := frames(t, out); len(got) != 0 {
		t.Errorf("%d frames written that did not authenticate", len(got))
	}
	// The right secret beside the wrong one for the same key id still opens them.
	if st, _, err := decrypt(t, in, wrong, alice0); err != nil || st.Decrypted != 20 {
		t.Errorf("with both secrets: %+v %v", st, err)
	}
}

func TestDecryptUnknownKID(t *testing.T) {
	in, plain := record(t, false, recorded{alice0.KID, alice0.Secret, 12}, recorded{alice1.KID, alice1.Secret, 8})
	st, out, err := decrypt(t, in, alice1) // generation 0 missing: a key this browser never got
	if err != nil {
		t.Fatal(err)
	}
	if st.Missing != 12 || st.Decrypted != 8 || st.Failed != 0 {
		t.Fatalf("%+v, want 12 missing and 8 decrypted", st)
	}
	got, _, _ := frames(t, out)
	if len(got) != 8 || !bytes.Equal(got[0], plain[12]) {
		t.Errorf("the copy holds %d frames", len(got))
	}
	if st.Offset != 12*33*time.Millisecond {
		t.Errorf("the copy begins %v into the recording, want %v", st.Offset, 12*33*time.Millisecond)
	}
	st, _, err = decrypt(t, in)
	if err != nil || st.Missing != 20 || st.Decrypted != 0 {
		t.Errorf("without keys: %+v %v", st, err)
	}
}

// A frame the server wrote twice into the record opens, and is played once.
func TestDecryptDropsReplayedFrames(t *testing.T) {
	var buf bytes.Buffer
	ws, err := webm.NewSimpleBlockWriter(nopCloser{&buf}, []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, CodecID: "A_OPUS", TrackType: 2}})
	if err != nil {
		t.Fatal(err)
	}
	f := seal(t, alice0.Secret, alice0.KID, 7, plainFrame(false, 7), 1)
	for i := range 3 {
		ws[0].Write(true, int64(i)*20, f)
	}
	ws[0].Close()
	st, _, err := decrypt(t, buf.Bytes(), alice0)
	if err != nil || st.Decrypted != 1 || st.Replayed != 2 {
		t.Errorf("%+v %v, want 1 decrypted and 2 replayed", st, err)
	}
}

func TestDecryptRefusesOtherCodecs(t *testing.T) {
	var buf bytes.Buffer
	ws, err := webm.NewSimpleBlockWriter(nopCloser{&buf}, []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, CodecID: "V_VP9", TrackType: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ws[0].Write(true, 0, []byte("a VP9 frame"))
	ws[0].Close()
	if _, _, err := decrypt(t, buf.Bytes(), alice0); err == nil || !strings.Contains(err.Error(), "V_VP9") {
		t.Errorf("a VP9 track: %v", err)
	}
}

// Truncated and garbage input: an error or a shorter copy, never a panic or a hang.
func TestDecryptTruncatedAndGarbage(t *testing.T) {
	in, plain := record(t, true, recorded{alice0.KID, alice0.Secret, 30})
	for n := 0; n < len(in); n += max(1, len(in)/200) {
		st, _, err := decrypt(t, in[:n], alice0)
		// A cut between elements looks like a shorter file; any other is an error or Truncated.
		if st.Decrypted > 30 || st.Frames != st.Decrypted {
			t.Fatalf("cut at %d: %+v %v", n, st, err)
		}
	}
	// A record whose writing stopped mid-frame (a crash): the frames before the
	// cut are in the copy, and the stats say the file was cut.
	st, out, err := decrypt(t, in[:len(in)*2/3], alice0)
	got, _, _ := frames(t, out)
	if err != nil || !st.Truncated || st.Decrypted < 15 || len(got) != st.Decrypted || !bytes.Equal(got[len(got)-1], plain[len(got)-1]) {
		t.Errorf("cut at two thirds: %+v, %d frames in the copy, %v", st, len(got), err)
	}
	for _, garbage := range [][]byte{nil, []byte("not a webm file at all"), bytes.Repeat([]byte{0xff}, 4096), bytes.Repeat([]byte{0x1a, 0x45, 0xdf, 0xa3, 0x01}, 100)} {
		_, _, err := decrypt(t, garbage, alice0)
		if err == nil {
			t.Errorf("%q... decrypts without an error", garbage[:min(len(garbage), 16)])
		}
	}
	// Frames whose SFrame header is cut or absent fail, they do not panic.
	var buf bytes.Buffer
	ws, _ := webm.NewSimpleBlockWriter(nopCloser{&buf}, []webm.TrackEntry{{TrackNumber: 1, TrackUID: 1, CodecID: "V_VP8", TrackType: 1}})
	for i, f := range [][]byte{{}, {0x50}, {0x31, 0, 0, 0xff}, bytes.Repeat([]byte{0x31}, 19), append([]byte{0x31, 0, 0, 0xff}, make([]byte, 20)...)} {
		ws[0].Write(true, int64(i), f)
	}
	ws[0].Close()
	if st, _, err := decrypt(t, buf.Bytes(), alice0); err != nil || st.Failed+st.Missing != 5 {
		t.Errorf("malformed frames: %+v %v", st, err)
	}
}

func TestReadKeys(t *testing.T) {
	good := `{"format":"parley-media-keys-v1","record":"summit-1","identity":"head-a","keys":[` +
		`{"kid":"1099511627777","sender":{"participant":"PA_x","identity":"head-b"},"secret":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `"}]}`
	k, err := ReadKeys(strings.NewReader(good))
	if err != nil || len(k.Keys) != 1 || k.Keys[0].KID != 1<<40|1 || k.Keys[0].Sender.Identity != "head-b" || k.Record != "summit-1" {
		t.Fatalf("%+v %v", k, err)
	}
	for name, bad := range map[string]string{
		"not JSON":      "{",
		"other format":  strings.Replace(good, "-v1", "-v9", 1),
		"no record":     strings.Replace(good, `"summit-1"`, `""`, 1),
		"kid":           strings.Replace(good, "1099511627777", "-1", 1),
		"kid too large": strings.Replace(good, "1099511627777", "18446744073709551616", 1),
		"kid sign":      strings.Replace(good, "1099511627777", "+1", 1),
		"secret":        strings.Replace(good, `"secret":"`, `"secret":"AAAA`, 1),
		"too large":     good + strings.Repeat(" ", MaxKeysFile),
	} {
		if _, err := ReadKeys(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: read without an error", name)
		}
	}
}

// The fuzz seeds: a recorded encrypted camera and microphone, and their keys.
func TestSeeds(t *testing.T) {
	video, _ := record(t, true, recorded{alice0.KID, alice0.Secret, 12}, recorded{alice1.KID, alice1.Secret, 6})
	audio, _ := record(t, false, recorded{alice0.KID, alice0.Secret, 8})
	seeds := map[string][]byte{"camera.webm": video, "mic.webm": audio}
	for name, b := range seeds {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./recordcrypt -run TestSeeds -update writes it)", err)
		}
		st, _, err := decrypt(t, have, alice0, alice1)
		if err != nil || st.Decrypted != st.Frames || st.Frames == 0 {
			t.Errorf("%s: %+v %v", name, st, err)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	for _, name := range []string{"camera.webm", "mic.webm"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	ring := NewRing(&Keys{Keys: []Key{alice0, alice1}})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		st, err := Decrypt(nopCloser{&out}, bytes.NewReader(in), ring)
		if st.Decrypted+st.Missing+st.Failed+st.Replayed != st.Frames {
			t.Fatalf("%+v: frames unaccounted for", st)
		}
		if err != nil && errors.Is(err, io.ErrClosedPipe) {
			t.Fatal(err)
		}
	})
}

func FuzzReadKeys(f *testing.F) {
	f.Add([]byte(`{"format":"parley-media-keys-v1","record":"r","identity":"i","keys":[{"kid":"1","sender":{"participant":"p","identity":"i"},"secret":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := ReadKeys(bytes.NewReader(in))
		if err == nil && (k.Record == "" || len(k.Keys) > MaxKeys) {
			t.Fatalf("accepted %+v", k)
		}
	})
}
