package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/testenv"
)

// publicPatterns are the only routes that answer without credentials, next
// to /livez, /readyz, /metrics and /openapi.json.
var publicPatterns = []string{"GET /.well-known/agent-card.json"}

// run starts a built app on a loopback port and returns its base URL.
func run(t *testing.T, a *App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("app did not stop within 30s")
		}
	})
	base := "http://" + ln.Addr().String()
	testenv.WaitReady(t, base, 10*time.Second)
	return base
}

func newApp(t *testing.T, cfg config.Config, opts ...Option) *App {
	t.Helper()
	a, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), opts...)
	require.NoError(t, err)
	return a
}

// topologies are the ways the platform runs: all in one process, or the
// gateway in one (serving on its edge) and the services in another.
var topologies = []string{"all", "split"}

// eachTopology runs test once per topology.
func eachTopology(t *testing.T, test func(t *testing.T, topology string)) {
	for _, top := range topologies {
		t.Run(top, func(t *testing.T) { test(t, top) })
	}
}

// platform starts the platform in topology with edit applied to every
// process's configuration, and returns the gateway's URL and the services
// whose routes the gateway serves (in split mode, the gateway, whose route
// table holds the routes it proxies).
func platform(t *testing.T, topology string, edit func(*config.Config)) (string, []namedService) {
	t.Helper()
	if edit == nil {
		edit = func(*config.Config) {}
	}
	if topology == "all" {
		cfg := testConfig(t)
		edit(&cfg)
		a := newApp(t, cfg)
		return run(t, a), a.services
	}
	db := filepath.Join(t.TempDir(), "ossa.db")
	backCfg := splitConfig(t, "discovery,task-agent")
	backCfg.Database.URL = db
	edit(&backCfg)
	backURL := run(t, newApp(t, backCfg))
	gwCfg := splitConfig(t, "gateway")
	gwCfg.Database.URL, gwCfg.Discovery.URL, gwCfg.TaskAgent.URL = db, backURL, backURL
	edit(&gwCfg)
	gw := newApp(t, gwCfg)
	return run(t, gw), gw.services
}

// request sends method path with key (none when empty) and returns the
// status, headers and body.
func request(t *testing.T, method, url, key string, body []byte, contentType string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, data
}

// concrete fills a route pattern's wildcards.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "no-such-id", "{name}", "no-such-name").Replace(path)
}

// createKey makes a key through the API with the test admin key.
func createKey(t *testing.T, base, role, agent string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": role + "-key", "role": role, "agent": agent})
	status, _, data := request(t, http.MethodPost, base+"/api/v1/keys", testAdminKey, body, "application/json")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	var out struct{ Secret string }
	require.NoError(t, json.Unmarshal(data, &out))
	return out.Secret
}

// TestEveryRouteDeniesAnonymousCalls walks the whole route table of the
// platform: every route but the few public ones answers an anonymous call,
// and one with a bad key, with the same 401.
func TestEveryRouteDeniesAnonymousCalls(t *testing.T) {
	eachTopology(t, func(t *testing.T, topology string) {
		base, services := platform(t, topology, nil)
		var checked int
		for _, ns := range services {
			for _, rt := range ns.svc.Routes() {
				if rt.Permission == "" {
					require.Contains(t, publicPatterns, rt.Pattern(), "%s: only Agent Cards may be public", rt.Pattern())
					continue
				}
				require.Contains(t, auth.Permissions, rt.Permission, "%s names an unknown permission", rt.Pattern())
				var bodies []string
				for _, key := range []string{"", "ossa_not_a_key_0123456789abcdefghijklmnopq"} {
					status, hdr, data := request(t, rt.Method, base+concrete(rt.Path), key, []byte("{}"), "application/json")
					require.Equal(t, http.StatusUnauthorized, status, "%s with key %q: %s", rt.Pattern(), key, data)
					require.Equal(t, `Bearer realm="ossa"`, hdr.Get("WWW-Authenticate"), rt.Pattern())
					var p httpx.Problem
					require.NoError(t, json.Unmarshal(data, &p))
					bodies = append(bodies, p.Title)
				}
				checked++
			}
		}
		require.GreaterOrEqual(t, checked, 12, "discovery's and the gateway's routes")
	})
}

