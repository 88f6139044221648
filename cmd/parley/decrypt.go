package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parleyhq/parley/record"
	"github.com/parleyhq/parley/recordcrypt"
)

// recordCmd is `parley record SUBCOMMAND`.
func recordCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "decrypt" {
		return usageError{errors.New("usage: parley record decrypt RECORD_DIR --keys FILE [--keys FILE ...] --out DIR")}
	}
	return decryptCmd(args[1:], stdout, stderr)
}

// keysFlags collects repeated --keys FILE, each read and checked.
type keysFlags []*recordcrypt.Keys

func (k *keysFlags) String() string { return "" }

func (k *keysFlags) Set(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	keys, err := recordcrypt.ReadKeys(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	*k = append(*k, keys)
	return nil
}

// decryptCmd writes playable copies of an end-to-end encrypted record's media,
// decrypted with the media keys participants' browsers kept. The record folder
// is only read: it stays as it was, verifiable. Exit 0 when frames were
// decrypted, 1 when none were (or a file could not be read), 2 usage.
func decryptCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("record decrypt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley record decrypt RECORD_DIR --keys FILE [--keys FILE ...] --out DIR")
		fs.PrintDefaults()
	}
	var keys keysFlags
	fs.Var(&keys, "keys", "FILE: media keys a participant's browser kept (Save media keys; parley-media-keys-v1); repeatable, to join several participants' keys")
	out := fs.String("out", "", "folder for the decrypted copies (created if need be; never inside the record)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || len(keys) == 0 || *out == "" {
		fs.Usage()
		return usageError{errors.New("record decrypt needs one record folder, --keys and --out")}
	}
	dir := pos[0]
	log, err := record.ReadLog(dir)
	if err != nil {
		return usageError{fmt.Errorf("%s is not a record folder: %w", dir, err)}
	}
	absDir, err1 := filepath.Abs(dir)
	absOut, err2 := filepath.Abs(*out)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if rel, err := filepath.Rel(absDir, absOut); err == nil && filepath.IsLocal(rel) || absOut == absDir {
		return usageError{errors.New("--out is inside the record folder: the copies go elsewhere, so the record stays as it was signed")}
	}
	for _, k := range keys {
		if k.Record != log.Record {
			fmt.Fprintf(stdout, "note: keys kept by %s are for record %s, not %s: they open nothing of it unless the same keys served both\n", k.Identity, k.Record, log.Record)
		}
	}
	ring := recordcrypt.NewRing(keys...)

	// The media the log names, in its order: nothing else in the folder is the record's.
	var files []string
	for _, l := range log.Lines {
		if l.Type == record.TypeFileStart && !slices.Contains(files, l.File) {
			files = append(files, l.File)
		}
	}
	if len(files) == 0 {
		fmt.Fprintf(stdout, "record %s holds no media\n", log.Record)
		return nil
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "record %s: %d media files, %d media keys\n", log.Record, len(files), ring.Len())
	var (
		total    recordcrypt.Stats
		problems []string
		unread   int // files that could not be read or written
	)
	for _, name := range files {
		if !filepath.IsLocal(name) || !strings.HasPrefix(filepath.ToSlash(name), record.MediaDir+"/") || filepath.Ext(name) != ".webm" {
			problems = append(problems, fmt.Sprintf("%s: not a media file of a record; skipped", name))
			unread++
			continue
		}
		st, err := decryptFile(filepath.Join(dir, name), filepath.Join(*out, filepath.Base(name)), ring)
		total.Frames += st.Frames
		total.Decrypted += st.Decrypted
		total.Missing += st.Missing
		total.Failed += st.Failed
		line := fmt.Sprintf("  %s: %d frames: %d decrypted, %d without a key, %d failed authentication", name, st.Frames, st.Decrypted, st.Missing, st.Failed)
		if st.Replayed > 0 {
			line += fmt.Sprintf(", %d repeated (dropped)", st.Replayed)
		}
		if st.Offset > 0 {
			line += fmt.Sprintf("; the copy begins %.1f s into the recorded track (the frames before had no key): delay it by as much to keep it in step", st.Offset.Seconds())
		}
		if st.Truncated {
			line += "; the file ends mid-frame (its writing stopped): the copy holds what came before"
		}
		var who []string
		for _, s := range st.Senders {
			who = append(who, s.Identity)
			// Files are named IDENTITY-SOURCE-TRACK.webm (record.Recorder.Track).
			if !strings.HasPrefix(filepath.Base(name), s.Identity+"-") {
				problems = append(problems, fmt.Sprintf("%s: frames opened with %s's keys, in a file of someone else's track", name, s.Identity))
			}
		}
		if len(who) > 0 {
			line += "; keys of " + strings.Join(who, ", ")
		}
		switch {
		case err != nil:
			line += fmt.Sprintf("; not decrypted: %v", err)
			unread++
		case st.Decrypted == 0:
			line += "; no copy written"
		default:
			line += " -> " + filepath.Join(*out, filepath.Base(name))
		}
		fmt.Fprintln(stdout, line)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "note:", p)
	}
	if total.Decrypted == 0 {
		fmt.Fprintf(stdout, "nothing decrypted: the keys given open none of the %d frames (%d without a key, %d failed authentication); use the media keys a participant's browser kept for this record\n",
			total.Frames, total.Missing, total.Failed)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "decrypted %d of %d frames (%d without a key, %d failed authentication)\n", total.Decrypted, total.Frames, total.Missing, total.Failed)
	if unread > 0 {
		return exitError{1}
	}
	return nil
}

// decryptFile writes the decrypted copy of one media file beside its final
// name, and moves it there only when at least one frame opened.
func decryptFile(src, dst string, ring *recordcrypt.Ring) (recordcrypt.Stats, error) {
	in, err := os.Open(src)
	if err != nil {
		return recordcrypt.Stats{}, err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return recordcrypt.Stats{}, err
	}
	// Once renamed the name is gone; otherwise this removes what is left.
	defer os.Remove(tmp.Name())
	st, err := recordcrypt.Decrypt(tmp, in, ring) // closes tmp
	if err != nil || st.Decrypted == 0 {
		return st, err
	}
	return st, os.Rename(tmp.Name(), dst)
}
