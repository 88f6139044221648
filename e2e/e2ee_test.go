package e2e

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/server"
)

// The meeting passphrases of the end-to-end encryption tests.
const (
	e2eeRight = "correct horse battery"
	e2eeWrong = "wrong passphrase"
)

// e2eeURL is roomURL with a meeting passphrase in the fragment, which never
// reaches the server.
func e2eeURL(t *testing.T, srv *server.Server, room, identity, passphrase string) string {
	t.Helper()
	u := roomURL(t, srv, room, identity, auth.GrantJoin, auth.GrantPublish, auth.GrantSubscribe)
	if passphrase == "" {
		return u
	}
	return u + "#e2ee=" + url.QueryEscape(passphrase)
}

// e2eeState is window.parleyTest.e2ee().
type e2eeState struct {
	Enabled         bool   `json:"enabled"`
	API             string `json:"api"`
	Epoch           int    `json:"epoch"`
	DecryptFailures int64  `json:"decryptFailures"`
	EncryptedFrames int64  `json:"encryptedFrames"`
	DecryptedFrames int64  `json:"decryptedFrames"`
	// ReplayedFrames authenticated but had been opened before: dropped.
	ReplayedFrames int64 `json:"replayedFrames"`
	// MisattributedFrames came on a track of someone other than their key's owner: dropped.
	MisattributedFrames int64 `json:"misattributedFrames"`
	// RefusedMessages are key exchange messages that did not verify.
	RefusedMessages int64 `json:"refusedMessages"`
	// Keyed are the identities whose signed media keys the page holds.
	Keyed         []string `json:"keyed"`
	Undecryptable []string `json:"undecryptable"`
}

func readE2EE(tab context.Context) (e2eeState, error) {
	return chromedp.Run(tab, chromedp.Evaluate[e2eeState](`window.parleyTest.e2ee()`))
}

// received sums what a tab received from one identity: all bytes, and video frames decoded.
func received(in []inbound, identity string) (bytes, videoFrames int64) {
	for _, e := range in {
		if e.Identity != identity {
			continue
		}
		bytes += e.BytesReceived
		if e.Kind == "video" {
			videoFrames += e.FramesDecoded
		}
	}
	return bytes, videoFrames
}

