package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"

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
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	dir, err := oneRecordFolder(fs, pos)
	if err != nil {
		return err
	}
	t, err := readout.Transcript(dir) // with its corrections
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
