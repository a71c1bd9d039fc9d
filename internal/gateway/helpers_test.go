package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

func TestMain(m *testing.M) {
	var opts []goleak.Option
	for _, f := range BackgroundGoroutines {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
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
	// edge serves a fixture with upstreams; registry holds its request
	// metrics.
	edge     *Edge
	registry *prometheus.Registry
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

// topology is where the routes a test's gateway guards run.
type topology string

const (
	// inProcess: in the gateway's process, behind Guard (all mode).
	inProcess topology = "in-process"
	// split: in another process, behind InternalGuard, proxied by the
	// gateway's edge (split mode).
	split topology = "split"
)

var topologies = []topology{inProcess, split}

// eachTopology runs test once per topology.
func eachTopology(t *testing.T, test func(t *testing.T, top topology)) {
	for _, top := range topologies {
		t.Run(string(top), func(t *testing.T) {
			t.Parallel()
			test(t, top)
		})
	}
}

func newFixture(t *testing.T, cfg Config, edit func(*Deps)) *fixture {
	t.Helper()
	return newFixtureIn(t, inProcess, cfg, edit)
}

// probeService serves probeRoutes as a service of another process does,
// checking identities on clock.
func probeService(t *testing.T, clock func() time.Time) string {
	t.Helper()
	f, err := auth.NewForwarder(internalSecret)
	require.NoError(t, err)
	f.Clock = clock
	guard := InternalGuard(f, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	for _, rt := range probeRoutes() {
		mux.Handle(rt.Pattern(), guard(rt, httpx.Handle(rt.Handler)))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newFixtureIn(t *testing.T, top topology, cfg Config, edit func(*Deps)) *fixture {
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
	if top == split {
		clock := deps.Clock
		if clock == nil {
			clock = time.Now
		}
		deps.InternalSecret = internalSecret
		deps.Upstreams = append(deps.Upstreams, Upstream{Name: "probe", URL: probeService(t, clock), Routes: probeRoutes()})
	}
	svc, err := New(t.Context(), cfg, deps)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, svc.Close()) })
	f := &fixture{svc: svc, store: st, clock: clock}
	if len(deps.Upstreams) == 0 {
		srv := httptest.NewServer(serve(svc, probeRoutes()))
		t.Cleanup(srv.Close)
		f.url = srv.URL
		return f
	}
	// With services to proxy to, the gateway serves as in split mode: on
	// its edge, with the net/http chain behind it.
	f.registry = prometheus.NewRegistry()
	var local []httpx.Route
	if top == inProcess {
		local = probeRoutes()
	}
	edge, err := svc.Edge(EdgeConfig{
		Fallback: serve(svc, local), BodyLimit: httpx.DefaultBodyLimit, ReadTimeout: 10 * time.Second,
		Metrics: httpx.NewMetrics(f.registry), Log: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- edge.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, edge.Shutdown(ctx))
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Error("the edge still serves after Shutdown")
		}
	})
	f.url, f.edge = "http://"+ln.Addr().String(), edge
	return f
}

// serve mounts the gateway's routes and extra behind Guard, as the app does.
func serve(svc *Service, extra []httpx.Route) http.Handler {
	mux := http.NewServeMux()
	for _, rt := range append(svc.Routes(), extra...) {
		mux.Handle(rt.Pattern(), svc.Guard(rt, httpx.Handle(rt.Handler)))
	}
	mux.Handle("/", httpx.NotFound())
	return httpx.Chain(mux, httpx.RequestIDs(), svc.CORS(), httpx.BodyLimit(httpx.DefaultBodyLimit))
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
