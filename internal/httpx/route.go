package httpx

import (
	"net/http"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing it,
// so every failure goes through WriteError and comes out as problem+json.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one entry of a service's route table. The table is the single list
// the mux, the OpenAPI coverage test and the gateway's access rules are built
// from.
type Route struct {
	Method string
	// Path is a net/http pattern path such as /api/v1/agents/{id}.
	Path    string
	Handler HandlerFunc
	// Summary is a one-line description, also used in the OpenAPI document.
	Summary string
	// Permission names what a caller must hold, e.g. "agents:write". The
	// gateway maps roles to permissions; empty means public.
	Permission string
	// Streams marks a route whose answer may be a stream (server-sent
	// events) or may wait long (a long poll). The gateway passes such
	// answers through as they come, with no time limit on the body;
	// others it may read whole, within its upstream timeout.
	Streams bool
}

// Pattern is the ServeMux pattern of the route, e.g. "GET /api/v1/agents".
func (rt Route) Pattern() string { return rt.Method + " " + rt.Path }

// Mount registers routes on mux, adapting each HandlerFunc.
func Mount(mux *http.ServeMux, routes []Route) {
	for _, rt := range routes {
		mux.Handle(rt.Pattern(), Handle(rt.Handler))
	}
}

// Handle adapts a HandlerFunc to http.Handler.
func Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	})
}

// NotFound answers unmatched paths with a problem instead of the mux's text.
func NotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, Errorf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
}
