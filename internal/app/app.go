// Package app is the composition root of ossa: it resolves a target into the
// modules it needs, builds them in dependency order, serves their routes on
// one HTTP server with /livez, /readyz, /metrics and /openapi.json, and shuts
// everything down in reverse order.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/gateway"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Service is what every ossa service provides to the app.
type Service interface {
	// Run does the service's background work until ctx is cancelled, then
	// drains and returns. An error before cancellation stops the process.
	Run(ctx context.Context) error
	// Routes is the service's route table.
	Routes() []httpx.Route
}

// readinessChecker is implemented by services whose readiness depends on more
// than having started.
type readinessChecker interface {
	Ready(ctx context.Context) error
}

// openAPIProvider is implemented by services that document their routes; the
// fragments are merged into /openapi.json.
type openAPIProvider interface {
	OpenAPI() []byte
}

// closer is implemented by services holding resources they opened in New
// (connections, background refreshes); the app closes them after Run or a
// failed New.
type closer interface {
	Close() error
}

// drainer is implemented by services holding requests open (event streams,
// long polls): the HTTP server waits for requests in flight when it shuts
// down, so it tells them to end first.
type drainer interface {
	BeginDrain()
}

type namedService struct {
	name string
	svc  Service
}

// App is one ossa process.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *httpx.Metrics

	store    storage.Store
	services []namedService
	handler  http.Handler
	ready    atomic.Bool

	// local holds every module this process runs.
	local map[string]bool
	// gateway is set when the gateway runs in this process; it then guards
	// every route, else the forwarded identity does (forwarder).
	gateway   *gateway.Service
	forwarder *auth.Forwarder
	// upstreams are the services the gateway routes to in other processes.
	upstreams []gateway.Upstream
	// out receives what is shown once to the operator (the first admin key).
	out io.Writer
}

// Option changes how New builds the app.
type Option func(*App)

// WithOutput sends what the app shows the operator once, such as the first
// admin key of an embedded store, to w instead of standard output.
func WithOutput(w io.Writer) Option {
	return func(a *App) { a.out = w }
}

// New builds every module of cfg.Target. It opens backends (and migrates them
// when configured), so errors here are configuration or connectivity errors.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*App, error) {
	order, err := resolve(cfg.Target)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a := &App{cfg: cfg, log: log, registry: reg, metrics: httpx.NewMetrics(reg), local: map[string]bool{}, out: os.Stdout}
	for _, o := range opts {
		o(a)
	}
	for _, name := range order {
		a.local[name] = true
	}
	// Every service with a remote description that this process does not
	// run is one the gateway (if here) proxies to.
	for _, name := range Services() {
		if m := modules[name]; !a.local[name] && m.remote != nil {
			u := m.remote(&a.cfg)
			u.Name = name
			a.upstreams = append(a.upstreams, u)
		}
	}
	if !a.local[moduleGateway] {
		// Services without the gateway in front trust only what it signs.
		f, err := auth.NewForwarder(cfg.Auth.InternalSecret)
		if err != nil {
			return nil, fmt.Errorf("%s run without the gateway in this process, so they need --auth.internal-secret (OSSA_AUTH_INTERNAL_SECRET), the secret the gateway signs identities with: %w",
				strings.Join(cfg.Target, ","), err)
		}
		a.forwarder = f
	}
	for _, name := range order {
		svc, err := modules[name].init(a, ctx)
		if err != nil {
			a.closeBackends()
			return nil, fmt.Errorf("init %s: %w", name, err)
		}
		if svc != nil {
			a.services = append(a.services, namedService{name: name, svc: svc})
		}
	}
	handler, err := a.buildHandler()
	if err != nil {
		a.closeBackends()
		return nil, err
	}
	a.handler = handler
	return a, nil
}

// Handler is the process's whole HTTP surface, for in-process tests.
func (a *App) Handler() http.Handler { return a.handler }

// Addr is the configured listen address, or the target's default.
func (a *App) Addr() string {
	if a.cfg.HTTP.Addr != "" {
		return a.cfg.HTTP.Addr
	}
	return defaultAddr(a.cfg.Target)
}

// Run serves on ln until ctx is cancelled or a service fails, then shuts down
// gracefully: /readyz turns 503, the server waits ShutdownDelay, stops taking
// requests and drains, and services stop in reverse order.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)

	srv, err := a.server()
	if err != nil {
		a.closeBackends()
		return err
	}

	// Each service gets its own context so they can stop in reverse order.
	type running struct {
		name   string
		cancel context.CancelFunc
		done   chan error
	}
	var started []running
	for _, ns := range a.services {
		svcCtx, cancel := context.WithCancel(context.WithoutCancel(runCtx))
		r := running{name: ns.name, cancel: cancel, done: make(chan error, 1)}
		go func(svc Service) {
			err := svc.Run(svcCtx)
			if err != nil && svcCtx.Err() == nil {
				stopRun(fmt.Errorf("service %s failed: %w", r.name, err))
			}
			r.done <- err
		}(ns.svc)
		started = append(started, r)
	}

	serveErr := make(chan error, 1)
	go func() {
		if err := srv.Serve(ln); err != nil {
			stopRun(fmt.Errorf("http server: %w", err))
		}
		close(serveErr)
	}()
	a.ready.Store(true)
	a.log.Info("ossa started", "addr", ln.Addr().String(), "target", a.cfg.Target, "services", a.serviceNames())

	<-runCtx.Done()
	cause := context.Cause(runCtx)
	if errors.Is(cause, context.Canceled) {
		cause = nil
	}
	a.ready.Store(false)
	a.log.Info("shutting down", "reason", reasonOf(cause), "shutdown_delay", a.cfg.HTTP.ShutdownDelay)
	if cause == nil && a.cfg.HTTP.ShutdownDelay > 0 {
		time.Sleep(a.cfg.HTTP.ShutdownDelay)
	}

	drainCtx, cancelDrain := context.WithTimeout(context.Background(), a.cfg.HTTP.DrainTimeout)
	defer cancelDrain()
	var errs []error
	if cause != nil {
		errs = append(errs, cause)
	}
	for _, ns := range a.services {
		if d, ok := ns.svc.(drainer); ok {
			d.BeginDrain()
		}
	}
	if err := srv.Shutdown(drainCtx); err != nil {
		errs = append(errs, fmt.Errorf("drain http: %w", err))
	}
	<-serveErr
	for _, r := range slices.Backward(started) {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, fmt.Errorf("stop %s: %w", r.name, err))
			}
		case <-drainCtx.Done():
			errs = append(errs, fmt.Errorf("stop %s: did not stop within %s", r.name, a.cfg.HTTP.DrainTimeout))
		}
	}
	a.closeBackends()
	a.log.Info("ossa stopped")
	return errors.Join(errs...)
}

