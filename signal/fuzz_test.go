package signal_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/parleyhq/parley/signal"
)

var knownCodes = map[string]bool{
	signal.CodeBadRequest: true, signal.CodeUnknownType: true, signal.CodeUnsupportedVersion: true,
	signal.CodeNotJoined: true, signal.CodeAlreadyJoined: true, signal.CodeTokenMissing: true,
	signal.CodeTokenInvalid: true, signal.CodeTokenExpired: true, signal.CodeWrongRoom: true,
	signal.CodeForbidden: true, signal.CodeMessageTooLarge: true, signal.CodeNotFound: true,
	signal.CodeInternal: true, signal.CodeReplaced: true,
}

// typeNames is the "type" each decoded Go type must carry.
var typeNames = map[reflect.Type]string{
	reflect.TypeFor[*signal.Join]():        "join",
	reflect.TypeFor[*signal.Offer]():       "offer",
	reflect.TypeFor[*signal.Answer]():      "answer",
	reflect.TypeFor[*signal.Candidate]():   "candidate",
	reflect.TypeFor[*signal.Mute]():        "mute",
	reflect.TypeFor[*signal.ChatSend]():    "chat",
	reflect.TypeFor[*signal.Moderate]():    "moderate",
	reflect.TypeFor[*signal.Listen]():      "listen",
	reflect.TypeFor[*signal.Interpret]():   "interpret",
	reflect.TypeFor[*signal.Record]():      "record",
	reflect.TypeFor[*signal.Countersign](): "countersign",
	reflect.TypeFor[*signal.E2EE]():        "e2ee",
	reflect.TypeFor[*signal.Captions]():    "captions",
	reflect.TypeFor[*signal.Layout]():      "layout",
	reflect.TypeFor[*signal.Leave]():       "leave",
	reflect.TypeFor[*signal.Ping]():        "ping",
}

func FuzzDecode(f *testing.F) {
	for _, tc := range malformedCases() {
		if len(tc.in) < 2000 {
			f.Add([]byte(tc.in))
		}
	}
	for _, s := range []string{
		`{"type":"join","version":1,"room":"summit","token":"a.b.c","name":"Anna","key":"` + pubKey + `"}`,
		`{"type":"offer","pc":"pub","sdp":"v=0\r\n","tracks":{"0":"mic","1":"camera"}}`,
		`{"type":"answer","pc":"sub","sdp":"v=0"}`,
		`{"type":"candidate","pc":"pub","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}}`,
		`{"type":"mute","source":"mic","muted":true}`,
		`{"type":"chat","text":"héllo \u2028 <b>&amp;</b> \ud83d\ude00"}`,
		`{"type":"moderate","action":"mute","target":"PA_1","source":"camera"}`,
		`{"type":"listen","channel":"en"}`,
		`{"type":"interpret","channel":""}`,
		`{"type":"record","on":true}`,
		`{"type":"countersign","record":"r-1","seq":1,"sig":"` + sig64 + `"}`,
		`{"type":"e2ee","to":"PA_1","data":"eyJrIjoxfQ"}`,
		`{"type":"captions","channel":"floor"}`,
		`{"type":"layout","tracks":{"1":{"width":640,"height":360}}}`,
		`{"type":"leave"}`,
		`{"TYPE":"ping"}`,
		`{"type":"ping","type":"leave"}`,
		`{"type":"chat","text":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := signal.Decode(data)
		if err != nil {
			if msg != nil {
				t.Fatalf("Decode returned %#v with error %v", msg, err)
			}
			var se *signal.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *signal.Error", err, err)
			}
			if se.Code == "" || se.Message == "" || se.Type != "error" {
				t.Fatalf("incomplete error %#v", se)
			}
			if !knownCodes[se.Code] {
				t.Fatalf("code %q is not one of the protocol's codes", se.Code)
			}
			if len(data) > signal.MaxMessageBytes && se.Code != signal.CodeMessageTooLarge {
				t.Fatalf("%d bytes gave %q, want %q", len(data), se.Code, signal.CodeMessageTooLarge)
			}
			return
		}
		if msg == nil {
			t.Fatal("Decode returned nil, nil")
		}
		if len(data) > signal.MaxMessageBytes {
			t.Fatalf("Decode accepted %d bytes", len(data))
		}
		want, ok := typeNames[reflect.TypeOf(msg)]
		if !ok {
			t.Fatalf("Decode returned a %T", msg)
		}
		if got := reflect.ValueOf(msg).Elem().FieldByName("Type").String(); got != want {
			t.Fatalf("%T carries type %q, want %q", msg, got, want)
		}
		// A decoded message marshals back to JSON that decodes to the same message.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(msg); err != nil {
			t.Fatalf("%T does not marshal: %v", msg, err)
		}
		if !json.Valid(buf.Bytes()) {
			t.Fatalf("marshalled %T is not valid JSON: %q", msg, buf.Bytes())
		}
		if buf.Len() > signal.MaxMessageBytes {
			return // escaping may grow it past the limit
		}
		again, err := signal.Decode(buf.Bytes())
		if err != nil {
			t.Fatalf("re-marshalled %T does not decode: %v\ninput %q\nremarshalled %q", msg, err, data, buf.Bytes())
		}
		if !reflect.DeepEqual(msg, again) {
			t.Fatalf("round trip changed the message:\nfirst %#v\nthen  %#v", msg, again)
		}
	})
}