// TestE2EEInBrowsers: two participants with the right passphrase see and hear
// each other; a third with a wrong one receives their ciphertext and decodes
// none of it (and they none of its), and its tile says why. When it leaves,
// the other two move to the next key epoch and keep decoding each other.
func TestE2EEInBrowsers(t *testing.T) {
	srv := startServer(t)
	browser := newBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	people := []struct{ id, pass string }{{"head-a", e2eeRight}, {"head-b", e2eeRight}, {"outsider", e2eeWrong}}
	tabs := map[string]context.Context{}
	for _, p := range people {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(e2eeURL(t, srv, "summit", p.id, p.pass))); err != nil {
			t.Fatal(err)
		}
		tabs[p.id] = tab
	}
	for _, p := range people {
		if err := waitJoined(ctx, tabs[p.id]); err != nil {
			t.Fatalf("%s never joined: %v", p.id, err)
		}
		s, err := readE2EE(tabs[p.id])
		if err != nil {
			t.Fatal(err)
		}
		if !s.Enabled || s.API == "" {
			t.Fatalf("%s: end-to-end encryption is not on: %+v", p.id, s)
		}
		// The secrets left the address bar; the tab keeps them for reloads.
		href, err := chromedp.Run(tabs[p.id], chromedp.Evaluate[string](`location.href`))
		if err != nil || strings.Contains(href, "token=") || strings.Contains(href, "e2ee") {
			t.Fatalf("%s: the address bar still holds a secret: %q (%v)", p.id, href, err)
		}
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})

	// The outsider receives the others' media (ciphertext) and decodes none of
	// it. Its subscriptions may come up after the others see each other (on a
	// loaded machine, seconds after): the window starts once both flow.
	var before []inbound
	waitFor(t, ctx, "the outsider receiving both heads' media", func() (bool, string) {
		in, err := readInbound(tabs["outsider"])
		if err != nil {
			t.Fatal(err)
		}
		before = in
		a, _ := received(in, "head-a")
		b, _ := received(in, "head-b")
		return a > 0 && b > 0, fmt.Sprintf("%d bytes from head-a, %d from head-b", a, b)
	})
	time.Sleep(3 * time.Second)
	after, err := readInbound(tabs["outsider"])
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"head-a", "head-b"} {
		b0, _ := received(before, id)
		b1, frames := received(after, id)
		if frames != 0 {
			t.Errorf("the outsider decoded %d video frames of %s", frames, id)
		}
		if b1 <= b0 || b0 == 0 {
			t.Errorf("the outsider receives nothing from %s (%d then %d bytes): the test proves nothing", id, b0, b1)
		} else {
			t.Logf("outsider from %s: %d bytes received (+%d in 3 s), 0 video frames decoded", id, b1, b1-b0)
		}
	}
	if s, err := readE2EE(tabs["outsider"]); err != nil || s.DecryptedFrames != 0 || s.DecryptFailures == 0 {
		t.Errorf("the outsider's decryption: %+v (%v); want failures and nothing decrypted", s, err)
	}
	// Nor do the others decode the outsider.
	for _, id := range []string{"head-a", "head-b"} {
		in, err := readInbound(tabs[id])
		if err != nil {
			t.Fatal(err)
		}
		if bytes, frames := received(in, "outsider"); frames != 0 || bytes == 0 {
			t.Errorf("%s: from the outsider %d bytes, %d video frames decoded; want bytes and no frames", id, bytes, frames)
		}
	}
	// After 2 s of failures each side's tiles say so.
	for id, want := range map[string]int{"outsider": 2, "head-a": 1, "head-b": 1} {
		waitFor(t, ctx, id+" shows undecryptable tiles", func() (bool, string) {
			n, err := chromedp.Run(tabs[id], chromedp.Evaluate[int](
				`[...document.querySelectorAll('.tile.has-notice')].filter(e => e.textContent.includes('decrypt')).length`))
			if err != nil {
				return false, err.Error()
			}
			return n == want, fmt.Sprintf("%d tiles with the notice, want %d", n, want)
		})
	}

	// The outsider leaves: everyone left moves to epoch 1 and media keeps flowing.
	if err := evalVoid(tabs["outsider"], `window.parleyTest.leave()`); err != nil {
		t.Fatal(err)
	}
	waitEpoch(t, ctx, tabs, 1, "head-a", "head-b")
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
}

// waitEpoch waits until each of ids' tabs encrypts with key epoch (generation) epoch.
func waitEpoch(t *testing.T, ctx context.Context, tabs map[string]context.Context, epoch int, ids ...string) {
	t.Helper()
	for _, id := range ids {
		waitFor(t, ctx, fmt.Sprintf("%s moves to key epoch %d", id, epoch), func() (bool, string) {
			s, err := readE2EE(tabs[id])
			if err != nil {
				return false, err.Error()
			}
			return s.Epoch == epoch, fmt.Sprintf("%+v", s)
		})
	}
}

