package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// The edge is the gateway's public server in split mode, where most calls
// are proxied to services in other processes. It serves on fasthttp rather
// than net/http: measured on this project's two-core box, the net/http
// server and the runtime work around it (a goroutine and a background read
// per connection, header maps, a request and response object per call) cost
// a proxy a quarter of its throughput against nginx, while our own checks
// cost 3 % (docs/benchmarks.md, "Where 0.9× is").
//
// The edge proxies a request itself — authentication, RBAC, rate limit,
// audit, CORS, request ID, metrics and access log, signed identity — when
// it matches a proxied route that does not stream, by a plain path and
// headers, which is what API calls are. Everything else (the gateway's own
// routes, /livez and the rest, event streams and long polls, preflights,
// paths with escapes or dot segments, protocol upgrades) goes to Fallback:
// the app's net/http handler chain, the same one `ossa serve` runs in one
// process, which guards and proxies every route too. The edge is a fast
// path, never the only one.

// EdgeConfig configures the edge.
type EdgeConfig struct {
	// Fallback serves every request the edge does not proxy itself: the
	// app's whole handler chain.
	Fallback http.Handler
	// BodyLimit caps request bodies (413 above it).
	BodyLimit int64
	// ReadTimeout bounds reading a request, headers and body.
	ReadTimeout time.Duration
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
	// Metrics and Log record each request, as httpx.Observe does.
	Metrics *httpx.Metrics
	Log     *slog.Logger
}

// Edge is the gateway's server in split mode.
type Edge struct {
	s        *Service
	cfg      EdgeConfig
	fallback fasthttp.RequestHandler
	server   *fasthttp.Server
	clients  []*fasthttp.HostClient
	// matcher is a ServeMux of every gateway route, whose handler is the
	// *edgeRoute of a route the edge proxies: one matching, the mux's own,
	// decides which route a request is for on both paths.
	matcher  *http.ServeMux
	matchers sync.Pool // of *http.Request, to ask matcher with
	// base is the parent of requests' contexts: they outlive no request,
	// and a shutdown must not cancel requests being drained. draining,
	// the parent of streams' contexts, ends when a shutdown begins.
	base     context.Context
	draining context.Context
	drain    context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	shutDown bool
}

// edgeRoute is a proxied route the edge serves.
type edgeRoute struct {
	pattern    string
	permission string
	mutating   bool
	up         *edgeUpstream
}

// ServeHTTP is never called: edgeRoute only marks a match of Edge.matcher.
func (*edgeRoute) ServeHTTP(http.ResponseWriter, *http.Request) {}

// edgeUpstream is a service the edge proxies to.
type edgeUpstream struct {
	name   string
	host   string // Host header
	https  bool
	client *fasthttp.HostClient
}

// fallbackRoute and streamRoute mark, in Edge.matcher, the routes the
// edge leaves to the fallback: streamRoute those whose answers stream
// (Route.Streams), fallbackRoute the others.
type (
	fallbackRoute struct{}
	streamRoute   struct{}
)

func (fallbackRoute) ServeHTTP(http.ResponseWriter, *http.Request) {}
func (streamRoute) ServeHTTP(http.ResponseWriter, *http.Request)   {}

// Largest answer the edge reads whole from a service (larger: 502); and
// the buffer for request and answer headers, which bounds their size.
const (
	maxUpstreamBody = 64 << 20
	headerBuffer    = 16 << 10
)

