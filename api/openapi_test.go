package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/api"
)

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedOps lists "METHOD /path" for every operation in the document.
func documentedOps(t *testing.T, d *openAPIDoc) []string {
	t.Helper()
	paths, ok := d.raw["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}
	var ops []string
	for path, item := range paths {
		for key := range item.(map[string]any) {
			if slices.Contains(httpMethods, key) {
				ops = append(ops, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	d := loadDoc(t)
	if d.raw["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", d.raw["openapi"])
	}
	var routed []string
	for _, rt := range api.Routes() {
		routed = append(routed, rt.Method+" "+rt.Path)
	}
	slices.Sort(routed)
	documented := documentedOps(t, d)
	for _, op := range routed {
		if !slices.Contains(documented, op) {
			t.Errorf("the handler routes %s, which openapi.json does not document", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(routed, op) {
			t.Errorf("openapi.json documents %s, which the handler does not route", op)
		}
	}
}

// TestOpenAPIOperationsAreRouted sends every documented operation, with an
// admin token, to a real node: none may fall through to the mux's 404 or 405.
func TestOpenAPIOperationsAreRouted(t *testing.T) {
	n := startNode(t)
	n.must("POST", "/api/v1/rooms", map[string]any{"name": "routed"}, http.StatusCreated)
	for _, op := range documentedOps(t, n.doc) {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{room}", "routed", "{identity}", "nobody", "{viewer}", "VW_nobody").Replace(path)
		if strings.Contains(path, "{") {
			t.Errorf("%s: a path parameter this test does not fill", op)
			continue
		}
		var body any
		if method == "POST" || method == "PATCH" {
			body = `{}`
		}
		a := n.call(method, path, n.admin, body)
		if code := a.errCode(); code == "not_found" || code == "method_not_allowed" {
			t.Errorf("%s: the mux answered %d %s", op, a.status, code)
		}
	}
}

// TestOpenAPIDocumentIsSound checks every $ref resolves, every operation
// documents the auth failures (but the public one), and every operation with
// a body documents 400 and 413.
func TestOpenAPIDocumentIsSound(t *testing.T) {
	d := loadDoc(t)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["$ref"]; ok {
				if _, err := d.resolve(x); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(d.raw, "#")

	public := map[string]bool{}
	for _, rt := range api.Routes() {
		public[rt.Method+" "+rt.Path] = rt.Public
	}
	for _, op := range documentedOps(t, d) {
		method, path, _ := strings.Cut(op, " ")
		o := d.raw["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
		responses := o["responses"].(map[string]any)
		if !public[op] {
			for _, status := range []string{"401", "403"} {
				if _, ok := responses[status]; !ok {
					t.Errorf("%s does not document %s", op, status)
				}
			}
		} else if sec, ok := o["security"].([]any); !ok || len(sec) != 0 {
			t.Errorf("%s is public but the document asks for a token", op)
		}
		if _, hasBody := o["requestBody"]; hasBody {
			for _, status := range []string{"400", "413"} {
				if _, ok := responses[status]; !ok {
					t.Errorf("%s takes a body but does not document %s", op, status)
				}
			}
		}
	}
	// Every schema in components must itself be checkable.
	schemas := d.raw["components"].(map[string]any)["schemas"].(map[string]any)
	for name, s := range schemas {
		var walkSchema func(s map[string]any, at string)
		walkSchema = func(s map[string]any, at string) {
			for k, v := range s {
				if !slices.Contains(schemaKeywords, k) {
					t.Errorf("%s uses %q, which the test's checker does not implement", at, k)
				}
				switch k {
				case "properties":
					for p, ps := range v.(map[string]any) {
						walkSchema(ps.(map[string]any), at+"."+p)
					}
				case "items":
					walkSchema(v.(map[string]any), at+"[]")
				}
			}
		}
		walkSchema(s.(map[string]any), name)
	}
}

// TestServedDocumentIsTheEmbeddedOne: what clients download is what the
// tests check.
func TestServedDocumentIsTheEmbeddedOne(t *testing.T) {
	n := startNode(t)
	a := n.must("GET", "/api/v1/openapi.json", nil, http.StatusOK)
	var served, embedded any
	if err := json.Unmarshal(a.raw, &served); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(api.OpenAPI(), &embedded); err != nil {
		t.Fatal(err)
	}
	sb, _ := json.Marshal(served)
	eb, _ := json.Marshal(embedded)
	if string(sb) != string(eb) {
		t.Fatal("the served openapi.json differs from the embedded one")
	}
}

// TestMainShapesValidate runs each operation once on a real node and checks
// that its answers were validated against the document (call validates every
// answer; this test makes sure each main shape was among them).
func TestMainShapesValidate(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n.must("POST", "/api/v1/rooms", map[string]any{"name": "tour", "settings": map[string]any{"languages": []string{"en"}}}, http.StatusCreated)
	a := n.dial(ctx, "tour", "head-a", everyone...)
	n.dial(ctx, "tour", "head-b", everyone...)
	publishAV(t, ctx, a, "head-a")
	eventually(t, "head-a's tracks are listed", func() bool { return len(tracksOf(n.participantsOf("tour")["head-a"])) == 2 })
	n.must("GET", "/api/v1/rooms", nil, http.StatusOK)
	n.must("GET", "/api/v1/rooms/tour", nil, http.StatusOK)
	n.must("PATCH", "/api/v1/rooms/tour", map[string]any{"settings": map[string]any{"codec": "h264"}}, http.StatusOK)
	n.must("POST", "/api/v1/rooms/tour/participants/head-a/mute", map[string]any{"source": "camera", "muted": true}, http.StatusOK)
	n.must("PATCH", "/api/v1/rooms/tour/participants/head-a", map[string]any{"grants": []string{"join", "publish", "subscribe", "moderate"}}, http.StatusOK)
	n.must("POST", "/api/v1/rooms/tour/recording", nil, http.StatusOK)
	n.must("DELETE", "/api/v1/rooms/tour/recording", nil, http.StatusOK)
	n.must("GET", "/api/v1/recordings", nil, http.StatusOK)
	n.must("DELETE", "/api/v1/rooms/tour/participants/head-b", nil, http.StatusNoContent)
	n.must("GET", "/api/v1/openapi.json", nil, http.StatusOK)
	n.fails("GET", "/api/v1/rooms/nowhere", nil, http.StatusNotFound, "room_not_found")
	n.fails("POST", "/api/v1/rooms", `{"name": 1}`, http.StatusBadRequest, "bad_request")
	n.fails("POST", "/api/v1/rooms", map[string]any{"name": "tour"}, http.StatusConflict, "room_exists")
	n.call("GET", "/api/v1/rooms", "", nil)
	n.call("GET", "/api/v1/rooms", n.roomToken("tour", "x", everyone...), nil)
	n.must("DELETE", "/api/v1/rooms/tour", nil, http.StatusOK)

	for _, want := range []string{
		"POST /api/v1/rooms 201", "GET /api/v1/rooms 200", "GET /api/v1/rooms/{room} 200", "PATCH /api/v1/rooms/{room} 200",
		"DELETE /api/v1/rooms/{room} 200", "GET /api/v1/rooms/{room}/participants 200",
		"POST /api/v1/rooms/{room}/participants/{identity}/mute 200", "PATCH /api/v1/rooms/{room}/participants/{identity} 200",
		"DELETE /api/v1/rooms/{room}/participants/{identity} 204",
		"POST /api/v1/rooms/{room}/recording 200", "DELETE /api/v1/rooms/{room}/recording 200", "GET /api/v1/recordings 200",
		"GET /api/v1/openapi.json 200", "GET /api/v1/rooms/{room} 404", "POST /api/v1/rooms 400", "POST /api/v1/rooms 409",
		"GET /api/v1/rooms 401", "GET /api/v1/rooms 403",
	} {
		if !n.validated[want] {
			t.Errorf("no answer of %s was validated against the document", want)
		}
	}
}
