package translate_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/translate"
	"github.com/parleyhq/parley/translate/testengine"
)

func TestApertium(t *testing.T) {
	base := testengine.Start(t)
	c, err := translate.New(translate.Options{URL: base, Kind: translate.Apertium})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := c.Translate(ctx, "We do not agree with this proposal", "en", "es")
	if err != nil || !strings.Contains(strings.ToLower(got), "propuesta") || !strings.Contains(strings.ToLower(got), "no") {
		t.Fatalf("en->es: %q, %v", got, err)
	}
	if _, err := c.Translate(ctx, "Мы не согласны", "ru", "es"); !errors.Is(err, translate.ErrUnsupported) {
		t.Errorf("a pair the engine lacks: %v, want ErrUnsupported", err)
	}
	if _, err := c.Translate(ctx, strings.Repeat("a", translate.MaxText+1), "en", "es"); err == nil {
		t.Error("an oversized text was sent")
	}
}

// An engine that answers nonsense, too much or an error gives an error, never a translation.
func TestEngineFailures(t *testing.T) {
	answers := map[string]func(w http.ResponseWriter){
		"not json": func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>")) },
		"an error": func(w http.ResponseWriter) { w.WriteHeader(500); _, _ = w.Write([]byte(`{"error":"busy"}`)) },
		"too large": func(w http.ResponseWriter) {
			_, _ = w.Write([]byte(`{"translatedText":"` + strings.Repeat("x", 70<<10) + `"}`))
		},
		"no text": func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{}`)) },
	}
	for name, answer := range answers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w) }))
		c, _ := translate.New(translate.Options{URL: srv.URL, Kind: translate.LibreTranslate})
		if got, err := c.Translate(context.Background(), "hello", "en", "es"); err == nil {
			t.Errorf("%s: translated to %q", name, got)
		}
		srv.Close()
	}
	for _, o := range []translate.Options{{URL: "ftp://x", Kind: translate.Apertium}, {URL: "http://127.0.0.1:1", Kind: "google"}} {
		if _, err := translate.New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}
