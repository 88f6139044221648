package readout

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/parleyhq/parley/record"
)

// Footnote is how an export names a citation: where in the record, on which
// channel, what is quoted, and the events with the start of their hashes, so
// a reader can find each line in events.log and check it.
func Footnote(c Citation, recordID string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Record %s, %s–%s, %s", recordID, clock(seconds(c.From)), clock(seconds(c.To)), c.Channel)
	if c.Quote != "" {
		fmt.Fprintf(&b, `: "%s"`, normalize(c.Quote))
	}
	if len(c.Events) > 0 {
		fmt.Fprintf(&b, " (%s)", refs(c.Events))
	}
	if in := c.Interpretation; in != nil {
		fmt.Fprintf(&b, "; interpreted into %s", in.Channel)
		if in.Quote != "" {
			fmt.Fprintf(&b, `: "%s"`, normalize(in.Quote))
		}
		fmt.Fprintf(&b, " (%s)", refs(in.Events))
	}
	return b.String()
}

func refs(rs []Ref) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("event %d, sha256 %s…", r.Seq, r.Hash[:12])
	}
	return strings.Join(parts, "; ")
}

// checkNote is the closing line of exports: how to check them.
func checkNote(r *Readout) string {
	return fmt.Sprintf("Signed by %s (key %s). Check every citation against the record: parley readout verify READOUT.json --record %s --signer %s=KEY",
		r.Body.Author, fingerprint(r.Key), r.Body.Record, r.Body.Author)
}

// WriteMarkdown writes the readout as Markdown: its text as written, then
// its citations as footnotes naming record times.
func WriteMarkdown(w io.Writer, r *Readout, l *record.Log) error {
	bw := bufio.NewWriter(w)
	if r.Body.Title != "" {
		fmt.Fprintf(bw, "# %s\n\n", oneLine(r.Body.Title))
	}
	fmt.Fprintf(bw, "*A readout of the meeting in room %s that began %s, record %s.*\n\n", oneLine(l.Room), l.Began.UTC().Format("2006-01-02 15:04 UTC"), oneLine(l.Record))
	fmt.Fprintf(bw, "%s\n\n", strings.TrimSpace(r.Body.Text))
	for _, c := range r.Body.Citations {
		fmt.Fprintf(bw, "[^%s]: %s\n", c.ID, Footnote(c, r.Body.Record))
	}
	fmt.Fprintf(bw, "\n---\n%s\n", checkNote(r))
	return bw.Flush()
}

// WriteHTML writes the readout as a page of its own: a restrained rendering
// of its Markdown (headings, paragraphs, lists, footnote markers) in which
// everything else is text, escaped, and its footnotes.
func WriteHTML(w io.Writer, r *Readout, l *record.Log) error {
	type note struct {
		ID, Text string
	}
	data := struct {
		Title  string
		Blocks []block
		Notes  []note
		Check  string
		Began  string
	}{Title: r.Body.Title, Blocks: blocks(r.Body.Text), Check: checkNote(r), Began: l.Began.UTC().Format("2006-01-02 15:04 UTC")}
	for _, c := range r.Body.Citations {
		data.Notes = append(data.Notes, note{c.ID, Footnote(c, r.Body.Record)})
	}
	return page.Execute(w, data)
}

// block is a rendered Markdown block: a heading, a paragraph or a list item,
// as runs of text and footnote markers.
type block struct {
	Tag  string // h2, h3, p, li
	Runs []run
}

type run struct {
	Text   string
	Marker string // a citation id, when this run is a marker
}

func blocks(text string) []block {
	var out []block
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		tag := "p"
		switch {
		case line == "" || strings.HasPrefix(line, "```") || line == "---":
			continue
		case strings.HasPrefix(line, "#"):
			tag = "h2"
			if strings.HasPrefix(line, "##") {
				tag = "h3"
			}
			line = strings.TrimSpace(strings.TrimLeft(line, "#"))
		case strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* "):
			tag, line = "li", line[2:]
		}
		b := block{Tag: tag}
		last := 0
		for _, m := range markerRE.FindAllStringSubmatchIndex(line, -1) {
			b.Runs = append(b.Runs, run{Text: line[last:m[0]]}, run{Marker: line[m[2]:m[3]]})
			last = m[1]
		}
		b.Runs = append(b.Runs, run{Text: line[last:]})
		out = append(out, b)
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var page = template.Must(template.New("readout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font:17px/1.6 Georgia,serif;margin:2rem auto;max-width:42rem;padding:0 1rem;color:#1d232b}
h1,h2,h3{font-family:system-ui,sans-serif;line-height:1.25}sup a{text-decoration:none}
.notes{font:14px/1.5 system-ui,sans-serif;color:#38424f;border-top:1px solid #d5dbe3;margin-top:2rem;padding-top:1rem}
.check{font:13px/1.5 ui-monospace,monospace;background:#f3f5f8;padding:.6rem .8rem;border-radius:6px;overflow-wrap:anywhere}
</style></head><body>
<h1>{{.Title}}</h1>
{{range .Blocks}}{{if eq .Tag "h2"}}<h2>{{template "runs" .Runs}}</h2>
{{else if eq .Tag "h3"}}<h3>{{template "runs" .Runs}}</h3>
{{else if eq .Tag "li"}}<ul><li>{{template "runs" .Runs}}</li></ul>
{{else}}<p>{{template "runs" .Runs}}</p>
{{end}}{{end}}
<div class="notes">{{range .Notes}}<p id="fn-{{.ID}}"><sup>[{{.ID}}]</sup> {{.Text}}</p>
{{end}}</div>
<p class="check">{{.Check}}</p>
</body></html>
{{define "runs"}}{{range .}}{{if .Marker}}<sup><a href="#fn-{{.Marker}}">[{{.Marker}}]</a></sup>{{else}}{{.Text}}{{end}}{{end}}{{end}}
`))
