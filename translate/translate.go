// Package translate turns text from one language into another through a
// machine translation engine the operator hosts: LibreTranslate's
// POST /translate, or Apertium APY's. Parley uses it for captions in a
// language no interpreter covers; everything it returns is marked machine
// translation wherever it is shown or recorded.
package translate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Kinds of engine.
const (
	LibreTranslate = "libretranslate"
	Apertium       = "apertium"
)

// Limits: a caption is a sentence or two; a bigger answer is an engine gone wrong.
const (
	MaxText   = 4 << 10
	maxAnswer = 64 << 10
	timeout   = 10 * time.Second
)

// Options configure a Client.
type Options struct {
	URL    string // the engine's base URL, e.g. http://127.0.0.1:5000 or http://127.0.0.1:2737
	Kind   string // LibreTranslate or Apertium
	APIKey string // LibreTranslate's api_key, when it wants one
	HTTP   *http.Client
}

// Client translates through one engine.
type Client struct {
	o    Options
	base *url.URL
}

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("translate: %q is not an http:// or https:// URL", o.URL)
	}
	switch o.Kind {
	case LibreTranslate, Apertium:
	default:
		return nil, fmt.Errorf("translate: the engine kind must be %s or %s, not %q", LibreTranslate, Apertium, o.Kind)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: timeout}
	}
	return &Client{o: o, base: u}, nil
}

// Engine names the engine for the record: its kind and host.
func (c *Client) Engine() string { return c.o.Kind + " " + c.base.Host }

// ErrUnsupported is returned for a language pair the engine does not have.
var ErrUnsupported = errors.New("translate: the engine has no such language pair")

// Translate turns text in language from into language to (ISO 639-1 codes,
// such as "en" and "es", as rooms name their channels).
func (c *Client) Translate(ctx context.Context, text, from, to string) (string, error) {
	if len(text) > MaxText {
		return "", fmt.Errorf("translate: %d bytes of text, more than %d", len(text), MaxText)
	}
	if strings.TrimSpace(text) == "" || from == to {
		return text, nil
	}
	var req *http.Request
	var err error
	switch c.o.Kind {
	case Apertium:
		f, t := iso3(from), iso3(to)
		if f == "" || t == "" {
			return "", ErrUnsupported
		}
		form := url.Values{"langpair": {f + "|" + t}, "q": {text}, "markUnknown": {"no"}}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("translate").String(), strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	default:
		body, _ := json.Marshal(map[string]string{"q": text, "source": from, "target": to, "format": "text", "api_key": c.o.APIKey})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath("translate").String(), strings.NewReader(string(body)))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return "", err
	}
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return "", fmt.Errorf("translate: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return "", fmt.Errorf("translate: reading the answer: %w", err)
	}
	if len(b) > maxAnswer {
		return "", errors.New("translate: the engine's answer is larger than a translation can be")
	}
	return parse(c.o.Kind, resp.StatusCode, b)
}

// parse reads an engine's answer.
func parse(kind string, status int, b []byte) (string, error) {
	if kind == Apertium {
		var a struct {
			ResponseData struct {
				TranslatedText *string `json:"translatedText"`
			} `json:"responseData"`
			ResponseDetails any `json:"responseDetails"`
			ResponseStatus  int `json:"responseStatus"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return "", fmt.Errorf("translate: apertium answered %d with no translation", status)
		}
		if status == http.StatusBadRequest && a.ResponseData.TranslatedText == nil {
			return "", ErrUnsupported
		}
		if status != http.StatusOK || a.ResponseData.TranslatedText == nil {
			return "", fmt.Errorf("translate: apertium answered %d: %v", status, a.ResponseDetails)
		}
		return *a.ResponseData.TranslatedText, nil
	}
	var l struct {
		TranslatedText *string `json:"translatedText"`
		Error          string  `json:"error"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return "", fmt.Errorf("translate: libretranslate answered %d with no translation", status)
	}
	if status != http.StatusOK || l.TranslatedText == nil {
		if status == http.StatusBadRequest && strings.Contains(strings.ToLower(l.Error), "not supported") {
			return "", ErrUnsupported
		}
		return "", fmt.Errorf("translate: libretranslate answered %d: %s", status, l.Error)
	}
	return *l.TranslatedText, nil
}

// iso3 maps the ISO 639-1 codes rooms use to the ISO 639-3 codes Apertium
// names its pairs with; "" for a language it is not told of here.
func iso3(code string) string {
	code, _, _ = strings.Cut(strings.ToLower(code), "-")
	return map[string]string{
		"en": "eng", "es": "spa", "fr": "fra", "de": "deu", "it": "ita", "pt": "por", "ca": "cat", "ru": "rus",
		"uk": "ukr", "pl": "pol", "nl": "nld", "sv": "swe", "da": "dan", "nb": "nob", "nn": "nno", "eu": "eus",
		"gl": "glg", "ro": "ron", "cs": "ces", "sk": "slk", "ar": "ara", "tr": "tur", "kk": "kaz", "be": "bel",
	}[code]
}
