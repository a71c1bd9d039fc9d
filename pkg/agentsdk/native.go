package agentsdk

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
)

// Bounds on the native protocol: finished requests kept for replays, and
// the size of a task request.
const (
	maxRecent   = 256
	maxTaskBody = 16 << 20
)

// routes builds the agent's HTTP surface: the native task protocol, A2A
// JSON-RPC at the root (and at the manifest's a2a endpoint), the Agent
// Card, and health and capability endpoints.
func (a *Agent) routes() *http.ServeMux {
	mux := http.NewServeMux()
	seen := map[string]bool{}
	handle := func(pattern string, h http.Handler) {
		if !seen[pattern] {
			seen[pattern] = true
			mux.Handle(pattern, h)
		}
	}
	handle("POST "+dispatch.NativeTasksPath, http.HandlerFunc(a.serveTask))
	handle("POST "+dispatch.NativeTasksPath+"/{action}", http.HandlerFunc(a.serveCancel))
	card := a2a.CardHandler(a.card)
	handle("GET "+a2a.WellKnownCardPath, card)
	handle("GET "+a2a.LegacyCardPath, card)
	rpc := a2a.NewServer(a.a2a, a.card, a2a.WithLogger(a.log))
	handle("POST /{$}", rpc)
	if p := a.a2aPath(); p != "/" {
		handle("POST "+p, rpc)
	}
	for _, p := range []string{"/health", a.endpoint("health")} {
		handle("GET "+p, http.HandlerFunc(a.serveHealth))
	}
	for _, p := range []string{"/capabilities", a.endpoint("capabilities")} {
		handle("GET "+p, http.HandlerFunc(a.serveCapabilities))
	}
	return mux
}

// ServeHTTP serves the agent's endpoints.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// endpoint returns the manifest's path for a named endpoint when it is a
// plain absolute path, else the default.
func (a *Agent) endpoint(name string) string {
	p := a.m.Spec.Endpoints[name]
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "{} \t?#") {
		return "/" + name
	}
	return p
}

// a2aPath is where A2A JSON-RPC is served besides the root.
func (a *Agent) a2aPath() string {
	if _, ok := a.m.Spec.Endpoints["a2a"]; !ok {
		return "/"
	}
	return a.endpoint("a2a")
}

// serveTask runs a task sent over the native protocol and answers with its
// outcome. A repeat of a request (same task ID and attempt) gets the answer
// of the first instead of running the task again.
func (a *Agent) serveTask(w http.ResponseWriter, r *http.Request) {
	// Read the whole body: net/http notices a platform that hangs up (an
	// attempt canceled or timed out) only once the body is consumed.
	r.Body = http.MaxBytesReader(w, r.Body, maxTaskBody)
	body, err := httpx.ReadBody(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	var req dispatch.TaskRequest
	if err := json.Unmarshal(body, &req); err != nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "body is not a task request: %v", err))
		return
	}
	switch {
	case req.TaskID == "":
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "task_id is required"))
		return
	case !a.offers(req.Capability):
		httpx.WriteError(w, r, httpx.Errorf(http.StatusUnprocessableEntity, "agent %s does not offer capability %q; it offers %s",
			a.Name(), req.Capability, strings.Join(a.caps, ", ")))
		return
	}
	t := &Task{ID: req.TaskID, Capability: req.Capability, Input: req.Input, Attempt: max(req.Attempt, 1), Deadline: req.Deadline}
	if len(t.Input) == 0 {
		t.Input = json.RawMessage("null")
	}
	key := "native:" + t.ID + "#" + strconv.Itoa(t.Attempt)

	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "agent %s is shutting down", a.Name()))
		return
	}
	if o, ok := a.recent[key]; ok {
		a.mu.Unlock()
		writeOutcome(w, o)
		return
	}
	if prev, ok := a.runs[key]; ok {
		a.mu.Unlock()
		select {
		case <-prev.done:
			writeOutcome(w, prev.out)
		case <-r.Context().Done():
		}
		return
	}
	if !a.acquire(r.Context(), false) {
		a.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		httpx.WriteError(w, r, httpx.Errorf(http.StatusTooManyRequests, "agent %s is running %d tasks, its limit", a.Name(), cap(a.slots)))
		return
	}
	ctx, rn := newRun(r.Context(), t)
	a.runs[key] = rn
	a.mu.Unlock()

	o := a.execute(ctx, t)
	a.release()
	a.endRun(key, rn, o)
	a.remember(key, o)
	writeOutcome(w, o)
}

// remember keeps an outcome for replays, forgetting the oldest beyond
// maxRecent.
func (a *Agent) remember(key string, o outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recent[key] = o
	a.recentOrder = append(a.recentOrder, key)
	if len(a.recentOrder) > maxRecent {
		delete(a.recent, a.recentOrder[0])
		a.recentOrder = a.recentOrder[1:]
	}
}

func writeOutcome(w http.ResponseWriter, o outcome) {
	httpx.WriteJSON(w, http.StatusOK, dispatch.TaskResponse{State: o.state, Output: o.output, Artifacts: o.artifacts, Message: o.message})
}

// serveCancel handles POST /ossa/v1/tasks/{task_id}:cancel: 200 when a
// running task was told to stop, 404 when none is running.
func (a *Agent) serveCancel(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("action"), dispatch.NativeCancelSuffix)
	if !ok || id == "" {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "no route for %s %s", r.Method, r.URL.Path))
		return
	}
	if !a.cancelTask(id) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "task %q is not running", id))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"task_id": id, "state": string(dispatch.StateCanceled)})
}

func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	running := len(a.runs)
	a.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "running": running})
}

func (a *Agent) serveCapabilities(w http.ResponseWriter, _ *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"name": a.Name(), "version": a.m.Metadata.Version, "capabilities": a.caps,
	})
}
