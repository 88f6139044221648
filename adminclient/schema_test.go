package adminclient_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/parleyhq/parley/adminclient"
	"github.com/parleyhq/parley/api"
	"github.com/parleyhq/parley/auth"
)

// components pairs each schema of openapi.json with the Go type for it.
var components = map[string]reflect.Type{
	"Error":           reflect.TypeFor[adminclient.ErrorBody](),
	"Settings":        reflect.TypeFor[adminclient.Settings](),
	"SettingsInput":   reflect.TypeFor[adminclient.SettingsInput](),
	"CreateRoom":      reflect.TypeFor[adminclient.CreateRoomRequest](),
	"UpdateRoom":      reflect.TypeFor[adminclient.UpdateRoomRequest](),
	"Recording":       reflect.TypeFor[adminclient.Recording](),
	"Room":            reflect.TypeFor[adminclient.Room](),
	"RoomList":        reflect.TypeFor[adminclient.RoomList](),
	"Closed":          reflect.TypeFor[adminclient.Closed](),
	"Track":           reflect.TypeFor[adminclient.Track](),
	"Participant":     reflect.TypeFor[adminclient.Participant](),
	"ParticipantList": reflect.TypeFor[adminclient.ParticipantList](),
	"Grant":           reflect.TypeFor[auth.Grant](),
	"GrantsRequest":   reflect.TypeFor[adminclient.GrantsRequest](),
	"MuteRequest":     reflect.TypeFor[adminclient.MuteRequest](),
	"RecordInfo":      reflect.TypeFor[adminclient.RecordInfo](),
	"RecordList":      reflect.TypeFor[adminclient.RecordList](),
	"Viewer":          reflect.TypeFor[adminclient.Viewer](),
	"ViewerList":      reflect.TypeFor[adminclient.ViewerList](),
}

type doc struct {
	schemas map[string]map[string]any
	paths   map[string]any
}

func loadDoc(t *testing.T) doc {
	t.Helper()
	var raw struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(api.OpenAPI(), &raw); err != nil {
		t.Fatal(err)
	}
	return doc{schemas: raw.Components.Schemas, paths: raw.Paths}
}

// TestTypesMatchTheDocument holds the types to openapi.json: every schema
// has its Go type, every property its field under the same JSON name and of
// the same JSON type, and no field is missing from the document. A required
// property is never left out of the JSON (omitempty), an optional one always
// is when unset, so a request sends only what its caller set.
func TestTypesMatchTheDocument(t *testing.T) {
	d := loadDoc(t)
	for _, name := range slices.Sorted(maps.Keys(d.schemas)) {
		typ, ok := components[name]
		if !ok {
			t.Errorf("schema %s has no Go type in adminclient (add it, and to components here)", name)
			continue
		}
		for _, err := range d.match(d.schemas[name], typ, name) {
			t.Error(err)
		}
	}
	for name := range components {
		if _, ok := d.schemas[name]; !ok {
			t.Errorf("components names %s, which the document has no schema of", name)
		}
	}
}

type field struct {
	typ  reflect.Type
	omit bool // omitempty or omitzero
}

// jsonFields are the fields of struct type t as encoding/json names them (an
// embedded struct shows as one field, which the document will not list:
// the wire types embed none).
func jsonFields(t reflect.Type) map[string]field {
	out := map[string]field{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		omit := slices.ContainsFunc(strings.Split(opts, ","), func(o string) bool { return o == "omitempty" || o == "omitzero" })
		out[name] = field{typ: f.Type, omit: omit}
	}
	return out
}

var timeType = reflect.TypeFor[time.Time]()