// TestE2EERecordHoldsOnlyCiphertext: two participants with a passphrase talk in a
// recorded room. Every frame of the recorded files is SFrame ciphertext under the
// meeting's key (a decryptor written here in Go, independently of the browser's,
// opens each one); ffmpeg reads the files (the codec headers are in clear) but
// gets no picture and no sound of the meeting out of them, while the decrypted
// copies, read by the same commands, decode cleanly and hold both.
func TestE2EERecordHoldsOnlyCiphertext(t *testing.T) {
	srv, dataDir := startRecordingServer(t)
	// A steady 440 Hz tone for the microphones, to look for in the recorded audio.
	const toneHz = 440
	browser := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", toneWAV(t, toneHz)))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const room = "summit"
	ids := []string{"head-a", "head-b"}
	tabs := map[string]context.Context{}
	for _, id := range ids {
		tab := newTab(t, browser)
		if err := chromedp.Do(tab, chromedp.Navigate(e2eeURL(t, srv, room, id, e2eeRight))); err != nil {
			t.Fatal(err)
		}
		tabs[id] = tab
	}
	for _, id := range ids {
		if err := waitJoined(ctx, tabs[id]); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	// Chat is end to end too: each side reads the other's line, the server
	// (and the record) only ciphertext bound to its sender.
	lines := map[string]string{"head-a": "I object to item 3", "head-b": "noted"}
	for id, text := range lines {
		if err := evalVoid(tabs[id], `window.parleyTest.chat(`+jsString(text)+`)`); err != nil {
			t.Fatal(err)
		}
	}
	for id, other := range map[string]string{"head-a": "head-b", "head-b": "head-a"} {
		waitFor(t, ctx, id+" reading "+other+"'s line", func() (bool, string) {
			shown, err := chromedp.Run(tabs[id], chromedp.Evaluate[[]string](`window.parleyTest.chatLines()`))
			if err != nil {
				t.Fatal(err)
			}
			return slices.Contains(shown, lines[other]), strings.Join(shown, " | ")
		})
	}
	time.Sleep(8 * time.Second)
	// The keys that open the record are the participants' own: each browser keeps the
	// media secrets it held (its own and those others sent it), and nothing derives them
	// from the passphrase.
	keys := &e2eeKeys{secrets: map[uint64]mediaSecret{}}
	for _, id := range ids {
		held, err := chromedp.Run(tabs[id], chromedp.Evaluate[[]exportedKey](`window.parleyTest.e2eeKeys()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.add(held); err != nil {
			t.Fatalf("%s's keys: %v", id, err)
		}
	}
	for _, id := range ids {
		if err := evalVoid(tabs[id], `window.parleyTest.leave()`); err != nil {
			t.Fatal(err)
		}
	}

	dir, files := sealedRecord(t, ctx, srv, filepath.Join(dataDir, record.Dir), room)
	if len(files) != 4 {
		t.Fatalf("%d media files, want 4: %v", len(files), files)
	}
	events, err := os.ReadFile(filepath.Join(dir, record.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(events), e2eeRight) {
		t.Error("the passphrase is in the record's log")
	}
	chats := 0
	for _, line := range strings.Split(strings.TrimSpace(string(events)), "\n") {
		var e record.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatal(err)
		}
		if e.Type != "chat" {
			continue
		}
		chats++
		sealed := e.Data["text"]
		if strings.Contains(line, lines[e.Identity]) || !strings.HasPrefix(sealed, "e2ee2:") {
			t.Errorf("the record holds %s's chat line in clear: %s", e.Identity, line)
			continue
		}
		if got, err := keys.openChat(sealed, room, e.Identity); err != nil || got != lines[e.Identity] {
			t.Errorf("%s's sealed line opens as %q (%v), want %q", e.Identity, got, err, lines[e.Identity])
		}
		other := map[string]string{"head-a": "head-b", "head-b": "head-a"}[e.Identity]
		if _, err := keys.openChat(sealed, room, other); err == nil {
			t.Errorf("%s's sealed line opens as %s's: a server could move it", e.Identity, other)
		}
	}
	if chats != 2 {
		t.Errorf("%d chat lines in the record, want 2", chats)
	}
	plainDir := t.TempDir()
	for _, f := range files {
		path := filepath.Join(dir, f)
		plain := filepath.Join(plainDir, filepath.Base(f))
		n, senders := decryptRecording(t, keys, path, plain) // fails the test on any frame that is not ciphertext
		if len(senders) != 1 {
			t.Errorf("%s holds frames under the keys of %v, want one participant's", f, senders)
		}
		// The container is intact: the recorder found keyframes and frame sizes in
		// the clear codec header.
		codec, dur := ffprobeDuration(t, path)
		if dur < 5 {
			t.Errorf("%s is %.1f s long, want the whole talk", f, dur)
		}
		switch codec {
		case "vp8":
			// VP8 has no integrity check, so ffmpeg "decodes" a share of the
			// ciphertext frames (whenever the random bits of the encrypted frame
			// header happen to name one partition, between none and most of them).
			// What it cannot get is the picture: compared with the decrypted
			// copy's decode, its frames are noise (PSNR around 6 dB; the same
			// picture would be infinite, a re-encoded one over 30 dB).
			if msg := ffmpegErrors(t, plain); msg != "" {
				t.Errorf("%s: the decrypted copy does not decode cleanly: %s", f, msg)
			}
			packets, frames := decodedFrames(t, plain)
			if packets != n || frames != packets || packets < 40 {
				t.Errorf("%s: the decrypted copy has %d packets (%d frames decrypted), %d decode", f, packets, n, frames)
			}
			_, raw := decodedFrames(t, path)
			psnr, compared := lumaPSNR(t, path, plain)
			picture := "so no picture"
			if compared {
				picture = fmt.Sprintf("PSNR %.1f dB against the decrypted picture", psnr)
			}
			t.Logf("%s: %d frames, all decrypted; ffmpeg decodes %d of them as they were recorded, %s", f, n, raw, picture)
			if compared && psnr > 15 {
				t.Errorf("%s: ffmpeg gets the camera's picture out of the recorded file (PSNR %.1f dB)", f, psnr)
			}
		case "opus":
			// An Opus decoder turns any bytes into sound, so decoding "works": what
			// it yields from ciphertext is noise, never the microphone's tone.
			// (Chromium's echo canceller, hearing the other tab's identical tone,
			// suppresses the tone in part of the windows, hence "a tenth".)
			rec, dec := tonalWindows(t, path, toneHz), tonalWindows(t, plain, toneHz)
			t.Logf("%s: %d frames, all decrypted; the %d Hz tone in %.0f%% of 100 ms windows as recorded, %.0f%% decrypted", f, n, toneHz, 100*rec, 100*dec)
			if rec > 0.01 {
				t.Errorf("%s: ffmpeg gets the microphone's tone out of the recorded file (%.0f%% of windows)", f, 100*rec)
			}
			if dec < 0.1 {
				t.Errorf("%s: the decrypted copy has the tone in only %.0f%% of windows", f, 100*dec)
			}
		default:
			t.Errorf("%s has codec %s", f, codec)
		}
	}
}

// ffmpegErrors decodes a file with ffmpeg and returns what it reports as errors.
// The output keeps the file's millisecond time base: with one derived from the
// frame rate, the null muxer complains of frames closer than one tick.
func ffmpegErrors(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(mediaTool(t, "ffmpeg"), "-v", "error", "-i", path, "-enc_time_base", "1:1000", "-f", "null", "-").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// lumaPSNR decodes two video files with ffmpeg and compares their pictures
// (luma, frames matched by time); compared is false when ffmpeg decodes no
// frame of a at all.
func lumaPSNR(t *testing.T, a, b string) (psnr float64, compared bool) {
	t.Helper()
	out, _ := exec.Command(mediaTool(t, "ffmpeg"), "-hide_banner", "-nostats", "-i", a, "-i", b,
		"-lavfi", "[0:v]format=gray[a];[1:v]format=gray[b];[a][b]psnr", "-f", "null", "-").CombinedOutput()
	i := strings.Index(string(out), "PSNR y:")
	if i < 0 {
		return 0, false
	}
	field := strings.Fields(string(out[i+len("PSNR y:"):]))
	if len(field) == 0 {
		t.Fatalf("ffmpeg psnr: %s", out)
	}
	v, err := strconv.ParseFloat(field[0], 64)
	if err != nil {
		t.Fatalf("ffmpeg psnr %q: %v", field[0], err)
	}
	return v, true
}

// sealedRecord waits until the record of room under records is sealed and
// verifies; it returns its folder and media files.
func sealedRecord(t *testing.T, ctx context.Context, srv *server.Server, records, room string) (string, []string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(records, room+"-*"))
	if len(dirs) != 1 {
		t.Fatalf("records of %s: %v", room, dirs)
	}
	rep := waitSealed(t, ctx, srv, dirs[0])
	var files []string
	for f := range rep.Files {
		files = append(files, f)
	}
	sort.Strings(files)
	return dirs[0], files
}

// waitSealed waits until the record in dir is sealed (the room emptied), and
// fails the test if it does not verify on the way.
func waitSealed(t *testing.T, ctx context.Context, srv *server.Server, dir string) *record.Report {
	t.Helper()
	for {
		rep, err := record.Verify(dir, record.VerifyOptions{ServerKey: srv.Signer().PublicKey()})
		if err != nil {
			t.Fatalf("the record %s does not verify: %v", filepath.Base(dir), err)
		}
		if rep.Sealed {
			return rep
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the record %s was never sealed", filepath.Base(dir))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// mediaTool finds ffmpeg or ffprobe, as ffprobeDuration does.
func mediaTool(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: apt-get install -y ffmpeg", name)
		}
		t.Skipf("%s is missing: sudo apt-get install -y ffmpeg", name)
	}
	return bin
}

// decodedFrames counts a video file's packets and the frames ffprobe decodes from them.
func decodedFrames(t *testing.T, path string) (packets, frames int) {
	t.Helper()
	out, err := exec.Command(mediaTool(t, "ffprobe"), "-v", "quiet", "-count_frames", "-count_packets",
		"-select_streams", "v:0", "-show_entries", "stream=nb_read_frames,nb_read_packets", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	var r struct {
		Streams []struct {
			Frames  string `json:"nb_read_frames"`
			Packets string `json:"nb_read_packets"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v: %s", filepath.Base(path), err, out)
	}
	packets, _ = strconv.Atoi(r.Streams[0].Packets)
	frames, _ = strconv.Atoi(r.Streams[0].Frames) // "N/A" when none decoded
	return packets, frames
}

// tonalWindows decodes an audio file with ffmpeg and returns the fraction of its
// 100 ms windows (of those with any sound) in which a tone at hz holds over half
// the energy (Goertzel). Noise never does.
func tonalWindows(t *testing.T, path string, hz float64) float64 {
	t.Helper()
	const rate, n = 48000, 4800
	pcm, err := exec.Command(mediaTool(t, "ffmpeg"), "-v", "quiet", "-i", path, "-f", "s16le", "-ac", "1", "-ar", strconv.Itoa(rate), "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v", filepath.Base(path), err)
	}
	k := 2 * math.Cos(2*math.Pi*hz/rate)
	var shares []float64
	for off := 0; off+2*n <= len(pcm); off += 2 * n {
		var s1, s2, energy float64
		for i := range n {
			x := float64(int16(binary.LittleEndian.Uint16(pcm[off+2*i:])))
			energy += x * x
			s1, s2 = x+k*s1-s2, s1
		}
		if energy < n { // silence (below ±1 on average)
			continue
		}
		shares = append(shares, (s1*s1+s2*s2-k*s1*s2)/(energy*n/2))
	}
	if len(shares) == 0 {
		t.Fatalf("%s decodes to silence", filepath.Base(path))
	}
	tonal := 0
	for _, s := range shares {
		if s > 0.5 {
			tonal++
		}
	}
	return float64(tonal) / float64(len(shares))
}

// ---- an independent SFrame decryptor (web/static/sframe.js, in Go) ------------------

// exportedKey is one media secret as window.parleyTest.e2eeKeys() gives it.
type exportedKey struct {
	KID      string `json:"kid"`
	Secret   string `json:"secret"`
	Identity string `json:"identity"`
}

// mediaSecret is one sender's secret for one key id.
type mediaSecret struct {
	secret   []byte
	identity string
}

// e2eeKeys opens frames and chat of one meeting with the media secrets the
// participants' browsers held, by key id.
type e2eeKeys struct {
	secrets map[uint64]mediaSecret
}

func (k *e2eeKeys) add(held []exportedKey) error {
	if len(held) == 0 {
		return fmt.Errorf("no keys")
	}
	for _, h := range held {
		kid, err := strconv.ParseUint(h.KID, 10, 64)
		if err != nil {
			return err
		}
		secret, err := base64.RawURLEncoding.DecodeString(h.Secret)
		if err != nil || len(secret) != 32 {
			return fmt.Errorf("key %s: a secret of %d bytes (%v)", h.KID, len(secret), err)
		}
		if have, ok := k.secrets[kid]; ok && (string(have.secret) != string(secret) || have.identity != h.Identity) {
			return fmt.Errorf("key %s is held as two different secrets, or for two people", h.KID)
		}
		k.secrets[kid] = mediaSecret{secret: secret, identity: h.Identity}
	}
	return nil
}

// openChat opens a chat line sealed as web/static/sframe.js seals it: AES-256-GCM
// under a key from the sender's media secret, bound to the room and the sender's
// identity, and naming a key id that sender held.
func (k *e2eeKeys) openChat(sealed, room, identity string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, "e2ee2:"))
	if err != nil || len(b) < 8+12+16 {
		return "", fmt.Errorf("not a sealed line: %v", err)
	}
	ms, ok := k.secrets[binary.BigEndian.Uint64(b)]
	if !ok {
		return "", fmt.Errorf("no key %d", binary.BigEndian.Uint64(b))
	}
	if ms.identity != identity {
		return "", fmt.Errorf("key %d is %s's, not %s's", binary.BigEndian.Uint64(b), ms.identity, identity)
	}
	key, err := hkdf.Key(sha256.New, ms.secret, nil, "parley e2ee v2 chat", 32)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	pt, err := gcm.Open(nil, b[8:20], b[20:], []byte("parley chat\n"+room+"\n"+identity))
	return string(pt), err
}

