package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// authChallenge is sent with every 401.
const authChallenge = `Bearer realm="ossa"`

// Guard wraps the handler of rt with the gateway's checks, in order:
// authentication, authorisation by rt.Permission, the caller's rate limit,
// then (for changes) an audit record of the outcome. The handler sees the
// caller through auth.FromContext. Public routes (no Permission) pass
// through untouched.
//
// The app applies Guard to every route of every service in the gateway's
// process, and the gateway's own proxy routes, so one chain guards both
// topologies.
func (s *Service) Guard(rt httpx.Route, next http.Handler) http.Handler {
	if rt.Permission == "" {
		return next
	}
	mutating := isMutating(rt.Method)
	action := rt.Pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authn.authenticateRequest(r)
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if !p.Role.Can(rt.Permission) {
			s.metrics.denied.WithLabelValues("forbidden").Inc()
			if mutating {
				s.record(r.Context(), p, action, r.URL.Path, http.StatusForbidden)
			}
			httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "role %q may not %s (needs %s)", p.Role, action, rt.Permission))
			return
		}
		if s.limiter != nil {
			res, err := s.limiter.allow(r.Context(), p.Subject)
			switch {
			case err != nil:
				// Failing open: a rate limit backend outage must not take
				// the API down with it. /readyz reports it.
				s.log.WarnContext(r.Context(), "rate limit unavailable; request allowed", "err", err)
			case !res.allowed:
				res.setHeaders(w.Header())
				s.metrics.rateLimited.Inc()
				httpx.WriteError(w, r, httpx.Errorf(http.StatusTooManyRequests,
					"rate limit of %d requests per %s (burst %d) exceeded; retry in %ss",
					s.cfg.RateLimit.Requests, s.cfg.RateLimit.Period, s.cfg.RateLimit.Burst, w.Header().Get("Retry-After")))
				return
			default:
				res.setHeaders(w.Header())
			}
		}
		r = r.WithContext(auth.WithPrincipal(r.Context(), p))
		if !mutating {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.record(r.Context(), p, action, r.URL.Path, rec.status)
	})
}

// refuse answers an authentication failure (see refusal).
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, s.refusal(r.Context(), err))
}

// refusal is the answer to an authentication failure: 401 for bad or
// missing credentials, 503 when the key store cannot be read.
func (s *Service) refusal(ctx context.Context, err error) *httpx.Error {
	var detail string
	switch {
	case errors.Is(err, errNoCredentials):
		s.metrics.denied.WithLabelValues("missing").Inc()
		detail = "authentication required: send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
	case errors.Is(err, errBadCredentials):
		s.metrics.denied.WithLabelValues("invalid").Inc()
		detail = "invalid credentials"
	default:
		s.log.ErrorContext(ctx, "authentication failed", "err", err, "request_id", httpx.RequestID(ctx))
		return httpx.Errorf(http.StatusServiceUnavailable, "authentication is unavailable; try again shortly")
	}
	return &httpx.Error{
		Status: http.StatusUnauthorized, Detail: detail,
		Headers: http.Header{"Www-Authenticate": {authChallenge}},
	}
}

// record appends an audit event for p's call of action on target (the
// path), which ended with status; ctx carries the request ID. The change
// has happened whatever the audit store says, so a failure is logged, not
// returned.
func (s *Service) record(ctx context.Context, p auth.Principal, action, target string, status int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e := &storage.AuditEvent{
		Time: s.clock(), Actor: p.Subject, ActorName: p.Name, Role: string(p.Role),
		Action: action, Target: target, Status: status, RequestID: httpx.RequestID(ctx),
	}
	if err := s.audit.Append(ctx, e); err != nil {
		s.metrics.auditFailures.Inc()
		s.log.ErrorContext(ctx, "audit record lost", "actor", p.Subject, "action", action, "target", target,
			"status", status, "request_id", e.RequestID, "err", err)
	}
}

func isMutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush through the wrapper.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps streams working through handlers that assert http.Flusher.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// InternalGuard is the route wrapper of a process that runs services
// without the gateway (split mode). Every non-public route requires the
// identity the gateway signs (see auth.Forwarder); anything else is 401,
// whoever sends it. The permission is checked again, so a service never
// relies on the gateway's route table matching its own.
func InternalGuard(f *auth.Forwarder, log *slog.Logger) func(httpx.Route, http.Handler) http.Handler {
	return func(rt httpx.Route, next http.Handler) http.Handler {
		if rt.Permission == "" {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, err := f.Verify(r.Header, r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
			if err != nil {
				log.WarnContext(r.Context(), "request without a valid gateway identity refused",
					"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
				httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized,
					"this service accepts calls only through the gateway"))
				return
			}
			if !p.Role.Can(rt.Permission) {
				httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "role %q may not %s (needs %s)", p.Role, rt.Pattern(), rt.Permission))
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
		})
	}
}
