package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// Upstream is a service that runs in another process, as the gateway needs
// to know it: where it is, its route table (methods, paths, permissions;
// handlers are ignored) and its OpenAPI fragment.
type Upstream struct {
	Name    string
	URL     string
	Routes  []httpx.Route
	OpenAPI []byte
}

// upstream proxies requests to one service.
type upstream struct {
	name  string
	proxy *httputil.ReverseProxy
}

func (s *Service) newUpstream(u Upstream, transport http.RoundTripper) (*upstream, error) {
	target, err := url.Parse(u.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("upstream %s: URL %q must be an absolute http or https URL", u.Name, u.URL)
	}
	up := &upstream{name: u.Name}
	up.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			// Credentials stay at the gateway; services trust only the
			// identity it signs, so a client's own identity headers go.
			for _, h := range []string{"Authorization", "X-API-Key", "Cookie", auth.IdentityHeader, auth.SignatureHeader} {
				pr.Out.Header.Del(h)
			}
			if id := httpx.RequestID(pr.In.Context()); id != "" {
				pr.Out.Header.Set(httpx.RequestIDHeader, id)
			}
			if p, ok := auth.FromContext(pr.In.Context()); ok {
				// Sign cannot fail for a Principal (plain strings marshal).
				_ = s.forwarder.Sign(pr.Out.Header, p, pr.Out.Method, pr.Out.URL.EscapedPath(), pr.Out.URL.RawQuery)
			}
		},
		Transport: transport,
		// Zero, not -1: ReverseProxy flushes every write of a streaming
		// answer (text/event-stream, or no Content-Length) at once anyway,
		// so server-sent events pass through unbuffered; other answers go
		// out in one write instead of a flush per chunk, which at -1 cost
		// a fifth of the gateway's CPU in extra write syscalls.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.upstreamFailed(w, r, up.name, err)
		},
	}
	return up, nil
}

// upstreamFailed answers a request the service did not: 503 when it cannot
// be reached, 504 when it is too slow, 502 otherwise.
func (s *Service) upstreamFailed(w http.ResponseWriter, r *http.Request, name string, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody reads an answer
	}
	var (
		status = http.StatusBadGateway
		detail = fmt.Sprintf("service %s failed to answer; see gateway logs for request %s", name, httpx.RequestID(r.Context()))
		opErr  *net.OpError
		netErr net.Error
	)
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial":
		status = http.StatusServiceUnavailable
		detail = fmt.Sprintf("service %s is unavailable; try again shortly", name)
	case errors.As(err, &netErr) && netErr.Timeout():
		status = http.StatusGatewayTimeout
		detail = fmt.Sprintf("service %s did not answer in time", name)
	}
	s.metrics.upstreamErrors.WithLabelValues(name, fmt.Sprint(status)).Inc()
	s.log.WarnContext(r.Context(), "upstream request failed", "service", name, "method", r.Method, "path", r.URL.Path,
		"status", status, "request_id", httpx.RequestID(r.Context()), "err", err)
	he := &httpx.Error{Status: status, Detail: detail}
	if status == http.StatusServiceUnavailable {
		he.Headers = http.Header{"Retry-After": {"1"}}
	}
	httpx.WriteError(w, r, he)
}

// proxyRoutes turns an upstream's route table into gateway routes whose
// handler forwards the request.
func (up *upstream) proxyRoutes(table []httpx.Route) []httpx.Route {
	routes := make([]httpx.Route, len(table))
	for i, rt := range table {
		rt.Handler = func(w http.ResponseWriter, r *http.Request) error {
			up.proxy.ServeHTTP(w, r)
			return nil
		}
		routes[i] = rt
	}
	return routes
}

// bufferPool recycles the proxy's copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte  { return buffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) { buffers.Put((*[32 << 10]byte)(b)) }