// sframeHeader reads the SFrame header after clear bytes: the key id, the
// counter and the header's length.
func sframeHeader(frame []byte, clear int) (kid, ctr uint64, n int, err error) {
	if len(frame) < clear+1+16 {
		return 0, 0, 0, fmt.Errorf("a frame of %d bytes", len(frame))
	}
	hdr := frame[clear:]
	first := hdr[0]
	pos := 1
	read := func(x bool, v byte) (uint64, error) {
		if !x {
			return uint64(v), nil
		}
		n := int(v) + 1
		if pos+n > len(hdr) {
			return 0, fmt.Errorf("short SFrame header")
		}
		var u uint64
		for _, b := range hdr[pos : pos+n] {
			u = u<<8 | uint64(b)
		}
		pos += n
		return u, nil
	}
	if kid, err = read(first&0x80 != 0, first>>4&7); err != nil {
		return 0, 0, 0, err
	}
	if ctr, err = read(first&0x08 != 0, first&7); err != nil {
		return 0, 0, 0, err
	}
	return kid, ctr, pos, nil
}

// open decrypts one recorded frame; clear is how many leading bytes are in clear.
// It returns whose key opened it.
func (k *e2eeKeys) open(frame []byte, clear int) ([]byte, string, error) {
	kid, ctr, pos, err := sframeHeader(frame, clear)
	if err != nil {
		return nil, "", err
	}
	ms, ok := k.secrets[kid]
	if !ok {
		return nil, "", fmt.Errorf("no key %d", kid)
	}
	// RFC 9605 4.4.2, cipher suite AES_256_GCM_SHA512_128 (0x0005).
	suffix := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint64(nil, kid), 5)
	key, err := hkdf.Key(sha512.New, ms.secret, nil, "SFrame 1.0 Secret key "+string(suffix), 32)
	if err != nil {
		return nil, "", err
	}
	salt, err := hkdf.Key(sha512.New, ms.secret, nil, "SFrame 1.0 Secret salt "+string(suffix), 12)
	if err != nil {
		return nil, "", err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, "", err
	}
	nonce := binary.BigEndian.AppendUint64(make([]byte, 4), ctr)
	for i := range nonce {
		nonce[i] ^= salt[i]
	}
	hdr := frame[clear:]
	aad := append(append([]byte(nil), hdr[:pos]...), frame[:clear]...)
	plain, err := gcm.Open(nil, nonce, hdr[pos:], aad)
	if err != nil {
		return nil, "", err
	}
	return append(append([]byte(nil), frame[:clear]...), plain...), ms.identity, nil
}

