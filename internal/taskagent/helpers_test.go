package taskagent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/postgres"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
	"github.com/ossa-platform/ossa/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http's keep-alive connections to test servers close lazily.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

// testConfig is the default configuration with every interval short, so
// tests wait milliseconds, not seconds.
func testConfig() Config {
	return Config{
		URL:                "http://ossa-task-agent:3001",
		Workers:            20,
		FetchCooldown:      5 * time.Millisecond,
		FetchPollInterval:  50 * time.Millisecond,
		RescueAfter:        time.Minute,
		DefaultTimeout:     10 * time.Second,
		MaxTimeout:         time.Minute,
		DefaultMaxAttempts: 3,
		MaxAttempts:        10,
		RetryBase:          10 * time.Millisecond,
		RetryMax:           50 * time.Millisecond,
		MaxWaitForAgent:    time.Hour,
		Lease:              time.Second,
		MaxClaimWait:       5 * time.Second,
		PollInterval:       50 * time.Millisecond,
		ShutdownGrace:      100 * time.Millisecond,
	}
}

// testEnv is a task service on a real store with discovery in process, a
// real dispatcher, and its routes (and discovery's) on a test server.
type testEnv struct {
	t      testing.TB
	store  storage.Store
	disco  *discovery.Service
	svc    *Service
	url    string
	client *Client
}

type envOptions struct {
	cfg        Config
	postgres   bool
	dispatcher dispatch.Dispatcher
	// remote finds agents over discovery's HTTP API instead of in process.
	remote bool
}

type envOption func(*envOptions)

func withConfig(fn func(*Config)) envOption { return func(o *envOptions) { fn(&o.cfg) } }
func onPostgres() envOption                 { return func(o *envOptions) { o.postgres = true } }

// eachDriver runs test in parallel on SQLite and on PostgreSQL, with the
// newEnv option that picks the driver.
func eachDriver(t *testing.T, test func(t *testing.T, driver envOption)) {
	for name, driver := range map[string]envOption{"sqlite": func(*envOptions) {}, "postgres": onPostgres()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, driver)
		})
	}
}
func withDispatcher(d dispatch.Dispatcher) envOption {
	return func(o *envOptions) { o.dispatcher = d }
}
func withRemoteDiscovery() envOption { return func(o *envOptions) { o.remote = true } }

// openStore opens a migrated store (with River's tables) on a fresh
// database, closed when the test ends.
func openStore(t testing.TB, pg bool) storage.Store {
	t.Helper()
	var (
		st  storage.Store
		err error
	)
	if pg {
		// pgxpool's default of max(4, CPUs) connections starves River and
		// the service's transactions on a small machine.
		st, err = postgres.Open(context.Background(), testenv.PostgresURL(t)+"&pool_max_conns=16")
	} else {
		st, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ossa.db"))
	}
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(context.Background()))
	require.NoError(t, Migrate(context.Background(), st, nil))
	return st
}

func newEnv(t testing.TB, opts ...envOption) *testEnv {
	t.Helper()
	o := envOptions{cfg: testConfig(), dispatcher: dispatch.New(nil)}
	for _, opt := range opts {
		opt(&o)
	}
	st := openStore(t, o.postgres)
	disco, err := discovery.New(context.Background(), discovery.Config{
		HeartbeatTTL: time.Hour, ProbeTimeout: time.Second, ProbeConcurrency: 1, UnhealthyAfter: 3, SyncInterval: time.Hour,
	}, discovery.Deps{Agents: st.Agents()})
	require.NoError(t, err)

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	finder := LocalFinder(disco, st.Agents())
	if o.remote {
		finder = RemoteFinder(discovery.NewClient(srv.URL, nil, ""))
	}
	svc, err := New(o.cfg, Deps{Store: st, Finder: finder, Dispatcher: o.dispatcher})
	require.NoError(t, err)
	httpx.Mount(mux, svc.Routes())
	httpx.Mount(mux, disco.Routes())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		svc.BeginDrain()
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("task service did not stop within 30s")
		}
	})
	return &testEnv{t: t, store: st, disco: disco, svc: svc, url: srv.URL, client: NewClient(srv.URL, nil, "")}
}

