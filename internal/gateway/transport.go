package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// directTransport is the HTTP/1.1 client of the proxy. Unlike
// http.Transport, which serves each connection with a reader and a writer
// goroutine and hands every request and answer across channels, it writes
// the request and reads the answer's headers on the calling goroutine. On a
// busy two-core box those hand-offs, each a goroutine wake-up, were most of
// the latency a proxy hop added.
//
// It speaks plain HTTP/1.1 to one kind of peer, ossa services, and keeps
// idle connections per host. An idempotent request without a body that
// fails on a reused connection before any answer byte arrives is retried
// once on a new connection: the service may have closed the idle one (a
// restart). Other requests get the error, as http.Transport does when it
// cannot tell whether the service saw the request.
type directTransport struct {
	dialer *net.Dialer
	// headerTimeout bounds the wait for the answer's headers.
	headerTimeout time.Duration
	maxIdle       int

	mu     sync.Mutex
	idle   map[string][]*persistConn
	closed bool
}

type persistConn struct {
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

func newDirectTransport(headerTimeout time.Duration) *directTransport {
	return &directTransport{
		dialer:        &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		headerTimeout: headerTimeout,
		maxIdle:       1024,
		idle:          map[string][]*persistConn{},
	}
}

// errUpgrade refuses protocol switches, which no ossa route uses.
var errUpgrade = errors.New("protocol upgrades are not proxied")

// RoundTrip implements http.RoundTripper.
func (t *directTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, fmt.Errorf("direct transport: scheme %q: only http", req.URL.Scheme)
	}
	if req.Header.Get("Upgrade") != "" {
		return nil, errUpgrade
	}
	return t.roundTrip(req, hostPort(req.URL.Host), nil)
}

// hostPort is host with port 80 when it names none.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err != nil {
		return net.JoinHostPort(host, "80")
	}
	return host
}

// roundTrip sends req to addr and reads the answer's headers. write, when
// set, writes the request instead of writeRequest: the proxy's direct path
// writes the outgoing request from the incoming one without building it.
// req then only provides the context, the method (for retries and reading
// the answer) and the body (none).
func (t *directTransport) roundTrip(req *http.Request, addr string, write func(*bufio.Writer) error) (*http.Response, error) {
	pc, reused, err := t.conn(req.Context(), addr)
	if err != nil {
		return nil, err
	}
	resp, stop, err := t.exchange(req, pc, write)
	if err != nil && reused && retryable(req) && req.Context().Err() == nil {
		var ae answeredError
		if !errors.As(err, &ae) {
			// The service closed the idle connection first; try a new one.
			if pc, err = t.dial(req.Context(), addr); err != nil {
				return nil, err
			}
			resp, stop, err = t.exchange(req, pc, write)
		}
	}
	if err != nil {
		return nil, err
	}
	resp.Body = &body{ReadCloser: resp.Body, t: t, pc: pc, addr: addr, stop: stop, reusable: !resp.Close && !req.Close}
	return resp, nil
}

// retryable reports whether req may be sent twice.
func retryable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// answeredError marks a failure after the service began to answer, which
// must not be retried.
type answeredError struct{ error }

func (e answeredError) Unwrap() error { return e.error }

// exchange writes req and reads the answer's headers on pc. The connection
// is closed on failure. Until stop is called, the end of the request's
// context breaks off the exchange and the reading of the body.
func (t *directTransport) exchange(req *http.Request, pc *persistConn, write func(*bufio.Writer) error) (resp *http.Response, stop func() bool, err error) {
	stop = context.AfterFunc(req.Context(), func() {
		_ = pc.conn.SetDeadline(time.Unix(1, 0)) // unblock reads and writes now
	})
	fail := func(err error) (*http.Response, func() bool, error) {
		stop()
		pc.conn.Close()
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, nil, ctxErr
		}
		return nil, nil, err
	}
	if t.headerTimeout > 0 {
		_ = pc.conn.SetDeadline(time.Now().Add(t.headerTimeout))
	}
	if write == nil {
		err = writeRequest(pc.bw, req)
	} else {
		err = write(pc.bw)
	}
	if err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	for {
		r, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if _, peekErr := pc.br.Peek(1); peekErr == nil {
				err = answeredError{err}
			}
			return fail(err)
		}
		if r.StatusCode >= 100 && r.StatusCode < 200 {
			if r.StatusCode == http.StatusSwitchingProtocols {
				return fail(answeredError{errUpgrade})
			}
			continue // 100 Continue and the like: the answer follows
		}
		resp = r
		break
	}
	// The body may stream for long (server-sent events): no deadline while
	// it is read, but the request's context still ends it.
	_ = pc.conn.SetDeadline(time.Time{})
	return resp, stop, nil
}

