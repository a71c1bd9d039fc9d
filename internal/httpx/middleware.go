package httpx

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBodyLimit caps request bodies unless a service configures otherwise.
const DefaultBodyLimit = 1 << 20

type requestIDKey struct{}

// RequestIDHeader carries the request ID in and out of every service.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the request ID stored by the RequestID middleware, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// WithRequestID returns ctx carrying id; outgoing clients forward it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain applies mws so that the first one is outermost.
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// RequestIDs accepts a caller's X-Request-ID when it looks sane (so IDs
// propagate across services) and mints one otherwise.
func RequestIDs() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := AcceptRequestID(r.Header.Get(requestIDKeyCanonical)) // canonical: Get need not allocate one
			w.Header()[requestIDKeyCanonical] = []string{id}
			next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
		})
	}
}

// AcceptRequestID returns a caller's request ID when it looks sane, else a
// new one.
func AcceptRequestID(id string) string {
	if validRequestID(id) {
		return id
	}
	return newRequestID()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// requestIDKeyCanonical is RequestIDHeader as a Header map key.
const requestIDKeyCanonical = "X-Request-Id"

// Request IDs are 24 hex digits: 8 random per process, then a counter of
// 16 that starts at a random value. They are unique within a process and,
// with overwhelming likelihood, across processes, and cost no system call
// or random read per request (they need not be unguessable: they label
// logs and answers, and grant nothing).
var (
	requestIDPrefix  [8]byte
	requestIDCounter atomic.Uint64
)

func init() {
	var b [12]byte
	_, _ = rand.Read(b[:])
	hex.Encode(requestIDPrefix[:], b[:4])
	requestIDCounter.Store(binary.BigEndian.Uint64(b[4:]))
}

func newRequestID() string {
	var b [24]byte
	copy(b[:], requestIDPrefix[:])
	n := requestIDCounter.Add(1)
	const digits = "0123456789abcdef"
	for i := len(b) - 1; i >= len(requestIDPrefix); i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// BodyLimit caps every request body; reads past the limit fail and the
// decoders turn that into 413.
func BodyLimit(limit int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				WriteError(w, r, Errorf(http.StatusRequestEntityTooLarge, "request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit))
				return
			}
			if r.Body != nil && r.Body != http.NoBody { // nothing to cap (and no allocation) otherwise
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Recover turns a handler panic into a logged 500 problem instead of a dropped
// connection, keeping the process alive.
func Recover(log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path,
						"request_id", RequestID(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
					WriteError(w, r, Errorf(http.StatusInternalServerError, "internal error; see server logs for request %s", RequestID(r.Context())))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// Metrics are the Prometheus request metrics shared by every service.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inflight prometheus.Gauge

	// series caches each (method, route, status)'s counter and histogram:
	// WithLabelValues hashes and looks up its labels on every call.
	mu     sync.RWMutex
	series map[seriesKey]series
}

type seriesKey struct {
	method, route string
	status        int
}

type series struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// maxSeries bounds the cache (methods come from clients); past it, series
// are looked up each time.
const maxSeries = 4096

// seriesOf returns the counter and histogram of one kind of request.
func (m *Metrics) seriesOf(method, route string, status int) series {
	k := seriesKey{method, route, status}
	m.mu.RLock()
	s, ok := m.series[k]
	m.mu.RUnlock()
	if ok {
		return s
	}
	s = series{
		requests: m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
		duration: m.duration.WithLabelValues(method, route),
	}
	m.mu.Lock()
	if len(m.series) < maxSeries {
		m.series[k] = s
	}
	m.mu.Unlock()
	return s
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_http_requests_total", Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ossa_http_request_duration_seconds", Help: "HTTP request latency by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ossa_http_requests_in_flight", Help: "HTTP requests being served.",
		}),
		series: map[seriesKey]series{},
	}
	reg.MustRegister(m.requests, m.duration, m.inflight)
	return m
}

// Observe records metrics and writes one access log line per request (see
// Metrics.Record).
func Observe(log *slog.Logger, m *Metrics) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			defer m.InFlight()()
			next.ServeHTTP(rec, r)
			m.Record(r.Context(), log, Served{
				Method: r.Method, Path: r.URL.Path, Route: r.Pattern, Status: rec.status, Bytes: rec.bytes,
				Elapsed: time.Since(start), RequestID: RequestID(r.Context()),
			})
		})
	}
}

// Served describes one answered request, for Metrics.Record.
type Served struct {
	Method, Path string
	// Route is the matched pattern; empty means none matched.
	Route     string
	Status    int
	Bytes     int64
	Elapsed   time.Duration
	RequestID string
}

// Record counts a request in the metrics and writes its access log line:
// Observe's work, for servers that are not net/http (the gateway's edge).
// The route label is the matched pattern, never the raw path, so
// cardinality stays bounded.
func (m *Metrics) Record(ctx context.Context, log *slog.Logger, s Served) {
	route := s.Route
	if route == "" {
		route = "unmatched"
	}
	ser := m.seriesOf(s.Method, route, s.Status)
	ser.requests.Inc()
	ser.duration.Observe(s.Elapsed.Seconds())
	level := slog.LevelInfo
	switch {
	case s.Status >= 500:
		level = slog.LevelError
	case s.Path == "/livez" || s.Path == "/readyz" || s.Path == "/metrics":
		level = slog.LevelDebug
	}
	if !log.Enabled(ctx, level) {
		return
	}
	log.LogAttrs(ctx, level, "http request",
		slog.String("method", s.Method), slog.String("path", s.Path), slog.String("route", route),
		slog.Int("status", s.Status), slog.Int64("bytes", s.Bytes),
		slog.Duration("duration", s.Elapsed), slog.String("request_id", s.RequestID))
}

// InFlight counts a request being served until the returned func is
// called: Observe's gauge, for servers that are not net/http.
func (m *Metrics) InFlight() (done func()) {
	m.inflight.Inc()
	return m.inflight.Dec
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines for streaming.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps SSE working through handlers that type-assert http.Flusher.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
