// Package httpx holds the HTTP conventions every ossa service shares: RFC 9457
// problem+json errors, JSON decoding with limits, request IDs, structured access
// logs, Prometheus request metrics, panic recovery and the route table type.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ProblemContentType is the media type of RFC 9457 error bodies.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem detail. Every error response of every service
// uses it, so clients handle one shape.
type Problem struct {
	Type      string `json:"type,omitempty"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	// Errors lists individual violations (field paths, manifest diagnostics).
	Errors any `json:"errors,omitempty"`
}

// Error is an error that knows its HTTP status. Handlers return it (or wrap it)
// and WriteError turns it into a problem response.
type Error struct {
	Status int
	Detail string
	Errors any
	// Headers are added to the response, e.g. Retry-After or Allow.
	Headers http.Header
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Detail)
}

// Errorf builds an *Error with a formatted detail.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// WithErrors attaches per-field violations to the problem.
func (e *Error) WithErrors(errs any) *Error { e.Errors = errs; return e }

// WriteError writes err as problem+json. An *Error anywhere in the chain picks
// the status; anything else is a 500 whose detail is not shown to the client
// (it may hold internals) but is logged with the request ID.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var he *Error
	if !errors.As(err, &he) {
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", RequestID(r.Context()), "err", err)
		he = &Error{Status: http.StatusInternalServerError, Detail: "internal error; see server logs for request " + RequestID(r.Context())}
	}
	for k, vs := range he.Headers {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	WriteProblem(w, r, Problem{Status: he.Status, Detail: he.Detail, Errors: he.Errors})
}

// WriteProblem fills the defaults of p (title from status, instance, request
// ID) and writes it.
func WriteProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Instance == "" && r != nil {
		p.Instance = r.URL.Path
	}
	if p.RequestID == "" && r != nil {
		p.RequestID = RequestID(r.Context())
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
