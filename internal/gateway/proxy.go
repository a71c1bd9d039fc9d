package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strings"
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

	// The direct path (serveDirect), for a target of plain http with no
	// path or query of its own; s is nil otherwise.
	s         *Service
	transport *directTransport
	host      string // Host header
	addr      string // host:port to dial
}

func (s *Service) newUpstream(u Upstream, transport http.RoundTripper) (*upstream, error) {
	target, err := url.Parse(u.URL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("upstream %s: URL %q must be an absolute http or https URL", u.Name, u.URL)
	}
	up := &upstream{name: u.Name}
	if dt, ok := transport.(*directTransport); ok && target.Scheme == "http" && target.Path == "" && target.RawPath == "" &&
		target.RawQuery == "" && !target.ForceQuery && target.User == nil && plainHost(target.Host) {
		up.s, up.transport, up.host, up.addr = s, dt, target.Host, hostPort(target.Host)
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

// Canonical forms of the headers the proxy sets or removes: the map is
// written directly, without Header.Set's canonicalisation, on every request.
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

// rewrite prepares the request to a service: what
// httputil.ProxyRequest.SetXForwarded does (ReverseProxy has removed the
// client's X-Forwarded-* already), minus the client's credentials, plus the
// request ID and the signed identity. The values share one allocation.
func (s *Service) rewrite(pr *httputil.ProxyRequest) {
	h := pr.Out.Header
	for _, k := range dropped {
		delete(h, k)
	}
	v := make([]string, 4)
	if clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		v[0] = clientIP
		h[hdrXForwardedFor] = v[0:1:1]
	} else {
		delete(h, hdrXForwardedFor)
	}
	v[1], v[2] = pr.In.Host, "http"
	if pr.In.TLS != nil {
		v[2] = "https"
	}
	h[hdrXForwardedHost], h[hdrXForwardedProto] = v[1:2:2], v[2:3:3]
	if id := httpx.RequestID(pr.In.Context()); id != "" {
		v[3] = id
		h[hdrRequestID] = v[3:4:4]
	}
	if p, ok := auth.FromContext(pr.In.Context()); ok {
		// Sign cannot fail for a Principal (plain strings marshal).
		_ = s.forwarder.Sign(h, p, pr.Out.Method, pr.Out.URL.EscapedPath(), pr.Out.URL.RawQuery)
	}
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
			if up.s != nil && directRequest(r) {
				up.serveDirect(w, r)
				return nil
			}
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

// The direct path. ReverseProxy builds an outgoing request per request (a
// copy of the request, its URL and its headers, a ProxyRequest, a client
// trace for 1xx answers and its context) and the transport then writes it.
// For what most calls are — a GET or HEAD without a body and without
// connection-level headers — serveDirect writes the outgoing request
// straight from the incoming one instead, with exactly the headers
// ReverseProxy and rewrite would send, and answers as ReverseProxy does.
// Anything else takes ReverseProxy.

// directRequest reports whether r may take the direct path: GET or HEAD,
// no body, none of the headers ReverseProxy treats specially (Connection
// and what it names, TE, Upgrade), and headers, target and host that
// writing by hand sends unchanged.
func directRequest(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if (r.Body != nil && r.Body != http.NoBody) || r.ContentLength != 0 || len(r.TransferEncoding) > 0 || r.Close {
		return false
	}
	for _, k := range [...]string{"Connection", "Te", "Upgrade", "Trailer", "Proxy-Connection"} {
		if _, ok := r.Header[k]; ok {
			return false
		}
	}
	for i := 0; i < len(r.Host); i++ {
		if c := r.Host[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	for i := 0; i < len(r.RemoteAddr); i++ {
		if c := r.RemoteAddr[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return plainRequest(r, "host", r.URL.RequestURI())
}

// plainHost reports whether a target host can be written as it is.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '/' {
			return false
		}
	}
	return host != ""
}

// notForwarded are the headers the direct path does not copy from the
// client: hop-by-hop headers (ReverseProxy's list), the X-Forwarded-*
// and Forwarded that ReverseProxy removes in Rewrite mode (rewrite sets
// its own), dropped, and those req.Write leaves out or writes itself.
var notForwarded = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Forwarded": true, hdrXForwardedFor: true, hdrXForwardedHost: true, hdrXForwardedProto: true,
	"Authorization": true, "X-Api-Key": true, "Cookie": true, auth.IdentityHeader: true, auth.SignatureHeader: true,
	"Host": true, "User-Agent": true, "Content-Length": true,
}

// serveDirect proxies r, which directRequest accepted.
func (up *upstream) serveDirect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	reqID := httpx.RequestID(ctx)
	var identity, signature string
	p, signed := auth.FromContext(ctx)
	if signed {
		// Signed cannot fail for a Principal (plain strings marshal).
		identity, signature, _ = up.s.forwarder.Signed(p, r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	}
	clientIP, _, ipErr := net.SplitHostPort(r.RemoteAddr)
	write := func(bw *bufio.Writer) error {
		line := func(k, v string) {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
		bw.WriteString(r.Method)
		bw.WriteByte(' ')
		bw.WriteString(r.URL.RequestURI())
		bw.WriteString(" HTTP/1.1\r\n")
		line("Host", up.host)
		// ReverseProxy sends the client's User-Agent, or none.
		if ua := r.Header.Get("User-Agent"); ua != "" {
			line("User-Agent", ua)
		}
		for k, vs := range r.Header {
			if notForwarded[k] || (k == hdrRequestID && reqID != "") {
				continue
			}
			for _, v := range vs {
				line(k, v)
			}
		}
		if ipErr == nil {
			line(hdrXForwardedFor, clientIP)
		}
		line(hdrXForwardedHost, r.Host)
		if r.TLS == nil {
			line(hdrXForwardedProto, "http")
		} else {
			line(hdrXForwardedProto, "https")
		}
		if reqID != "" {
			line(hdrRequestID, reqID)
		}
		if signed {
			line(auth.IdentityHeader, identity)
			line(auth.SignatureHeader, signature)
		}
		_, err := bw.WriteString("\r\n")
		return err
	}
	resp, err := up.transport.roundTrip(r, up.addr, write)
	if err != nil {
		up.s.upstreamFailed(w, r, up.name, err)
		return
	}
	defer resp.Body.Close()

	// From here on as ReverseProxy.ServeHTTP, with ModifyResponse's
	// removal of the service's copy of the request ID.
	removeHopByHop(resp.Header)
	if reqID != "" {
		delete(resp.Header, hdrRequestID)
	}
	dst := w.Header()
	for k, vv := range resp.Header {
		if _, ok := dst[k]; ok {
			dst[k] = append(dst[k], vv...)
		} else {
			dst[k] = vv // resp.Header is not used again
		}
	}
	announcedTrailers := len(resp.Trailer)
	if announcedTrailers > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	// Server-sent events and answers of unknown length are flushed write
	// by write (ReverseProxy's flush interval -1), others are not.
	var flush func() error
	if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); resp.ContentLength == -1 ||
		strings.EqualFold(strings.TrimSpace(ct), "text/event-stream") {
		flush = http.NewResponseController(w).Flush
		_ = flush()
	}
	buf := buffers.Get().(*[32 << 10]byte)
	defer buffers.Put(buf)
	for {
		nr, rerr := resp.Body.Read(buf[:])
		if rerr != nil && rerr != io.EOF && !errors.Is(rerr, context.Canceled) {
			up.s.log.WarnContext(ctx, "httputil: ReverseProxy read error during body copy", "service", up.name, "err", rerr)
		}
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr == nil && nw != nr {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				panic(http.ErrAbortHandler) // as ReverseProxy: the answer is broken off
			}
			if flush != nil {
				_ = flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			panic(http.ErrAbortHandler)
		}
	}
	resp.Body.Close() // now, to read the trailers
	if len(resp.Trailer) > 0 {
		// Force chunking, as ReverseProxy does.
		_ = http.NewResponseController(w).Flush()
	}
	if len(resp.Trailer) == announcedTrailers {
		for k, vv := range resp.Trailer {
			for _, v := range vv {
				dst.Add(k, v)
			}
		}
		return
	}
	for k, vv := range resp.Trailer {
		for _, v := range vv {
			dst.Add(http.TrailerPrefix+k, v)
		}
	}
}

// removeHopByHop removes the headers named in Connection and the
// hop-by-hop headers, as ReverseProxy does with an answer.
func removeHopByHop(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for _, k := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		delete(h, k)
	}
}