// Edge builds the edge server of the gateway.
func (s *Service) Edge(cfg EdgeConfig) (*Edge, error) {
	if cfg.Fallback == nil || cfg.Metrics == nil || cfg.Log == nil {
		return nil, errors.New("gateway edge: Fallback, Metrics and Log are required")
	}
	e := &Edge{s: s, cfg: cfg, matcher: http.NewServeMux(), base: context.WithoutCancel(s.bg)}
	e.draining, e.drain = context.WithCancel(e.base)
	// The adaptor makes the fasthttp request the http.Request's context;
	// it is reused once the handler returns, while http.Transport may
	// still look at its request's context. So each request gets a context
	// of its own. Like net/http's, it does not end when a shutdown begins,
	// so that requests drain; but streams and long polls would hold the
	// shutdown to its deadline, so theirs ends then (clients resume
	// streams with Last-Event-ID).
	e.fallback = fasthttpadaptor.NewFastHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parent := e.base
		if h, _ := e.matcher.Handler(r); h == (streamRoute{}) {
			parent = e.draining
		}
		ctx, cancel := context.WithCancel(parent)
		defer cancel()
		cfg.Fallback.ServeHTTP(w, r.WithContext(ctx))
	}))
	e.matchers.New = func() any { return &http.Request{URL: &url.URL{}} }
	ups := map[*upstream]*edgeUpstream{}
	for _, rt := range s.routes {
		pr, proxied := s.proxied[rt.Pattern()]
		switch {
		case rt.Streams:
			e.matcher.Handle(rt.Pattern(), streamRoute{})
			continue
		case !proxied || pr.target == nil:
			e.matcher.Handle(rt.Pattern(), fallbackRoute{})
			continue
		}
		eu := ups[pr]
		if eu == nil {
			eu = e.newUpstream(pr)
			ups[pr] = eu
		}
		e.matcher.Handle(rt.Pattern(), &edgeRoute{
			pattern: rt.Pattern(), permission: rt.Permission, mutating: isMutating(rt.Method), up: eu,
		})
	}
	e.server = &fasthttp.Server{
		Handler:                      e.serve,
		ErrorHandler:                 e.unreadable,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		ReadTimeout:                  cfg.ReadTimeout,
		IdleTimeout:                  2 * time.Minute,
		MaxRequestBodySize:           int(cfg.BodyLimit),
		ReadBufferSize:               headerBuffer,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		SecureErrorLogMessage:        true, // errors do not quote requests
		Logger:                       edgeLogger{s.log},
	}
	return e, nil
}

func (e *Edge) newUpstream(up *upstream) *edgeUpstream {
	eu := &edgeUpstream{name: up.name, host: up.target.Host, https: up.target.Scheme == "https"}
	addr := up.target.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		port := "80"
		if eu.https {
			port = "443"
		}
		addr = net.JoinHostPort(addr, port)
	}
	timeout := e.s.cfg.UpstreamTimeout
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	eu.client = &fasthttp.HostClient{
		Addr:  addr,
		IsTLS: eu.https,
		// net's dialer, not fasthttp's default, which caches addresses in
		// a goroutine that lives as long as the process.
		Dial: func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) },
		// Requests that wait for a free connection wait at most this
		// long, then get a 503.
		MaxConns:           1024,
		MaxConnWaitTimeout: 5 * time.Second,
		// Answers must start and end within the upstream timeout: streams
		// and long polls (Route.Streams) take the fallback.
		ReadTimeout:              timeout,
		WriteTimeout:             timeout,
		MaxResponseBodySize:      maxUpstreamBody,
		ReadBufferSize:           headerBuffer,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true, // the signed path is sent as it is
		// Once, and only where the service cannot have acted on it: see
		// staleConnection.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(req *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, staleConnection(err) && len(req.Body()) == 0 && replayable(req)
		},
	}
	e.clients = append(e.clients, eu.client)
	return eu
}

