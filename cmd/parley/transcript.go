package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/parleyhq/parley/readout"
)

// transcriptCmd prints a record's transcript from its folder alone: no
// server, no network.
func transcriptCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("transcript", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: parley transcript RECORD_DIR [--format txt|vtt|json] [--channel floor|LANG]")
		fs.PrintDefaults()
	}
	format := fs.String("format", "txt", "txt (to read), vtt (WebVTT subtitles, timed from the record's start) or json")
	channel := fs.String("channel", "", "only this channel: floor, or an interpretation language (default: all)")
	pos, flags := positional(args)
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if len(pos) != 1 {
		fs.Usage()
		return usageError{errors.New("transcript needs exactly one record folder")}
	}
	if st, err := os.Stat(pos[0]); err != nil || !st.IsDir() {
		return usageError{fmt.Errorf("%s is not a record folder", pos[0])}
	}
	t, err := readout.Transcript(pos[0]) // with its corrections
	if err != nil {
		return err
	}
	t = t.Channel(*channel)
	switch *format {
	case "txt":
		return t.WriteText(stdout)
	case "vtt":
		return t.WriteVTT(stdout)
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	default:
		return usageError{fmt.Errorf("format %q is not txt, vtt or json", *format)}
	}
}
