package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// adminKey is the bootstrap admin key of test gateways.
const adminKey = "ossa_gateway_test_admin_key_0123456789"

// testConfig is the flag defaults.
func testConfig(t testing.TB) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(pflag.NewFlagSet("test", pflag.ContinueOnError), "")
	require.NoError(t, cfg.Validate())
	return cfg
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a gateway on a SQLite store with a fake clock, serving its
// own routes and two probe routes behind Guard.
type fixture struct {
	svc   *Service
	store storage.Store
	clock *fakeClock
	url   string
}

// probeRoutes answer with the caller's principal.
func probeRoutes() []httpx.Route {
	echo := func(w http.ResponseWriter, r *http.Request) error {
		p, _ := auth.FromContext(r.Context())
		httpx.WriteJSON(w, http.StatusOK, p)
		return nil
	}
	return []httpx.Route{
		{Method: http.MethodGet, Path: "/api/v1/probe", Handler: echo, Permission: auth.PermAgentsRead},
		{Method: http.MethodPost, Path: "/api/v1/probe", Handler: echo, Permission: auth.PermAgentsWrite},
		{Method: http.MethodGet, Path: "/public", Handler: echo},
	}
}

func newFixture(t *testing.T, cfg Config, edit func(*Deps)) *fixture {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ossa.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(t.Context()))
	clock := &fakeClock{now: time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC)}
	deps := Deps{Keys: st.Keys(), Audit: st.Audit(), AdminKey: adminKey, Clock: clock.Now, Out: io.Discard}
	if edit != nil {
		edit(&deps)
	}
	svc, err := New(t.Context(), cfg, deps)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, svc.Close()) })
	srv := httptest.NewServer(serve(svc, probeRoutes()))
	t.Cleanup(srv.Close)
	return &fixture{svc: svc, store: st, clock: clock, url: srv.URL}
}

// serve mounts the gateway's routes and extra behind Guard, as the app does.
func serve(svc *Service, extra []httpx.Route) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range append(svc.Routes(), extra...) {
		mux.Handle(rt.Pattern(), svc.Guard(rt, httpx.Handle(rt.Handler)))
	}
	return httpx.Chain(mux, httpx.RequestIDs(), svc.CORS())
}

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// call sends a request with key as bearer token (none when empty).
func call(t *testing.T, method, url, key string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &out.body), "%s", raw)
	}
	return out
}

// createKey creates a key through the API as admin and returns the secret
// and the record's ID.
func (f *fixture) createKey(t *testing.T, req CreateKeyRequest) (secret, id string) {
	t.Helper()
	r := call(t, http.MethodPost, f.url+"/api/v1/keys", adminKey, req)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.raw)
	return r.body["secret"].(string), r.body["key"].(map[string]any)["id"].(string)
}

// problemSansRequest is a problem body without the fields that differ per
// request, for comparing answers.
func problemSansRequest(body map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range body {
		if k != "request_id" {
			out[k] = v
		}
	}
	return out
}
