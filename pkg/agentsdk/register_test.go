package agentsdk

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// platform runs the real discovery service on SQLite, as the platform the
// agent registers with.
func platform(t *testing.T) (*discovery.Service, *httptest.Server) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ossa.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	require.NoError(t, st.Migrate(ctx))
	var cfg discovery.Config
	cfg.RegisterFlags(pflag.NewFlagSet("test", pflag.ContinueOnError), "")
	cfg.ProbeInterval = 0
	svc, err := discovery.New(ctx, cfg, discovery.Deps{Agents: st.Agents()})
	require.NoError(t, err)
	mux := http.NewServeMux()
	httpx.Mount(mux, svc.Routes())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return svc, srv
}

// registeringAgent is an agent whose heartbeats the test drives: tick sends
// one, beats receives each heartbeat's result.
type registeringAgent struct {
	*Agent
	tick  chan time.Time
	beats chan error
}

func newRegisteringAgent(t *testing.T, opts ...Option) registeringAgent {
	t.Helper()
	a, err := New([]byte(testManifest), testHandler, append([]Option{WithLogger(discard), WithPublicURL("http://agent.test:8080")}, opts...)...)
	require.NoError(t, err)
	ra := registeringAgent{Agent: a, tick: make(chan time.Time), beats: make(chan error, 1)}
	a.newTicker = func(time.Duration) (<-chan time.Time, func()) { return ra.tick, func() {} }
	a.onHeartbeat = func(err error) { ra.beats <- err }
	return ra
}

// register runs Register until the test ends, and returns once the agent
// has registered and heartbeat once.
func (ra registeringAgent) register(t *testing.T, platformURL string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ra.Register(ctx, platformURL, "") }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	ra.tick <- time.Now() // accepted only once registration is done
	require.NoError(t, <-ra.beats)
	return done
}

func TestRegisterHeartbeatReregister(t *testing.T) {
	t.Parallel()
	svc, srv := platform(t)
	ctx := t.Context()
	ra := newRegisteringAgent(t, WithProtocol("a2a"))
	ra.register(t, srv.URL)
	id := ra.ID()
	require.NotEmpty(t, id)
	got, err := svc.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "http://agent.test:8080", got.Endpoint)
	require.Equal(t, "a2a", got.Protocol)
	require.Equal(t, []string{"echo", "shout"}, got.Capabilities)
	require.Equal(t, storage.HealthHealthy, got.Status.Health)

	// The platform forgets the agent: the next heartbeat registers again.
	require.NoError(t, svc.Delete(ctx, id))
	ra.tick <- time.Now()
	require.NoError(t, <-ra.beats)
	require.NotEqual(t, id, ra.ID())
	_, err = svc.Get(ctx, ra.ID())
	require.NoError(t, err)

	// A restarted agent (same name and version) takes over the registration.
	restarted := newRegisteringAgent(t, WithPublicURL("http://agent.test:9090"))
	restarted.register(t, srv.URL)
	require.Equal(t, ra.ID(), restarted.ID())
	got, err = svc.Get(ctx, restarted.ID())
	require.NoError(t, err)
	require.Equal(t, "http://agent.test:9090", got.Endpoint)
	require.Equal(t, "http", got.Protocol, "the manifest lists only http")
}

func TestRegisterRefused(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "bad key"))
	}))
	defer srv.Close()
	ra := newRegisteringAgent(t)
	err := ra.Register(t.Context(), srv.URL, "wrong")
	require.ErrorContains(t, err, "bad key")
	require.EqualValues(t, 1, calls.Load(), "a refusal is not retried")

	noURL, err := New([]byte(testManifest), testHandler)
	require.NoError(t, err)
	require.ErrorContains(t, noURL.Register(t.Context(), srv.URL, ""), "public URL")
}

// TestRegisterWaitsForPlatform checks that a platform that fails is retried
// and that Register ends with its context.
func TestRegisterWaitsForPlatform(t *testing.T) {
	t.Parallel()
	attempted := make(chan struct{}, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempted <- struct{}{}
		http.Error(w, "starting up", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ra := newRegisteringAgent(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ra.Register(ctx, srv.URL, "") }()
	<-attempted
	cancel()
	require.NoError(t, <-done)
	require.Empty(t, ra.ID())
}

func TestLocalURL(t *testing.T) {
	t.Parallel()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.Equal(t, "http://"+ln.Addr().String(), localURL(ln.Addr()))
	require.Equal(t, "http://localhost:8080", localURL(&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}))
}
