package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
)

const internalSecret = "internal-secret-for-tests-0123456789abcdef"

// service is a fake service in another process: its routes behind
// InternalGuard, as the app mounts them in split mode.
type service struct {
	url     string
	release chan struct{}
	seen    chan http.Header
}

func (s *service) routes() []httpx.Route {
	echo := func(w http.ResponseWriter, r *http.Request) error {
		s.seen <- r.Header.Clone()
		p, _ := auth.FromContext(r.Context())
		httpx.WriteJSON(w, http.StatusOK, p)
		return nil
	}
	stream := func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: one\n\n")
		http.NewResponseController(w).Flush()
		<-s.release
		fmt.Fprint(w, "data: two\n\n")
		return nil
	}
	return []httpx.Route{
		{Method: http.MethodGet, Path: "/api/v1/things", Handler: echo, Permission: auth.PermAgentsRead},
		{Method: http.MethodPost, Path: "/api/v1/things/{id}", Handler: echo, Permission: auth.PermAgentsWrite},
		{Method: http.MethodGet, Path: "/api/v1/stream", Handler: stream, Permission: auth.PermAgentsRead, Streams: true},
	}
}

func newService(t *testing.T) *service {
	t.Helper()
	f, err := auth.NewForwarder(internalSecret)
	require.NoError(t, err)
	s := &service{release: make(chan struct{}), seen: make(chan http.Header, 16)}
	guard := InternalGuard(f, slog.New(slog.DiscardHandler))
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern(), guard(rt, httpx.Handle(rt.Handler)))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		srv.Close()
	})
	s.url = srv.URL
	return s
}

func proxyFixture(t *testing.T, upstreamURL string, routes []httpx.Route) *fixture {
	t.Helper()
	return newFixture(t, testConfig(t), func(d *Deps) {
		d.InternalSecret = internalSecret
		d.Upstreams = []Upstream{{Name: "things", URL: upstreamURL, Routes: routes}}
		d.Clock = nil // the service checks signatures on the real clock
	})
}

