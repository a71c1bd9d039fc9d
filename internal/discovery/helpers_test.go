package discovery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// testBodyLimit is the body limit of test servers, small enough to exceed.
const testBodyLimit = 16 << 10

// testConfig is the flag defaults with probes off and a sync interval long
// enough that tests reload the index only when they ask.
func testConfig(t testing.TB) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(pflag.NewFlagSet("test", pflag.ContinueOnError), "")
	cfg.ProbeInterval = 0
	cfg.SyncInterval = time.Hour
	require.NoError(t, cfg.Validate())
	return cfg
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 9, 1, 12, 0, 0, 0, time.UTC)}
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

// newStore opens a migrated SQLite store in a temporary directory.
func newStore(t testing.TB) storage.AgentStore {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ossa.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(ctx))
	return st.Agents()
}

// countingStore counts status writes.
type countingStore struct {
	storage.AgentStore
	statusWrites atomic.Int64
}

func (c *countingStore) UpdateStatus(ctx context.Context, id string, st storage.AgentStatus) error {
	c.statusWrites.Add(1)
	return c.AgentStore.UpdateStatus(ctx, id, st)
}

// fixture is a service on a real SQLite store with a fake clock.
type fixture struct {
	svc   *Service
	store *countingStore
	clock *fakeClock
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	return newFixtureOn(t, cfg, &countingStore{AgentStore: newStore(t)})
}

func newFixtureOn(t testing.TB, cfg Config, store *countingStore) *fixture {
	t.Helper()
	clock := newFakeClock()
	svc, err := New(context.Background(), cfg, Deps{Agents: store, Clock: clock.Now})
	require.NoError(t, err)
	return &fixture{svc: svc, store: store, clock: clock}
}

// server serves the fixture's routes behind the body limit, as the app does.
func (f *fixture) server(t testing.TB) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	httpx.Mount(mux, f.svc.Routes())
	srv := httptest.NewServer(httpx.Chain(mux, httpx.BodyLimit(testBodyLimit)))
	t.Cleanup(srv.Close)
	return srv
}

// register registers m through the service and returns the agent's ID.
func (f *fixture) register(t testing.TB, m, endpoint string) string {
	t.Helper()
	reg, err := f.svc.Register(context.Background(), RegisterRequest{Manifest: []byte(m), Endpoint: endpoint})
	require.NoError(t, err)
	return reg.Agent.ID
}

// snapshot is the store's whole content, for proving a rejected request
// changed nothing.
func (f *fixture) snapshot(t testing.TB) []storage.Agent {
	t.Helper()
	all, err := f.svc.loadAll(context.Background())
	require.NoError(t, err)
	return all
}

// spec describes a test manifest.
type spec struct {
	name, version string
	tier          string // core by default
	class         string // nlp by default
	caps          []string
	tags          []string
	health        string // spec.endpoints.health
	priority      int
	protocols     []string
	annotations   map[string]string
}

// yaml renders s as a manifest. Governed and advanced tiers get what their
// rules require.
func (s spec) yaml() string {
	var b strings.Builder
	version := s.version
	if version == "" {
		version = "1.0.0"
	}
	fmt.Fprintf(&b, "ossa: \"0.1.8\"\nkind: Agent\nmetadata:\n  name: %s\n  version: %q\n", s.name, version)
	if len(s.tags) > 0 {
		fmt.Fprintf(&b, "  tags: [%s]\n", strings.Join(s.tags, ", "))
	}
	if len(s.annotations) > 0 {
		b.WriteString("  annotations:\n")
		for _, k := range slices.Sorted(maps.Keys(s.annotations)) {
			fmt.Fprintf(&b, "    %s: %q\n", k, s.annotations[k])
		}
	}
	tier, class := s.tier, s.class
	if tier == "" {
		tier = "core"
	}
	if class == "" {
		class = "nlp"
	}
	caps := s.caps
	if len(caps) == 0 {
		caps = []string{"summarization"}
	}
	fmt.Fprintf(&b, "spec:\n  conformance_tier: %s\n  class: %s\n  capabilities:\n    primary: [%s]\n", tier, class, strings.Join(caps, ", "))
	health := s.health
	protocols := slices.Clone(s.protocols)
	if tier != "core" {
		if health == "" {
			health = "/health"
		}
		if !slices.Contains(protocols, "openapi") {
			protocols = append(protocols, "openapi")
		}
		b.WriteString("  security:\n    authentication: [api_key]\n")
	}
	if tier == "advanced" {
		b.WriteString("    audit: {enabled: true}\n    encryption: {at_rest: aes_256, in_transit: tls_1_3}\n")
		b.WriteString("  compliance_frameworks:\n    - {name: SOC2, level: implemented}\n")
	}
	if health != "" {
		fmt.Fprintf(&b, "  endpoints:\n    health: %s\n", health)
	}
	if len(protocols) > 0 {
		b.WriteString("  protocols:\n")
		for _, p := range protocols {
			fmt.Fprintf(&b, "    - {name: %s, version: \"1.0\", required: true}\n", p)
		}
	}
	if s.priority != 0 {
		fmt.Fprintf(&b, "  discovery:\n    uadp: {enabled: true, priority: %d}\n", s.priority)
	}
	return b.String()
}

// call makes one HTTP request and returns the status and decoded JSON body.
func call(t testing.TB, method, url, contentType string, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		require.NoError(t, json.Unmarshal(data, &out), "body: %s", data)
	}
	return resp.StatusCode, resp.Header, out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
