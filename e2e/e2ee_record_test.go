package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/auth"
	"github.com/parleyhq/parley/record"
)

// mediaKeysFile is a parley-media-keys-v1 file (docs/e2ee.md, "Reading the record").
type mediaKeysFile struct {
	Format   string `json:"format"`
	Record   string `json:"record"`
	Identity string `json:"identity"`
	Keys     []struct {
		KID    string `json:"kid"`
		Sender struct {
			Participant string `json:"participant"`
			Identity    string `json:"identity"`
		} `json:"sender"`
		Secret string `json:"secret"`
	} `json:"keys"`
}

// generations says, per sender identity, which key generations the file holds.
func (m mediaKeysFile) generations() map[string][]uint64 {
	out := map[string][]uint64{}
	for _, k := range m.Keys {
		kid, _ := strconv.ParseUint(k.KID, 10, 64)
		if g := kid >> 40; !slices.Contains(out[k.Sender.Identity], g) {
			out[k.Sender.Identity] = append(out[k.Sender.Identity], g)
		}
	}
	for _, gs := range out {
		slices.Sort(gs)
	}
	return out
}

var (
	parleyOnce sync.Once
	parleyBin  string
	parleyErr  error
)

// parleyCommand builds the parley command once per test binary: the tests run it
// as a person would.
func parleyCommand(t *testing.T) string {
	t.Helper()
	parleyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-e2e-bin-")
		if err != nil {
			parleyErr = err
			return
		}
		parleyBin = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", parleyBin, "github.com/parleyhq/parley/cmd/parley").CombinedOutput()
		if err != nil {
			parleyErr = fmt.Errorf("go build ./cmd/parley: %v: %s", err, out)
		}
	})
	if parleyErr != nil {
		t.Fatal(parleyErr)
	}
	return parleyBin
}

// saveMediaKeys clicks "Save media keys" in the record popover of tab, as a
// person would, and returns the path of the file the browser saved in dir.
func saveMediaKeys(t *testing.T, ctx, tab context.Context, dir string) (string, mediaKeysFile) {
	t.Helper()
	if _, err := chromedp.CallBrowser(tab, browser.SetDownloadBehavior,
		browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.ID("rec-pill")),
		chromedp.WaitVisible(chromedp.ID("rec-media-keys")),
		chromedp.Click(chromedp.ID("rec-media-keys")),
	); err != nil {
		t.Fatal(err)
	}
	var path string
	var m mediaKeysFile
	waitFor(t, ctx, "the media keys' download", func() (bool, string) {
		ms, _ := filepath.Glob(filepath.Join(dir, "media-keys-*.json"))
		if len(ms) != 1 {
			return false, strings.Join(ms, ", ")
		}
		b, err := os.ReadFile(ms[0])
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		path = ms[0]
		return err == nil, fmt.Sprintf("%s: %v", ms[0], err)
	})
	_ = chromedp.Do(tab, chromedp.Click(chromedp.ID("rec-pill"))) // close the popover
	return path, m
}

