package signal_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley/signal"
)

// These tests keep docs/protocol.md in step with the code: a new error code or
// client message type without documentation fails here.

const protocolDoc = "../docs/protocol.md"

func parseSignalGo(t *testing.T) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "signal.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("parse signal.go: %v", err)
	}
	return f
}

// errorCodeConsts maps each Code* constant in signal.go to its string value.
func errorCodeConsts(t *testing.T) map[string]string {
	t.Helper()
	codes := map[string]string{}
	for _, decl := range parseSignalGo(t).Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") {
					continue
				}
				if i >= len(vs.Values) {
					t.Fatalf("%s has no explicit value", name.Name)
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s is not a string literal", name.Name)
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				codes[name.Name] = v
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found only %d Code* constants in signal.go: %v", len(codes), codes)
	}
	return codes
}

// decodeTypes lists the string cases of the switch on the envelope's type in Decode.
func decodeTypes(t *testing.T) []string {
	t.Helper()
	var fn *ast.FuncDecl
	for _, decl := range parseSignalGo(t).Decls {
		if d, ok := decl.(*ast.FuncDecl); ok && d.Name.Name == "Decode" && d.Recv == nil {
			fn = d
		}
	}
	if fn == nil {
		t.Fatal("no func Decode in signal.go")
	}
	var types []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		sw, ok := n.(*ast.SwitchStmt)
		if !ok {
			return true
		}
		sel, ok := sw.Tag.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Type" {
			return true
		}
		for _, stmt := range sw.Body.List {
			for _, e := range stmt.(*ast.CaseClause).List {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				if v != "" {
					types = append(types, v)
				}
			}
		}
		return false
	})
	if len(types) < 5 {
		t.Fatalf("found only %d message types in Decode's switch: %v", len(types), types)
	}
	return types
}

func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("read the protocol document: %v", err)
	}
	return string(b)
}

// section returns the text under the "## title" heading, up to the next "## ".
func section(t *testing.T, doc, title string) string {
	t.Helper()
	start := strings.Index(doc, "\n## "+title+"\n")
	if start < 0 {
		t.Fatalf("%s has no section %q", protocolDoc, "## "+title)
	}
	rest := doc[start+len("\n## "+title+"\n"):]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

var tableRow = regexp.MustCompile("(?m)^\\|\\s*`([a-z0-9_-]+)`\\s*\\|")

// tableKeys lists the backquoted names in the first column of the markdown tables in text.
func tableKeys(text string) []string {
	var keys []string
	for _, m := range tableRow.FindAllStringSubmatch(text, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

func TestProtocolDocListsEveryErrorCode(t *testing.T) {
	codes := errorCodeConsts(t)
	documented := tableKeys(section(t, readDoc(t), "Errors"))
	var values []string
	for name, v := range codes {
		values = append(values, v)
		if !slices.Contains(documented, v) {
			t.Errorf("error code %s = %q is missing from the error table in %s", name, v, protocolDoc)
		}
	}
	for _, d := range documented {
		if !slices.Contains(values, d) {
			t.Errorf("%s documents error code %q, but signal.go has no Code* constant for it", protocolDoc, d)
		}
	}
}

func TestProtocolDocListsEveryClientMessage(t *testing.T) {
	doc := readDoc(t)
	requests := tableKeys(section(t, doc, "Client requests"))
	for _, typ := range decodeTypes(t) {
		// The parse found the real switch: Decode knows the type.
		if _, err := signal.Decode([]byte(`{"type":"` + typ + `"}`)); err != nil {
			var se *signal.Error
			if errors.As(err, &se) && se.Code == signal.CodeUnknownType {
				t.Errorf("Decode's switch lists %q, but Decode calls it unknown", typ)
			}
		}
		inTable := slices.Contains(requests, typ)
		inExample := strings.Contains(doc, `{"type":"`+typ+`"`)
		if !inTable && !inExample {
			t.Errorf("client message %q is accepted by Decode but %s neither lists it under Client requests nor shows it in an example", typ, protocolDoc)
		}
	}
	// And the other way: every documented client request decodes.
	for _, typ := range requests {
		_, err := signal.Decode([]byte(`{"type":"` + typ + `"}`))
		var se *signal.Error
		if errors.As(err, &se) && se.Code == signal.CodeUnknownType {
			t.Errorf("%s lists client request %q, but Decode does not know it", protocolDoc, typ)
		}
	}
}

func TestProtocolDocLimitsMatchCode(t *testing.T) {
	doc := readDoc(t)
	for _, want := range []string{
		`"maxMessageBytes":` + strconv.Itoa(signal.MaxMessageBytes),
		`"maxChatChars":` + strconv.Itoa(signal.MaxChatChars),
		"`text` (1.." + strconv.Itoa(signal.MaxChatChars) + " characters)",
		strconv.Itoa(signal.MaxMessageBytes>>10) + " KiB",
		"# Parley signaling protocol, version " + strconv.Itoa(signal.Version),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("%s does not say %s", protocolDoc, want)
		}
	}
}