// conn returns an idle connection to addr, or a new one.
func (t *directTransport) conn(ctx context.Context, addr string) (*persistConn, bool, error) {
	t.mu.Lock()
	if l := t.idle[addr]; len(l) > 0 {
		pc := l[len(l)-1]
		t.idle[addr] = l[:len(l)-1]
		t.mu.Unlock()
		return pc, true, nil
	}
	t.mu.Unlock()
	pc, err := t.dial(ctx, addr)
	return pc, false, err
}

func (t *directTransport) dial(ctx context.Context, addr string) (*persistConn, error) {
	c, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &persistConn{conn: c, br: bufio.NewReaderSize(c, 4<<10), bw: bufio.NewWriterSize(c, 4<<10)}, nil
}

// put returns a connection whose answer was read to the end.
func (t *directTransport) put(addr string, pc *persistConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.idle[addr]) >= t.maxIdle || pc.br.Buffered() > 0 {
		pc.conn.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], pc)
}

// close closes every idle connection and every connection returned later.
func (t *directTransport) close() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*persistConn{}
	t.closed = true
	t.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.conn.Close()
		}
	}
}

// body returns the connection to the pool once the answer was read to its
// end, and closes it otherwise.
type body struct {
	io.ReadCloser
	t    *directTransport
	pc   *persistConn
	addr string
	// stop ends the context watch; false means the context ended and may
	// have broken the connection.
	stop     func() bool
	reusable bool
	eof      bool
	done     bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *body) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	watched := b.stop()
	err := b.ReadCloser.Close()
	if watched && b.eof && b.reusable && err == nil {
		b.t.put(b.addr, b.pc)
		return nil
	}
	b.pc.conn.Close()
	return err
}

// writeRequest writes req to bw as req.Write does. The proxy's common case,
// a GET or HEAD without a body whose host, target and headers need no
// cleaning, is written by hand: req.Write formats the first lines with
// fmt.Fprintf and sorts the headers, which allocated four times and cost
// a few percent of the gateway's CPU per request. Everything else goes to
// req.Write. The two differ only in the order of the header lines.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	ruri := req.URL.RequestURI()
	if !plainRequest(req, host, ruri) {
		return req.Write(bw)
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(ruri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	// As req.Write: Go's User-Agent unless the header is there, and none
	// when it is there but empty (ReverseProxy's way of sending none).
	ua := "Go-http-client/1.1"
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}
	for k, vs := range req.Header {
		if reqWriteExcluded(k) {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// plainRequest reports whether writeRequest may write req by hand: a GET
// or HEAD without a body, trailers or Connection: close, whose host, target
// and headers req.Write would write unchanged (no punycode, zone, control
// characters, invalid names, or values it would trim or fold).
func plainRequest(req *http.Request, host, ruri string) bool {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return false
	}
	if (req.Body != nil && req.Body != http.NoBody) || req.ContentLength != 0 ||
		len(req.TransferEncoding) > 0 || req.Trailer != nil || req.Close || ruri == "" || host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '/' {
			return false
		}
	}
	for i := 0; i < len(ruri); i++ {
		if c := ruri[i]; c < ' ' || c >= 0x7f {
			return false
		}
	}
	for k, vs := range req.Header {
		if !isToken(k) {
			return false
		}
		for _, v := range vs {
			if v != "" && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
				return false
			}
			for i := 0; i < len(v); i++ {
				if v[i] == '\r' || v[i] == '\n' {
					return false
				}
			}
		}
	}
	return true
}

// reqWriteExcluded are the header keys req.Write leaves out or writes
// itself.
func reqWriteExcluded(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// isToken reports whether s is a valid header field name (an RFC 9110
// token).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
