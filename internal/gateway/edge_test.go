package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// The edge proxies plain calls of non-streaming proxied routes itself and
// leaves everything else to the net/http chain.
func TestEdgeRouting(t *testing.T) {
	t.Parallel()
	f := proxyFixture(t, "http://127.0.0.1:1", (&service{}).routes())
	for _, tc := range []struct {
		request string
		native  bool
	}{
		{"GET /api/v1/things HTTP/1.1", true},
		{"HEAD /api/v1/things HTTP/1.1", true},
		{"POST /api/v1/things/42 HTTP/1.1", true},
		{"POST /api/v1/things/a:b@c~d HTTP/1.1", true},
		{"GET /api/v1/things?x=1&y=%20&z=%2F HTTP/1.1", true},
		{"GET /api/v1/things HTTP/1.1\r\nConnection: close", true},
		{"GET /api/v1/stream HTTP/1.1", false},     // Streams
		{"GET /api/v1/keys HTTP/1.1", false},       // the gateway's own
		{"GET /livez HTTP/1.1", false},             // the app's
		{"OPTIONS /api/v1/things HTTP/1.1", false}, // preflight
		{"POST /api/v1/things HTTP/1.1", false},    // 405
		{"GET /api/v1/things/ HTTP/1.1", false},    // 404
		{"GET //api/v1/things HTTP/1.1", false},    // redirect
		{"GET /api/v1/./things HTTP/1.1", false},   // redirect
		{"GET /api/v1/thing%73 HTTP/1.1", false},   // escapes
		{"GET http://gw/api/v1/things HTTP/1.1", false},
		{"GET /api/v1/things HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade", false},
		{"GET /api/v1/things HTTP/1.1\r\nConnection: X-Hop", false},
		{"GET /api/v1/things HTTP/1.1\r\nTE: trailers", false},
	} {
		var ctx fasthttp.RequestCtx
		require.NoError(t, ctx.Request.Read(bufio.NewReader(strings.NewReader(tc.request+"\r\nHost: gw\r\n\r\n"))), tc.request)
		require.Equal(t, tc.native, f.edge.match(&ctx) != nil, tc.request)
	}
}

// A service gets the same request from the edge as from the net/http proxy,
// and the client the same answer.
func TestEdgeMatchesFallback(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := proxyFixture(t, svc.url, svc.routes())
	header := http.Header{
		"Authorization":     {"Bearer " + adminKey},
		"X-Request-Id":      {"req-edge-1"},
		"User-Agent":        {"probe/1"},
		"Accept":            {"application/json"},
		"Content-Type":      {"application/json"},
		"X-Custom":          {"1", "2"},
		"X-Forwarded-For":   {"203.0.113.9"},
		"X-Forwarded-Host":  {"evil.example.com"},
		"Forwarded":         {"for=203.0.113.9"},
		"Cookie":            {"a=b"},
		"X-Api-Key":         {"ossa_other"},
		"Keep-Alive":        {"timeout=5"},
		"X-Empty":           {""},
		"X_underscore":      {"u"},
		"X-Spaced":          {"a  b"},
		auth.IdentityHeader: {"forged"},
	}
	send := func(method, target string, body []byte, extra http.Header) (response, http.Header) {
		req, _ := http.NewRequest(method, f.url+target, bytes.NewReader(body))
		req.Header = header.Clone()
		for k, v := range extra {
			req.Header[k] = v
		}
		r := do(t, req)
		require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
		seen := <-svc.seen
		require.NotEmpty(t, seen.Get(auth.SignatureHeader))
		seen.Del(auth.SignatureHeader) // its timestamp may differ; the service checked it
		r.header.Del("Date")
		r.header.Del("Ratelimit-Remaining") // one less the second time
		return r, seen
	}
	// Connection naming a header sends a request to the fallback.
	viaFallback := http.Header{"Connection": {"X-Hop"}, "X-Hop": {"1"}}
	for _, tc := range []struct {
		method, target string
		body           []byte
	}{
		{http.MethodGet, "/api/v1/things?x=1&y=%20", nil},
		{http.MethodPost, "/api/v1/things/a:b@c?z=%2F", []byte(`{"n": 1}`)},
	} {
		native, nativeSeen := send(tc.method, tc.target, tc.body, nil)
		fallback, fallbackSeen := send(tc.method, tc.target, tc.body, viaFallback)
		require.Equal(t, fallbackSeen, nativeSeen, tc.target)
		require.Equal(t, fallback.header, native.header, tc.target)
		require.Equal(t, fallback.raw, native.raw, tc.target)

		require.Equal(t, []string{"probe/1"}, nativeSeen.Values("User-Agent"))
		require.Equal(t, []string{"1", "2"}, nativeSeen.Values("X-Custom"))
		require.Equal(t, []string{"127.0.0.1"}, nativeSeen.Values("X-Forwarded-For"))
		require.Equal(t, strings.TrimPrefix(f.url, "http://"), nativeSeen.Get("X-Forwarded-Host"))
		require.Empty(t, nativeSeen.Get("Forwarded"))
		require.Empty(t, nativeSeen.Get("Cookie"))
		require.Empty(t, nativeSeen.Get("X-Api-Key"))
		require.Empty(t, nativeSeen.Get("Authorization"))
		require.Empty(t, nativeSeen.Get("Keep-Alive"))
		require.NotEqual(t, "forged", nativeSeen.Get(auth.IdentityHeader))
		require.Equal(t, []string{"req-edge-1"}, native.header.Values("X-Request-Id"))
	}

	// HEAD, which GET routes take, has the GET's headers and no body.
	req, _ := http.NewRequest(http.MethodHead, f.url+"/api/v1/things", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	r := do(t, req)
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.raw)
	require.NotEmpty(t, r.header.Get("Content-Length"))
	<-svc.seen
}

