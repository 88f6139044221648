package record

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// probe is what ffprobe says of a media file.
type probe struct {
	Codec    string
	Duration float64 // seconds, from the last packet's end
}

// ffprobe reads a file's codec and its duration from the packet timestamps
// (files are written live, append-only, so they carry no duration header).
func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ffprobe is missing: apt-get install -y ffmpeg")
		}
		t.Skip("ffprobe is missing: sudo apt-get install -y ffmpeg")
	}
	out, err := exec.Command(bin, "-v", "error", "-print_format", "json", "-show_streams", "-show_packets", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(path), err)
	}
	var r struct {
		Streams []struct {
			CodecName string `json:"codec_name"`
		} `json:"streams"`
		Packets []struct {
			PTS      string `json:"pts_time"`
			Duration string `json:"duration_time"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 || len(r.Packets) == 0 {
		t.Fatalf("ffprobe %s: %d streams, %d packets, %v", filepath.Base(path), len(r.Streams), len(r.Packets), err)
	}
	last := r.Packets[len(r.Packets)-1]
	pts, _ := strconv.ParseFloat(last.PTS, 64)
	d, _ := strconv.ParseFloat(last.Duration, 64)
	return probe{Codec: r.Streams[0].CodecName, Duration: pts + d}
}

func TestFFprobeReadsRecordedMedia(t *testing.T) {
	fx := makeRecord(t)
	for kind, want := range map[string]string{"camera": "vp8", "mic": "opus"} {
		p := ffprobe(t, mediaFile(t, fx.dir, kind))
		if p.Codec != want {
			t.Errorf("%s: codec %q, want %q", kind, p.Codec, want)
		}
		if p.Duration < 2.7 || p.Duration > 3.3 { // 3 s were recorded
			t.Errorf("%s: duration %.2f s, want 3 s within 10%%", kind, p.Duration)
		}
	}
}
