package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// The benchmarks below drive the split-mode gateway as the app builds it
// (its edge: request IDs, metrics and access log, recover, body limit,
// route matching, authentication, RBAC, rate limit, signed identity, proxy)
// against a canned loopback service, so that the profile is the gateway's
// own:
//
//	go test -run '^$' -bench Split -benchmem -cpuprofile cpu.out ./internal/gateway/
//	go tool pprof -top gateway.test cpu.out

// benchBody stands in for discovery's answer to GET /api/v1/agents/{id}
// (about 1 KB of JSON).
var benchBody = []byte(`{"id":"0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","name":"echo","version":"1.0.0","status":"healthy",` +
	`"endpoint":"http://127.0.0.1:1","capabilities":[{"name":"echo","description":"Echoes its input back.","input_schema":` +
	`{"type":"object","properties":{"text":{"type":"string"}}},"output_schema":{"type":"object","properties":` +
	`{"text":{"type":"string"}}}}],"labels":{"team":"platform","tier":"example"},"manifest":{"apiVersion":"ossa/v0.1.8",` +
	`"kind":"Agent","metadata":{"name":"echo","version":"1.0.0","description":"An agent that echoes.","labels":` +
	`{"team":"platform","tier":"example"}},"spec":{"role":"worker","capabilities":[{"name":"echo"}],"runtime":` +
	`{"type":"http","endpoint":"http://127.0.0.1:1"}}},"registered_at":"2026-11-26T01:00:00Z","updated_at":` +
	`"2026-11-26T01:00:00Z","last_heartbeat":"2026-11-26T01:00:00Z","padding":"` + strings.Repeat("x", 180) + `"}` + "\n")

// cannedService answers every request on every connection with benchBody,
// after checking that the gateway's signed identity is there. It reads
// requests with a bufio.Reader and nothing else, so it costs little next to
// the gateway.
func cannedService(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	answer := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Thu, 26 Nov 2026 01:00:00 GMT\r\n"+
		"X-Request-Id: 0123456789abcdef01234567\r\nContent-Length: %d\r\n\r\n%s", len(benchBody), benchBody)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					signed := false
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if bytes.HasPrefix(line, []byte(auth.SignatureHeader+": t=")) {
							signed = true
						}
						if len(line) <= 2 {
							break
						}
					}
					if !signed {
						_, _ = c.Write([]byte("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"))
						continue
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

// benchEdge builds a split-mode gateway routing GET /api/v1/agents/{id} to
// serviceURL, as the app does: its edge, with the app's handler chain
// behind it. The log discards lines at level.
func benchEdge(tb testing.TB, serviceURL string, level slog.Level) *Edge {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "ossa.db"))
	require.NoError(tb, err)
	tb.Cleanup(func() { st.Close() })
	require.NoError(tb, st.Migrate(ctx))
	var cfg Config
	cfg.RegisterFlags(pflag.NewFlagSet("bench", pflag.ContinueOnError), "")
	cfg.RateLimit.Requests, cfg.RateLimit.Burst = 100_000_000, 100_000_000
	require.NoError(tb, cfg.Validate())
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	svc, err := New(ctx, cfg, Deps{
		Keys: st.Keys(), Audit: st.Audit(), AdminKey: adminKey, Out: io.Discard, Logger: log, Metrics: reg,
		InternalSecret: internalSecret,
		Upstreams: []Upstream{{Name: "discovery", URL: serviceURL, Routes: []httpx.Route{
			{Method: http.MethodGet, Path: "/api/v1/agents/{id}", Permission: auth.PermAgentsRead},
		}}},
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { svc.Close() })

	// As internal/app's buildHandler and server.
	mux := http.NewServeMux()
	for _, rt := range svc.Routes() {
		mux.Handle(rt.Pattern(), svc.Guard(rt, httpx.Handle(rt.Handler)))
	}
	mux.Handle("/", httpx.NotFound())
	metrics := httpx.NewMetrics(reg)
	chain := httpx.Chain(mux,
		httpx.RequestIDs(),
		httpx.Observe(log, metrics),
		httpx.Recover(log),
		svc.CORS(),
		httpx.BodyLimit(httpx.DefaultBodyLimit),
	)
	e, err := svc.Edge(EdgeConfig{
		Fallback: chain, BodyLimit: httpx.DefaultBodyLimit, ReadTimeout: 10 * time.Second, Metrics: metrics, Log: log,
	})
	require.NoError(tb, err)
	return e
}

const benchPath = "/api/v1/agents/0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

// BenchmarkSplitHandler calls the edge's handler directly, as fasthttp's
// server would after reading a request: the cost of everything the gateway
// adds on top of the server.
func BenchmarkSplitHandler(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelInfo} {
		b.Run("log="+level.String(), func(b *testing.B) {
			e := benchEdge(b, cannedService(b), level)
			var req fasthttp.Request
			req.Header.SetMethod(http.MethodGet)
			req.SetRequestURI(benchPath)
			req.Header.SetHost("gateway")
			req.Header.Set("Authorization", "Bearer "+adminKey)
			req.Header.Set("User-Agent", "wrk")
			var ctx fasthttp.RequestCtx
			ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				ctx.Response.Reset()
				e.serve(&ctx)
				if ctx.Response.StatusCode() != http.StatusOK || len(ctx.Response.Body()) != len(benchBody) {
					b.Fatalf("status %d, %d bytes", ctx.Response.StatusCode(), len(ctx.Response.Body()))
				}
			}
		})
	}
}

// BenchmarkSplitServer sends requests over loopback to the edge, from raw
// connections (one per parallel goroutine), so the server's own parsing
// and writing are included.
func BenchmarkSplitServer(b *testing.B) {
	e := benchEdge(b, cannedService(b), slog.LevelWarn)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go e.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	req := []byte("GET " + benchPath + " HTTP/1.1\r\nHost: gateway\r\nUser-Agent: wrk\r\nAuthorization: Bearer " + adminKey + "\r\n\r\n")
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			status, length := "", -1
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					b.Error(err)
					return
				}
				if status == "" {
					status = string(line)
				}
				if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
					length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
				}
				if len(line) <= 2 {
					break
				}
			}
			if !strings.HasPrefix(status, "HTTP/1.1 200") || length != len(benchBody) {
				b.Errorf("answer %q, length %d", status, length)
				return
			}
			if _, err := br.Discard(length); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// reportCPU reports the process's CPU time (user and system) per
// operation: unlike ns/op, it does not count time spent waiting for the
// loopback, so it moves only with the work done. It includes the canned
// service's, which is the same before and after a change.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
	}
}