// staleConnection reports whether err is what a request meets on a kept-alive
// connection the service closed meanwhile (a restart): nothing was answered.
func staleConnection(err error) bool {
	return errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// replayable: methods that may be sent twice (RFC 9110 idempotent ones).
func replayable(req *fasthttp.Request) bool {
	h := &req.Header
	return h.IsGet() || h.IsHead() || h.IsPut() || h.IsDelete()
}

// Serve serves on ln until Shutdown.
func (e *Edge) Serve(ln net.Listener) error {
	if e.cfg.TLS != nil {
		ln = tls.NewListener(ln, e.cfg.TLS)
	}
	e.mu.Lock()
	if e.shutDown {
		e.mu.Unlock()
		return ln.Close()
	}
	e.ln = ln
	e.mu.Unlock()
	err := e.server.Serve(ln)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutDown && err != nil && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops taking connections, ends the streams it proxies, and
// waits until the connections open are idle or ctx ends; then it closes
// the connections to services.
func (e *Edge) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.shutDown = true
	started := e.ln != nil
	e.mu.Unlock()
	e.drain()
	var err error
	if started {
		err = e.server.ShutdownWithContext(ctx)
	}
	for _, c := range e.clients {
		c.CloseIdleConnections()
	}
	return err
}

// serve is the edge's handler.
func (e *Edge) serve(ctx *fasthttp.RequestCtx) {
	rt := e.match(ctx)
	if rt == nil {
		e.fallback(ctx)
		return
	}
	e.proxy(ctx, rt)
}

// match returns the route the edge proxies ctx's request on, or nil for the
// fallback.
func (e *Edge) match(ctx *fasthttp.RequestCtx) *edgeRoute {
	h := &ctx.Request.Header
	method := proxiedMethod(h)
	if method == "" {
		return nil
	}
	path, query, _ := bytes.Cut(h.RequestURI(), []byte{'?'})
	if !plainPath(path) || !plainText(query) || !plainText(h.Host()) || !plainConnection(h) {
		return nil
	}
	r := e.matchers.Get().(*http.Request)
	r.Method, r.URL.Path = method, string(path)
	handler, _ := e.matcher.Handler(r)
	r.URL.Path = ""
	e.matchers.Put(r)
	rt, _ := handler.(*edgeRoute)
	return rt
}

// proxiedMethod is the method of h when the edge may proxy it (the methods
// of API routes), else "".
func proxiedMethod(h *fasthttp.RequestHeader) string {
	switch {
	case h.IsGet():
		return http.MethodGet
	case h.IsPost():
		return http.MethodPost
	case h.IsPut():
		return http.MethodPut
	case h.IsDelete():
		return http.MethodDelete
	case h.IsPatch():
		return http.MethodPatch
	case h.IsHead():
		return http.MethodHead
	}
	return ""
}

// plainPath reports whether path is an absolute path that ServeMux routes
// and a service's URL.EscapedPath returns unchanged: unreserved and
// sub-delimiter characters, ':', '@' and '/', no escapes, no empty or dot
// segments.
func plainPath(path []byte) bool {
	if len(path) == 0 || path[0] != '/' {
		return false
	}
	for i, c := range path {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '/':
			if i+1 < len(path) && (path[i+1] == '/' || path[i+1] == '.') {
				return false
			}
		case c == '-', c == '.', c == '_', c == '~', c == ':', c == '@', c == '!', c == '$', c == '&',
			c == '\'', c == '(', c == ')', c == '*', c == '+', c == ',', c == ';', c == '=':
		default:
			return false
		}
	}
	return true
}

