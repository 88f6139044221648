package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestPagesNameOnlyCatalogueTexts: a page marks its static text with
// data-i18n="id" and data-i18n-attr="attr:id;…"; an id the catalogue lacks
// would leave that text untranslated (i18n.js falls back to showing the id).
// The catalogue's completeness in Russian is tsc's to check (its type names
// every English id).
func TestPagesNameOnlyCatalogueTexts(t *testing.T) {
	static := Static()
	cat, err := fs.ReadFile(static, "i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	catalogue := string(cat)
	marks := regexp.MustCompile(`data-i18n(-attr)?="([^"]+)"`)
	for _, page := range []string{"room.html", "index.html", "notfound.html"} {
		html, err := fs.ReadFile(static, page)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range marks.FindAllStringSubmatch(string(html), -1) {
			ids := []string{m[2]}
			if m[1] != "" {
				ids = nil
				for _, pair := range strings.Split(m[2], ";") {
					attr, id, ok := strings.Cut(pair, ":")
					if !ok || strings.TrimSpace(attr) == "" {
						t.Errorf("%s: malformed data-i18n-attr %q", page, m[2])
						continue
					}
					ids = append(ids, strings.TrimSpace(id))
				}
			}
			for _, id := range ids {
				found++
				if strings.Count(catalogue, "'"+id+"':") < 2 {
					t.Errorf("%s: %q is not in both languages of i18n.js", page, id)
				}
			}
		}
		if found == 0 {
			t.Errorf("%s marks no text for translation", page)
		}
	}
}