// decryptRecording writes a copy of a recorded WebM file with every frame
// decrypted; it fails the test if any frame does not authenticate. It returns
// the identities whose keys opened the frames.
func decryptRecording(t *testing.T, k *e2eeKeys, in, out string) (frames int, senders []string) {
	t.Helper()
	f, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var doc struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment webm.Segment    `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(f, &doc); err != nil {
		t.Fatalf("reading %s: %v", filepath.Base(in), err)
	}
	video := len(doc.Segment.Tracks.TrackEntry) == 1 && doc.Segment.Tracks.TrackEntry[0].TrackType == 1
	for ci := range doc.Segment.Cluster {
		for bi := range doc.Segment.Cluster[ci].SimpleBlock {
			b := &doc.Segment.Cluster[ci].SimpleBlock[bi]
			for di, data := range b.Data {
				clear := 1 // Opus TOC
				if video {
					clear = 3 // VP8 frame tag
					if len(data) > 0 && data[0]&1 == 0 {
						clear = 10 // and a keyframe's start code and size
					}
				}
				plain, who, err := k.open(data, clear)
				if err != nil {
					t.Fatalf("%s: frame %d does not decrypt: %v", filepath.Base(in), frames, err)
				}
				if !slices.Contains(senders, who) {
					senders = append(senders, who)
				}
				b.Data[di] = plain
				frames++
			}
		}
	}
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := ebml.Marshal(&doc, w); err != nil {
		t.Fatal(err)
	}
	return frames, senders
}