// TestRoleMatrixOverRoutes calls every route with a key of every role: the
// gateway refuses exactly what the matrix does not grant.
func TestRoleMatrixOverRoutes(t *testing.T) {
	eachTopology(t, func(t *testing.T, topology string) {
		base, services := platform(t, topology, nil)
		keys := map[auth.Role]string{auth.RoleAdmin: testAdminKey}
		for _, r := range []auth.Role{auth.RoleOperator, auth.RoleAgent, auth.RoleViewer} {
			agent := ""
			if r == auth.RoleAgent {
				agent = "echo"
			}
			keys[r] = createKey(t, base, string(r), agent)
		}
		for _, ns := range services {
			for _, rt := range ns.svc.Routes() {
				if rt.Permission == "" {
					continue
				}
				for _, role := range auth.Roles {
					status, _, data := request(t, rt.Method, base+concrete(rt.Path), keys[role], nil, "")
					if role.Can(rt.Permission) {
						require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status,
							"%s as %s: %s", rt.Pattern(), role, data)
					} else {
						require.Equal(t, http.StatusForbidden, status, "%s as %s: %s", rt.Pattern(), role, data)
					}
				}
			}
		}
	})
}

const echoManifest = `ossa: "0.1.8"
kind: Agent
metadata:
  name: %s
  version: "1.0.0"
spec:
  conformance_tier: core
  class: nlp
  capabilities:
    primary: [echo]
`

func manifestFor(name string) []byte {
	return []byte(strings.Replace(echoManifest, "%s", name, 1))
}

// An agent key acts for its own agent only; the check is discovery's, so
// the principal reached it through the context.
func TestAgentKeyActsForItsAgentOnly(t *testing.T) {
	eachTopology(t, testAgentKeyActsForItsAgentOnly)
}

func testAgentKeyActsForItsAgentOnly(t *testing.T, topology string) {
	base, _ := platform(t, topology, nil)
	echo := createKey(t, base, "agent", "echo")

	status, _, data := request(t, http.MethodPost, base+"/api/v1/agents", echo, manifestFor("echo"), "application/yaml")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	var reg struct{ Agent struct{ ID string } }
	require.NoError(t, json.Unmarshal(data, &reg))
	status, _, _ = request(t, http.MethodPost, base+"/api/v1/agents/"+reg.Agent.ID+"/heartbeat", echo, nil, "")
	require.Equal(t, http.StatusOK, status)

	status, _, data = request(t, http.MethodPost, base+"/api/v1/agents", echo, manifestFor("summarizer"), "application/yaml")
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, string(data), `key for agent \"echo\" may not act for agent \"summarizer\"`)

	status, _, data = request(t, http.MethodPost, base+"/api/v1/agents", testAdminKey, manifestFor("summarizer"), "application/yaml")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	require.NoError(t, json.Unmarshal(data, &reg))
	for _, call := range []struct {
		method, path string
		body         []byte
	}{
		{http.MethodPost, "/api/v1/agents/" + reg.Agent.ID + "/heartbeat", nil},
		{http.MethodDelete, "/api/v1/agents/" + reg.Agent.ID, nil},
		{http.MethodPut, "/api/v1/agents/" + reg.Agent.ID, manifestFor("echo")},
	} {
		ct := ""
		if call.body != nil {
			ct = "application/yaml"
		}
		status, _, data := request(t, call.method, base+call.path, echo, call.body, ct)
		require.Equal(t, http.StatusForbidden, status, "%s %s: %s", call.method, call.path, data)
	}

	// The audit log saw both the change and the refusal, as the agent key.
	status, _, data = request(t, http.MethodGet, base+"/api/v1/audit?action="+urlQuery("POST /api/v1/agents"), testAdminKey, nil, "")
	require.Equal(t, http.StatusOK, status, "%s", data)
	var events struct {
		Events []struct {
			Role   string
			Status int
		}
	}
	require.NoError(t, json.Unmarshal(data, &events))
	var statuses []int
	for _, e := range events.Events {
		statuses = append(statuses, e.Status)
	}
	require.ElementsMatch(t, []int{201, 403, 201}, statuses)
}