// agentSpec describes an agent to register.
type agentSpec struct {
	name          string
	capabilities  []string
	tags          []string
	endpoint      string // empty: pull mode
	maxConcurrent int
	priority      int // UADP priority, 0..100; 0 leaves it unset
}

// addAgent registers an agent and makes it healthy with a heartbeat.
func (e *testEnv) addAgent(spec agentSpec) storage.Agent {
	e.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "ossa: \"0.1.8\"\nkind: Agent\nmetadata:\n  name: %s\n  version: \"1.0.0\"\n", spec.name)
	if len(spec.tags) > 0 {
		fmt.Fprintf(&b, "  tags: [%s]\n", strings.Join(spec.tags, ", "))
	}
	fmt.Fprintf(&b, "spec:\n  conformance_tier: core\n  class: nlp\n  capabilities:\n    primary: [%s]\n", strings.Join(spec.capabilities, ", "))
	if spec.maxConcurrent > 0 {
		fmt.Fprintf(&b, "  performance:\n    concurrency:\n      max_concurrent: %d\n", spec.maxConcurrent)
	}
	if spec.priority > 0 {
		fmt.Fprintf(&b, "  discovery:\n    uadp:\n      enabled: true\n      priority: %d\n", spec.priority)
	}
	reg, err := e.disco.Register(context.Background(), discovery.RegisterRequest{
		Manifest: []byte(b.String()), Endpoint: spec.endpoint, Protocol: dispatch.ProtocolHTTP,
	})
	require.NoError(e.t, err, "register %s:\n%s", spec.name, b.String())
	_, err = e.disco.Heartbeat(context.Background(), reg.Agent.ID, discovery.Heartbeat{})
	require.NoError(e.t, err)
	return reg.Agent
}

// submit submits a task through the HTTP API.
func (e *testEnv) submit(req SubmitRequest) *Task {
	e.t.Helper()
	task, err := e.client.Submit(context.Background(), req, "")
	require.NoError(e.t, err)
	return task
}

// waitState polls the task until it is in one of states, failing after the
// deadline with the task as it stood.
func (e *testEnv) waitState(id string, states ...storage.TaskState) *Task {
	e.t.Helper()
	var last *Task
	require.Eventually(e.t, func() bool {
		t, err := e.client.Get(context.Background(), id)
		if err != nil {
			return false
		}
		last = t
		for _, s := range states {
			if t.State == s {
				return true
			}
		}
		return false
	}, 20*time.Second, 10*time.Millisecond, "task %s never reached %v (last: %+v)", id, states, func() any { return last }())
	return last
}

// events returns the task's stored events.
func (e *testEnv) events(id string) []storage.TaskEvent {
	e.t.Helper()
	evs, err := e.store.Tasks().Events(context.Background(), id, 0, 0)
	require.NoError(e.t, err)
	return evs
}

// fakeAgent is an agent speaking the native HTTP task protocol, whose
// answers a test scripts.
type fakeAgent struct {
	srv *httptest.Server
	// answer handles one task request; nil answers completed with the input
	// as output.
	answer func(w http.ResponseWriter, r *http.Request, req dispatch.TaskRequest)

	mu      sync.Mutex
	calls   []dispatch.TaskRequest
	cancels []string
	// release ends every hanging answer at shutdown.
	release chan struct{}
}

func newFakeAgent(t testing.TB, answer func(w http.ResponseWriter, r *http.Request, req dispatch.TaskRequest)) *fakeAgent {
	t.Helper()
	a := &fakeAgent{answer: answer, release: make(chan struct{})}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(func() {
		close(a.release)
		a.srv.Close()
	})
	return a
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, dispatch.NativeCancelSuffix) {
		a.mu.Lock()
		a.cancels = append(a.cancels, strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, dispatch.NativeTasksPath+"/"), dispatch.NativeCancelSuffix))
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var req dispatch.TaskRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.calls = append(a.calls, req)
	a.mu.Unlock()
	if a.answer != nil {
		a.answer(w, r, req)
		return
	}
	completed(w, req.Input)
}

func (a *fakeAgent) callCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func (a *fakeAgent) canceled() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.cancels...)
}

// hang blocks until the request or the test ends.
func (a *fakeAgent) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-a.release:
	}
}

func completed(w http.ResponseWriter, output json.RawMessage) {
	httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: dispatch.StateCompleted, Output: output})
}
