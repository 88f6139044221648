package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The import rules of architecture.md, read from the page itself and checked
// against every package's non-test files, parsed with go/parser.

const module = "github.com/parleyhq/parley/"

// block returns the lines of the fenced block of kind (```kind) in the page.
func block(t *testing.T, page, kind string) []string {
	t.Helper()
	m := regexp.MustCompile("(?s)```" + kind + "\n(.*?)```").FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("architecture.md has no ```%s block", kind)
	}
	var out []string
	for _, l := range strings.Split(m[1], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// pkg is one package directory: what its non-test files import of Parley,
// and the files that use each signal name.
type pkg struct {
	imports map[string][]string // Parley package -> files importing it
	signal  map[string][]string // name used as signal.Name -> files
}

// parsePackages reads every directory of the module that holds Go files.
func parsePackages(t *testing.T, root string) map[string]*pkg {
	t.Helper()
	out := map[string]*pkg{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		dir := filepath.ToSlash(rel)
		p := out[dir]
		if p == nil {
			p = &pkg{imports: map[string][]string{}, signal: map[string][]string{}}
			out[dir] = p
		}
		signalName := ""
		for _, imp := range f.Imports {
			ip := strings.Trim(imp.Path.Value, `"`)
			if dep, ok := strings.CutPrefix(ip, module); ok {
				p.imports[dep] = append(p.imports[dep], path)
				if dep == "signal" {
					signalName = "signal"
					if imp.Name != nil {
						signalName = imp.Name.Name
					}
				}
			}
		}
		if signalName != "" {
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok && id.Name == signalName {
						p.signal[sel.Sel.Name] = append(p.signal[sel.Sel.Name], path)
					}
				}
				return true
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// signalWire lists signal's exported types and functions: its wire format,
// as opposed to its constants.
func signalWire(t *testing.T, root string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, filepath.Join(root, "signal"), func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.IsExported() {
						out[d.Name.Name] = true
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() {
							out[ts.Name.Name] = true
						}
					}
				}
			}
		}
	}
	if !out["Welcome"] || !out["Decode"] {
		t.Fatalf("signal's wire types were not found: %v", out)
	}
	return out
}

func TestImportRules(t *testing.T) {
	page, err := os.ReadFile("architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string][]string{}
	for _, l := range block(t, string(page), "rules") {
		name, deps, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("rule %q is not \"package: imports\"", l)
		}
		fields := strings.Fields(deps)
		if slices.Equal(fields, []string{"-"}) {
			fields = nil
		}
		allowed[strings.TrimSpace(name)] = fields
	}
	pkgs := parsePackages(t, root)
	for dir, p := range pkgs {
		allow, listed := allowed[dir]
		if !listed {
			t.Errorf("package %s is not in architecture.md's import rules", dir)
			continue
		}
		for dep, files := range p.imports {
			if !slices.Contains(allow, dep) {
				t.Errorf("%s imports %s (%s); architecture.md allows %s only %v", dir, dep, files[0], dir, allow)
			}
		}
	}
	for dir := range allowed {
		if pkgs[dir] == nil {
			t.Errorf("architecture.md has rules for %s, which has no Go files", dir)
		}
	}

	wire := signalWire(t, root)
	wireUsers := strings.Fields(strings.Join(block(t, string(page), "wire"), " "))
	for dir, p := range pkgs {
		if slices.Contains(wireUsers, dir) {
			continue
		}
		for name, files := range p.signal {
			if wire[name] {
				t.Errorf("%s uses signal.%s (%s): only %v may use signal's message types", dir, name, files[0], wireUsers)
			}
		}
	}
}