// plainText reports whether b is printable ASCII without spaces.
func plainText(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// plainConnection reports whether the request has none of the headers a
// proxy must act on: Upgrade, TE, Trailer, or a Connection header naming
// more than close or keep-alive.
func plainConnection(h *fasthttp.RequestHeader) bool {
	if h.Peek("Upgrade") != nil || h.Peek("Te") != nil || h.Peek("Trailer") != nil {
		return false
	}
	c := h.Peek("Connection")
	return c == nil || bytes.EqualFold(c, []byte("close")) || bytes.EqualFold(c, []byte("keep-alive"))
}

// edgeCall is one request on the edge's own path.
type edgeCall struct {
	ctx         *fasthttp.RequestCtx
	rt          *edgeRoute
	path, query string // as sent: plain (see match)
	requestID   string
	rctx        context.Context // carries the request ID
	principal   auth.Principal
	rate        *rateResult // set once the limiter decided
}

// proxy serves a request the edge proxies itself: Guard, then the proxy, in
// the net/http chain's order, with its answers.
func (e *Edge) proxy(ctx *fasthttp.RequestCtx, rt *edgeRoute) {
	start := time.Now()
	done := e.cfg.Metrics.InFlight()
	defer done()
	id := httpx.AcceptRequestID(string(ctx.Request.Header.Peek(httpx.RequestIDHeader)))
	c := &edgeCall{ctx: ctx, rt: rt, requestID: id, rctx: httpx.WithRequestID(e.base, id)}
	path, query, _ := bytes.Cut(ctx.Request.Header.RequestURI(), []byte{'?'})
	c.path, c.query = string(path), string(query)
	defer func() {
		if v := recover(); v != nil {
			e.s.log.ErrorContext(c.rctx, "handler panicked", "method", string(ctx.Method()), "path", c.path,
				"request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			ctx.Response.Reset()
			e.problem(c, httpx.Errorf(http.StatusInternalServerError, "internal error; see server logs for request %s", id))
		}
		e.cfg.Metrics.Record(c.rctx, e.cfg.Log, httpx.Served{
			Method: string(ctx.Method()), Path: c.path, Route: rt.pattern, Status: ctx.Response.StatusCode(),
			Bytes: int64(len(ctx.Response.Body())), Elapsed: time.Since(start), RequestID: id,
		})
	}()
	if body := ctx.Request.Body(); int64(len(body)) > e.cfg.BodyLimit {
		// fasthttp refuses such bodies before this (unreadable); kept for
		// a server configured otherwise.
		e.problem(c, httpx.Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d bytes",
			len(body), e.cfg.BodyLimit))
		return
	}
	if rt.permission == "" {
		// Public, as Guard lets it be: no identity, limit or audit.
		e.forward(c)
		e.decorate(c)
		return
	}
	if err := e.guard(c); err != nil {
		e.problem(c, err)
		return
	}
	e.forward(c)
	if rt.mutating {
		e.s.record(c.rctx, c.principal, rt.pattern, c.path, ctx.Response.StatusCode())
	}
	e.decorate(c)
}

// guard is Service.Guard on the edge: authentication, authorisation, the
// caller's rate limit. It returns the refusal to answer with.
func (e *Edge) guard(c *edgeCall) error {
	s, h := e.s, &c.ctx.Request.Header
	p, err := s.authn.authenticate(c.rctx, string(h.Peek("Authorization")), string(h.Peek("X-Api-Key")))
	if err != nil {
		return s.refusal(c.rctx, err)
	}
	c.principal = p
	if !p.Role.Can(c.rt.permission) {
		s.metrics.denied.WithLabelValues("forbidden").Inc()
		if c.rt.mutating {
			s.record(c.rctx, p, c.rt.pattern, c.path, http.StatusForbidden)
		}
		return httpx.Errorf(http.StatusForbidden, "role %q may not %s (needs %s)", p.Role, c.rt.pattern, c.rt.permission)
	}
	if s.limiter == nil {
		return nil
	}
	res, err := s.limiter.allow(c.rctx, p.Subject)
	if err != nil {
		// Failing open, as Guard does.
		s.log.WarnContext(c.rctx, "rate limit unavailable; request allowed", "err", err)
		return nil
	}
	c.rate = &res
	if !res.allowed {
		s.metrics.rateLimited.Inc()
		return httpx.Errorf(http.StatusTooManyRequests, "rate limit of %d requests per %s (burst %d) exceeded; retry in %ds",
			s.cfg.RateLimit.Requests, s.cfg.RateLimit.Period, s.cfg.RateLimit.Burst, max(ceilSeconds(res.retryAfter), 1))
	}
	return nil
}

// forward sends the request to its service and reads the answer into the
// client's response.
func (e *Edge) forward(c *edgeCall) {
	in, up := &c.ctx.Request, c.rt.up
	out := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(out)
	for k, v := range in.Header.All() {
		if !keptAtEdge[string(k)] {
			out.Header.AddBytesKV(k, v)
		}
	}
	out.Header.SetMethodBytes(in.Header.Method())
	out.SetRequestURIBytes(in.Header.RequestURI())
	if up.https {
		out.URI().SetScheme("https")
	}
	out.Header.SetHost(up.host)
	oh := &out.Header
	var ipBuf [64]byte
	if tcp, ok := c.ctx.RemoteAddr().(*net.TCPAddr); ok {
		oh.SetCanonical([]byte(hdrXForwardedFor), tcp.AddrPort().Addr().Unmap().AppendTo(ipBuf[:0]))
	}
	oh.SetCanonical([]byte(hdrXForwardedHost), in.Header.Host())
	proto := "http"
	if c.ctx.IsTLS() {
		proto = "https"
	}
	oh.Set(hdrXForwardedProto, proto)
	oh.Set(hdrRequestID, c.requestID)
	if c.rt.permission != "" {
		// Signed cannot fail for a Principal (plain strings marshal).
		identity, signature, _ := e.s.forwarder.Signed(c.principal, string(in.Header.Method()), c.path, c.query)
		oh.Set(auth.IdentityHeader, identity)
		oh.Set(auth.SignatureHeader, signature)
	}
	if body := in.Body(); len(body) > 0 {
		out.SetBodyRaw(body)
	}

	resp := &c.ctx.Response
	if err := up.client.Do(out, resp); err != nil {
		resp.Reset()
		e.problem(c, e.s.upstreamError(c.rctx, up.name, string(in.Header.Method()), c.path, err))
		return
	}
	// The client's connection is not the service's: its Connection: close
	// and hop-by-hop headers stay here.
	resp.Header.ResetConnectionClose()
	for _, k := range [...]string{"Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Upgrade"} {
		resp.Header.Del(k)
	}
}

// keptAtEdge are the client's headers that stay at the edge: those
// dropped for every proxy, hop-by-hop headers, the forwarding headers the
// edge sets itself, and what fasthttp writes itself.
var keptAtEdge = func() map[string]bool {
	kept := map[string]bool{}
	for _, k := range append(dropped[:],
		"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Expect",
		"Forwarded", hdrXForwardedFor, hdrXForwardedHost, hdrXForwardedProto, hdrRequestID,
		"Host", "Content-Length") {
		kept[k] = true
	}
	return kept
}()

// decorate adds what every answer of the edge carries: the request ID, the
// caller's rate limit and CORS headers, as the net/http chain's
// middlewares do.
func (e *Edge) decorate(c *edgeCall) {
	h := &c.ctx.Response.Header
	h.Set(hdrRequestID, c.requestID)
	if c.rate != nil {
		c.rate.headers(h.SetBytesV)
	}
	origin := c.ctx.Request.Header.Peek("Origin")
	if len(e.s.cfg.CORS.AllowedOrigins) == 0 || origin == nil {
		return
	}
	h.Add("Vary", "Origin")
	if o := string(origin); e.s.corsAllowed(o) {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
}

// problem answers c with err as httpx.WriteError does.
func (e *Edge) problem(c *edgeCall, err error) {
	writeProblem(c.ctx, c.path, c.rctx, err)
	e.decorate(c)
}

// writeProblem writes err to ctx as httpx.WriteError would for a request
// to path whose context is rctx.
func writeProblem(ctx *fasthttp.RequestCtx, path string, rctx context.Context, err error) {
	r := (&http.Request{Method: string(ctx.Method()), URL: &url.URL{Path: path}}).WithContext(rctx)
	httpx.WriteError(&responseWriter{ctx: ctx, h: http.Header{}}, r, err)
}

// unreadable answers a request fasthttp could not read.
func (e *Edge) unreadable(ctx *fasthttp.RequestCtx, err error) {
	var (
		he      *httpx.Error
		small   *fasthttp.ErrSmallBuffer
		timeout interface{ Timeout() bool }
	)
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		he = httpx.Errorf(http.StatusRequestEntityTooLarge, "request body exceeds the limit of %d bytes", e.cfg.BodyLimit)
	case errors.As(err, &small):
		he = httpx.Errorf(http.StatusRequestHeaderFieldsTooLarge, "request headers exceed %d bytes", headerBuffer)
	case errors.As(err, &timeout) && timeout.Timeout():
		he = httpx.Errorf(http.StatusRequestTimeout, "request not received within %s", e.cfg.ReadTimeout)
	default:
		he = httpx.Errorf(http.StatusBadRequest, "malformed HTTP request: %v", err)
	}
	id := httpx.AcceptRequestID("")
	ctx.Response.Header.Set(hdrRequestID, id)
	writeProblem(ctx, "", httpx.WithRequestID(e.base, id), he)
}

// responseWriter writes an http.Handler's small answer into a fasthttp
// response.
type responseWriter struct {
	ctx         *fasthttp.RequestCtx
	h           http.Header
	wroteHeader bool
}

func (w *responseWriter) Header() http.Header { return w.h }

func (w *responseWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	for k, vs := range w.h {
		for _, v := range vs {
			w.ctx.Response.Header.Add(k, v)
		}
	}
	w.ctx.Response.SetStatusCode(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.ctx.Response.AppendBody(b)
	return len(b), nil
}

// edgeLogger sends fasthttp's own messages to the gateway's log.
type edgeLogger struct{ log *slog.Logger }

func (l edgeLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...), "component", "edge")
}

// BackgroundGoroutines are the functions of the goroutines fasthttp leaves
// running for a while after an edge shut down (its worker pool's and
// connection pools' cleaners, which end at their next tick) or for the
// process (its clock for Date headers), for goroutine leak checks.
var BackgroundGoroutines = []string{
	"github.com/valyala/fasthttp.(*workerPool).Start.func2",
	"github.com/valyala/fasthttp.(*HostClient).connsCleaner",
	"github.com/valyala/fasthttp.updateServerDate.func1",
}
