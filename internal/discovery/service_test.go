package discovery

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRunStartStop runs the service with every loop active (sync, health
// probes, workspace watch) and checks that stopping leaves no goroutine
// behind. It is not parallel, so goleak sees only its own goroutines.
func TestRunStartStop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	agent := &flakyAgent{}
	agent.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer agent.srv.Close()
	ws := workspace(t.TempDir())
	ws.write(t, "probed/agent.yml", spec{name: "probed", health: "/health",
		annotations: map[string]string{AnnotationEndpoint: agent.srv.URL}}.yaml())

	cfg := probeConfig(t)
	cfg.ProbeInterval = 100 * time.Millisecond
	cfg.ProbeTimeout = 50 * time.Millisecond
	cfg.SyncInterval = 20 * time.Millisecond
	cfg.Scan = string(ws)
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ossa.db"))
	require.NoError(t, err)
	defer func() { require.NoError(t, st.Close()) }()
	require.NoError(t, st.Migrate(t.Context()))
	svc, err := New(t.Context(), cfg, Deps{Agents: st.Agents(), HTTPClient: &http.Client{Transport: transport}})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	eventually(t, "agent probed healthy", func() bool {
		got := svc.Discover(t.Context(), Query{})
		return len(got) == 1 && got[0].Status.ProbesOK > 0
	})
	require.NoError(t, svc.Ready(t.Context()))
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	require.ErrorContains(t, svc.Run(context.Background()), "twice")
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	_, err := New(t.Context(), cfg, Deps{})
	require.ErrorContains(t, err, "Agents is required")
	cfg.HeartbeatTTL = 0
	_, err = New(t.Context(), cfg, Deps{Agents: newStore(t)})
	require.ErrorContains(t, err, "heartbeat_ttl")
}

// failingStore fails List while broken is set.
type failingStore struct {
	storage.AgentStore
	broken atomic.Bool
}

func (f *failingStore) List(ctx context.Context, filter storage.AgentFilter) (storage.AgentPage, error) {
	if f.broken.Load() {
		return storage.AgentPage{}, errors.New("database is on fire")
	}
	return f.AgentStore.List(ctx, filter)
}

func TestReadyFollowsSync(t *testing.T) {
	t.Parallel()
	store := &failingStore{AgentStore: newStore(t)}
	svc, err := New(t.Context(), testConfig(t), Deps{Agents: store})
	require.NoError(t, err)
	require.NoError(t, svc.Ready(t.Context()))

	store.broken.Store(true)
	require.Error(t, svc.syncIndex(t.Context()))
	require.ErrorContains(t, svc.Ready(t.Context()), "database is on fire")
	store.broken.Store(false)
	require.NoError(t, svc.syncIndex(t.Context()))
	require.NoError(t, svc.Ready(t.Context()))

	store.broken.Store(true)
	_, err = New(t.Context(), testConfig(t), Deps{Agents: store})
	require.ErrorContains(t, err, "load agents")
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	svc, err := New(t.Context(), testConfig(t), Deps{Agents: newStore(t), Metrics: reg})
	require.NoError(t, err)
	a, err := svc.Register(t.Context(), RegisterRequest{Manifest: []byte(spec{name: "m1"}.yaml())})
	require.NoError(t, err)
	_, err = svc.Register(t.Context(), RegisterRequest{Manifest: []byte(spec{name: "m2"}.yaml())})
	require.NoError(t, err)
	_, err = svc.Heartbeat(t.Context(), a.Agent.ID, Heartbeat{})
	require.NoError(t, err)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP ossa_discovery_agents Registered agents by health.
# TYPE ossa_discovery_agents gauge
ossa_discovery_agents{health="degraded"} 0
ossa_discovery_agents{health="healthy"} 1
ossa_discovery_agents{health="unhealthy"} 0
ossa_discovery_agents{health="unknown"} 1
# HELP ossa_discovery_heartbeats_total Agent heartbeats accepted.
# TYPE ossa_discovery_heartbeats_total counter
ossa_discovery_heartbeats_total 1
`), "ossa_discovery_agents", "ossa_discovery_heartbeats_total"))

	_, err = New(t.Context(), testConfig(t), Deps{Agents: newStore(t), Metrics: reg})
	require.ErrorContains(t, err, "metrics", "a second registration on one registry fails cleanly")
}

// TestOpenAPI checks that every route is documented with its permission and
// that the fragment merges into the app's document with every $ref resolved.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	svc, err := New(t.Context(), testConfig(t), Deps{Agents: newStore(t)})
	require.NoError(t, err)
	type operation struct {
		Permission string         `yaml:"x-permission"`
		Tags       []string       `yaml:"tags"`
		Summary    string         `yaml:"summary"`
		Responses  map[string]any `yaml:"responses"`
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
		Tags  []struct{ Name string }         `yaml:"tags"`
	}
	require.NoError(t, yaml.Unmarshal(svc.OpenAPI(), &doc))
	require.Equal(t, "agents", doc.Tags[0].Name)
	routes := svc.Routes()
	documented := 0
	for _, item := range doc.Paths {
		for key := range item {
			if key != "parameters" {
				documented++
			}
		}
	}
	require.Equal(t, len(routes), documented, "operations without a route")
	for _, rt := range routes {
		node, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		require.True(t, ok, "%s is not documented", rt.Pattern())
		var op operation
		require.NoError(t, node.Decode(&op))
		require.NotEmpty(t, rt.Permission, rt.Pattern())
		require.Equal(t, rt.Permission, op.Permission, rt.Pattern())
		require.Equal(t, []string{"agents"}, op.Tags, rt.Pattern())
		require.Equal(t, rt.Summary, op.Summary, rt.Pattern())
		require.NotEmpty(t, op.Responses, rt.Pattern())
	}

	base, err := os.ReadFile(filepath.Join("..", "app", "openapi.yaml"))
	require.NoError(t, err)
	merged, err := httpx.MergeOpenAPI(base, svc.OpenAPI())
	require.NoError(t, err)
	var full map[string]any
	require.NoError(t, yaml.Unmarshal(merged, &full))
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
				var node any = full
				for _, p := range parts {
					m, ok := node.(map[string]any)
					require.True(t, ok, "unresolved $ref %s", ref)
					node, ok = m[p]
					require.True(t, ok, "unresolved $ref %s", ref)
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(full)
}
