package whip_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/signal"
)

// debianPython is the interpreter Debian's python3-aiortc installs for.
const debianPython = "/usr/bin/python3"

// aiortcProc is testdata/aiortc_client.py running.
type aiortcProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
}

// startAiortc runs the aiortc client; it skips the test where aiortc is
// absent, except under CI=true (CI installs python3-aiortc), where it fails.
func startAiortc(t *testing.T, ctx context.Context, mode, url, token string) *aiortcProc {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import aiortc").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %s cannot import aiortc (apt-get install python3-aiortc): %v", debianPython, err)
		}
		t.Skipf("aiortc is not installed (apt-get install python3-aiortc)")
	}
	cmd := exec.CommandContext(ctx, debianPython, "testdata/aiortc_client.py", mode, url, token)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	p := &aiortcProc{cmd: cmd, out: &syncBuffer{}, exited: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-p.exited
		if t.Failed() {
			t.Logf("aiortc %s output:\n%s", mode, tail(p.out.String(), 4000))
		}
	})
	return p
}

var framesLine = regexp.MustCompile(`frames video=(\d+) audio=(\d+)`)

// frames is the last count of decoded frames the player printed.
func (p *aiortcProc) frames() (video, audio int) {
	m := framesLine.FindAllStringSubmatch(p.out.String(), -1)
	if len(m) == 0 {
		return 0, 0
	}
	video, _ = strconv.Atoi(m[len(m)-1][1])
	audio, _ = strconv.Atoi(m[len(m)-1][2])
	return video, audio
}

// alive fails the test if the process has exited.
func (p *aiortcProc) alive(t *testing.T, what string) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("%s exited: %v\n%s", what, err, tail(p.out.String(), 4000))
	default:
	}
}

// stop interrupts the process (it DELETEs its session) and waits for it.
func (p *aiortcProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := <-p.exited
	p.exited <- err
	if !strings.Contains(p.out.String(), "deleted 200") {
		t.Errorf("the client's DELETE was not answered 200 (exit %v):\n%s", err, tail(p.out.String(), 2000))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// Another WebRTC stack, end to end: aiortc publishes real VP8 and Opus with
// WHIP, a participant receives it, and an aiortc player decodes it through
// WHEP. Both end with DELETE.
func TestWhipWhepAiortc(t *testing.T) {
	srv := start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher := dial(t, ctx, srv, "py", "watcher", joinSub...)

	pub := startAiortc(t, ctx, "whip", srv.URL()+"/whip/py", mint(t, srv, "py", "aiortc", joinPub...))
	poll(t, "the watcher to receive aiortc's camera and microphone", func() bool {
		pub.alive(t, "the aiortc publisher")
		in := inboundFrom(watcher, "aiortc")
		return in[signal.SourceCamera] != nil && in[signal.SourceCamera].Packets.Load() > 30 &&
			in[signal.SourceMic] != nil && in[signal.SourceMic].Packets.Load() > 30
	})

	player := startAiortc(t, ctx, "whep", srv.URL()+"/whep/py/aiortc", mint(t, srv, "py", "player", joinSub...))
	poll(t, "the aiortc player to decode video and audio", func() bool {
		player.alive(t, "the aiortc player")
		v, a := player.frames()
		return v > 15 && a > 25
	})
	player.stop(t)
	pub.stop(t)
	waitMessage(t, ctx, watcher, "participant-left", func(raw []byte) bool {
		return strings.Contains(string(raw), `"identity":"aiortc"`) && strings.Contains(string(raw), `"reason":"left"`)
	})
	if v, a := player.frames(); v == 0 || a == 0 {
		t.Error(fmt.Sprintf("the player decoded %d video and %d audio frames", v, a))
	}
}