func TestProxyForwardsIdentity(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := proxyFixture(t, svc.url, svc.routes())
	key, id := f.createKey(t, CreateKeyRequest{Name: "ops", Role: "operator"})

	req, _ := http.NewRequest(http.MethodPost, f.url+"/api/v1/things/42?x=1", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Request-ID", "req-proxy-1")
	// A client's own identity headers are dropped, never passed on.
	req.Header.Set(auth.IdentityHeader, "forged")
	r := do(t, req)
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	require.Equal(t, "key:"+id, r.body["subject"])
	require.Equal(t, "operator", r.body["role"])
	seen := <-svc.seen
	require.Empty(t, seen.Get("Authorization"), "the key stays at the gateway")
	require.Equal(t, "req-proxy-1", seen.Get("X-Request-ID"))
	require.NotEmpty(t, seen.Get("X-Forwarded-For"))
	require.Equal(t, []string{"req-proxy-1"}, r.header.Values("X-Request-ID"), "one request ID in the answer, not the service's copy too")

	// A GET carries the same.
	req, _ = http.NewRequest(http.MethodGet, f.url+"/api/v1/things?a=b%20c", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", "probe/1")
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // replaced, as ReverseProxy does
	r = do(t, req)
	require.Equal(t, http.StatusOK, r.status, "%s", r.raw)
	require.Equal(t, "key:"+id, r.body["subject"])
	seen = <-svc.seen
	require.Empty(t, seen.Get("Authorization"))
	require.Equal(t, "probe/1", seen.Get("User-Agent"))
	require.Equal(t, []string{"127.0.0.1"}, seen.Values("X-Forwarded-For"))
	require.Equal(t, strings.TrimPrefix(f.url, "http://"), seen.Get("X-Forwarded-Host"))
	require.Equal(t, "http", seen.Get("X-Forwarded-Proto"))
	require.Equal(t, r.header.Get("X-Request-ID"), seen.Get("X-Request-ID"))
	require.Len(t, r.header.Values("X-Request-ID"), 1)

	viewer, _ := f.createKey(t, CreateKeyRequest{Name: "v", Role: "viewer"})
	require.Equal(t, http.StatusForbidden, call(t, http.MethodPost, f.url+"/api/v1/things/42", viewer, nil).status,
		"the gateway authorises before proxying")
	require.Equal(t, http.StatusUnauthorized, call(t, http.MethodGet, f.url+"/api/v1/things", "", nil).status)
}

// Calls that do not come through the gateway are refused by the service.
func TestServiceRefusesUnsignedCalls(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	wrong, err := auth.NewForwarder("another-secret-0123456789abcdef-0123456789")
	require.NoError(t, err)
	right, err := auth.NewForwarder(internalSecret)
	require.NoError(t, err)
	p := auth.Principal{Subject: "key:x", Role: auth.RoleAdmin}
	signed := func(f *auth.Forwarder, method, path string) http.Header {
		h := http.Header{}
		require.NoError(t, f.Sign(h, p, method, path, ""))
		return h
	}
	viewer := http.Header{}
	require.NoError(t, right.Sign(viewer, auth.Principal{Subject: "key:v", Role: auth.RoleViewer}, http.MethodPost, "/api/v1/things/1", ""))
	for name, tc := range map[string]struct {
		method, path string
		header       http.Header
		want         int
	}{
		"no identity":     {http.MethodGet, "/api/v1/things", http.Header{"Authorization": {"Bearer " + adminKey}}, http.StatusUnauthorized},
		"other secret":    {http.MethodGet, "/api/v1/things", signed(wrong, http.MethodGet, "/api/v1/things"), http.StatusUnauthorized},
		"other route":     {http.MethodPost, "/api/v1/things/1", signed(right, http.MethodGet, "/api/v1/things"), http.StatusUnauthorized},
		"signed":          {http.MethodGet, "/api/v1/things", signed(right, http.MethodGet, "/api/v1/things"), http.StatusOK},
		"signed, no perm": {http.MethodPost, "/api/v1/things/1", viewer, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(tc.method, svc.url+tc.path, nil)
		for k, v := range tc.header {
			req.Header[k] = v
		}
		r := do(t, req)
		require.Equal(t, tc.want, r.status, "%s: %s", name, r.raw)
		if tc.want == http.StatusOK {
			<-svc.seen
		}
	}
}

func TestProxyStreams(t *testing.T) {
	t.Parallel()
	svc := newService(t)
	f := proxyFixture(t, svc.url, svc.routes())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rd := bufio.NewReader(resp.Body)
	// The service holds the stream open until released: the first event
	// arriving first proves the gateway does not buffer.
	line, err := rd.ReadString('\n')
	require.NoError(t, err, "first event did not pass through while the stream was open")
	require.Equal(t, "data: one\n", line)
	close(svc.release)
	_, _ = rd.ReadString('\n')
	line, err = rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: two\n", line)
}

func TestProxyServiceDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	f := proxyFixture(t, down, (&service{}).routes())
	r := call(t, http.MethodGet, f.url+"/api/v1/things", adminKey, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.raw)
	require.Equal(t, httpx.ProblemContentType, r.header.Get("Content-Type"))
	require.Equal(t, "service things is unavailable; try again shortly", r.body["detail"])
	require.Equal(t, "1", r.header.Get("Retry-After"))
}

func TestProxyNeedsSecret(t *testing.T) {
	t.Parallel()
	st := newFixture(t, testConfig(t), nil).store
	_, err := New(t.Context(), testConfig(t), Deps{Keys: st.Keys(), Audit: st.Audit(),
		Upstreams: []Upstream{{Name: "things", URL: "http://things:1"}}})
	require.ErrorContains(t, err, "--auth.internal-secret")
	_, err = New(t.Context(), testConfig(t), Deps{Keys: st.Keys(), Audit: st.Audit(), InternalSecret: internalSecret,
		Upstreams: []Upstream{{Name: "things", URL: "things:1"}}})
	require.ErrorContains(t, err, "absolute http")
}

// The gateway documents upstream routes in its OpenAPI fragment.
func TestOpenAPIMergesUpstreams(t *testing.T) {
	t.Parallel()
	frag := []byte("openapi: 3.1.0\npaths:\n  /api/v1/things:\n    get:\n      operationId: listThings\n")
	f := newFixture(t, testConfig(t), func(d *Deps) {
		d.InternalSecret = internalSecret
		d.Upstreams = []Upstream{{Name: "things", URL: "http://things:1", Routes: (&service{}).routes(), OpenAPI: frag}}
	})
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(f.svc.OpenAPI(), &doc))
	require.Contains(t, doc.Paths, "/api/v1/things")
	require.Contains(t, doc.Paths, "/api/v1/keys")
}

// The proxy writes header maps directly, so its keys must be canonical.
func TestProxyHeaderKeysAreCanonical(t *testing.T) {
	t.Parallel()
	for _, k := range append(dropped[:], hdrXForwardedFor, hdrXForwardedHost, hdrXForwardedProto, hdrRequestID,
		"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Retry-After") {
		require.Equal(t, http.CanonicalHeaderKey(k), k)
	}
	require.Equal(t, http.CanonicalHeaderKey(httpx.RequestIDHeader), hdrRequestID)
	require.Equal(t, http.CanonicalHeaderKey("X-API-Key"), dropped[1])
}
