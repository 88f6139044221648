package signal_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/parleyhq/parley/signal"
)

var (
	pubKey = base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	sig64  = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("s", 64)))
)

func ptr[T any](v T) *T { return &v }

func TestDecodeValidMessages(t *testing.T) {
	cases := []struct {
		in   string
		want any
	}{
		{`{"type":"join","version":1,"room":"summit","token":"tok.en.sig","name":"Anna","key":"` + pubKey + `","resume":"r3sume"}`,
			&signal.Join{Type: "join", Version: 1, Room: "summit", Token: "tok.en.sig", Name: "Anna", Key: pubKey, Resume: "r3sume"}},
		{`{"type":"join","version":1,"room":"summit","token":"t"}`,
			&signal.Join{Type: "join", Version: 1, Room: "summit", Token: "t"}},
		{`{"type":"join","version":1,"room":"r","token":"t","name":"` + strings.Repeat("я", signal.MaxNameChars) + `"}`,
			&signal.Join{Type: "join", Version: 1, Room: "r", Token: "t", Name: strings.Repeat("я", signal.MaxNameChars)}},
		{`{"type":"offer","pc":"pub","sdp":"v=0\r\n","tracks":{"0":"mic","1":"camera","2":"screen","3":"screen-audio"}}`,
			&signal.Offer{Type: "offer", PC: "pub", SDP: "v=0\r\n", Tracks: map[string]string{"0": "mic", "1": "camera", "2": "screen", "3": "screen-audio"}}},
		{`{"type":"offer","pc":"pub","sdp":"v=0"}`,
			&signal.Offer{Type: "offer", PC: "pub", SDP: "v=0"}},
		{`{"type":"answer","pc":"sub","sdp":"v=0"}`,
			&signal.Answer{Type: "answer", PC: "sub", SDP: "v=0"}},
		{`{"type":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`,
			&signal.Candidate{Type: "candidate", PC: "pub", Candidate: webrtc.ICECandidateInit{
				Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: ptr("0"), SDPMLineIndex: ptr(uint16(0))}}},
		{`{"type":"candidate","pc":"sub","candidate":{"candidate":""}}`,
			&signal.Candidate{Type: "candidate", PC: "sub", Candidate: webrtc.ICECandidateInit{}}},
		{`{"type":"mute","source":"camera","muted":true}`,
			&signal.Mute{Type: "mute", Source: "camera", Muted: true}},
		{`{"type":"mute","source":"mic","muted":false}`,
			&signal.Mute{Type: "mute", Source: "mic"}},
		{`{"type":"chat","text":"hello, room"}`,
			&signal.ChatSend{Type: "chat", Text: "hello, room"}},
		{`{"type":"chat","text":"` + strings.Repeat("é", signal.MaxChatChars) + `"}`,
			&signal.ChatSend{Type: "chat", Text: strings.Repeat("é", signal.MaxChatChars)}},
		{`{"type":"chat","text":"` + strings.Repeat("😀", signal.MaxChatChars) + `"}`,
			&signal.ChatSend{Type: "chat", Text: strings.Repeat("😀", signal.MaxChatChars)}},
		{`{"type":"moderate","action":"mute","target":"PA_x1","source":"mic"}`,
			&signal.Moderate{Type: "moderate", Action: "mute", Target: "PA_x1", Source: "mic"}},
		{`{"type":"moderate","action":"remove","target":"PA_x1"}`,
			&signal.Moderate{Type: "moderate", Action: "remove", Target: "PA_x1"}},
		{`{"type":"listen","channel":"floor"}`, &signal.Listen{Type: "listen", Channel: "floor"}},
		{`{"type":"listen","channel":"pt-BR"}`, &signal.Listen{Type: "listen", Channel: "pt-BR"}},
		{`{"type":"captions","channel":"off"}`, &signal.Captions{Type: "captions", Channel: "off"}},
		{`{"type":"interpret","channel":"en"}`, &signal.Interpret{Type: "interpret", Channel: "en"}},
		{`{"type":"interpret","channel":""}`, &signal.Interpret{Type: "interpret"}},
		{`{"type":"record","on":true}`, &signal.Record{Type: "record", On: true}},
		{`{"type":"record","on":false}`, &signal.Record{Type: "record"}},
		{`{"type":"countersign","record":"summit-20261129T101500Z-9f3a","seq":812,"sig":"` + sig64 + `"}`,
			&signal.Countersign{Type: "countersign", Record: "summit-20261129T101500Z-9f3a", Seq: 812, Sig: sig64}},
		{`{"type":"leave"}`, &signal.Leave{Type: "leave"}},
		{`{"type":"ping"}`, &signal.Ping{Type: "ping"}},
		{" \n\t{\"type\":\"ping\"}\r\n ", &signal.Ping{Type: "ping"}}, // whitespace around the object is fine
	}
	for _, tc := range cases {
		name := tc.in
		if len(name) > 50 {
			name = name[:50]
		}
		t.Run(name, func(t *testing.T) {
			got, err := signal.Decode([]byte(tc.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Decode = %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// A message of exactly MaxMessageBytes is allowed; one byte more is not.
func TestDecodeSizeLimit(t *testing.T) {
	frame := func(size int) []byte {
		head, tail := `{"type":"offer","pc":"pub","sdp":"`, `"}`
		return []byte(head + strings.Repeat("a", size-len(head)-len(tail)) + tail)
	}
	at := frame(signal.MaxMessageBytes)
	if len(at) != signal.MaxMessageBytes {
		t.Fatalf("test frame has %d bytes", len(at))
	}
	if _, err := signal.Decode(at); err != nil {
		t.Fatalf("a message of exactly %d bytes: %v", signal.MaxMessageBytes, err)
	}
	for _, size := range []int{signal.MaxMessageBytes + 1, 1 << 20} {
		_, err := signal.Decode(frame(size))
		if code := codeOf(t, err); code != signal.CodeMessageTooLarge {
			t.Fatalf("a message of %d bytes: code %q, want %q", size, code, signal.CodeMessageTooLarge)
		}
	}
	// The limit is on the input, before parsing: garbage over the limit is
	// "too large", not "bad request".
	_, err := signal.Decode([]byte(strings.Repeat("\xff", signal.MaxMessageBytes+1)))
	if code := codeOf(t, err); code != signal.CodeMessageTooLarge {
		t.Fatalf("oversized garbage: code %q, want %q", code, signal.CodeMessageTooLarge)
	}
}

func codeOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("Decode succeeded, want an error")
	}
	var se *signal.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is not a *signal.Error", err, err)
	}
	return se.Code
}

type badCase struct {
	name string
	in   string
	code string
	ref  string // expected Ref, when Decode sets one ("" = not checked)
}

func tracks(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"%d":"mic"`, i))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// hostile is long attacker-chosen text; error messages must not echo much of it.
var hostile = strings.Repeat("<script>alert(1)</script>", 20)

func malformedCases() []badCase {
	const (
		bad = signal.CodeBadRequest
		unk = signal.CodeUnknownType
	)
	return []badCase{
		// Not a JSON object with a type.
		{"not JSON", `hello`, bad, ""},
		{"empty input", ``, bad, ""},
		{"only whitespace", "  \n", bad, ""},
		{"JSON array", `[{"type":"ping"}]`, bad, ""},
		{"JSON string", `"ping"`, bad, ""},
		{"JSON number", `42`, bad, ""},
		{"JSON null", `null`, bad, ""},
		{"truncated object", `{"type":"ping"`, bad, ""},
		{"missing type", `{"text":"hi"}`, bad, ""},
		{"empty object", `{}`, bad, ""},
		{"empty type", `{"type":""}`, bad, ""},
		{"type not a string", `{"type":5}`, bad, ""},
		{"type an object", `{"type":{"name":"ping"}}`, bad, ""},
		{"type null", `{"type":null}`, bad, ""},
		{"unknown type", `{"type":"dance"}`, unk, ""},
		{"type in other case", `{"type":"PING"}`, unk, ""},
		{"server-only type", `{"type":"welcome"}`, unk, ""},
		{"error type from client", `{"type":"error","code":"internal"}`, unk, ""},
		{"hostile unknown type", `{"type":"` + hostile + `"}`, unk, ""},
		// Wrong field types.
		{"join version as string", `{"type":"join","version":"1","room":"r","token":"t"}`, bad, ""},
		{"join version fractional", `{"type":"join","version":1.5,"room":"r","token":"t"}`, bad, ""},
		{"join version huge", `{"type":"join","version":1e400,"room":"r","token":"t"}`, bad, ""},
		{"join token as number", `{"type":"join","version":1,"room":"r","token":7}`, bad, ""},
		{"mute muted as string", `{"type":"mute","source":"mic","muted":"yes"}`, bad, ""},
		{"chat text as number", `{"type":"chat","text":5}`, bad, ""},
		{"chat text as array", `{"type":"chat","text":["hi"]}`, bad, ""},
		{"offer tracks as array", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":["mic"]}`, bad, ""},
		{"offer track source as number", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":1}}`, bad, ""},
		{"record on as string", `{"type":"record","on":"true"}`, bad, ""},
		{"countersign seq negative", `{"type":"countersign","record":"r","seq":-1,"sig":"` + sig64 + `"}`, bad, ""},
		{"countersign seq as string", `{"type":"countersign","record":"r","seq":"812","sig":"` + sig64 + `"}`, bad, ""},
		{"candidate as string", `{"type":"candidate","pc":"pub","candidate":"candidate:1"}`, bad, ""},
		{"candidate mline index negative", `{"type":"candidate","pc":"pub","candidate":{"candidate":"c","sdpMLineIndex":-1}}`, bad, ""},
		// Unknown fields.
		{"unknown field", `{"type":"ping","extra":1}`, bad, ""},
		{"misspelled field", `{"type":"join","version":1,"room":"r","tokn":"t"}`, bad, ""},
		{"unknown nested field", `{"type":"candidate","pc":"pub","candidate":{"candidate":"c","evil":true}}`, bad, ""},
		{"token in unknown field", `{"type":"chat","text":"hi","token":"secret"}`, bad, ""},
		{"hostile unknown field", `{"type":"ping","` + hostile + `":1}`, bad, ""},
		// Trailing data.
		{"second object", `{"type":"ping"}{"type":"ping"}`, bad, ""},
		{"second object after space", `{"type":"ping"} {"type":"leave"}`, bad, ""},
		{"trailing garbage", `{"type":"ping"}x`, bad, ""},
		{"trailing bracket", `{"type":"ping"}]`, bad, ""},
		{"trailing NUL", "{\"type\":\"ping\"}\x00", bad, ""},
		{"hostile trailing data", `{"type":"ping"}` + hostile, bad, ""},
		// Encoding.
		{"invalid UTF-8 in a string", "{\"type\":\"chat\",\"text\":\"caf\xe9\"}", bad, ""},
		{"invalid UTF-8 outside strings", "{\"type\":\"ping\"}\xff", bad, ""},
		{"UTF-16 input", "\xff\xfe{\x00\"\x00t\x00", bad, ""},
		{"overlong UTF-8", "{\"type\":\"chat\",\"text\":\"\xc0\xaf\"}", bad, ""},
		// Join.
		{"join version 2", `{"type":"join","version":2,"room":"r","token":"t"}`, signal.CodeUnsupportedVersion, "join"},
		{"join version 0", `{"type":"join","version":0,"room":"r","token":"t"}`, signal.CodeUnsupportedVersion, "join"},
		{"join without version", `{"type":"join","room":"r","token":"t"}`, signal.CodeUnsupportedVersion, "join"},
		{"join without token", `{"type":"join","version":1,"room":"r"}`, signal.CodeTokenMissing, "join"},
		{"join with empty token", `{"type":"join","version":1,"room":"r","token":""}`, signal.CodeTokenMissing, "join"},
		{"join without room", `{"type":"join","version":1,"token":"t"}`, bad, "join"},
		{"join name too long", `{"type":"join","version":1,"room":"r","token":"t","name":"` + strings.Repeat("я", signal.MaxNameChars+1) + `"}`, bad, "join"},
		{"join key not base64", `{"type":"join","version":1,"room":"r","token":"t","key":"!!!"}`, bad, "join"},
		{"join key 31 bytes", `{"type":"join","version":1,"room":"r","token":"t","key":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 31)) + `"}`, bad, "join"},
		{"join key padded", `{"type":"join","version":1,"room":"r","token":"t","key":"` + base64.URLEncoding.EncodeToString(make([]byte, 32)) + `"}`, bad, "join"},
		{"join hostile key", `{"type":"join","version":1,"room":"r","token":"t","key":"` + hostile + `"}`, bad, "join"},
		// Offer / answer / candidate.
		{"offer on sub", `{"type":"offer","pc":"sub","sdp":"v=0","tracks":{}}`, bad, "offer"},
		{"offer without pc", `{"type":"offer","sdp":"v=0"}`, bad, "offer"},
		{"offer without sdp", `{"type":"offer","pc":"pub","tracks":{"0":"mic"}}`, bad, "offer"},
		{"offer with 9 tracks", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":` + tracks(signal.MaxTracks+1) + `}`, bad, "offer"},
		{"offer with bad source", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":"webcam"}}`, bad, "offer"},
		{"offer with source in other case", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":"Mic"}}`, bad, "offer"},
		{"offer with interpretation source", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":"interpretation"}}`, bad, "offer"},
		{"offer with empty mid", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"":"mic"}}`, bad, "offer"},
		{"offer with 33-char mid", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"` + strings.Repeat("m", 33) + `":"mic"}}`, bad, "offer"},
		{"offer with hostile mid", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"` + hostile + `":"mic"}}`, bad, "offer"},
		{"offer with hostile source", `{"type":"offer","pc":"pub","sdp":"v=0","tracks":{"0":"` + hostile + `"}}`, bad, "offer"},
		{"answer on pub", `{"type":"answer","pc":"pub","sdp":"v=0"}`, bad, "answer"},
		{"answer without sdp", `{"type":"answer","pc":"sub"}`, bad, "answer"},
		{"candidate on other pc", `{"type":"candidate","pc":"side","candidate":{"candidate":"c"}}`, bad, "candidate"},
		{"candidate without pc", `{"type":"candidate","candidate":{"candidate":"c"}}`, bad, "candidate"},
		// Mute.
		{"mute bad source", `{"type":"mute","source":"voice","muted":true}`, bad, "mute"},
		{"mute without source", `{"type":"mute","muted":true}`, bad, "mute"},
		{"mute hostile source", `{"type":"mute","source":"` + hostile + `","muted":true}`, bad, "mute"},
		// Chat.
		{"chat empty", `{"type":"chat","text":""}`, bad, "chat"},
		{"chat without text", `{"type":"chat"}`, bad, "chat"},
		{"chat whitespace", `{"type":"chat","text":"  \t\r\n  "}`, bad, "chat"},
		{"chat escaped whitespace", `{"type":"chat","text":"\u0020\u000a"}`, bad, "chat"},
		{"chat 4001 two-byte chars", `{"type":"chat","text":"` + strings.Repeat("é", signal.MaxChatChars+1) + `"}`, bad, "chat"},
		{"chat 4001 ASCII chars", `{"type":"chat","text":"` + strings.Repeat("a", signal.MaxChatChars+1) + `"}`, bad, "chat"},
		{"chat 4001 four-byte chars", `{"type":"chat","text":"` + strings.Repeat("😀", signal.MaxChatChars+1) + `"}`, bad, "chat"},
		// Moderate.
		{"moderate bad action", `{"type":"moderate","action":"kick","target":"PA_1"}`, bad, "moderate"},
		{"moderate action in other case", `{"type":"moderate","action":"Remove","target":"PA_1"}`, bad, "moderate"},
		{"moderate without action", `{"type":"moderate","target":"PA_1"}`, bad, "moderate"},
		{"moderate hostile action", `{"type":"moderate","action":"` + hostile + `","target":"PA_1"}`, bad, "moderate"},
		{"moderate remove without target", `{"type":"moderate","action":"remove"}`, bad, "moderate"},
		{"moderate mute without target", `{"type":"moderate","action":"mute","source":"mic"}`, bad, "moderate"},
		{"moderate mute without source", `{"type":"moderate","action":"mute","target":"PA_1"}`, bad, "moderate"},
		{"moderate mute bad source", `{"type":"moderate","action":"mute","target":"PA_1","source":"all"}`, bad, "moderate"},
		// Channels, record, countersign.
		{"listen without channel", `{"type":"listen"}`, bad, "listen"},
		{"listen channel too long", `{"type":"listen","channel":"` + strings.Repeat("x", 17) + `"}`, bad, "listen"},
		{"captions without channel", `{"type":"captions"}`, bad, "captions"},
		{"captions channel too long", `{"type":"captions","channel":"` + strings.Repeat("x", 17) + `"}`, bad, "captions"},
		{"interpret into floor", `{"type":"interpret","channel":"floor"}`, bad, "interpret"},
		{"interpret channel too long", `{"type":"interpret","channel":"` + strings.Repeat("x", 17) + `"}`, bad, "interpret"},
		{"countersign seq 0", `{"type":"countersign","record":"r","seq":0,"sig":"` + sig64 + `"}`, bad, "countersign"},
		{"countersign without record", `{"type":"countersign","seq":3,"sig":"` + sig64 + `"}`, bad, "countersign"},
		{"countersign short sig", `{"type":"countersign","record":"r","seq":3,"sig":"` + sig64[:40] + `"}`, bad, "countersign"},
		{"countersign sig not base64", `{"type":"countersign","record":"r","seq":3,"sig":"` + strings.Repeat("*", 86) + `"}`, bad, "countersign"},
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	for _, tc := range malformedCases() {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := signal.Decode([]byte(tc.in))
			if msg != nil {
				t.Fatalf("Decode returned %#v with its error", msg)
			}
			var se *signal.Error
			if !errors.As(err, &se) {
				t.Fatalf("Decode error = %T %v, want a *signal.Error", err, err)
			}
			if se.Code != tc.code {
				t.Fatalf("code = %q (%s), want %q", se.Code, se.Message, tc.code)
			}
			if se.Type != "error" {
				t.Errorf("Type = %q, want \"error\"", se.Type)
			}
			if strings.TrimSpace(se.Message) == "" {
				t.Error("message is empty")
			}
			if tc.ref != "" && se.Ref != tc.ref {
				t.Errorf("ref = %q, want %q", se.Ref, tc.ref)
			}
			// The error is also the wire message.
			b, err := json.Marshal(se)
			if err != nil {
				t.Fatal(err)
			}
			var wire map[string]any
			if err := json.Unmarshal(b, &wire); err != nil || wire["type"] != "error" || wire["code"] != tc.code || wire["message"] != se.Message {
				t.Fatalf("wire form %s", b)
			}
		})
	}
}

// maxEcho is the length of the longest run of input that the message repeats.
func maxEcho(message, input string) int {
	// Longest common substring, by dynamic programming over bytes.
	best := 0
	prev := make([]int, len(input)+1)
	cur := make([]int, len(input)+1)
	for i := 1; i <= len(message); i++ {
		for j := 1; j <= len(input); j++ {
			if message[i-1] == input[j-1] {
				cur[j] = prev[j-1] + 1
				best = max(best, cur[j])
			} else {
				cur[j] = 0
			}
		}
		prev, cur = cur, prev
	}
	return best
}

// Error messages go back to the client and into logs: they must be short
// sentences, not a mirror of what the client sent.
func TestDecodeErrorsDoNotEchoInput(t *testing.T) {
	// About 40 characters: Decode quotes up to 40 bytes of a bad value, and
	// the quote next to it matches the input too.
	const limit = 42
	for _, tc := range malformedCases() {
		_, err := signal.Decode([]byte(tc.in))
		var se *signal.Error
		if !errors.As(err, &se) {
			t.Errorf("%s: error %v is not a *signal.Error", tc.name, err)
			continue
		}
		if n := maxEcho(se.Message, tc.in); n > limit {
			t.Errorf("%s: message repeats %d bytes of the input (limit %d): %q", tc.name, n, limit, se.Message)
		}
		if len(se.Message) > 300 {
			t.Errorf("%s: message is %d bytes long", tc.name, len(se.Message))
		}
	}
	if n := maxEcho("abc"+hostile[:50]+"xyz", hostile); n != 50 {
		t.Fatalf("maxEcho self-check = %d, want 50", n)
	}
}

func TestErrorf(t *testing.T) {
	e := signal.Errorf(signal.CodeForbidden, "your token does not allow %s", "publishing")
	if e.Type != "error" || e.Code != "forbidden" || e.Message != "your token does not allow publishing" {
		t.Fatalf("Errorf = %+v", e)
	}
	if e.Error() != "forbidden: your token does not allow publishing" {
		t.Fatalf("Error() = %q", e.Error())
	}
	var err error = e
	var se *signal.Error
	if !errors.As(err, &se) || se != e {
		t.Fatal("*signal.Error does not work with errors.As")
	}
}

func TestValidSource(t *testing.T) {
	for _, s := range []string{"mic", "camera", "screen", "screen-audio"} {
		if !signal.ValidSource(s) {
			t.Errorf("ValidSource(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Mic", "interpretation", "audio", "video", "screen_audio", "mic "} {
		if signal.ValidSource(s) {
			t.Errorf("ValidSource(%q) = true", s)
		}
	}
}

func TestNewWelcomeHasLimitsAndNoNulls(t *testing.T) {
	w := signal.NewWelcome(signal.RoomInfo{Name: "summit"}, signal.Participant{ID: "PA_1", Identity: "a"}, nil, nil)
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["type"] != "welcome" || m["version"] != float64(signal.Version) {
		t.Fatalf("welcome = %s", b)
	}
	if _, ok := m["participants"].([]any); !ok {
		t.Errorf("participants is %v, want an empty array", m["participants"])
	}
	if _, ok := m["iceServers"].([]any); !ok {
		t.Errorf("iceServers is %v, want an empty array", m["iceServers"])
	}
	lim, _ := m["limits"].(map[string]any)
	if lim["maxMessageBytes"] != float64(signal.MaxMessageBytes) || lim["maxChatChars"] != float64(signal.MaxChatChars) {
		t.Errorf("limits = %v", m["limits"])
	}
}