// match lists how Go type t differs from schema s, at names the place.
func (d doc) match(s map[string]any, t reflect.Type, at string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if want := components[name]; want != t {
			return []error{fmt.Errorf("%s: %s is %s, want %v (for %s)", at, t, name, want, ref)}
		}
		return nil // the component itself is checked on its own
	}
	bad := func(want string) []error {
		return []error{fmt.Errorf("%s: the document says %s, the Go type is %s", at, want, t)}
	}
	switch s["type"] {
	case "string":
		if s["format"] == "date-time" {
			if t != timeType {
				return bad("a date-time (time.Time)")
			}
		} else if t.Kind() != reflect.String {
			return bad("a string")
		}
	case "integer":
		if !slices.Contains([]reflect.Kind{reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64}, t.Kind()) {
			return bad("an integer")
		}
	case "boolean":
		if t.Kind() != reflect.Bool {
			return bad("a boolean")
		}
	case "array":
		if t.Kind() != reflect.Slice {
			return bad("an array")
		}
		items, _ := s["items"].(map[string]any)
		return d.match(items, t.Elem(), at+"[]")
	case "object":
		if t.Kind() != reflect.Struct || t == timeType {
			return bad("an object")
		}
		return d.matchObject(s, t, at)
	default:
		return []error{fmt.Errorf("%s: type %v is not one this test knows", at, s["type"])}
	}
	return nil
}

func (d doc) matchObject(s map[string]any, t reflect.Type, at string) []error {
	var errs []error
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	if rs, ok := s["required"].([]any); ok {
		for _, r := range rs {
			required[r.(string)] = true
		}
	}
	fields := jsonFields(t)
	for _, name := range slices.Sorted(maps.Keys(props)) {
		f, ok := fields[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: property %q has no field in %s", at, name, t))
			continue
		}
		switch {
		case required[name] && f.omit:
			errs = append(errs, fmt.Errorf("%s.%s is required, and %s leaves it out when empty", at, name, t))
		case !required[name] && !f.omit:
			errs = append(errs, fmt.Errorf("%s.%s is optional, and %s always sends it (omitempty or omitzero)", at, name, t))
		}
		ps, _ := props[name].(map[string]any)
		errs = append(errs, d.match(ps, f.typ, at+"."+name)...)
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if _, ok := props[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: %s has field %q, which the document does not list", at, t, name))
		}
	}
	return errs
}

// TestClientHasEveryOperation: each operation of the document is a method,
// named by its operationId.
func TestClientHasEveryOperation(t *testing.T) {
	client := reflect.TypeFor[*adminclient.Client]()
	n := 0
	for path, item := range loadDoc(t).paths {
		for method, op := range item.(map[string]any) {
			o, ok := op.(map[string]any)
			if !ok {
				continue // the path's parameters
			}
			id, _ := o["operationId"].(string)
			if id == "" {
				t.Errorf("%s %s has no operationId", method, path)
				continue
			}
			name := string(unicode.ToUpper(rune(id[0]))) + id[1:]
			if id == "openapi" {
				name = "OpenAPI"
			}
			if _, ok := client.MethodByName(name); !ok {
				t.Errorf("%s %s (%s): adminclient.Client has no method %s", strings.ToUpper(method), path, id, name)
			}
			n++
		}
	}
	if n != len(api.Routes()) {
		t.Errorf("%d operations in the document, %d routes", n, len(api.Routes()))
	}
}

// TestSchemaCheckCatchesDrift: the check above fails on the drifts it is for.
func TestSchemaCheckCatchesDrift(t *testing.T) {
	d := loadDoc(t)
	type renamed struct {
		Source string `json:"sourc"`
		Kind   string `json:"kind"`
		Muted  bool   `json:"muted"`
	}
	type extra struct {
		Source string `json:"source"`
		Kind   string `json:"kind"`
		Muted  bool   `json:"muted"`
		Volume int    `json:"volume"`
	}
	type retyped struct {
		Source string `json:"source"`
		Kind   string `json:"kind"`
		Muted  string `json:"muted"`
	}
	type omitted struct {
		Source string `json:"source,omitempty"`
		Kind   string `json:"kind"`
		Muted  bool   `json:"muted"`
	}
	for name, typ := range map[string]reflect.Type{
		"a renamed field": reflect.TypeFor[renamed](), "an extra field": reflect.TypeFor[extra](),
		"a field's type": reflect.TypeFor[retyped](), "a required field left out": reflect.TypeFor[omitted](),
	} {
		if errs := d.match(d.schemas["Track"], typ, "Track"); len(errs) == 0 {
			t.Errorf("%s passed", name)
		}
	}
	if errs := d.match(d.schemas["Track"], reflect.TypeFor[adminclient.Track](), "Track"); len(errs) != 0 {
		t.Errorf("Track itself: %v", errs)
	}
}
