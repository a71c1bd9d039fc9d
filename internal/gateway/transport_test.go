package gateway

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// countingServer counts the connections it accepts.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func roundTrip(t *testing.T, tr *directTransport, method, url string, body io.Reader) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, body)
	require.NoError(t, err)
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return string(b)
}

func TestTransportReusesConnections(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				http.NewResponseController(w).Flush()
			}
			return
		}
		fmt.Fprint(w, "hello")
	})
	tr := newDirectTransport(time.Minute)
	t.Cleanup(tr.close)
	for i := range 10 {
		path := "/"
		if i%2 == 1 {
			path = "/chunked"
		}
		resp, err := roundTrip(t, tr, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		if path == "/" {
			require.Equal(t, "hello", readAll(t, resp))
		} else {
			require.Equal(t, "part0;part1;part2;", readAll(t, resp))
		}
	}
	require.EqualValues(t, 1, conns.Load(), "one connection for sequential requests")

	// An answer closed before its end leaves a connection that cannot be
	// reused; the next request dials.
	resp, err := roundTrip(t, tr, http.MethodGet, srv.URL+"/chunked", nil)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	resp, err = roundTrip(t, tr, http.MethodGet, srv.URL+"/", nil)
	require.NoError(t, err)
	require.Equal(t, "hello", readAll(t, resp))
	require.EqualValues(t, 2, conns.Load())
}

// A service restart closes idle connections: idempotent requests retry on a
// new one, others report the error.
func TestTransportRetriesIdempotentOnClosedIdleConnection(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Method) })
	tr := newDirectTransport(time.Minute)
	t.Cleanup(tr.close)
	warm := func() {
		resp, err := roundTrip(t, tr, http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		readAll(t, resp)
	}
	warm()
	srv.CloseClientConnections()
	resp, err := roundTrip(t, tr, http.MethodGet, srv.URL, nil)
	require.NoError(t, err, "retried on a new connection")
	require.Equal(t, "GET", readAll(t, resp))
	require.EqualValues(t, 2, conns.Load())

	srv.CloseClientConnections()
	_, err = roundTrip(t, tr, http.MethodPost, srv.URL, strings.NewReader("x"))
	require.Error(t, err, "a POST may have been seen: not retried")
	resp, err = roundTrip(t, tr, http.MethodPost, srv.URL, strings.NewReader("x"))
	require.NoError(t, err, "a new connection works")
	require.Equal(t, "POST", readAll(t, resp))
}

func TestTransportTimeoutsAndCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })

	tr := newDirectTransport(50 * time.Millisecond)
	t.Cleanup(tr.close)
	_, err := roundTrip(t, tr, http.MethodGet, srv.URL, nil)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "header timeout: %v", err)

	slow := newDirectTransport(time.Minute)
	t.Cleanup(slow.close)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	done := make(chan error, 1)
	go func() {
		_, err := slow.RoundTrip(req)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled request did not return")
	}
}

func TestTransportProtocolCorners(t *testing.T) {
	t.Parallel()
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", string(b))
		w.WriteHeader(http.StatusAccepted)
	})
	tr := newDirectTransport(time.Minute)
	t.Cleanup(tr.close)

	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err, "1xx answers are skipped")
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, "payload", resp.Header.Get("X-Echo"))
	readAll(t, resp)

	resp, err = roundTrip(t, tr, http.MethodHead, srv.URL, nil)
	require.NoError(t, err)
	readAll(t, resp)

	up, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	up.Header.Set("Upgrade", "websocket")
	_, err = tr.RoundTrip(up)
	require.ErrorIs(t, err, errUpgrade)
	_, err = roundTrip(t, tr, http.MethodGet, strings.Replace(srv.URL, "http:", "https:", 1), nil)
	require.ErrorContains(t, err, "only http")
}

// writeRequest writes what req.Write writes, up to the order of headers,
// by hand or through req.Write.
func TestWriteRequestMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		method, url, host string
		header            http.Header
		body              string
		byHand            bool
	}{
		"get":             {method: "GET", url: "http://svc:3011/api/v1/agents/x?a=b%20c&d", header: http.Header{"Accept": {"*/*"}, "X-Two": {"1", "2"}}, byHand: true},
		"head":            {method: "HEAD", url: "http://svc/a%2Fb/c", byHand: true},
		"no user agent":   {method: "GET", url: "http://svc/x", header: http.Header{"User-Agent": {""}}, byHand: true},
		"user agent":      {method: "GET", url: "http://svc/x", header: http.Header{"User-Agent": {"wrk"}}, byHand: true},
		"host override":   {method: "GET", url: "http://svc/x", host: "example.com:8080", byHand: true},
		"excluded keys":   {method: "GET", url: "http://svc/x", header: http.Header{"Host": {"evil"}, "Content-Length": {"5"}, "Trailer": {"X"}}, byHand: true},
		"post":            {method: "POST", url: "http://svc/x", body: "hello"},
		"post, no body":   {method: "POST", url: "http://svc/x"},
		"value to trim":   {method: "GET", url: "http://svc/x", header: http.Header{"X-A": {" padded "}}},
		"value with CRLF": {method: "GET", url: "http://svc/x", header: http.Header{"X-A": {"a\r\nX-Injected: 1"}}},
		"invalid name":    {method: "GET", url: "http://svc/x", header: http.Header{"X A": {"1"}}},
		"unicode host":    {method: "GET", url: "http://svc/x", host: "bücher.example"},
	} {
		build := func() *http.Request {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, tc.url, body)
			require.NoError(t, err, name)
			req.Host = tc.host
			for k, v := range tc.header {
				req.Header[k] = v
			}
			return req
		}
		req := build()
		require.Equal(t, tc.byHand, plainRequest(req, cmp.Or(req.Host, req.URL.Host), req.URL.RequestURI()), name)
		var want, got strings.Builder
		require.NoError(t, build().Write(&want), name)
		bw := bufio.NewWriter(&got)
		require.NoError(t, writeRequest(bw, req), name)
		require.NoError(t, bw.Flush(), name)
		parse := func(s string) *http.Request {
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(s)))
			require.NoError(t, err, "%s: %q", name, s)
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err, name)
			require.Equal(t, tc.body, string(b), name)
			return r
		}
		w, g := parse(want.String()), parse(got.String())
		require.Equal(t, w.Method, g.Method, name)
		require.Equal(t, w.RequestURI, g.RequestURI, name)
		require.Equal(t, w.Host, g.Host, name)
		require.Equal(t, w.Header, g.Header, name)
		require.Equal(t, len(want.String()), len(got.String()), name)
	}
}
