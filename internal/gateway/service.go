// Package gateway is the one public entry of ossa: it authenticates every
// call (API keys, optionally OIDC JWTs), authorises it by the route's
// permission and the caller's role, applies per-caller rate limits, records
// every change in the audit log, and, in split mode, proxies each request
// to the process that owns the route, forwarding the caller's identity in a
// signed header. See docs/security.md.
package gateway

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Deps are what the gateway needs from the process.
type Deps struct {
	// Keys and Audit are the system of record; required.
	Keys  storage.KeyStore
	Audit storage.AuditStore
	// Upstreams are the services in other processes the gateway routes to.
	Upstreams []Upstream
	// InternalSecret signs forwarded identities; required with Upstreams.
	InternalSecret string
	// AdminKey, when set, is ensured to exist as an admin key at start
	// (OSSA_ADMIN_KEY): how a cluster gets its first admin.
	AdminKey string
	// Embedded is true on the embedded store: with no key at all and no
	// AdminKey, the gateway creates an admin key and prints it to Out once.
	Embedded bool
	Out      io.Writer
	// RedisURL, when set, keeps rate limits in Redis, shared by replicas.
	RedisURL string
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
	// HTTPClient fetches the JWKS; nil means a client with a timeout.
	HTTPClient *http.Client
	// Clock decides key expiry, rate limits and audit times; nil is time.Now.
	Clock func() time.Time
}

// Service is the gateway.
type Service struct {
	cfg     Config
	keys    storage.KeyStore
	audit   storage.AuditStore
	log     *slog.Logger
	clock   func() time.Time
	metrics *metrics

	authn     *authenticator
	limiter   limiter
	rdb       *redis.Client
	forwarder *auth.Forwarder
	transport *http.Transport
	routes    []httpx.Route
	// proxied maps the pattern of each proxied route to its service.
	proxied map[string]*upstream
	openAPI []byte

	// bg lives as long as the service; the JWKS refresh runs under it.
	bg     context.Context
	stopBg context.CancelFunc
}

// openAPISpec documents the gateway's own routes.
//
//go:embed openapi.yaml
var openAPISpec []byte

// New builds the gateway and bootstraps the first admin key if needed (see
// Deps.AdminKey and Deps.Embedded).
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.Keys == nil || deps.Audit == nil {
		return nil, errors.New("gateway: Deps.Keys and Deps.Audit are required")
	}
	s := &Service{cfg: cfg, keys: deps.Keys, audit: deps.Audit, log: deps.Logger, clock: deps.Clock}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	hc := deps.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	var err error
	if s.metrics, err = newMetrics(deps.Metrics); err != nil {
		return nil, fmt.Errorf("gateway metrics: %w", err)
	}
	s.bg, s.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	var jwtv *jwtVerifier
	if cfg.JWT.Enabled() {
		jwtv = newJWTVerifier(s.bg, cfg.JWT, hc, s.clock, s.log)
	}
	s.authn = newAuthenticator(deps.Keys, s.clock, cfg.KeyCacheTTL, jwtv)

	if err := s.setup(ctx, deps); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// setup connects Redis, builds the proxies and bootstraps the admin key.
func (s *Service) setup(ctx context.Context, deps Deps) error {
	if deps.RedisURL != "" {
		opts, err := redis.ParseURL(deps.RedisURL)
		if err != nil {
			return fmt.Errorf("gateway: redis URL: %w", err)
		}
		s.rdb = redis.NewClient(opts)
	}
	if rl := s.cfg.RateLimit; rl.Requests > 0 {
		if s.rdb != nil {
			s.limiter = newRedisLimiter(s.rdb, rl)
		} else {
			s.limiter = newMemoryLimiter(rl, s.clock)
		}
	}

	s.routes = s.ownRoutes()
	fragments := [][]byte{}
	if len(deps.Upstreams) > 0 {
		f, err := auth.NewForwarder(deps.InternalSecret)
		if err != nil {
			return fmt.Errorf("gateway routes to %s in other processes: set --auth.internal-secret (OSSA_AUTH_INTERNAL_SECRET) to the secret they share: %w",
				upstreamNames(deps.Upstreams), err)
		}
		f.Clock = s.clock
		s.forwarder = f
		s.transport = newTransport(s.cfg.UpstreamTimeout)
		s.proxied = map[string]*upstream{}
		for _, u := range deps.Upstreams {
			up, err := s.newUpstream(u, s.transport)
			if err != nil {
				return fmt.Errorf("gateway: %w", err)
			}
			s.routes = append(s.routes, s.proxyRoutes(up, u.Routes)...)
			if len(u.OpenAPI) > 0 {
				fragments = append(fragments, u.OpenAPI)
			}
		}
	}
	doc, err := httpx.MergeOpenAPI(openAPISpec, fragments...)
	if err != nil {
		return fmt.Errorf("gateway: merge upstream OpenAPI fragments: %w", err)
	}
	s.openAPI = doc

	out := deps.Out
	if out == nil {
		out = os.Stdout
	}
	return s.bootstrap(ctx, deps.AdminKey, deps.Embedded, out)
}

func upstreamNames(ups []Upstream) []string {
	names := make([]string, len(ups))
	for i, u := range ups {
		names[i] = u.Name
	}
	return names
}

// Routes is the gateway's route table: key management, the audit log, and
// one proxy route per route of each upstream.
func (s *Service) Routes() []httpx.Route { return s.routes }

// OpenAPI documents Routes, upstreams' routes included.
func (s *Service) OpenAPI() []byte { return s.openAPI }

// Run writes key last-used times every minute until ctx ends, then once
// more, and stops the JWKS refresh.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(touchInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.authn.flush(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("write key last-used times", "err", err)
			}
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := s.authn.flush(flushCtx); err != nil {
				s.log.Warn("write key last-used times", "err", err)
			}
			s.stopBg()
			return nil
		}
	}
}

// Ready checks Redis when rate limits live there.
func (s *Service) Ready(ctx context.Context) error {
	if s.rdb == nil {
		return nil
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close releases the Redis client, idle upstream connections and the JWKS
// refresh. The app calls it after Run, or after a failed start.
func (s *Service) Close() error {
	s.stopBg()
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if s.rdb != nil {
		if err := s.rdb.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			return fmt.Errorf("close redis: %w", err)
		}
	}
	return nil
}

// newTransport is the client of the net/http proxy, which serves what the
// edge leaves to it (streams, above all): answers must start within
// timeout, and may then run on.
func newTransport(timeout time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = timeout
	// Pass the client's Accept-Encoding through, and the answer as it
	// comes, rather than ask for gzip and unpack it here.
	t.DisableCompression = true
	return t
}
