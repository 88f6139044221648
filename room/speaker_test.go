package room

import "testing"

func TestSpeakerDetectorHysteresis(t *testing.T) {
	var d speakerDetector
	steps := []struct {
		levels map[string]float64
		want   string
		change bool
	}{
		{map[string]float64{"a": 30}, "", false},           // a leads once: not yet
		{map[string]float64{"a": 30}, "a", true},           // twice: a has the floor
		{map[string]float64{"a": 30, "b": 28}, "a", false}, // b slightly louder while a talks: no flip
		{map[string]float64{"a": 30, "b": 28}, "a", false}, // ... still within the margin
		{map[string]float64{"a": 40, "b": 20}, "a", false}, // b clearly louder: first interval
		{map[string]float64{"a": 40, "b": 20}, "b", true},  // second: b takes the floor
		{map[string]float64{"a": 25}, "b", false},          // a cough while b is quiet...
		{map[string]float64{"b": 30}, "b", false},          // ...does not flip it back
		{map[string]float64{}, "b", false},                 // silence keeps the last speaker
		{map[string]float64{"c": 90}, "b", false},          // below the speaking level: not speech
		{map[string]float64{"a": 30, "b": 70}, "b", false}, // b went quiet, a leads once
		{map[string]float64{"a": 30, "b": 70}, "a", true},  // a leads twice: a has it
	}
	for i, s := range steps {
		got, changed := d.update(s.levels)
		if got != s.want || changed != s.change {
			t.Fatalf("step %d (%v): speaker %q changed %v, want %q %v", i, s.levels, got, changed, s.want, s.change)
		}
	}
	d.forget("a")
	if got, _ := d.update(map[string]float64{}); got != "" {
		t.Fatalf("a left but is still the speaker")
	}
}