// What the edge refuses, it refuses as the net/http chain does, before the
// service sees anything.
func TestEdgeRefusals(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := proxyFixture(t, svc.url, svc.routes())

	// Raw requests: the edge answers before reading what it refuses.
	raw := func(request string) *http.Response {
		conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		_, err = fmt.Fprint(conn, request)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		require.Equal(t, httpx.ProblemContentType, resp.Header.Get("Content-Type"))
		return resp
	}
	resp := raw(fmt.Sprintf("POST /api/v1/things/1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n",
		adminKey, httpx.DefaultBodyLimit+1))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	// A request fasthttp cannot read gets a problem too.
	resp = raw("GET /api/v1/things HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp = raw("GET /api/v1/things HTTP/1.1\r\nHost: gw\r\nX-Big: " + strings.Repeat("b", headerBuffer) + "\r\n\r\n")
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

	req, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/things", nil)
	req.Header.Set("X-Request-ID", "bad id with spaces")
	r := do(t, req)
	require.Equal(t, http.StatusUnauthorized, r.status)
	require.Equal(t, authChallenge, r.header.Get("WWW-Authenticate"))
	id := r.header.Get("X-Request-ID")
	require.Len(t, id, 24, "a fresh request ID replaces one that is not sane")
	require.Equal(t, id, r.body["request_id"])
	require.Equal(t, "/api/v1/things", r.body["instance"])

	select {
	case h := <-svc.seen:
		t.Fatalf("the service saw a refused request: %v", h)
	default:
	}
}

// A service that answers garbage, too late or not at all gets the client a
// problem; one that closed a kept-alive connection costs nothing.
func TestEdgeUpstreamFailures(t *testing.T) {
	t.Parallel()
	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { garbage.Close() })
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("this is not HTTP\r\n\r\n"))
			c.Close()
		}
	}()
	routes := (&service{}).routes()
	g := proxyFixture(t, "http://"+garbage.Addr().String(), routes)
	r := call(t, http.MethodGet, g.url+"/api/v1/things", adminKey, nil)
	require.Equal(t, http.StatusBadGateway, r.status, "%s", r.raw)
	require.Contains(t, r.body["detail"], "service things failed to answer")

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	cfg := testConfig(t)
	cfg.UpstreamTimeout = 200 * time.Millisecond
	s := newFixture(t, cfg, func(d *Deps) {
		d.InternalSecret = internalSecret
		d.Upstreams = []Upstream{{Name: "things", URL: slow.URL, Routes: routes}}
	})
	r = call(t, http.MethodGet, s.url+"/api/v1/things", adminKey, nil)
	require.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r.raw)
	require.Equal(t, "service things did not answer in time", r.body["detail"])

	var calls atomic.Int64
	restarting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	}))
	t.Cleanup(restarting.Close)
	k := proxyFixture(t, restarting.URL, routes)
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, k.url+"/api/v1/things", adminKey, nil).status)
	restarting.CloseClientConnections() // the edge's pooled connection is now dead
	require.Equal(t, http.StatusOK, call(t, http.MethodGet, k.url+"/api/v1/things", adminKey, nil).status)
	require.EqualValues(t, 2, calls.Load())
}

