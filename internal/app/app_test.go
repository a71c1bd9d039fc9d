package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/testenv"
)

func TestMain(m *testing.M) {
	opts := []goleak.Option{goleak.IgnoreTopFunction("github.com/prometheus/client_golang/prometheus.(*Registry).Gather")}
	for _, f := range gateway.BackgroundGoroutines {
		opts = append(opts, goleak.IgnoreAnyFunction(f))
	}
	goleak.VerifyTestMain(m, opts...)
}

// testAdminKey is the bootstrap admin key of test apps (OSSA_ADMIN_KEY).
const testAdminKey = "ossa_test_admin_key_0123456789abcdefghijkl"

// testConfig is the default configuration on a temporary SQLite file, with
// testAdminKey as its admin key.
func testConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	var cfg config.Config
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(args))
	require.NoError(t, cfg.Load(fs, "", nil))
	cfg.Database.URL = filepath.Join(t.TempDir(), "ossa.db")
	cfg.Auth.AdminKey = testAdminKey
	cfg.HTTP.ShutdownDelay = 0
	cfg.Discovery.ProbeInterval = 0
	require.NoError(t, cfg.Validate())
	return cfg
}

// started runs the app on a loopback port and returns its base URL and a
// function that stops it and returns Run's error.
func started(t *testing.T, cfg config.Config) (string, func() error) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(context.Background(), cfg, log)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	testenv.WaitReady(t, base, 10*time.Second)
	var stopped bool
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("app did not stop within 30s")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return base, stop
}

func TestOperationalEndpoints(t *testing.T) {
	base, stop := started(t, testConfig(t))

	for _, path := range []string{"/livez", "/readyz", "/metrics", "/openapi.json"} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.NotEmpty(t, resp.Header.Get("X-Request-ID"), path)
	}

	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(body), `ossa_http_requests_total{code="200",method="GET",route="GET /livez"}`)

	resp, err = http.Get(base + "/no/such/route")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))

	require.NoError(t, stop())
}

// A caller's request ID is kept so it can be followed across services.
func TestRequestIDPropagates(t *testing.T) {
	base, _ := started(t, testConfig(t))
	req, _ := http.NewRequest(http.MethodGet, base+"/livez", nil)
	req.Header.Set("X-Request-ID", "abc-123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "abc-123", resp.Header.Get("X-Request-ID"))
}

// On shutdown /readyz must report 503 during the delay, before the listener
// closes, so load balancers take the pod out first.
func TestShutdownFlipsReadinessFirst(t *testing.T) {
	cfg := testConfig(t)
	cfg.HTTP.ShutdownDelay = 500 * time.Millisecond
	base, stop := started(t, cfg)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	deadline := time.Now().Add(5 * time.Second)
	saw503 := false
	for time.Now().Before(deadline) && !saw503 {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			break
		}
		resp.Body.Close()
		saw503 = resp.StatusCode == http.StatusServiceUnavailable
	}
	require.True(t, saw503, "readyz never reported 503 during the shutdown delay")
	require.NoError(t, <-stopped)
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	cfg := testConfig(t)
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(a.closeBackends)

	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)

	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for key := range ops {
			switch key {
			case "get", "put", "post", "delete", "patch", "head", "options":
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	routed := map[string]bool{"GET /livez": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.json": true}
	for _, ns := range a.services {
		for _, rt := range ns.svc.Routes() {
			routed[rt.Pattern()] = true
		}
	}
	var undocumented, unrouted []string
	for p := range routed {
		if !documented[p] {
			undocumented = append(undocumented, p)
		}
	}
	for p := range documented {
		if !routed[p] {
			unrouted = append(unrouted, p)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unrouted)
	require.Empty(t, undocumented, "routes missing from /openapi.json")
	require.Empty(t, unrouted, "documented paths with no route")
}

func TestUnknownTarget(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Target = []string{"discovery", "warp-drive"}
	_, err := New(context.Background(), cfg, slog.Default())
	require.ErrorContains(t, err, `unknown target "warp-drive"`)
}

func TestResolveOrdersDependenciesFirst(t *testing.T) {
	t.Parallel()
	order, err := resolve([]string{"discovery"})
	require.NoError(t, err)
	require.Equal(t, []string{moduleStore, "discovery"}, order)

	all, err := resolve([]string{TargetAll})
	require.NoError(t, err)
	require.Equal(t, moduleStore, all[0])
	require.Len(t, all, len(Services())+1)
}

func TestDefaultAddr(t *testing.T) {
	t.Parallel()
	require.Equal(t, ":3000", defaultAddr([]string{"all"}))
	require.Equal(t, ":3011", defaultAddr([]string{"discovery"}))
}

func TestListTargets(t *testing.T) {
	t.Parallel()
	out := ListTargets()
	require.Contains(t, out, "discovery")
	require.Contains(t, out, "3011")
	require.Contains(t, out, "needs store")
}
