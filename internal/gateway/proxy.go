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
	"syscall"

	"github.com/valyala/fasthttp"

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
	// target is the service's URL when it has no path, query or user of
	// its own (the edge proxies such targets only); nil otherwise.
	target *url.URL
}

func (s *Service) newUpstream(u Upstream, transport http.RoundTripper) (*upstream, error) {
	target, err := url.Parse(u.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("upstream %s: URL %q must be an absolute http or https URL", u.Name, u.URL)
	}
	up := &upstream{name: u.Name}
	if target.Path == "" && target.RawPath == "" && target.RawQuery == "" && !target.ForceQuery && target.User == nil && plainHost(target.Host) {
		up.target = target
	}
	up.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			s.rewrite(pr)
		},
		// The service echoes the request ID the gateway forwarded, which
		// the gateway's own answer carries already: keep one copy.
		ModifyResponse: func(resp *http.Response) error {
			if httpx.RequestID(resp.Request.Context()) != "" {
				delete(resp.Header, hdrRequestID)
			}
			return nil
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

// Canonical forms of the headers the proxies set.
const (
	hdrXForwardedFor   = "X-Forwarded-For"
	hdrXForwardedHost  = "X-Forwarded-Host"
	hdrXForwardedProto = "X-Forwarded-Proto"
	hdrRequestID       = "X-Request-Id" // httpx.RequestIDHeader
)

// dropped are the client headers that never reach a service: credentials
// stay at the gateway, and services trust only the identity it signs, so
// a client's own identity headers go. Canonical forms.
var dropped = [...]string{"Authorization", "X-Api-Key", "Cookie", auth.IdentityHeader, auth.SignatureHeader}

// rewrite prepares the request to a service: X-Forwarded-* (ReverseProxy
// has removed the client's), minus the client's credentials, plus the
// request ID and the signed identity.
func (s *Service) rewrite(pr *httputil.ProxyRequest) {
	pr.SetXForwarded()
	h := pr.Out.Header
	for _, k := range dropped {
		delete(h, k)
	}
	if id := httpx.RequestID(pr.In.Context()); id != "" {
		h.Set(httpx.RequestIDHeader, id)
	}
	if p, ok := auth.FromContext(pr.In.Context()); ok {
		// Sign cannot fail for a Principal (plain strings marshal).
		_ = s.forwarder.Sign(h, p, pr.Out.Method, pr.Out.URL.EscapedPath(), pr.Out.URL.RawQuery)
	}
}

// upstreamFailed answers a request the service did not (see
// upstreamError).
func (s *Service) upstreamFailed(w http.ResponseWriter, r *http.Request, name string, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client went away; nobody reads an answer
	}
	httpx.WriteError(w, r, s.upstreamError(r.Context(), name, r.Method, r.URL.Path, err))
}

// upstreamError logs and counts a request to service name that failed with
// err, and returns the answer: 503 when the service cannot be reached, 504
// when it is too slow, 502 otherwise.
func (s *Service) upstreamError(ctx context.Context, name, method, path string, err error) *httpx.Error {
	var (
		status = http.StatusBadGateway
		detail = fmt.Sprintf("service %s failed to answer; see gateway logs for request %s", name, httpx.RequestID(ctx))
		opErr  *net.OpError
		// net.Error's Timeout, which fasthttp's timeout error has too.
		timeout interface{ Timeout() bool }
	)
	switch {
	case errors.As(err, &opErr) && opErr.Op == "dial", errors.Is(err, fasthttp.ErrNoFreeConns),
		errors.Is(err, fasthttp.ErrDialTimeout), errors.Is(err, syscall.ECONNREFUSED):
		status = http.StatusServiceUnavailable
		detail = fmt.Sprintf("service %s is unavailable; try again shortly", name)
	case errors.As(err, &timeout) && timeout.Timeout():
		status = http.StatusGatewayTimeout
		detail = fmt.Sprintf("service %s did not answer in time", name)
	}
	s.metrics.upstreamErrors.WithLabelValues(name, fmt.Sprint(status)).Inc()
	s.log.WarnContext(ctx, "upstream request failed", "service", name, "method", method, "path", path,
		"status", status, "request_id", httpx.RequestID(ctx), "err", err)
	he := &httpx.Error{Status: status, Detail: detail}
	if status == http.StatusServiceUnavailable {
		he.Headers = http.Header{"Retry-After": {"1"}}
	}
	return he
}

// proxyRoutes turns an upstream's route table into gateway routes whose
// handler forwards the request.
func (s *Service) proxyRoutes(up *upstream, table []httpx.Route) []httpx.Route {
	routes := make([]httpx.Route, len(table))
	for i, rt := range table {
		s.proxied[rt.Pattern()] = up
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

// plainHost reports whether a target host can be written as it is.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '/' {
			return false
		}
	}
	return host != ""
}
