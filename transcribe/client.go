package transcribe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
)

// client speaks the OpenAI-compatible speech-to-text API that whisper.cpp's
// server, faster-whisper servers, vLLM and LocalAI implement:
// POST multipart {file, model, language, response_format=json} -> {"text": ...}.
type client struct {
	url, model, apiKey string
	http               *http.Client
}

// statusError is an answer other than 2xx; 4xx are not worth retrying
// (except 408 and 429), 5xx may be.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("the engine answered %d: %s", e.code, e.body)
}

func (e *statusError) retry() bool {
	return e.code >= 500 || e.code == http.StatusTooManyRequests || e.code == http.StatusRequestTimeout
}

// transcribe sends one Ogg/Opus segment with a language hint ("" lets the
// engine detect it) and returns the text.
func (c *client) transcribe(ctx context.Context, audio []byte, language string) (string, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreatePart(map[string][]string{
		"Content-Disposition": {`form-data; name="file"; filename="segment.ogg"`},
		"Content-Type":        {"audio/ogg"},
	})
	if err != nil {
		return "", err
	}
	_, _ = fw.Write(audio)
	fields := [][2]string{{"response_format", "json"}}
	if c.model != "" {
		fields = append(fields, [2]string{"model", c.model})
	}
	if language != "" {
		// Engines want ISO 639-1 ("en"); rooms may name channels "en-GB".
		lang, _, _ := strings.Cut(language, "-")
		fields = append(fields, [2]string{"language", strings.ToLower(lang)})
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return "", err
		}
	}
	if err := mw.Close(); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, &body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(data[:min(len(data), 200)]))}
	}
	var out struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Text == nil {
		return "", fmt.Errorf("the engine's answer has no text: %.200s", data)
	}
	return strings.TrimSpace(*out.Text), nil
}
