package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDuplicateKey(t *testing.T) {
	cases := []struct {
		json        string
		key, path   string // path "" when there is no duplicate
		first       string // when it differs from key
		description string
	}{
		{`{"name":"a","name":"b"}`, "name", "name", "", "at the top"},
		{`{"name":"a","settings":{"codec":"vp8","record":true,"codec":"h264"}}`, "codec", "settings.codec", "", "nested"},
		{`{"rooms":[{"name":"a"},{"name":"b","x":{},"name":"c"}]}`, "name", "rooms[1].name", "", "in an array"},
		{`[[1],{"a":[{"b":1,"b":2}]}]`, "b", "[1].a[0].b", "", "under arrays at the top"},
		{`{"name":"a","Name":"b"}`, "Name", "Name", "name", "in another case"},
		{`{"k":1,"\u212a":2}`, "\u212a", "\u212a", "k", "the Kelvin sign folds to k, as encoding/json matches it"},
		{`{"\u0061":1,"a":2}`, "a", "a", "", "escaped the first time"},
		{`{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}`, "", "", "", "the same key in different objects"},
		{`{"a":1,"a"`, "a", "a", "", "a duplicate before the JSON breaks off"},
		{`{"":[{"":{},"":""}]}`, "", `[""][0][""]`, "", "the empty key"},
		{`{"a.b":{"x y":1,"x y":2}}`, "x y", `["a.b"]["x y"]`, "", "keys that are not plain names"},
		{`{"a":1,,"a":2}`, "", "", "", "broken JSON before the duplicate: decoding reports it"},
		{`{"a":1e999,"b":[true,null,"x"],"c":{}}`, "", "", "", "no duplicate"},
		{`{"a":1} {"a":2}`, "", "", "", "a second value is not looked at"},
		{`"a"`, "", "", "", "a string"},
		{``, "", "", "", "nothing"},
	}
	for _, c := range cases {
		d, ok := duplicateKey([]byte(c.json))
		if ok != (c.path != "") || d.Key != c.key || d.Path != c.path {
			t.Errorf("%s: %s: got %+v, %v; want key %q at %q", c.description, c.json, d, ok, c.key, c.path)
			continue
		}
		first := c.first
		if first == "" {
			first = c.key
		}
		if d.First != first {
			t.Errorf("%s: %s: first spelling %q, want %q", c.description, c.json, d.First, first)
		}
	}
}

// FuzzDuplicateKeys holds duplicateKey to what encoding/json itself does:
// decoding into maps drops exactly the duplicates, so a value re-encoded from
// them has a duplicate only where two keys differ in case, and a key put
// again in front of an object is always found, at the right path.
func FuzzDuplicateKeys(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		d, found := duplicateKey(data) // whatever data is, no panic
		if !json.Valid(data) {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return // nested deeper than encoding/json goes
		}
		canon, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		_, inCanon := duplicateKey(canon)
		if want := caseCollision(v); inCanon != want {
			t.Fatalf("%s re-encoded as %s: duplicate %v, but keys differing in case only: %v", data, canon, inCanon, want)
		}
		if inCanon && !found {
			t.Fatalf("%s: no duplicate, but its re-encoding %s has one", data, canon)
		}

		// The same value one level down: the same answer, the path longer.
		wrapped := append(append([]byte(`{"outer":[`), data...), "]}"...)
		dw, foundW := duplicateKey(wrapped)
		if foundW != found {
			t.Fatalf("%s: duplicate %v; wrapped as %s: %v", data, found, wrapped, foundW)
		}
		if found {
			want := "outer[0]." + d.Path
			if strings.HasPrefix(d.Path, "[") {
				want = "outer[0]" + d.Path
			}
			if dw.Key != d.Key || dw.Path != want {
				t.Fatalf("%s: %+v; wrapped: %+v, want the path %q", data, d, dw, want)
			}
		}

		// A key given again in front of a non-empty object is found.
		obj, ok := v.(map[string]any)
		if !ok || len(obj) == 0 {
			return
		}
		var key string
		for k := range obj {
			key = k
			break
		}
		kb, _ := json.Marshal(key)
		open := bytes.IndexByte(data, '{')
		again := append(append(append([]byte("{"), kb...), ":null,"...), data[open+1:]...)
		da, foundA := duplicateKey(again)
		if !foundA {
			t.Fatalf("%s: no duplicate in %s", data, again)
		}
		top := da.Key
		if !plainKey(top) {
			q, _ := json.Marshal(top)
			top = "[" + string(q) + "]"
		}
		if !found && (!strings.EqualFold(da.First, key) || da.Path != top) {
			t.Fatalf("%s: in %s the duplicate found is %+v, want %q at the top", data, again, da, key)
		}
	})
}

// caseCollision reports two keys of one map, anywhere in v, that
// strings.EqualFold calls equal.
func caseCollision(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k, e := range v {
			for _, o := range keys {
				if strings.EqualFold(k, o) {
					return true
				}
			}
			keys = append(keys, k)
			if caseCollision(e) {
				return true
			}
		}
	case []any:
		for _, e := range v {
			if caseCollision(e) {
				return true
			}
		}
	}
	return false
}
