package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parleyhq/parley/readout"
	"github.com/parleyhq/parley/record"
)

// readoutFlags collects repeated --readout FILE.
type readoutFlags []string

func (r *readoutFlags) String() string { return "" }

func (r *readoutFlags) Set(path string) error {
	*r = append(*r, path)
	return nil
}

// readoutCmd is `parley readout verify|export`.
func readoutCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("readout needs a command: verify READOUT --record DIR, or export READOUT --record DIR [--format md|html]")}
	}
	switch args[0] {
	case "verify":
		return readoutVerify(args[1:], stdout, stderr)
	case "export":
		return readoutExport(args[1:], stdout, stderr)
	}
	return usageError{fmt.Errorf("unknown readout command %q (verify, export)", args[0])}
}

// readoutVerify checks the record (as parley verify does, with the same
// flags) and then the readout against it: exit 0 both hold, 1 either fails
// (naming the first bad citation or the altered quote), 2 usage.
func readoutVerify(args []string, stdout, stderr io.Writer) error {
	pos, flags := positional(args, "allow-unsealed", "allow-gaps")
	var dir string
	var rest []string
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		switch {
		case f == "--record" || f == "-record":
			if i+1 < len(flags) {
				dir = flags[i+1]
				i++
			}
		case strings.HasPrefix(f, "--record=") || strings.HasPrefix(f, "-record="):
			dir = f[strings.Index(f, "=")+1:]
		default:
			rest = append(rest, f)
		}
	}
	if len(pos) != 1 || dir == "" {
		fmt.Fprintln(stderr, "usage: parley readout verify READOUT --record RECORD_DIR [--signer IDENTITY=KEY ...] [--server-key KEY] [parley verify's other flags]")
		return usageError{errors.New("readout verify needs one readout file and --record DIR")}
	}
	return verify(append(append([]string{dir}, rest...), "--readout", pos[0]), stdout, stderr)
}

// checkReadouts checks each readout file against the record in dir (which
// verified): exit 1 on the first that fails.
func checkReadouts(stdout io.Writer, dir string, files []string, signers map[string]ed25519.PublicKey) error {
	if len(files) == 0 {
		return nil
	}
	l, err := record.ReadLog(dir)
	if err != nil {
		fmt.Fprintln(stdout, "READOUT NOT CHECKED:", err)
		return exitError{1}
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return usageError{err}
		}
		r, err := readout.Parse(b)
		if err != nil {
			fmt.Fprintf(stdout, "\nREADOUT %s FAILS: %v\n", path, err)
			return exitError{1}
		}
		res, err := readout.Check(r, l, readout.Options{Signers: signers})
		if err != nil {
			fmt.Fprintf(stdout, "\nREADOUT %s (%s by %s) FAILS: %v\n", path, r.ID, r.Body.Author, err)
			return exitError{1}
		}
		printReadout(stdout, path, r, res)
	}
	return nil
}

func printReadout(w io.Writer, path string, r *readout.Readout, res *readout.Result) {
	fmt.Fprintf(w, "\nreadout %s: %q by %s (readout %s)\n", path, r.Body.Title, r.Body.Author, r.ID)
	if res.KeyGiven {
		fmt.Fprintf(w, "  signed with %s's given key\n", r.Body.Author)
	} else {
		fmt.Fprintf(w, "  signed with the key the record announced for %s (give --signer %s=KEY to check it against a key they published)\n", r.Body.Author, r.Body.Author)
	}
	fmt.Fprintf(w, "  bound to this record's end marker; %s resolve and every quote is the record's text\n", count(uint64(res.Citations), "citation"))
	if len(res.Uncited) > 0 {
		verb := "cite nothing (the record does not back them)"
		if len(res.Uncited) == 1 {
			verb = "cites nothing (the record does not back it)"
		}
		fmt.Fprintf(w, "  %s %s:\n", count(uint64(len(res.Uncited)), "statement"), verb)
		for _, s := range res.Uncited {
			fmt.Fprintf(w, "    - %s\n", s)
		}
	}
	if len(res.Unused) > 0 {
		fmt.Fprintf(w, "  citations the text never refers to: %s\n", strings.Join(res.Unused, ", "))
	}
	fmt.Fprintln(w, "  A citation proves the moment exists and what the record's transcript says there, not that the transcript heard perfectly.")
}

// readoutExport writes a readout as Markdown or HTML with footnotes naming
// record times and events: what a reader checks with parley readout verify.
func readoutExport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("readout export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("record", "", "the record folder the readout cites")
	format := fs.String("format", "md", "md or html")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *dir == "" {
		return usageError{errors.New("usage: parley readout export READOUT --record RECORD_DIR [--format md|html]")}
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return usageError{err}
	}
	r, err := readout.Parse(b)
	if err != nil {
		return err
	}
	l, err := record.ReadLog(*dir)
	if err != nil {
		return err
	}
	switch *format {
	case "md":
		return readout.WriteMarkdown(stdout, r, l)
	case "html":
		return readout.WriteHTML(stdout, r, l)
	}
	return usageError{errors.New("--format must be md or html")}
}
