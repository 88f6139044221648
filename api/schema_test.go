package api_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/parleyhq/parley/api"
)

// A checker for the part of JSON Schema that openapi.json uses: type,
// required, properties, additionalProperties (false), items, enum and $ref
// to #/components/... Annotations (description, format) are not checked.
// Anything else in a schema fails the check, so the document cannot start
// using a keyword this checker would silently ignore.

type openAPIDoc struct {
	raw map[string]any
}

func loadDoc(t testing.TB) *openAPIDoc {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(api.OpenAPI(), &raw); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return &openAPIDoc{raw: raw}
}

// resolve follows a "$ref" (to this document) until it reaches an object
// without one.
func (d *openAPIDoc) resolve(node map[string]any) (map[string]any, error) {
	for range 16 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node, nil
		}
		path, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			return nil, fmt.Errorf("$ref %q is not local", ref)
		}
		var cur any = d.raw
		for _, part := range strings.Split(path, "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("$ref %q: %q is not an object", ref, part)
			}
			if cur, ok = m[part]; !ok {
				return nil, fmt.Errorf("$ref %q does not resolve", ref)
			}
		}
		if node, ok = cur.(map[string]any); !ok {
			return nil, fmt.Errorf("$ref %q is not an object", ref)
		}
	}
	return nil, fmt.Errorf("$ref chain too long")
}

var schemaKeywords = []string{"$ref", "type", "required", "properties", "additionalProperties", "items", "enum", "description", "format"}

// validate checks v (as decoded by encoding/json into any) against schema.
// at names the position for errors, e.g. "$.rooms[0].name".
func (d *openAPIDoc) validate(schema map[string]any, v any, at string) error {
	schema, err := d.resolve(schema)
	if err != nil {
		return fmt.Errorf("%s: %v", at, err)
	}
	for k := range schema {
		if !slices.Contains(schemaKeywords, k) {
			return fmt.Errorf("%s: the schema uses %q, which this checker does not know", at, k)
		}
	}
	if typ, ok := schema["type"]; ok {
		name, ok := typ.(string)
		if !ok {
			return fmt.Errorf("%s: type must be one string in this document", at)
		}
		if !hasType(v, name) {
			return fmt.Errorf("%s: %s is not of type %s", at, short(v), name)
		}
	}
	if enum, ok := schema["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %s is not one of %v", at, short(v), enum)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := schema["properties"].(map[string]any)
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if _, ok := obj[r.(string)]; !ok {
					return fmt.Errorf("%s: required property %q is missing", at, r)
				}
			}
		}
		if ap, ok := schema["additionalProperties"]; ok && ap != false {
			return fmt.Errorf("%s: additionalProperties other than false is not supported", at)
		}
		for k, val := range obj {
			sub, ok := props[k].(map[string]any)
			if !ok {
				if schema["additionalProperties"] == false {
					return fmt.Errorf("%s: property %q is not in the schema", at, k)
				}
				continue
			}
			if err := d.validate(sub, val, at+"."+k); err != nil {
				return err
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := schema["items"].(map[string]any); ok {
			for i, val := range arr {
				if err := d.validate(items, val, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func hasType(v any, name string) bool {
	switch name {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return false
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

// responseSchema finds the documented JSON schema of a response; ok is false
// when the operation documents no such status, and schema is nil for a
// status documented without a body.
func (d *openAPIDoc) responseSchema(method, path string, status int) (schema map[string]any, ok bool, err error) {
	paths, _ := d.raw["paths"].(map[string]any)
	item, _ := paths[path].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return nil, false, fmt.Errorf("%s %s is not in the document", method, path)
	}
	responses, _ := op["responses"].(map[string]any)
	resp, found := responses[fmt.Sprint(status)].(map[string]any)
	if !found {
		return nil, false, nil
	}
	resp, err = d.resolve(resp)
	if err != nil {
		return nil, true, err
	}
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		return nil, true, nil
	}
	schema, _ = media["schema"].(map[string]any)
	return schema, true, nil
}

// TestSchemaCheckerCatchesMismatches shows the checker fails where it must;
// a checker that passes everything would make the conformance tests empty.
func TestSchemaCheckerCatchesMismatches(t *testing.T) {
	d := loadDoc(t)
	room := map[string]any{"$ref": "#/components/schemas/Room"}
	good := `{"name":"a","participants":1,"persistent":false,"languages":[],
	  "settings":{"languages":["en"],"max_participants":0,"record":false,"e2ee_required":false,"codec":""},
	  "recording":{"active":false}}`
	var v any
	if err := json.Unmarshal([]byte(good), &v); err != nil {
		t.Fatal(err)
	}
	if err := d.validate(room, v, "$"); err != nil {
		t.Fatalf("a valid room fails: %v", err)
	}
	bad := map[string]func(m map[string]any){
		"wrong type":         func(m map[string]any) { m["participants"] = "1" },
		"not an integer":     func(m map[string]any) { m["participants"] = 1.5 },
		"missing required":   func(m map[string]any) { delete(m, "settings") },
		"extra property":     func(m map[string]any) { m["color"] = "red" },
		"enum":               func(m map[string]any) { m["settings"].(map[string]any)["codec"] = "h265" },
		"array item type":    func(m map[string]any) { m["languages"] = []any{"en", 3.0} },
		"nested required":    func(m map[string]any) { delete(m["recording"].(map[string]any), "active") },
		"object not array":   func(m map[string]any) { m["languages"] = map[string]any{} },
		"boolean not string": func(m map[string]any) { m["persistent"] = "false" },
	}
	for name, change := range bad {
		var v map[string]any
		if err := json.Unmarshal([]byte(good), &v); err != nil {
			t.Fatal(err)
		}
		change(v)
		if err := d.validate(room, v, "$"); err == nil {
			t.Errorf("%s: the checker accepted %s", name, short(v))
		}
	}
	if err := d.validate(map[string]any{"type": "string", "pattern": "x"}, "x", "$"); err == nil {
		t.Error("the checker accepted a schema keyword it does not implement")
	}
}
