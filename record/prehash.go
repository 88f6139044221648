package record

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Verification reads the log in order, and the log interleaves the chunks of
// every file: hashing each chunk where the log names it reads the files a
// chunk at a time, on one core, with the disk waiting on the hash and the
// hash on the disk. prehash instead cuts each media file into segments of
// consecutive chunks and reads the segments several at a time, in large
// sequential reads, hashing the chunks they hold, before the log is
// verified; the verifier then looks each chunk's result up. From a cold
// cache, a virtual disk serves eight such streams about three times faster
// than one (BENCHMARKS.md). The log is read twice, but it is a thousandth of
// the media. Nothing prehash finds is a verdict: the verifier still checks
// every chunk entry in order, and a chunk prehash did not reach is hashed
// where it is named.

// chunkRef is a chunk entry as the unverified log names it.
type chunkRef struct {
	line         uint64 // the line of the log that holds it
	file         string
	offset, size int64
	sum          string
}

// hashed is what prehash found for one chunk entry: the verifier uses it
// only for the entry it parses on that line naming the same chunk.
type hashed struct {
	chunkRef
	matches bool
}

const (
	segmentBytes = 32 << 20 // a segment is at least this much of a file
	readBytes    = 4 << 20  // one read
	// More readers than cores: from a cold cache the disk, not the hash, is
	// what they wait for.
	readers = 8
)

// segment is consecutive chunks of one file.
type segment struct {
	file   string
	chunks []chunkRef
}

// prehash hashes the chunks named in the log, several segments at a time,
// and returns each chunk entry's result by line. done counts the bytes read.
func prehash(dir string, done *atomic.Int64) map[uint64]hashed {
	files := chunksByFile(filepath.Join(dir, LogFile))
	names := slices.Sorted(maps.Keys(files))
	var segs []segment
	for _, n := range names {
		segs = append(segs, segments(n, files[n])...)
	}
	next := make(chan int)
	results := make([][]hashed, len(segs))
	var wg sync.WaitGroup
	for range min(readers, len(segs)) {
		wg.Go(func() {
			buf := make([]byte, readBytes)
			for i := range next {
				results[i] = hashSegment(filepath.Join(dir, segs[i].file), segs[i].chunks, buf, done)
			}
		})
	}
	for i := range segs {
		next <- i
	}
	close(next)
	wg.Wait()
	out := map[uint64]hashed{}
	for _, rs := range results {
		for _, r := range rs {
			out[r.line] = r
		}
	}
	return out
}

// segments cuts a file's chunks into segments, up to the first chunk that
// does not follow the one before it (the verifier reports that one).
func segments(file string, chunks []chunkRef) []segment {
	var out []segment
	from, size, pos := 0, int64(0), int64(0)
	for i, c := range chunks {
		if c.offset != pos {
			chunks = chunks[:i]
			break
		}
		pos += c.size
		size += c.size
		if size >= segmentBytes {
			out = append(out, segment{file, chunks[from : i+1]})
			from, size = i+1, 0
		}
	}
	if from < len(chunks) {
		out = append(out, segment{file, chunks[from:]})
	}
	return out
}

// chunksByFile reads the chunk entries of the log, without verifying it: it
// stops at the first line it cannot read.
func chunksByFile(logPath string) map[string][]chunkRef {
	out := map[string][]chunkRef{}
	f, err := os.Open(logPath)
	if err != nil {
		return out
	}
	defer f.Close()
	rd := bufio.NewReaderSize(f, 1<<20)
	for n := uint64(1); ; n++ {
		line, err := readLine(rd, maxLine)
		if err != nil { // a last line without its newline is not verified either
			return out
		}
		var e struct {
			Type   string `json:"type"`
			File   string `json:"file"`
			Offset int64  `json:"offset"`
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		}
		if json.Unmarshal(line, &e) != nil {
			return out
		}
		if e.Type == TypeChunk && filepath.IsLocal(e.File) && e.Size > 0 {
			out[e.File] = append(out[e.File], chunkRef{n, e.File, e.Offset, e.Size, e.SHA256})
		}
	}
}

// hashSegment reads the segment's bytes in order, hashing its chunks in
// turn; it stops where the file ends.
func hashSegment(path string, chunks []chunkRef, buf []byte, done *atomic.Int64) []hashed {
	out := make([]hashed, 0, len(chunks))
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	h := sha256.New()
	var sum [sha256.Size]byte
	pos := chunks[0].offset
	last := chunks[len(chunks)-1]
	end := last.offset + last.size
	var have []byte
	for _, c := range chunks {
		h.Reset()
		for need := c.size; need > 0; {
			if len(have) == 0 {
				n, _ := f.ReadAt(buf[:min(int64(len(buf)), end-pos)], pos)
				if n == 0 {
					return out
				}
				done.Add(int64(n))
				have, pos = buf[:n], pos+int64(n)
			}
			k := int(min(need, int64(len(have))))
			h.Write(have[:k])
			have, need = have[k:], need-int64(k)
		}
		out = append(out, hashed{c, hex.EncodeToString(h.Sum(sum[:0])) == c.sum})
	}
	return out
}

// prehashFiles runs prehash for the verifier, showing its progress.
func (v *verifier) prehashFiles() {
	var done atomic.Int64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				v.progress(done.Swap(0))
			}
		}
	}()
	v.pre = prehash(v.dir, &done)
	close(stop)
	<-stopped
	v.progress(done.Load())
}
