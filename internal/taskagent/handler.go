package taskagent

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// IdempotencyKeyHeader makes a submission safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

// Routes is the service's HTTP surface; docs/tasks.md describes it. It reads
// nothing from its receiver, so RouteTable can call it on nil.
func (s *Service) Routes() []httpx.Route {
	return []httpx.Route{
		{Method: http.MethodPost, Path: "/api/v1/tasks", Handler: s.handleSubmit,
			Summary: "Submit a task for the best healthy agent offering a capability.", Permission: auth.PermTasksWrite},
		{Method: http.MethodGet, Path: "/api/v1/tasks", Handler: s.handleList,
			Summary: "List tasks, newest first, a page at a time.", Permission: auth.PermTasksRead},
		{Method: http.MethodGet, Path: "/api/v1/tasks/{id}", Handler: s.handleGet,
			Summary: "Get a task.", Permission: auth.PermTasksRead},
		// One pattern serves every {id}:action, since a ServeMux wildcard
		// must fill a whole segment. Its permission is the one both kinds
		// of caller hold; :cancel and :continue also need tasks:write,
		// checked inside.
		{Method: http.MethodPost, Path: "/api/v1/tasks/{idaction}", Handler: s.handleAction,
			Summary:    "Cancel a task ({id}:cancel) or answer one waiting for input ({id}:continue), both needing tasks:write, or report on a claimed one ({id}:complete, {id}:fail, {id}:heartbeat).",
			Permission: auth.PermTasksClaim},
		{Method: http.MethodGet, Path: "/api/v1/tasks/{id}/events", Handler: s.handleEvents,
			Summary: "Stream a task's status and artifact events (Server-Sent Events, resumable).", Permission: auth.PermTasksRead,
			Streams: true},
		{Method: http.MethodPost, Path: "/api/v1/tasks:claim", Handler: s.handleClaim,
			Summary: "Claim a task offered to a pull-mode agent (long poll).", Permission: auth.PermTasksClaim,
			Streams: true},
		{Method: http.MethodGet, Path: a2a.WellKnownCardPath, Handler: s.handleCard,
			Summary: "The platform's A2A Agent Card: skills are the capabilities healthy agents offer."},
		{Method: http.MethodPost, Path: "/a2a", Handler: s.handleA2A,
			Summary: "The platform's A2A JSON-RPC endpoint: messages become tasks routed to capable agents.", Permission: auth.PermTasksWrite,
			Streams: true}, // SendStreamingMessage and SubscribeToTask answer with events
	}
}

// RouteTable is the route table without a service, for a gateway in
// another process.
func RouteTable() []httpx.Route { return (*Service)(nil).Routes() }

// OpenAPISpec is the OpenAPI fragment documenting the routes.
func OpenAPISpec() []byte { return openAPISpec }

func (s *Service) handleSubmit(w http.ResponseWriter, r *http.Request) error {
	var req SubmitRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	t, created, err := s.Submit(r.Context(), req, r.Header.Get(IdempotencyKeyHeader))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/tasks/"+url.PathEscape(t.ID))
	status := http.StatusCreated
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, t)
	return nil
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (s *Service) handleList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseTaskFilter(r.URL.Query())
	if err != nil {
		return err
	}
	list, err := s.List(r.Context(), f)
	if errors.Is(err, storage.ErrInvalidCursor) {
		return httpx.Errorf(http.StatusBadRequest, "cursor: not a cursor this API issued")
	}
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, list)
	return nil
}

// parseTaskFilter reads the list query: state (repeated or comma list),
// capability, agent, cursor, limit. Anything else is a 400.
func parseTaskFilter(q url.Values) (storage.TaskFilter, error) {
	var f storage.TaskFilter
	if err := httpx.CheckQuery(q, "state", "capability", "agent", "cursor", "limit"); err != nil {
		return f, err
	}
	for _, v := range q["state"] {
		for st := range strings.SplitSeq(v, ",") {
			state := storage.TaskState(strings.TrimSpace(st))
			if !state.Valid() {
				return f, httpx.Errorf(http.StatusBadRequest, "state %q: must be one of %v", state, storage.TaskStates)
			}
			f.States = append(f.States, state)
		}
	}
	f.Capability, f.Agent, f.Cursor = q.Get("capability"), q.Get("agent"), q.Get("cursor")
	limit, err := httpx.QueryLimit(q, storage.DefaultPageLimit, storage.MaxPageLimit)
	f.Limit = limit
	return f, err
}

// handleAction dispatches POST /api/v1/tasks/{id}:{action}. IDs contain no
// colon, so the last one separates the action.
func (s *Service) handleAction(w http.ResponseWriter, r *http.Request) error {
	idaction := r.PathValue("idaction")
	i := strings.LastIndexByte(idaction, ':')
	if i <= 0 {
		return httpx.Errorf(http.StatusNotFound, "no route for POST %s: name an action, as in /api/v1/tasks/{id}:cancel", r.URL.Path)
	}
	id, action := idaction[:i], idaction[i+1:]
	ctx := r.Context()
	// The route's permission is the one agents hold to report on their
	// tasks; changing a task's course needs tasks:write too.
	if action == "cancel" || action == "continue" {
		if p, ok := auth.FromContext(ctx); ok && !p.Role.Can(auth.PermTasksWrite) {
			return httpx.Errorf(http.StatusForbidden, "role %q may not %s tasks (needs %s)", p.Role, action, auth.PermTasksWrite)
		}
	}
	switch action {
	case "cancel":
		t, err := s.Cancel(ctx, id)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, t)
	case "continue":
		var req ContinueRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		if len(req.Input) == 0 || string(req.Input) == "null" {
			return httpx.Errorf(http.StatusUnprocessableEntity, "input: required; it is what the task asked for, handed to its agent as the new input")
		}
		t, err := s.Continue(ctx, id, req.Input)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, t)
	case "complete":
		var req CompleteRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		t, err := s.Complete(ctx, id, req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, t)
	case "fail":
		var req FailRequest
		if err := httpx.DecodeJSON(r, &req); err != nil {
			return err
		}
		t, err := s.Fail(ctx, id, req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, t)
	case "heartbeat":
		var req HeartbeatRequest
		if err := decodeOptional(r, &req); err != nil {
			return err
		}
		lease, err := s.Heartbeat(ctx, id, req)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, lease)
	default:
		return httpx.Errorf(http.StatusNotFound, "unknown task action %q; actions are cancel, continue, complete, fail and heartbeat", action)
	}
	return nil
}

func (s *Service) handleClaim(w http.ResponseWriter, r *http.Request) error {
	var req ClaimRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	t, err := s.Claim(r.Context(), req)
	if err != nil {
		return err
	}
	if t == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	httpx.WriteJSON(w, http.StatusOK, t)
	return nil
}

// decodeOptional decodes a JSON body that may be empty.
func decodeOptional(r *http.Request, v any) error {
	body, err := httpx.ReadBody(r)
	if err != nil || len(strings.TrimSpace(string(body))) == 0 {
		return err
	}
	if err := httpx.RequireContentType(r, "application/json"); err != nil {
		return err
	}
	return httpx.UnmarshalStrict(body, v)
}

func (s *Service) handleCard(w http.ResponseWriter, r *http.Request) error {
	a2a.CardHandler(s.card).ServeHTTP(w, r)
	return nil
}

func (s *Service) handleA2A(w http.ResponseWriter, r *http.Request) error {
	s.a2a.ServeHTTP(w, r)
	return nil
}
