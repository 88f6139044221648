package e2e

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// toneWAV writes a WAV file of a steady tone for Chromium's fake microphone
// (--use-file-for-fake-audio-capture): a voice-like level all the time, where
// the default fake device only clicks once a second.
func toneWAV(t *testing.T, hz float64) string {
	t.Helper()
	const rate, secs = 48000, 2
	pcm := make([]byte, 0, rate*secs*2)
	for i := range rate * secs {
		v := 0.25 * math.Sin(2*math.Pi*hz*float64(i)/rate) // about -12 dBFS
		pcm = binary.LittleEndian.AppendUint16(pcm, uint16(int16(v*math.MaxInt16)))
	}
	h := []byte("RIFF")
	h = binary.LittleEndian.AppendUint32(h, uint32(36+len(pcm)))
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 1) // PCM
	h = binary.LittleEndian.AppendUint16(h, 1) // mono
	h = binary.LittleEndian.AppendUint32(h, rate)
	h = binary.LittleEndian.AppendUint32(h, rate*2)
	h = binary.LittleEndian.AppendUint16(h, 2)
	h = binary.LittleEndian.AppendUint16(h, 16)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, uint32(len(pcm)))
	path := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(path, append(h, pcm...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