// The task actions share one route whose permission agents hold (to report
// on their claimed tasks); cancelling and answering a task need tasks:write
// on top, checked by the handler.
func TestTaskActionsNeedWriteToCancelOrContinue(t *testing.T) {
	eachTopology(t, testTaskActionsNeedWriteToCancelOrContinue)
}

func testTaskActionsNeedWriteToCancelOrContinue(t *testing.T, topology string) {
	base, _ := platform(t, topology, nil)
	for _, role := range []string{"agent", "viewer"} {
		key := createKey(t, base, role, map[string]string{"agent": "echo"}[role])
		for _, action := range []struct{ path, body string }{
			{"/api/v1/tasks/some-task:cancel", ""},
			{"/api/v1/tasks/some-task:continue", `{"input": "yes"}`},
		} {
			var body []byte
			ct := ""
			if action.body != "" {
				body, ct = []byte(action.body), "application/json"
			}
			status, _, data := request(t, http.MethodPost, base+action.path, key, body, ct)
			require.Equal(t, http.StatusForbidden, status, "%s %s: %s", role, action.path, data)
		}
	}
	// An operator gets past the check: the task is unknown.
	status, _, data := request(t, http.MethodPost, base+"/api/v1/tasks/some-task:continue", createKey(t, base, "operator", ""),
		[]byte(`{"input": "yes"}`), "application/json")
	require.Equal(t, http.StatusNotFound, status, "%s", data)
}

func urlQuery(s string) string {
	return strings.NewReplacer(" ", "%20", "/", "%2F", "{", "%7B", "}", "%7D").Replace(s)
}

// The embedded store's first start prints an admin key once; later starts
// print nothing.
func TestEmbeddedBootstrapPrintsKeyOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.AdminKey = ""
	var out bytes.Buffer
	a := newApp(t, cfg, WithOutput(&out))
	base := run(t, a)
	var key string
	for f := range strings.FieldsSeq(out.String()) {
		if strings.HasPrefix(f, "ossa_") {
			key = f
			break
		}
	}
	require.NotEmpty(t, key, "printed: %q", out.String())
	status, _, _ := request(t, http.MethodGet, base+"/api/v1/keys", key, nil, "")
	require.Equal(t, http.StatusOK, status)

	out.Reset()
	second, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), WithOutput(&out))
	require.NoError(t, err)
	second.closeBackends()
	require.Empty(t, out.String())
}

func TestRateLimitThroughApp(t *testing.T) {
	eachTopology(t, testRateLimitThroughApp)
}

func testRateLimitThroughApp(t *testing.T, topology string) {
	base, _ := platform(t, topology, func(cfg *config.Config) {
		cfg.Gateway.RateLimit.Requests, cfg.Gateway.RateLimit.Period, cfg.Gateway.RateLimit.Burst = 1, time.Hour, 2
	})
	for range 2 {
		status, _, _ := request(t, http.MethodGet, base+"/api/v1/agents", testAdminKey, nil, "")
		require.Equal(t, http.StatusOK, status)
	}
	status, hdr, _ := request(t, http.MethodGet, base+"/api/v1/agents", testAdminKey, nil, "")
	require.Equal(t, http.StatusTooManyRequests, status)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	require.Equal(t, "0", hdr.Get("RateLimit-Remaining"))
	status, _, _ = request(t, http.MethodGet, base+"/livez", "", nil, "")
	require.Equal(t, http.StatusOK, status, "operational endpoints are not limited")
}

func TestPublicRoutesAreFew(t *testing.T) {
	a := newApp(t, testConfig(t))
	t.Cleanup(a.closeBackends)
	for _, ns := range a.services {
		for _, rt := range ns.svc.Routes() {
			if rt.Permission == "" && !slices.Contains(publicPatterns, rt.Pattern()) {
				t.Errorf("%s is public; only %v may be", rt.Pattern(), publicPatterns)
			}
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
