package room

import (
	"maps"
	"testing"
)

func everyone(string) bool { return true }

// routes is whom each of ids hears.
func routes(rt *router, ids ...string) map[string]string {
	active := rt.active(everyone)
	out := map[string]string{}
	for _, id := range ids {
		out[id] = rt.source(id, active)
	}
	return out
}

func TestRouterActiveInterpreterIsTheLastToMoveIn(t *testing.T) {
	rt := newRouter()
	rt.interpret("interp-a", "ru")
	rt.interpret("interp-b", "en")
	rt.interpret("interp-c", "ru") // takes over ru from interp-a
	rt.interpret("interp-d", "")   // not interpreting
	want := map[string]string{"ru": "interp-c", "en": "interp-b"}
	if got := rt.active(everyone); !maps.Equal(got, want) {
		t.Fatalf("active = %v, want %v", got, want)
	}
	// interp-c hands ru back: interp-a, still in it, speaks again.
	rt.interpret("interp-c", "")
	if got := rt.active(everyone)["ru"]; got != "interp-a" {
		t.Fatalf("after interp-c stops, ru has %q, want interp-a", got)
	}
	// Moving in again is a new handover, even into the same channel.
	rt.interpret("interp-a", "en")
	rt.interpret("interp-a", "ru")
	if got := rt.active(everyone); got["ru"] != "interp-a" || got["en"] != "interp-b" {
		t.Fatalf("active = %v", got)
	}
	// Whoever may no longer interpret (their grant was taken) speaks nowhere.
	if got := rt.active(func(id string) bool { return id != "interp-b" }); got["en"] != "" {
		t.Fatalf("en still has %q", got["en"])
	}
}

func TestRouterListenerHearsTheirChannelsInterpreter(t *testing.T) {
	rt := newRouter()
	rt.interpret("interp-b", "en")
	rt.interpret("interp-a", "ru")
	rt.listen("aide-b1", "en")
	rt.listen("aide-a2", "ru")
	rt.listen("aide-x", "fr")
	rt.listen("interp-b", "en")
	rt.listen("interp-a", "en")
	got := routes(&rt, "aide-b1", "aide-a1", "aide-a2", "aide-x", "interp-b", "interp-a", "head-a")
	want := map[string]string{
		"aide-b1":  "interp-b", // a listener on en hears en's interpreter
		"aide-a1":  "",         // floor listeners get no interpretation at all
		"aide-a2":  "interp-a", // ru
		"aide-x":   "",         // a channel with no interpreter carries nothing
		"interp-b": "",         // an interpreter never hears themself
		"interp-a": "interp-b", // relay: interp-a listens to interp-b's channel
		"head-a":   "",         // the floor is the floor
	}
	if !maps.Equal(got, want) {
		t.Fatalf("routes %v, want %v", got, want)
	}
	// A handover on en moves every en listener at once.
	rt.interpret("interp-c", "en")
	if got := routes(&rt, "aide-b1", "interp-b", "interp-a"); got["aide-b1"] != "interp-c" || got["interp-b"] != "interp-c" || got["interp-a"] != "interp-c" {
		t.Fatalf("after the handover: %v", got)
	}
}

func TestRouterMovesAreReportedOnce(t *testing.T) {
	rt := newRouter()
	if rt.listen("a", Floor) {
		t.Error("moving to the floor from the floor is no move")
	}
	if !rt.listen("a", "en") || rt.listen("a", "en") {
		t.Error("a move to en is reported once")
	}
	if rt.hears("a") != "en" || rt.hears("nobody") != Floor {
		t.Errorf("hears: %q, %q", rt.hears("a"), rt.hears("nobody"))
	}
	if rt.interpret("i", "") {
		t.Error("stopping while not interpreting is no move")
	}
	if !rt.interpret("i", "en") || rt.interpret("i", "en") || rt.speaksInto("i") != "en" {
		t.Error("a move into en is reported once")
	}
}

func TestRouterForgetsWhoLeft(t *testing.T) {
	rt := newRouter()
	rt.interpret("interp-a", "en")
	rt.interpret("interp-b", "en") // the active one
	rt.listen("aide", "en")
	rt.forget("interp-b")
	if got := routes(&rt, "aide")["aide"]; got != "interp-a" {
		t.Fatalf("after the active interpreter left, aide hears %q, want interp-a", got)
	}
	rt.forget("aide")
	if rt.hears("aide") != Floor || len(rt.listening) != 0 {
		t.Fatalf("a participant who left is still routed: %v", rt.listening)
	}
}
