package discovery

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

func TestRegisterForms(t *testing.T) {
	t.Parallel()
	m := spec{name: "doc-summarizer", caps: []string{"summarization", "translation"}, tags: []string{"nlp"}}.yaml()
	envelope := func(manifest any) []byte {
		b, err := json.Marshal(map[string]any{"manifest": manifest, "endpoint": "http://agent.local:8080", "protocol": "a2a"})
		require.NoError(t, err)
		return b
	}
	var asObject map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"ossa":"0.1.8","kind":"Agent","metadata":{"name":"doc-summarizer","version":"1.0.0","tags":["nlp"]},
		"spec":{"conformance_tier":"core","class":"nlp","capabilities":{"primary":["summarization","translation"]}}}`), &asObject))

	for _, tc := range []struct {
		name, contentType, query string
		body                     []byte
		wantProtocol             string
	}{
		{"yaml", "application/yaml", "?endpoint=http://agent.local:8080&protocol=a2a", []byte(m), "a2a"},
		{"x-yaml", "application/x-yaml", "?endpoint=http://agent.local:8080&protocol=a2a", []byte(m), "a2a"},
		{"text-yaml-default-protocol", "text/yaml; charset=utf-8", "?endpoint=http://agent.local:8080", []byte(m), "http"},
		{"json-envelope-object", "application/json", "", envelope(asObject), "a2a"},
		{"json-envelope-yaml-text", "application/json", "", envelope(m), "a2a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testConfig(t))
			srv := f.server(t)
			status, hdr, body := call(t, http.MethodPost, srv.URL+"/api/v1/agents"+tc.query, tc.contentType, tc.body)
			require.Equal(t, http.StatusCreated, status, body)
			agent := body["agent"].(map[string]any)
			id := agent["id"].(string)
			require.Equal(t, "/api/v1/agents/"+id, hdr.Get("Location"))
			require.Equal(t, "doc-summarizer", agent["name"])
			require.Equal(t, "1.0.0", agent["version"])
			require.Equal(t, "core", agent["tier"])
			require.Equal(t, "core", agent["tier_reached"])
			require.Equal(t, "nlp", agent["class"])
			require.Equal(t, []any{"summarization", "translation"}, agent["capabilities"])
			require.Equal(t, []any{"nlp"}, agent["tags"])
			require.Equal(t, tc.wantProtocol, agent["protocol"])
			require.Equal(t, "http://agent.local:8080", agent["endpoint"])
			require.Equal(t, "unknown", agent["status"].(map[string]any)["health"])
			require.Equal(t, "doc-summarizer", agent["manifest"].(map[string]any)["metadata"].(map[string]any)["name"])
			require.Equal(t, []any{}, body["warnings"])

			stored, err := f.store.Get(t.Context(), id)
			require.NoError(t, err)
			require.Equal(t, "doc-summarizer", stored.Name)
		})
	}
}

func TestRegisterReturnsWarnings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	legacy := "ossa: \"0.1.8\"\nmetadata:\n  name: legacy\n  version: \"1.0.0\"\nspec:\n  conformance_tier: core\n  class: nlp\n  capabilities:\n    - summarization\n"
	status, _, body := call(t, http.MethodPost, srv.URL+"/api/v1/agents", "application/yaml", []byte(legacy))
	require.Equal(t, http.StatusCreated, status, body)
	warnings := body["warnings"].([]any)
	require.Len(t, warnings, 1)
	w := warnings[0].(map[string]any)
	require.Equal(t, "/spec/capabilities", w["path"])
	require.Equal(t, "NORM-001", w["rule"])
	require.Equal(t, "warning", w["severity"])
}

// TestRegisterRejects covers every kind of bad registration and proves the
// store is untouched afterwards.
func TestRegisterRejects(t *testing.T) {
	t.Parallel()
	valid := spec{name: "existing"}.yaml()
	for _, tc := range []struct {
		name, contentType, query, body string
		status                         int
		detail                         string
		errorPaths                     []string
	}{
		{name: "malformed yaml", contentType: "application/yaml",
			body: "ossa: \"0.1.8\"\nmetadata:\n  name: [unclosed\n", status: 400, detail: "malformed manifest at line 3"},
		{name: "malformed yaml with column", contentType: "application/yaml",
			body: "ossa: \"0.1.8\"\nmetadata:\n  name: a\n  name: b\n", status: 400, detail: "malformed manifest at line 4:3"},
		{name: "malformed json in envelope string", contentType: "application/json",
			body: `{"manifest": "{\"ossa\": \n  \"0.1.8\",,}"}`, status: 400, detail: "malformed manifest at line 2:"},
		{name: "empty manifest", contentType: "application/yaml", body: "", status: 400, detail: "line 1:1"},
		{name: "schema violations", contentType: "application/yaml",
			body:   "ossa: \"0.1.8\"\nkind: Agent\nmetadata:\n  name: Doc.Summ\n  version: \"1.0\"\nspec:\n  conformance_tier: core\n  class: bogus\n  capabilities:\n    primary: [a]\n",
			status: 422, errorPaths: []string{"/metadata/name", "/metadata/version", "/spec/class"}},
		{name: "tier rule violation", contentType: "application/yaml",
			body:   "ossa: \"0.1.8\"\nmetadata:\n  name: gov\n  version: \"1.0.0\"\nspec:\n  conformance_tier: governed\n  class: nlp\n  capabilities:\n    primary: [a]\n",
			status: 422, errorPaths: []string{"/spec/endpoints/health", "/spec/protocols", "/spec/security/authentication"}},
		{name: "relative endpoint", contentType: "application/yaml", query: "?endpoint=/agents/x",
			body: spec{name: "other"}.yaml(), status: 422, errorPaths: []string{"endpoint"}},
		{name: "endpoint with credentials", contentType: "application/yaml", query: "?endpoint=http://u:p@host/",
			body: spec{name: "other"}.yaml(), status: 422, errorPaths: []string{"endpoint"}},
		{name: "bad protocol and bad manifest together", contentType: "application/yaml", query: "?protocol=smtp",
			body:   "ossa: \"0.1.8\"\nmetadata:\n  name: x\n  version: \"1.0.0\"\nspec:\n  conformance_tier: core\n  class: bogus\n  capabilities:\n    primary: [a]\n",
			status: 422, errorPaths: []string{"protocol", "/spec/class"}},
		{name: "duplicate name and version", contentType: "application/yaml", body: valid, status: 409, detail: "already registered as"},
		{name: "wrong content type", contentType: "text/plain", body: valid, status: 415},
		{name: "unknown query parameter", contentType: "application/yaml", query: "?endpont=http://x", body: valid, status: 400, detail: "endpont"},
		{name: "json with query parameters", contentType: "application/json", query: "?endpoint=http://x",
			body: `{"manifest": {}}`, status: 400, detail: "endpoint"},
		{name: "json without manifest", contentType: "application/json", body: `{"endpoint": "http://x"}`, status: 400, detail: "manifest: required"},
		{name: "json unknown field", contentType: "application/json", body: `{"manifest": {}, "endpoints": "x"}`, status: 400, detail: "unknown field"},
		{name: "malformed json envelope", contentType: "application/json", body: `{"manifest": `, status: 400},
		{name: "body too large", contentType: "application/yaml", body: valid + "# " + strings.Repeat("x", testBodyLimit) + "\n", status: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, testConfig(t))
			f.register(t, valid, "")
			before := f.snapshot(t)
			srv := f.server(t)

			status, hdr, body := call(t, http.MethodPost, srv.URL+"/api/v1/agents"+tc.query, tc.contentType, []byte(tc.body))
			require.Equal(t, tc.status, status, body)
			require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
			require.Contains(t, body["detail"], tc.detail)
			if tc.errorPaths != nil {
				var paths []string
				for _, e := range body["errors"].([]any) {
					d := e.(map[string]any)
					paths = append(paths, d["path"].(string))
					if strings.HasPrefix(d["path"].(string), "/") {
						require.NotZero(t, d["line"], "diagnostic %v has no line", d)
					}
				}
				require.ElementsMatch(t, tc.errorPaths, paths)
			}
			if tc.status == http.StatusUnsupportedMediaType {
				require.Contains(t, hdr.Get("Accept-Post"), "application/yaml")
			}

			require.Equal(t, before, f.snapshot(t), "a rejected request changed the store")
			require.Equal(t, 1, f.svc.idx.len(), "a rejected request changed the index")
		})
	}
}

func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	id := f.register(t, spec{name: "alpha", caps: []string{"a"}}.yaml(), "http://alpha.local")
	otherID := f.register(t, spec{name: "beta"}.yaml(), "")

	// Get.
	status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/agents/"+id, "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "alpha", body["name"])
	status, _, body = call(t, http.MethodGet, srv.URL+"/api/v1/agents/nope", "", nil)
	require.Equal(t, http.StatusNotFound, status, body)

	// Update: new version, capability and endpoint; same ID.
	status, _, body = call(t, http.MethodPut, srv.URL+"/api/v1/agents/"+id+"?endpoint=http://alpha2.local",
		"application/yaml", []byte(spec{name: "alpha", version: "1.1.0", caps: []string{"a", "b"}}.yaml()))
	require.Equal(t, http.StatusOK, status, body)
	agent := body["agent"].(map[string]any)
	require.Equal(t, id, agent["id"])
	require.Equal(t, "1.1.0", agent["version"])
	require.Equal(t, "http://alpha2.local", agent["endpoint"])
	require.Len(t, f.svc.Discover(t.Context(), Query{Capabilities: []string{"b"}, IncludeUnhealthy: true}), 1)

	before := f.snapshot(t)
	for _, tc := range []struct {
		name, id, body string
		status         int
	}{
		{"unknown id", "nope", spec{name: "gamma"}.yaml(), http.StatusNotFound},
		{"taken name and version", id, spec{name: "beta"}.yaml(), http.StatusConflict},
		{"invalid manifest", id, "ossa: \"0.1.8\"\nmetadata: {name: alpha}\n", http.StatusUnprocessableEntity},
		{"malformed manifest", id, "metadata: [", http.StatusBadRequest},
	} {
		status, _, body := call(t, http.MethodPut, srv.URL+"/api/v1/agents/"+tc.id, "application/yaml", []byte(tc.body))
		require.Equal(t, tc.status, status, "%s: %v", tc.name, body)
	}
	require.Equal(t, before, f.snapshot(t), "a rejected update changed the store")

	// Delete.
	status, _, _ = call(t, http.MethodDelete, srv.URL+"/api/v1/agents/"+id, "", nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _, _ = call(t, http.MethodDelete, srv.URL+"/api/v1/agents/"+id, "", nil)
	require.Equal(t, http.StatusNotFound, status)
	status, _, _ = call(t, http.MethodGet, srv.URL+"/api/v1/agents/"+id, "", nil)
	require.Equal(t, http.StatusNotFound, status)
	_, err := f.store.Get(t.Context(), id)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.Empty(t, f.svc.Discover(t.Context(), Query{Capabilities: []string{"a"}, IncludeUnhealthy: true}))
	_, err = f.store.Get(t.Context(), otherID)
	require.NoError(t, err)
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	ids := map[string]string{}
	for _, s := range []spec{
		{name: "a1", caps: []string{"x", "y"}, tags: []string{"red"}},
		{name: "a2", caps: []string{"x"}, tags: []string{"red", "blue"}, class: "data"},
		{name: "a3", caps: []string{"y"}, tier: "governed"},
		{name: "a4", caps: []string{"x"}, tier: "advanced"},
		{name: "a5", caps: []string{"z"}},
	} {
		ids[s.name] = f.register(t, s.yaml(), "")
	}
	_, err := f.svc.Heartbeat(t.Context(), ids["a1"], Heartbeat{})
	require.NoError(t, err)

	names := func(body map[string]any) []string {
		var out []string
		for _, a := range body["agents"].([]any) {
			out = append(out, a.(map[string]any)["name"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"a1", "a2", "a3", "a4", "a5"}},
		{"?capability=x", []string{"a1", "a2", "a4"}},
		{"?capability=x,y", []string{"a1"}},
		{"?capability=x&capability=y", []string{"a1"}},
		{"?tag=red", []string{"a1", "a2"}},
		{"?tag=red,blue", []string{"a2"}},
		{"?tier=governed", []string{"a3", "a4"}},
		{"?tier=advanced", []string{"a4"}},
		{"?class=data", []string{"a2"}},
		{"?health=healthy", []string{"a1"}},
		{"?health=unknown,degraded", []string{"a2", "a3", "a4", "a5"}},
		{"?name=a5", []string{"a5"}},
		{"?capability=nothing", nil},
	} {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/agents"+tc.query, "", nil)
		require.Equal(t, http.StatusOK, status, body)
		require.ElementsMatch(t, tc.want, names(body), tc.query)
	}

	// Pagination walks every agent once, in ID order.
	var walked []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		q := "?limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/agents"+q, "", nil)
		require.Equal(t, http.StatusOK, status, body)
		walked = append(walked, names(body)...)
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Equal(t, []string{"a1", "a2", "a3", "a4", "a5"}, walked)

	// The listed status is the live one.
	status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/agents?name=a1", "", nil)
	require.Equal(t, http.StatusOK, status)
	st := body["agents"].([]any)[0].(map[string]any)["status"].(map[string]any)
	require.Equal(t, "healthy", st["health"])
	require.NotEmpty(t, st["last_heartbeat_at"])

	for _, tc := range []struct{ query, param string }{
		{"?limit=0", "limit"},
		{"?limit=501", "limit"},
		{"?limit=ten", "limit"},
		{"?tier=gold", "tier"},
		{"?health=sick", "health"},
		{"?cursor=%25%25%25", "cursor"},
		{"?capabilty=x", "capabilty"},
	} {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/agents"+tc.query, "", nil)
		require.Equal(t, http.StatusBadRequest, status, tc.query)
		require.Contains(t, body["detail"], tc.param, tc.query)
	}
}

func TestHeartbeatEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	id := f.register(t, spec{name: "beater"}.yaml(), "")
	url := srv.URL + "/api/v1/agents/" + id + "/heartbeat"

	status, _, body := call(t, http.MethodPost, url, "", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "healthy", body["health"])
	require.Equal(t, reasonHeartbeat, body["reason"])
	require.NotEmpty(t, body["last_heartbeat_at"])
	stored, err := f.store.Get(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, storage.HealthHealthy, stored.Status.Health, "a health change is saved before the answer")

	status, _, body = call(t, http.MethodPost, url, "application/json", []byte(`{"status": "degraded", "load": 0.5}`))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "degraded", body["health"])

	before := f.snapshot(t)
	for _, tc := range []struct {
		name, url, contentType, body string
		status                       int
	}{
		{"unknown agent", srv.URL + "/api/v1/agents/nope/heartbeat", "", "", http.StatusNotFound},
		{"bad status", url, "application/json", `{"status": "unhealthy"}`, http.StatusBadRequest},
		{"load out of range", url, "application/json", `{"load": 2}`, http.StatusBadRequest},
		{"unknown field", url, "application/json", `{"cpu": 1}`, http.StatusBadRequest},
		{"malformed json", url, "application/json", `{"status":`, http.StatusBadRequest},
		{"wrong content type", url, "text/plain", `status=healthy`, http.StatusUnsupportedMediaType},
		{"body too large", url, "application/json", `{"status": "healthy"` + strings.Repeat(" ", testBodyLimit) + `}`, http.StatusRequestEntityTooLarge},
	} {
		status, _, body := call(t, http.MethodPost, tc.url, tc.contentType, []byte(tc.body))
		require.Equal(t, tc.status, status, "%s: %v", tc.name, body)
	}
	require.Equal(t, before, f.snapshot(t))
	st, _ := f.svc.idx.status(id)
	require.Equal(t, storage.HealthDegraded, st.Health, "a rejected heartbeat changed the live status")
}

func TestDiscoverEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig(t))
	srv := f.server(t)
	healthy := f.register(t, spec{name: "healthy", caps: []string{"x"}, tags: []string{"t"}, tier: "governed"}.yaml(), "")
	degraded := f.register(t, spec{name: "degraded", caps: []string{"x"}, tags: []string{"t"}}.yaml(), "")
	unknown := f.register(t, spec{name: "unknown", caps: []string{"x", "y"}}.yaml(), "")
	_, err := f.svc.Heartbeat(t.Context(), healthy, Heartbeat{})
	require.NoError(t, err)
	_, err = f.svc.Heartbeat(t.Context(), degraded, Heartbeat{Status: storage.HealthDegraded})
	require.NoError(t, err)

	ids := func(body map[string]any) []string {
		var out []string
		for _, a := range body["agents"].([]any) {
			out = append(out, a.(map[string]any)["id"].(string))
			require.Contains(t, a.(map[string]any), "score")
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
		total float64
	}{
		{"?capabilities=x", []string{healthy, degraded}, 2},
		{"", []string{healthy, degraded}, 2},
		{"?capabilities=x&include_unhealthy=true", []string{healthy, degraded, unknown}, 3},
		{"?capabilities=x,y&include_unhealthy=true", []string{unknown}, 1},
		{"?capabilities=x&tier=governed", []string{healthy}, 1},
		{"?tags=t&limit=1", []string{healthy}, 2},
		{"?capabilities=nothing", nil, 0},
	} {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/discover"+tc.query, "", nil)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, tc.want, ids(body), tc.query)
		require.Equal(t, tc.total, body["total"], tc.query)
	}
	for _, tc := range []struct{ query, param string }{
		{"?tier=platinum", "tier"},
		{"?limit=0", "limit"},
		{"?limit=1000", "limit"},
		{"?include_unhealthy=perhaps", "include_unhealthy"},
		{"?capability=x", "capability"},
	} {
		status, _, body := call(t, http.MethodGet, srv.URL+"/api/v1/discover"+tc.query, "", nil)
		require.Equal(t, http.StatusBadRequest, status, tc.query)
		require.Contains(t, body["detail"], tc.param, tc.query)
	}
}
