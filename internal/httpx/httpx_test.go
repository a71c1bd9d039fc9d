package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

type payload struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	require.Equal(t, ProblemContentType, rec.Header().Get("Content-Type"))
	var p Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	require.Equal(t, rec.Code, p.Status)
	return p
}

// The handler every decode test runs through: the app's middleware plus
// DecodeJSON, as a service route would see it.
func decodeHandler(limit int64) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /things", Handle(func(w http.ResponseWriter, r *http.Request) error {
		var p payload
		if err := DecodeJSON(r, &p); err != nil {
			return err
		}
		WriteJSON(w, http.StatusCreated, p)
		return nil
	}))
	return Chain(mux, RequestIDs(), BodyLimit(limit))
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		detail      string
	}{
		{"ok", "application/json", `{"name":"a","count":2}`, 201, ""},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"a"}`, 201, ""},
		{"no content type is JSON", "", `{"name":"a"}`, 201, ""},
		{"empty body", "application/json", ``, 400, "request body is empty"},
		{"syntax error has line:column", "application/json", "{\n  \"name\": \"a\",\n  oops\n}", 400, "malformed JSON at line 3:3"},
		{"wrong type names the field", "application/json", `{"count":"two"}`, 400, `field "count" must be int`},
		{"unknown field", "application/json", `{"name":"a","colour":"red"}`, 400, `unknown field "colour"`},
		{"trailing data", "application/json", `{"name":"a"} {"name":"b"}`, 400, "single JSON value"},
		{"wrong content type", "text/plain", `{"name":"a"}`, 415, `Content-Type "text/plain" is not supported`},
		{"malformed content type", "application/", `{}`, 415, "malformed Content-Type"},
		{"too large", "application/json", `{"name":"` + strings.Repeat("x", 2048) + `"}`, 413, "exceeds the limit of 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			decodeHandler(1024).ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status >= 400 {
				p := decodeProblem(t, rec)
				require.Contains(t, p.Detail, tt.detail)
				require.Equal(t, "/things", p.Instance)
				require.NotEmpty(t, p.RequestID)
			}
		})
	}
}

// A chunked body (no Content-Length) over the limit is caught while reading.
func TestBodyLimitWithoutContentLength(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest(http.MethodPost, "/things", io.MultiReader(strings.NewReader(`{"name":"`), strings.NewReader(strings.Repeat("x", 4096)+`"}`)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	decodeHandler(1024).ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
}

func TestWriteErrorHidesInternalErrors(t *testing.T) {
	t.Parallel()
	h := Chain(Handle(func(http.ResponseWriter, *http.Request) error {
		return errors.New("pq: password authentication failed for user secret")
	}), RequestIDs())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	p := decodeProblem(t, rec)
	require.NotContains(t, p.Detail, "password")
	require.Contains(t, p.Detail, p.RequestID)
}

func TestErrorHeadersAndWrapping(t *testing.T) {
	t.Parallel()
	h := Handle(func(http.ResponseWriter, *http.Request) error {
		e := Errorf(http.StatusTooManyRequests, "slow down")
		e.Headers = http.Header{"Retry-After": {"3"}}
		return errors.Join(errors.New("context"), e)
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "3", rec.Header().Get("Retry-After"))
	require.Equal(t, "slow down", decodeProblem(t, rec).Detail)
}

func TestRecoverAndObserve(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom/{id}", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := Chain(mux, RequestIDs(), Observe(log, m), Recover(log))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom/42", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	decodeProblem(t, rec)
	// The route label is the pattern, not the raw path.
	require.Equal(t, 1.0, testutil.ToFloat64(m.requests.WithLabelValues("GET", "GET /boom/{id}", "500")))

	// Series are cached per method, route and status, and counted alike
	// whether or not the access log is on.
	mux.HandleFunc("GET /ok", func(http.ResponseWriter, *http.Request) {})
	var logged bytes.Buffer
	for _, log := range []*slog.Logger{
		slog.New(slog.NewTextHandler(&logged, nil)),
		slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	} {
		h := Chain(mux, RequestIDs(), Observe(log, m))
		for range 2 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/ok", nil))
		}
	}
	require.Equal(t, 4.0, testutil.ToFloat64(m.requests.WithLabelValues("GET", "GET /ok", "200")))
	require.Equal(t, 2, strings.Count(logged.String(), `msg="http request"`), "%s", logged.String())
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	var seen string
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = RequestID(r.Context()) }), RequestIDs())
	for _, tt := range []struct{ in, want string }{
		{"abc-123", "abc-123"},
		{"", ""},
		{"has space", ""},
		{strings.Repeat("x", 200), ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set(RequestIDHeader, tt.in)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if tt.want != "" {
			require.Equal(t, tt.want, seen)
		} else {
			require.Len(t, seen, 24, "a fresh ID replaces %q", tt.in)
		}
		require.Equal(t, seen, rec.Header().Get(RequestIDHeader))
	}
	// Fresh IDs are hex and never repeat.
	ids := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		require.Regexp(t, `^[0-9a-f]{24}$`, id)
		require.False(t, ids[id], "repeated %s", id)
		ids[id] = true
	}
}

func TestClientDecodesProblems(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/problem":
			require.Equal(t, "Bearer k", r.Header.Get("Authorization"))
			require.Equal(t, "rid-1", r.Header.Get(RequestIDHeader))
			WriteError(w, r, Errorf(http.StatusConflict, "taken").WithErrors([]string{"a"}))
		case "/plain":
			http.Error(w, "upstream broke", http.StatusBadGateway)
		default:
			WriteJSON(w, http.StatusOK, payload{Name: "ok"})
		}
	}), RequestIDs()))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL, APIKey: "k"}
	ctx := WithRequestID(context.Background(), "rid-1")

	err := c.Do(ctx, http.MethodGet, "/problem", nil, nil)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusConflict, StatusCode(err))
	require.Equal(t, "taken", ae.Detail)
	require.Equal(t, "Conflict (HTTP 409): taken", ae.Error())

	err = c.Do(ctx, http.MethodGet, "/plain", nil, nil)
	require.Equal(t, http.StatusBadGateway, StatusCode(err))
	require.Contains(t, err.Error(), "upstream broke")

	var out payload
	require.NoError(t, c.Do(ctx, http.MethodPost, "/ok", payload{Name: "x"}, &out))
	require.Equal(t, "ok", out.Name)
}

func TestMergeOpenAPI(t *testing.T) {
	t.Parallel()
	base := []byte("openapi: 3.1.0\npaths:\n  /livez: {get: {summary: live}}\n")
	a := []byte("paths:\n  /a: {get: {summary: a}}\ncomponents:\n  schemas:\n    Shared: {type: string}\n")
	b := []byte("paths:\n  /b: {get: {summary: b}}\ncomponents:\n  schemas:\n    Shared: {type: string}\n")
	doc, err := MergeOpenAPI(base, a, b)
	require.NoError(t, err)
	var parsed struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(doc, &parsed))
	require.Len(t, parsed.Paths, 3)
	require.Contains(t, parsed.Components.Schemas, "Shared")

	clash := []byte("components:\n  schemas:\n    Shared: {type: integer}\n")
	_, err = MergeOpenAPI(base, a, clash)
	require.ErrorContains(t, err, `schemas "Shared" defined twice`)
}

func TestQueryHelpers(t *testing.T) {
	t.Parallel()
	q := url.Values{"limit": {"20"}, "colour": {"red"}, "age": {"3"}}
	err := CheckQuery(q, "limit")
	require.ErrorContains(t, err, "unknown query parameter(s) age, colour; known: limit")
	require.Equal(t, http.StatusBadRequest, err.(*Error).Status)
	require.ErrorContains(t, CheckQuery(url.Values{"x": {"1"}}), "this request takes none")
	require.NoError(t, CheckQuery(url.Values{"limit": {"1"}}, "limit", "cursor"))

	n, err := QueryLimit(q, 50, 500)
	require.NoError(t, err)
	require.Equal(t, 20, n)
	n, err = QueryLimit(url.Values{}, 50, 500)
	require.NoError(t, err)
	require.Equal(t, 50, n)
	for _, bad := range []string{"0", "501", "ten", "-1"} {
		_, err = QueryLimit(url.Values{"limit": {bad}}, 50, 500)
		require.ErrorContains(t, err, "must be an integer from 1 to 500", bad)
	}
}
