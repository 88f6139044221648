// Package testengine starts a real speech recogniser for tests: Debian's
// pocketsphinx behind adapter.py, a small server that speaks the
// OpenAI-compatible /v1/audio/transcriptions API real engines speak. Without
// the packages a test skips, except under CI=true, where it fails: CI installs
// them (.ci/run).
package testengine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Speech is a recording of a man saying "go forward ten meters", from
// pocketsphinx-testdata: 16 kHz mono signed 16-bit PCM, 2.8 s.
const Speech = "/usr/share/pocketsphinx/test/data/goforward.raw"

// SpeechWords are the words of Speech.
var SpeechWords = []string{"go", "forward", "ten", "meters"}

// Python is the interpreter with Debian's python3-pocketsphinx (not a
// virtualenv's python3 earlier on PATH).
const Python = "/usr/bin/python3"

const install = "apt-get install -y pocketsphinx pocketsphinx-en-us pocketsphinx-testdata python3-pocketsphinx ffmpeg"

// missing skips t, or fails it under CI=true, naming what is missing.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing: %s", what, install)
	}
	t.Skipf("%s is missing: %s", what, install)
}

// Require skips (or under CI fails) t unless the engine can run here.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		missing(t, "ffmpeg")
	}
	if _, err := os.Stat(Speech); err != nil {
		missing(t, "pocketsphinx-testdata")
	}
	if err := exec.Command(Python, "-c", "import pocketsphinx").Run(); err != nil {
		missing(t, "python3-pocketsphinx")
	}
	if _, err := os.Stat("/usr/share/pocketsphinx/model/en-us/en-us.lm.bin"); err != nil {
		missing(t, "pocketsphinx-en-us")
	}
}

// Engine is a running adapter.
type Engine struct {
	// URL is the transcription endpoint, .../v1/audio/transcriptions.
	URL  string
	Port int
	cmd  *exec.Cmd
}

// Start runs the adapter on a free loopback port until the test ends; delay
// makes it wait that long before each answer (a slow engine).
func Start(t testing.TB, delay time.Duration) *Engine {
	t.Helper()
	Require(t)
	return start(t, 0, delay)
}

// Restart starts the adapter again on the port a stopped one had.
func (e *Engine) Restart(t testing.TB, delay time.Duration) *Engine {
	t.Helper()
	return start(t, e.Port, delay)
}

func start(t testing.TB, port int, delay time.Duration) *Engine {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "adapter.py")
	cmd := exec.Command(Python, script, "--port", strconv.Itoa(port), "--delay", strconv.FormatFloat(delay.Seconds(), 'f', 3, 64))
	cmd.Stderr = os.Stderr // what it heard, in the test's output
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &Engine{cmd: cmd}
	t.Cleanup(e.Stop)
	// Loading the model takes seconds on a busy machine.
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	var line string
	select {
	case line = <-ready:
	case <-time.After(60 * time.Second):
		t.Fatal("the ASR adapter did not start within 60 s")
	}
	p, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if e.Port, err = strconv.Atoi(p); !ok || err != nil {
		t.Fatalf("the ASR adapter said %q instead of its port", line)
	}
	e.URL = fmt.Sprintf("http://127.0.0.1:%d/v1/audio/transcriptions", e.Port)
	return e
}

// Stop kills the adapter (an engine that dies mid-call); Cleanup calls it too.
func (e *Engine) Stop() {
	if e.cmd.ProcessState != nil {
		return
	}
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
}

// SpeechWAV writes Speech as a 48 kHz WAV for Chromium's fake microphone
// (--use-file-for-fake-audio-capture, which loops it), followed by pause of
// silence so that each repetition is a segment of its own.
func SpeechWAV(t testing.TB, pause time.Duration) string {
	t.Helper()
	Require(t)
	path := filepath.Join(t.TempDir(), "speech.wav")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-loglevel", "error",
		"-f", "s16le", "-ar", "16000", "-ac", "1", "-i", Speech,
		"-af", fmt.Sprintf("apad=pad_dur=%.3f", pause.Seconds()),
		"-ar", "48000", "-ac", "1", "-c:a", "pcm_s16le", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	return path
}
