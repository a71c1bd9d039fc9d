package gateway

import (
	"net/http"
	"slices"
	"strings"

	"github.com/ossa-platform/ossa/internal/httpx"
)

// CORS headers the API allows and exposes.
var (
	corsAllowHeaders  = "Authorization, Content-Type, X-API-Key, X-Request-ID"
	corsExposeHeaders = "Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, X-Request-ID"
	corsMethods       = "GET, POST, PUT, PATCH, DELETE"
)

// CORS answers preflight requests and marks answers to allowed origins
// readable. With no allowed origins it does nothing. Credentials travel in
// the Authorization header, never cookies, so Allow-Credentials is not sent.
func (s *Service) CORS() httpx.Middleware {
	return func(next http.Handler) http.Handler {
		if len(s.cfg.CORS.AllowedOrigins) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if !s.corsAllowed(origin) {
				if preflight {
					httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "origin %q is not allowed", origin))
					return
				}
				next.ServeHTTP(w, r) // without CORS headers the browser hides the answer
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			if !preflight {
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
				next.ServeHTTP(w, r)
				return
			}
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", "600")
			if !strings.Contains(corsMethods, strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))) {
				httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "method %q is not allowed", r.Header.Get("Access-Control-Request-Method")))
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
}

// corsAllowed reports whether browsers may read answers for origin.
func (s *Service) corsAllowed(origin string) bool {
	origins := s.cfg.CORS.AllowedOrigins
	return slices.Contains(origins, "*") || slices.Contains(origins, origin)
}