// storedKeys reads what the page's keys.js kept for a record and identity
// (all identities for ""), as the record player does: from IndexedDB.
func storedKeys(t *testing.T, tab context.Context, recordID, identity string) mediaKeysFile {
	t.Helper()
	js := fmt.Sprintf(`import('/assets/player/decrypt.js').then((m) => m.storedMediaKeys(%s))`, jsString(recordID))
	if identity != "" {
		js = fmt.Sprintf(`import('/assets/keys.js').then((m) => m.loadMediaKeys(%s, %s))`, jsString(recordID), jsString(identity))
	}
	m, err := chromedp.Run(tab, chromedp.Evaluate[mediaKeysFile](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the media keys kept for %s: %v", identity, err)
	}
	return m
}

// decryptOutput is one media file's line of `parley record decrypt`.
var decryptLine = regexp.MustCompile(`(?m)^  (media/\S+): (\d+) frames: (\d+) decrypted, (\d+) without a key, (\d+) failed authentication`)

type decryptCounts struct{ frames, decrypted, missing, failed int }

// trackFile names a recorded track by its file: IDENTITY-SOURCE-PARTICIPANT-TRACK.webm.
var trackFile = regexp.MustCompile(`^media/([a-z-]+-(?:mic|camera))-PA_`)

func runDecrypt(t *testing.T, dir, out string, keys ...string) (int, string, map[string]decryptCounts) {
	t.Helper()
	args := []string{"record", "decrypt", dir, "--out", out}
	for _, k := range keys {
		args = append(args, "--keys", k)
	}
	cmd := exec.Command(parleyCommand(t), args...)
	b, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	counts := map[string]decryptCounts{}
	for _, m := range decryptLine.FindAllStringSubmatch(string(b), -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		counts[m[1]] = decryptCounts{n(2), n(3), n(4), n(5)}
	}
	return code, string(b), counts
}

// pcmRMS decodes an audio file with ffmpeg and returns its RMS (of 16-bit samples).
func pcmRMS(t *testing.T, path string) float64 {
	t.Helper()
	pcm, err := exec.Command(mediaTool(t, "ffmpeg"), "-v", "quiet", "-i", path, "-f", "s16le", "-ac", "1", "-ar", "48000", "-").Output()
	if err != nil || len(pcm) < 2 {
		t.Fatalf("ffmpeg %s: %v", filepath.Base(path), err)
	}
	var sum float64
	for i := 0; i+1 < len(pcm); i += 2 {
		x := float64(int16(binary.LittleEndian.Uint16(pcm[i:])))
		sum += x * x
	}
	return math.Sqrt(sum / float64(len(pcm)/2))
}

// TestE2EERecordDecrypts: a recorded, end-to-end encrypted call, with a late
// joiner who then leaves (so every key is renewed while the record runs).
// head-a's browser keeps the media keys of the record in IndexedDB as they come,
// renewals appended to what it had; "Save media keys" writes them to a file, and
// `parley record decrypt` with that file writes copies that ffmpeg decodes: the
// camera's frames, and the microphone's tone where the recorded files give noise.
// The late joiner's own keys open what was said while it was there and nothing
// after; no keys open nothing, and the command says so. In head-a's page the
// record player's decryptWebM turns a recorded camera file into one a <video>
// plays, with the keys it finds in IndexedDB.
func TestE2EERecordDecrypts(t *testing.T) {
	parleyCommand(t) // before the call, which it would slow down
	srv, dataDir := startRecordingServer(t)
	const toneHz = 440
	browserCtx := newBrowser(t, chromedp.Flag("use-file-for-fake-audio-capture", toneWAV(t, toneHz)))
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second) // three tabs and a renewal: generous on a loaded machine
	defer cancel()

	const room = "summit"
	tabs := map[string]context.Context{}
	join := func(id string) {
		tab := newTab(t, browserCtx)
		if err := chromedp.Do(tab, chromedp.Navigate(e2eeURL(t, srv, room, id, e2eeRight))); err != nil {
			t.Fatal(err)
		}
		if err := waitJoined(ctx, tab); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		tabs[id] = tab
	}
	join("head-a")
	join("head-b")
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	waitFlowing(t, ctx, tabs["head-b"], "head-b", []string{"head-a"})
	// The record runs (the server records every room): a late joiner comes and goes.
	join("late")
	waitFlowing(t, ctx, tabs["late"], "late", []string{"head-a", "head-b"})
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b", "late"})
	time.Sleep(3 * time.Second)
	if err := evalVoid(tabs["late"], `window.parleyTest.leave()`); err != nil {
		t.Fatal(err)
	}
	waitEpoch(t, ctx, tabs, 1, "head-a", "head-b")
	waitFlowing(t, ctx, tabs["head-a"], "head-a", []string{"head-b"})
	time.Sleep(4 * time.Second)

	recordID, err := chromedp.Run(tabs["head-a"], chromedp.Evaluate[string](`document.getElementById('rec-record-id').textContent`))
	if err != nil || recordID == "" {
		t.Fatalf("head-a's page names no record: %q %v", recordID, err)
	}
	keysPath, saved := saveMediaKeys(t, ctx, tabs["head-a"], t.TempDir())
	if saved.Format != "parley-media-keys-v1" || saved.Record != recordID || saved.Identity != "head-a" {
		t.Fatalf("the saved media keys: format %q, record %q, identity %q", saved.Format, saved.Record, saved.Identity)
	}
	// Every sender's keys, both generations of those who stayed: the renewal was
	// appended to what the browser had kept, not put in its place.
	gens := saved.generations()
	t.Logf("head-a's browser kept %d media keys for %s: generations by sender %v", len(saved.Keys), recordID, gens)
	// (On a loaded machine a page may reconnect, which renews keys once more.)
	for id, want := range map[string][]uint64{"head-a": {0, 1}, "head-b": {0, 1}, "late": {0}} {
		for _, g := range want {
			if !slices.Contains(gens[id], g) {
				t.Errorf("kept keys of %s: generations %v, want %v among them", id, gens[id], want)
			}
		}
	}
	lateKeys := storedKeys(t, tabs["late"], recordID, "late")
	if g := lateKeys.generations(); !slices.Contains(g["head-a"], 0) || slices.Contains(g["head-a"], 1) || !slices.Contains(g["late"], 0) {
		t.Errorf("the late joiner kept generations %v, want generation 0 of each and not head-a's 1", g)
	}
	latePath := filepath.Join(t.TempDir(), "late.json")
	if b, err := json.Marshal(lateKeys); err != nil || os.WriteFile(latePath, b, 0o600) != nil {
		t.Fatal(err)
	}

	for _, id := range []string{"head-a", "head-b"} {
		if err := evalVoid(tabs[id], `window.parleyTest.leave()`); err != nil {
			t.Fatal(err)
		}
	}
	dir, files := sealedRecord(t, ctx, srv, filepath.Join(dataDir, record.Dir), room)
	// Each track of each participant (a page that reconnects publishes new tracks).
	tracks := map[string][]string{}
	for _, f := range files {
		m := trackFile.FindStringSubmatch(f)
		if m == nil {
			t.Fatalf("a media file named %s", f)
		}
		tracks[m[1]] = append(tracks[m[1]], f)
	}
	if len(tracks) != 6 {
		t.Fatalf("media of %d tracks, want 6 (a camera and a microphone each): %v", len(tracks), files)
	}
	sum := func(counts map[string]decryptCounts, fs []string) (c decryptCounts) {
		for _, f := range fs {
			x := counts[f]
			c.frames, c.decrypted, c.missing, c.failed = c.frames+x.frames, c.decrypted+x.decrypted, c.missing+x.missing, c.failed+x.failed
		}
		return c
	}

	// Decrypted with head-a's saved keys.
	out := t.TempDir()
	code, report, counts := runDecrypt(t, dir, out, keysPath)
	t.Logf("parley record decrypt:\n%s", report)
	if code != 0 || len(counts) != len(files) {
		t.Fatalf("exit %d, %d files summarized, want 0 and %d", code, len(counts), len(files))
	}
	for track, fs := range tracks {
		// All of it but what head-b sent under the key it drew when head-a left
		// (head-a never got that one): a fraction of a second.
		if c := sum(counts, fs); c.frames < 40 || c.decrypted < c.frames*9/10 || c.failed != 0 {
			t.Errorf("%s: %+v, want most frames decrypted and none failing authentication", track, c)
		}
	}
	for _, f := range files {
		plain := filepath.Join(out, filepath.Base(f))
		if counts[f].decrypted < 10 {
			continue // a track's few frames before its page reconnected
		}
		codec, _ := ffprobeDuration(t, filepath.Join(dir, f))
		switch codec {
		case "vp8":
			if msg := ffmpegErrors(t, plain); msg != "" {
				t.Errorf("%s: the decrypted copy does not decode cleanly: %s", f, msg)
			}
			packets, frames := decodedFrames(t, plain)
			recorded, _ := decodedFrames(t, filepath.Join(dir, f))
			t.Logf("%s: %d frames recorded, %d in the copy, ffmpeg decodes %d", f, recorded, packets, frames)
			if frames < recorded*9/10 {
				t.Errorf("%s: ffmpeg decodes %d frames of the copy, of %d recorded", f, frames, recorded)
			}
		case "opus":
			rec, dec := pcmRMS(t, filepath.Join(dir, f)), pcmRMS(t, plain)
			tone := tonalWindows(t, plain, toneHz)
			t.Logf("%s: RMS %.0f as recorded (ciphertext decoded as Opus), %.0f decrypted; the tone in %.0f%% of windows", f, rec, dec, 100*tone)
			if dec > rec/2 {
				t.Errorf("%s: the decrypted copy is as loud as noise: RMS %.0f, the ciphertext's %.0f", f, dec, rec)
			}
			if tone < 0.1 {
				t.Errorf("%s: the decrypted copy has the tone in only %.0f%% of windows", f, 100*tone)
			}
		default:
			t.Errorf("%s has codec %s", f, codec)
		}
	}
	// The record's folder is as it was: it still verifies.
	if _, err := record.Verify(dir, record.VerifyOptions{ServerKey: srv.Signer().PublicKey()}); err != nil {
		t.Errorf("after decrypting, the record does not verify: %v", err)
	}

	// The late joiner's keys: what was sent while it was there, nothing after.
	code, report, counts = runDecrypt(t, dir, t.TempDir(), latePath)
	if code != 0 {
		t.Fatalf("with the late joiner's keys: exit %d\n%s", code, report)
	}
	for track, fs := range tracks {
		c := sum(counts, fs)
		if strings.HasPrefix(track, "late-") {
			if c.decrypted < c.frames*9/10 {
				t.Errorf("the late joiner's keys open %+v of its own %s", c, track)
			}
			continue
		}
		if c.decrypted == 0 || c.missing == 0 || c.failed != 0 {
			t.Errorf("the late joiner's keys on %s: %+v, want some decrypted (while it was there) and the rest without a key", track, c)
		}
	}

	// No keys: nothing decrypts, and the command says so.
	empty := filepath.Join(t.TempDir(), "none.json")
	if err := os.WriteFile(empty, []byte(`{"format":"parley-media-keys-v1","record":"`+recordID+`","identity":"nobody","keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	noneOut := t.TempDir()
	code, report, _ = runDecrypt(t, dir, noneOut, empty)
	if code != 1 || !strings.Contains(report, "nothing decrypted") {
		t.Errorf("without keys: exit %d, want 1 and \"nothing decrypted\":\n%s", code, report)
	}
	if written, _ := filepath.Glob(filepath.Join(noneOut, "*")); len(written) != 0 {
		t.Errorf("without keys, files were written: %v", written)
	}

	// The player's decryption, in head-a's page, with the keys its IndexedDB holds.
	var camera string
	for _, f := range tracks["head-b-camera"] {
		if camera == "" || counts[f].frames > counts[camera].frames {
			camera = f
		}
	}
	camera = filepath.Join(dir, camera)
	playDecrypted(t, ctx, tabs["head-a"], recordID, camera)

	// The record player, in head-a's browser (whose IndexedDB kept the keys), plays the
	// record decrypted in the page; a browser without keys says it is encrypted and
	// plays nothing.
	tok, err := srv.Signer().Mint(auth.Claims{Subject: "head-a", Room: room, Name: "head-a", Grants: []auth.Grant{auth.GrantJoin, auth.GrantRecord},
		IssuedAt: time.Now().Unix(), ExpiresAt: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	link := srv.URL() + "/records/" + recordID + "#token=" + url.QueryEscape(tok)
	player := openPlayer(t, ctx, browserCtx, link)
	waitFor(t, ctx, "the player to decrypt with the kept keys", func() (bool, string) {
		s, err := chromedp.Run(player, chromedp.Evaluate[string](`document.getElementById('pl-encrypted').className`))
		return strings.Contains(s, "pl-decrypted"), s + fmt.Sprint(err)
	})
	checkPlays(t, ctx, player)
	screenshot(t, player, "player-e2ee-decrypted")
	stranger := openPlayer(t, ctx, newBrowser(t), link)
	time.Sleep(2 * time.Second)
	_ = evalVoid(stranger, `window.parleyPlayer.play()`)
	time.Sleep(2 * time.Second)
	for _, m := range playerMediaOf(t, stranger) {
		if m.Frames > 0 {
			t.Errorf("a browser without keys decoded %d frames of %s", m.Frames, m.File)
		}
	}
	if s, err := chromedp.Run(stranger, chromedp.Evaluate[string](`(document.getElementById('pl-encrypted').hidden ? 'hidden ' : '') + document.getElementById('pl-encrypted').className`)); err != nil ||
		strings.Contains(s, "hidden") || strings.Contains(s, "pl-decrypted") {
		t.Errorf("without keys, the player's notice: %q %v", s, err)
	}
}

// playDecrypted decrypts a recorded camera file in the page with decryptWebM and
// the media keys the browser kept, and plays it in a <video> element until it
// has shown frames.
func playDecrypted(t *testing.T, ctx, tab context.Context, recordID, path string) {
	t.Helper()
	enc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		Decrypted int    `json:"decrypted"`
		Missing   int    `json:"missing"`
		Failed    int    `json:"failed"`
		Bytes     int    `json:"bytes"`
		Error     string `json:"error"`
	}
	js := fmt.Sprintf(`(async () => {
		try {
			const m = await import('/assets/player/decrypt.js');
			const keys = await m.storedMediaKeys(%s);
			if (!keys) return {error: 'no keys kept'};
			const bin = atob(%s);
			const buf = new Uint8Array(bin.length);
			for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
			const r = await m.decryptWebM(buf.buffer, keys);
			const v = document.createElement('video');
			v.id = 'decrypted-video';
			v.muted = true;
			v.src = URL.createObjectURL(new Blob([r.data], {type: 'video/webm'}));
			document.body.append(v);
			v.play().catch((e) => { window.playError = String(e); });
			return {decrypted: r.decrypted, missing: r.missing, failed: r.failed, bytes: r.data.byteLength};
		} catch (e) {
			return {error: String(e && e.stack || e)};
		}
	})()`, jsString(recordID), jsString(base64.StdEncoding.EncodeToString(enc)))
	r, err := chromedp.Run(tab, chromedp.Evaluate[result](js, chromedp.EvalAwaitPromise))
	if err != nil || r.Error != "" {
		t.Fatalf("decryptWebM: %v %s", err, r.Error)
	}
	t.Logf("decryptWebM in the page: %s (%d bytes): %d frames decrypted, %d without a key, %d failed; %d bytes out",
		filepath.Base(path), len(enc), r.Decrypted, r.Missing, r.Failed, r.Bytes)
	if r.Decrypted < 40 || r.Failed != 0 {
		t.Errorf("decryptWebM: %+v", r)
	}
	waitFor(t, ctx, "the decrypted camera playing in a <video>", func() (bool, string) {
		s, err := chromedp.Run(tab, chromedp.Evaluate[map[string]any](`(() => {
			const v = document.getElementById('decrypted-video');
			const q = v.getVideoPlaybackQuality();
			return {frames: q.totalVideoFrames, time: v.currentTime, width: v.videoWidth, error: v.error ? v.error.message : (window.playError || '')};
		})()`))
		if err != nil {
			return false, err.Error()
		}
		if e, _ := s["error"].(string); e != "" {
			t.Fatalf("the <video> fails: %s", e)
		}
		frames, _ := s["frames"].(float64)
		return frames >= 30, fmt.Sprintf("%v", s)
	})
}

// TestMediaKeysKeepOlderStores: a browser that used Parley before media keys
// existed (its IndexedDB at version 2) keeps its signing keys and receipts when
// keys.js opens the database at version 3 for the media keys; keeping media keys
// appends, and never loses a key kept before.
func TestMediaKeysKeepOlderStores(t *testing.T) {
	srv := startServer(t)
	tab := newTab(t, newBrowser(t))
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	secret := func(b byte) string { return base64.RawURLEncoding.EncodeToString(slices.Repeat([]byte{b}, 32)) }
	js := fmt.Sprintf(`(async () => {
		const req = (r) => new Promise((ok, bad) => { r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error); });
		// The database as the client of version 2 left it.
		const open = indexedDB.open('parley', 2);
		open.onupgradeneeded = () => { for (const s of ['keys', 'meta', 'receipts']) open.result.createObjectStore(s); };
		const old = await req(open);
		const tx = old.transaction(['meta', 'receipts'], 'readwrite');
		tx.objectStore('meta').put('browser-id-of-before', 'browser-id');
		tx.objectStore('receipts').put({format: 'parley-receipt-v1', record: 'rec-1', identity: 'head-a', key: 'K', checkpoints: [{seq: 3, head: 'h', sig: 's'}]}, 'rec-1 head-a');
		await new Promise((ok) => { tx.oncomplete = ok; });
		old.close();

		const k = await import('/assets/keys.js');
		const key = (kid, b, who) => ({kid, sender: {participant: 'PA_' + who, identity: who}, secret: b});
		const added = [
			await k.keepMediaKeys('rec-1', 'head-a', [key('1', %[1]s, 'head-a'), key('2', %[2]s, 'head-b')]),
			// a renewal: new keys join the old
			await k.keepMediaKeys('rec-1', 'head-a', [key('1099511627777', %[3]s, 'head-a')]),
			// the same keys again (a reconnection): nothing new
			await k.keepMediaKeys('rec-1', 'head-a', [key('1', %[1]s, 'head-a'), key('2', %[2]s, 'head-b')]),
			// not a key: refused
			await k.keepMediaKeys('rec-1', 'head-a', [{kid: 'x', secret: 'short'}]),
			// the same browser as someone else in the record, and in another record
			await k.keepMediaKeys('rec-1', 'observer', [key('3', %[4]s, 'head-b')]),
			await k.keepMediaKeys('rec-10', 'head-a', [key('4', %[4]s, 'head-b')]),
		];
		const receipt = await k.loadReceipt('rec-1', 'head-a');
		const mine = await k.loadMediaKeys('rec-1', 'head-a');
		const all = await k.loadMediaKeys('rec-1');
		const none = await k.loadMediaKeys('rec-2');
		const db = await req(indexedDB.open('parley'));
		const meta = await req(db.transaction('meta').objectStore('meta').get('browser-id'));
		const version = db.version;
		db.close();
		return {added, receipt: receipt && receipt.checkpoints.length, meta, version,
			mine: mine.keys.map((x) => x.kid), all: all.keys.map((x) => x.kid), identities: all.identity, none};
	})()`, jsString(secret(1)), jsString(secret(2)), jsString(secret(3)), jsString(secret(4)))
	type result struct {
		Added      []int    `json:"added"`
		Receipt    int      `json:"receipt"`
		Meta       string   `json:"meta"`
		Version    int      `json:"version"`
		Mine       []string `json:"mine"`
		All        []string `json:"all"`
		Identities string   `json:"identities"`
		None       any      `json:"none"`
	}
	r, err := chromedp.Run(tab, chromedp.Evaluate[result](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 3 || r.Receipt != 1 || r.Meta != "browser-id-of-before" {
		t.Errorf("after the upgrade: version %d, receipt with %d checkpoints, browser id %q; want 3, 1 and the old id", r.Version, r.Receipt, r.Meta)
	}
	if !slices.Equal(r.Added, []int{2, 1, 0, 0, 1, 1}) {
		t.Errorf("keys added by each call: %v, want [2 1 0 0 1 1]", r.Added)
	}
	if !slices.Equal(r.Mine, []string{"1", "2", "1099511627777"}) {
		t.Errorf("kept for head-a: %v", r.Mine)
	}
	if !slices.Equal(r.All, []string{"1", "2", "1099511627777", "3"}) || r.Identities != "head-a observer" {
		t.Errorf("kept for the record, any identity: %v (%q)", r.All, r.Identities)
	}
	if r.None != nil {
		t.Errorf("keys for a record never kept: %v", r.None)
	}
}

// TestDecryptWebMInPage: the player's decryptWebM on recordcrypt's fixtures (a
// camera recorded under two key generations): the right keys open every frame,
// as recordcrypt does; a wrong secret under the same key ids fails each frame's
// authentication; a key id without a key counts as missing; truncated and
// garbage input gives an error, never a hang.
func TestDecryptWebMInPage(t *testing.T) {
	srv := startServer(t)
	tab := newTab(t, newBrowser(t))
	if err := chromedp.Do(tab, chromedp.Navigate(srv.URL()+"/")); err != nil {
		t.Fatal(err)
	}
	camera, err := os.ReadFile(filepath.Join("..", "recordcrypt", "testdata", "camera.webm"))
	if err != nil {
		t.Fatal(err)
	}
	secret := func(s string) string {
		b := make([]byte, 32)
		copy(b, s)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// recordcrypt_test.go's alice0 and alice1.
	const kid0, kid1 = 0x1234567890, 1<<40 | 0x1234567890
	keys := func(s0, s1 string) string {
		return fmt.Sprintf(`{format: 'parley-media-keys-v1', record: 'r', identity: 'head-b', keys: [
			{kid: '%d', sender: {participant: 'PA_alice', identity: 'head-a'}, secret: %s},
			{kid: '%d', sender: {participant: 'PA_alice', identity: 'head-a'}, secret: %s}]}`, kid0, jsString(s0), kid1, jsString(s1))
	}
	right := keys(secret("alice, generation 0"), secret("alice, generation 1"))
	onlyGen1 := fmt.Sprintf(`{format: 'parley-media-keys-v1', record: 'r', identity: 'x', keys: [
		{kid: '%d', sender: {participant: 'PA_alice', identity: 'head-a'}, secret: %s}]}`, kid1, jsString(secret("alice, generation 1")))
	js := fmt.Sprintf(`(async () => {
		const m = await import('/assets/player/decrypt.js');
		const bin = atob(%s);
		const file = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++) file[i] = bin.charCodeAt(i);
		const run = async (buf, keys) => {
			try {
				const r = await m.decryptWebM(buf, keys);
				return {decrypted: r.decrypted, missing: r.missing, failed: r.failed, bytes: r.data.byteLength};
			} catch (e) {
				return {error: e instanceof Error ? e.message : 'not an Error: ' + String(e)};
			}
		};
		const right = await run(file.slice().buffer, %s);
		// The copy is WebM again: decrypting it finds no SFrame frames (they fail, none is missing).
		const again = await run((await m.decryptWebM(file.slice().buffer, %[2]s)).data, %[2]s);
		const out = {
			right, again,
			wrong: await run(file.slice().buffer, %s),
			half: await run(file.slice().buffer, %s),
			garbage: await run(new Uint8Array([1, 2, 3, 4, 5]).buffer, %[2]s),
			empty: await run(new ArrayBuffer(0), %[2]s),
			notKeys: await run(file.slice().buffer, {format: 'something else'}),
			cuts: [],
		};
		for (let n = 0; n < file.length; n += 97) out.cuts.push(await run(file.slice(0, n).buffer, %[2]s));
		return out;
	})()`, jsString(base64.StdEncoding.EncodeToString(camera)), right,
		keys(secret("someone else"), secret("someone else, 1")), onlyGen1)
	type run struct {
		Decrypted int    `json:"decrypted"`
		Missing   int    `json:"missing"`
		Failed    int    `json:"failed"`
		Bytes     int    `json:"bytes"`
		Error     string `json:"error"`
	}
	type result struct {
		Right, Again, Wrong, Half, Garbage, Empty, NotKeys run
		Cuts                                               []run
	}
	r, err := chromedp.Run(tab, chromedp.Evaluate[result](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if r.Right.Error != "" || r.Right.Decrypted != 18 || r.Right.Missing+r.Right.Failed != 0 {
		t.Errorf("the right keys: %+v, want 18 frames decrypted", r.Right)
	}
	if r.Again.Error != "" || r.Again.Decrypted != 0 {
		t.Errorf("the decrypted copy, decrypted again: %+v", r.Again)
	}
	if r.Wrong.Error != "" || r.Wrong.Failed != 18 || r.Wrong.Decrypted != 0 {
		t.Errorf("wrong secrets: %+v, want 18 failing authentication", r.Wrong)
	}
	if r.Half.Error != "" || r.Half.Decrypted != 6 || r.Half.Missing != 12 {
		t.Errorf("generation 1 only: %+v, want 6 decrypted and 12 without a key", r.Half)
	}
	for name, x := range map[string]run{"garbage": r.Garbage, "an empty file": r.Empty, "keys of another format": r.NotKeys} {
		if x.Error == "" || strings.HasPrefix(x.Error, "not an Error") {
			t.Errorf("%s: %+v, want an Error", name, x)
		}
	}
	for i, c := range r.Cuts {
		if strings.HasPrefix(c.Error, "not an Error") || c.Decrypted > 18 {
			t.Errorf("cut at %d bytes: %+v", i*97, c)
		}
	}
	t.Logf("right %+v, wrong %+v, half %+v, garbage %q, %d cuts", r.Right, r.Wrong, r.Half, r.Garbage.Error, len(r.Cuts))
}
