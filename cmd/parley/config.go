package main

import (
	"errors"
	"flag"
	"io"
	"os"

	"github.com/parleyhq/parley/config"
)

// configCmd is "parley config print": serve's sources, resolved as serve
// resolves them, written back as YAML so an operator sees what a start with
// the same file, environment and flags would run with.
func configCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		return usageError{errors.New(`config needs a subcommand: "parley config print [serve's flags]"`)}
	}
	fs := flag.NewFlagSet("config print", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags, _ := serveFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{errors.New("config print takes flags only")}
	}
	cfg, src, err := flags.Load(os.Environ())
	if err != nil {
		return usageError{err}
	}
	out, err := config.Marshal(cfg, src)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}
