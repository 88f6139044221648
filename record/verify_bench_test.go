package record

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkVerify measures verification speed (bytes of media per second).
// A two-hour two-party call at ~1.1 Mbit/s per participant is about 2 GB: at
// the figure this reports, divide to get the time `parley verify` takes.
func BenchmarkVerify(b *testing.B) {
	const size = 64 << 20
	_, key, _ := ed25519.GenerateKey(nil)
	rec, err := Start(Options{Root: b.TempDir(), Room: "bench", Key: key, CheckpointEvery: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	rec.Event("join", "PA_1", "a", nil, time.Now())
	cw, err := newChunkWriter(rec, MediaDir+"/big.webm")
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	rng := rand.NewChaCha8([32]byte{})
	for written := 0; written < size; written += len(buf) {
		rng.Read(buf)
		if _, err := cw.Write(buf); err != nil {
			b.Fatal(err)
		}
		if written%(4<<20) == 0 {
			rec.Event("chat", "PA_1", "a", map[string]string{"text": "hello"}, time.Now())
		}
	}
	cw.end(0)
	if _, err := rec.Seal(); err != nil {
		b.Fatal(err)
	}
	rec.Close()
	pub := key.Public().(ed25519.PublicKey)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Verify(rec.Dir(), VerifyOptions{ServerKey: pub}); err != nil {
			b.Fatal(err)
		}
	}
}