// server is the process's HTTP server.
type server interface {
	// Serve serves on ln until Shutdown, then returns nil.
	Serve(ln net.Listener) error
	// Shutdown stops taking requests and waits for those in flight, at
	// most until ctx ends.
	Shutdown(ctx context.Context) error
}

// server builds the HTTP server: the gateway's edge when the gateway
// proxies to services in other processes, else net/http.
func (a *App) server() (server, error) {
	var tlsConfig *tls.Config
	if a.cfg.HTTP.TLSCert != "" {
		// Loaded here, not per connection, so a bad file fails the start.
		cert, err := tls.LoadX509KeyPair(a.cfg.HTTP.TLSCert, a.cfg.HTTP.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if a.gateway != nil && len(a.upstreams) > 0 {
		return a.gateway.Edge(gateway.EdgeConfig{
			Fallback: a.handler, BodyLimit: a.cfg.HTTP.BodyLimit, ReadTimeout: a.cfg.HTTP.ReadHeaderTimeout,
			TLS: tlsConfig, Metrics: a.metrics, Log: a.log,
		})
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	return httpServer{srv}, nil
}

// httpServer is a net/http server as a server.
type httpServer struct{ *http.Server }

func (s httpServer) Serve(ln net.Listener) error {
	if s.TLSConfig != nil {
		ln = tls.NewListener(ln, s.TLSConfig)
	}
	if err := s.Server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func reasonOf(cause error) string {
	if cause == nil {
		return "signal"
	}
	return cause.Error()
}

func (a *App) serviceNames() []string {
	names := make([]string, len(a.services))
	for i, ns := range a.services {
		names[i] = ns.name
	}
	return names
}

// closeBackends releases backends and what services opened; Run and a
// failed New call it once.
func (a *App) closeBackends() {
	for _, ns := range a.services {
		if c, ok := ns.svc.(closer); ok {
			if err := c.Close(); err != nil {
				a.log.Warn("close service", "service", ns.name, "err", err)
			}
		}
	}
	a.services = nil
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			a.log.Warn("close store", "err", err)
		}
		a.store = nil
	}
}

func (a *App) buildHandler() (http.Handler, error) {
	mux := http.NewServeMux()
	guard := a.guard()
	var fragments [][]byte
	for _, ns := range a.services {
		for _, rt := range ns.svc.Routes() {
			mux.Handle(rt.Pattern(), guard(rt, httpx.Handle(rt.Handler)))
		}
		if p, ok := ns.svc.(openAPIProvider); ok {
			fragments = append(fragments, p.OpenAPI())
		}
	}
	doc, err := httpx.MergeOpenAPI(openAPIBase, fragments...)
	if err != nil {
		return nil, fmt.Errorf("build OpenAPI document: %w", err)
	}
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.Handle("GET /readyz", httpx.Handle(a.readyz))
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{Registry: a.registry}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	mux.Handle("/", httpx.NotFound())
	cors := func(next http.Handler) http.Handler { return next }
	if a.gateway != nil {
		cors = a.gateway.CORS()
	}
	return httpx.Chain(mux,
		httpx.RequestIDs(),
		httpx.Observe(a.log, a.metrics),
		httpx.Recover(a.log),
		cors,
		httpx.BodyLimit(a.cfg.HTTP.BodyLimit),
	), nil
}

// guard is what every service route is wrapped in: the gateway's checks
// when it runs here (all mode, or the gateway's own process), else the
// verification of the identity the gateway forwards (a service's process
// in split mode). Public routes pass either way.
func (a *App) guard() func(httpx.Route, http.Handler) http.Handler {
	if a.gateway != nil {
		return a.gateway.Guard
	}
	return gateway.InternalGuard(a.forwarder, a.log)
}

// readyz is 200 only while every local service runs and every backend and
// service check answers within a short deadline.
func (a *App) readyz(w http.ResponseWriter, r *http.Request) error {
	if !a.ready.Load() {
		return httpx.Errorf(http.StatusServiceUnavailable, "not ready: starting or shutting down")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	var failed []string
	check := func(name string, err error) {
		if err != nil {
			checks[name] = err.Error()
			failed = append(failed, name)
			return
		}
		checks[name] = "ok"
	}
	if a.store != nil {
		check(moduleStore, a.store.Ping(ctx))
	}
	for _, ns := range a.services {
		if rc, ok := ns.svc.(readinessChecker); ok {
			check(ns.name, rc.Ready(ctx))
		}
	}
	if len(failed) > 0 {
		return httpx.Errorf(http.StatusServiceUnavailable, "not ready: %v failing", failed).WithErrors(checks)
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	return nil
}

// Registry is the process's Prometheus registry; services register on it.
func (a *App) Registry() prometheus.Registerer { return a.registry }
