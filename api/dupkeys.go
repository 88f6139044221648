package api

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// dupKey is a key given twice in one JSON object.
type dupKey struct {
	Key   string // as written the second time
	First string // as written the first time: it differs from Key in case only
	Path  string // where: "settings.codec", "[0].name", `a[""]` for a key that is not a plain name
}

// duplicateKey finds the first key given twice in one object of the JSON
// value at the start of data, at any depth. encoding/json keeps the last of
// two and says nothing, so a body could mean one thing to a proxy or an
// audit log that keeps the first and another to Parley. Keys are compared
// as encoding/json matches them to fields, without regard to case: "name"
// and "Name" would set the same field. ok is false when there is no
// duplicate, or when data stops being JSON before one; decoding reports that.
func duplicateKey(data []byte) (d dupKey, ok bool) {
	type frame struct {
		object   bool
		path     string
		keys     map[string]string // folded key: the key as first written
		wantKey  bool              // objects: the next token is a key
		last     string            // objects: the key whose value comes next
		elements int               // arrays: values so far
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not under test; 1e999 must not stop the walk
	var stack []*frame
	// child is the path of the value about to start in top.
	child := func(top *frame) string {
		switch {
		case top == nil:
			return ""
		case !top.object:
			return top.path + "[" + strconv.Itoa(top.elements) + "]"
		case !plainKey(top.last):
			q, _ := json.Marshal(top.last)
			return top.path + "[" + string(q) + "]"
		case top.path == "": // only the outermost value has no path
			return top.last
		}
		return top.path + "." + top.last
	}
	// done moves top past a value that ended.
	done := func(top *frame) {
		if top.object {
			top.wantKey = true
		} else {
			top.elements++
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return dupKey{}, false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if tok == json.Delim('}') { // the object ends, empty or after its last value
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return dupKey{}, false
				}
				done(stack[len(stack)-1])
				continue
			}
			key, _ := tok.(string) // Token yields only strings where a key goes
			f := foldKey(key)
			if first, seen := top.keys[f]; seen {
				top.last = key
				return dupKey{Key: key, First: first, Path: child(top)}, true
			}
			top.keys[f] = key
			top.wantKey, top.last = false, key
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, path: child(top), keys: map[string]string{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{path: child(top)})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return dupKey{}, false
			}
			done(stack[len(stack)-1])
		default: // a string, number, boolean or null
			if top == nil {
				return dupKey{}, false
			}
			done(top)
		}
	}
}

// foldKey maps keys that strings.EqualFold calls equal, as encoding/json
// does when it matches a key to a field, to the same string: each rune
// becomes the least of its case-folding orbit.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// plainKey reports a key that a path can show as .key without ambiguity.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '-' {
			return false
		}
	}
	return true
}