// The edge counts its requests by route pattern, as httpx.Observe does.
func TestEdgeMetrics(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := proxyFixture(t, svc.url, svc.routes())
	require.Equal(t, http.StatusOK, call(t, http.MethodPost, f.url+"/api/v1/things/7", adminKey, nil).status)
	<-svc.seen
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodPost, f.url+"/api/v1/things/7", "", nil).status)
	expected := `
# HELP ossa_http_requests_total HTTP requests by method, route pattern and status code.
# TYPE ossa_http_requests_total counter
ossa_http_requests_total{code="200",method="POST",route="POST /api/v1/things/{id}"} 1
ossa_http_requests_total{code="401",method="POST",route="POST /api/v1/things/{id}"} 1
`
	require.NoError(t, testutil.GatherAndCompare(f.registry, strings.NewReader(expected), "ossa_http_requests_total"))
}

// Shutdown lets a request in flight finish.
func TestEdgeShutdownDrains(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"done": "yes"})
	}))
	t.Cleanup(slow.Close)
	f := proxyFixture(t, slow.URL, (&service{}).routes())
	answered := make(chan response, 1)
	go func() { answered <- call(t, http.MethodGet, f.url+"/api/v1/things", adminKey, nil) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, f.edge.Shutdown(ctx))
	r := <-answered
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	require.Equal(t, "yes", r.body["done"])
}

// A client that leaves an event stream ends the service's stream too.
func TestEdgeStreamEndsWithClient(t *testing.T) {
	t.Parallel()
	gone := make(chan struct{})
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			fmt.Fprint(w, ": keep-alive\n\n")
			http.NewResponseController(w).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				close(gone)
				return
			case <-t.Context().Done(): // the test failed: let the cleanup stop
				return
			}
		}
	})
	_, _, stream := streamThroughEdge(t, svc, ": keep-alive\n")
	require.NoError(t, stream.Close())
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the service's stream outlived the client's")
	}
}

// A shutdown ends the streams the edge proxies instead of waiting out its
// deadline for them.
func TestEdgeShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	svc := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": open\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-t.Context().Done(): // the test failed: let the cleanup stop
		}
	})
	f, events, _ := streamThroughEdge(t, svc, ": open\n")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, f.edge.Shutdown(ctx))
	require.Less(t, time.Since(start), 5*time.Second, "the stream held the shutdown")
	_, err := io.ReadAll(events)
	require.NoError(t, err, "the stream ends cleanly")
}

// streamThroughEdge serves handler as the things service and opens its
// /api/v1/stream through the edge. It returns the fixture, the stream after
// its first line (which must be first) and its body, to close early.
func streamThroughEdge(t *testing.T, handler http.HandlerFunc, first string) (*fixture, *bufio.Reader, io.Closer) {
	t.Helper()
	svc := httptest.NewServer(handler)
	t.Cleanup(svc.Close)
	f := proxyFixture(t, svc.URL, (&service{}).routes())
	req, _ := http.NewRequest(http.MethodGet, f.url+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	events := bufio.NewReader(resp.Body)
	line, err := events.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, first, line)
	return f, events, resp.Body
}
