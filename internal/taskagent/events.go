package taskagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// hub wakes whoever waits on a key when this process changes what the key
// names. It carries no data: a woken reader reads the store, which also
// holds what other replicas wrote, so the hub is only ever a shortcut.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newHub() *hub { return &hub{subs: map[string]map[chan struct{}]struct{}{}} }

// subscribe returns a channel that receives after each notify of key (at
// most one pending wake-up is kept) and a function that unsubscribes.
func (h *hub) subscribe(key string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[key] == nil {
		h.subs[key] = map[chan struct{}]struct{}{}
	}
	h.subs[key][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs[key], ch)
		if len(h.subs[key]) == 0 {
			delete(h.subs, key)
		}
	}
}

// notify wakes every subscriber of key without blocking.
func (h *hub) notify(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func taskKey(id string) string       { return "task:" + id }
func offerKey(agentID string) string { return "offer:" + agentID }

// errDraining ends streams when the server shuts down.
var errDraining = errors.New("the task service is shutting down")

// eventCursor reads a task's events in order, waiting for new ones.
type eventCursor struct {
	s      *Service
	taskID string
	after  int64
	wake   <-chan struct{}
	cancel func()
}

// newCursor starts reading the task's events after seq after. Close it.
func (s *Service) newCursor(taskID string, after int64) *eventCursor {
	// Subscribe before the first read, so that no change falls between.
	wake, cancel := s.hub.subscribe(taskKey(taskID))
	return &eventCursor{s: s, taskID: taskID, after: after, wake: wake, cancel: cancel}
}

func (c *eventCursor) close() { c.cancel() }

// next returns the next events, waiting until there is at least one. It
// fails with ctx's error when ctx ends first, and with errDraining when the
// service begins to shut down.
func (c *eventCursor) next(ctx context.Context) ([]storage.TaskEvent, error) {
	tick := time.NewTicker(c.s.cfg.PollInterval)
	defer tick.Stop()
	for {
		events, err := c.s.tasks.Events(ctx, c.taskID, c.after, 0)
		if err != nil {
			return nil, err
		}
		if len(events) > 0 {
			c.after = events[len(events)-1].Seq
			return events, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.s.draining:
			return nil, errDraining
		case <-c.wake:
		case <-tick.C:
		}
	}
}

// sseKeepAlive is how often an idle stream gets a comment line, so proxies
// do not close it.
const sseKeepAlive = 15 * time.Second

// handleEvents streams a task's events as Server-Sent Events: each event's
// id is its Seq, its type its kind ("status" or "artifact"), its data the
// Event as JSON. A client resumes with Last-Event-ID (or ?after=N); the
// stream ends after the event that makes the task terminal.
func (s *Service) handleEvents(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, err := s.tasks.Get(r.Context(), id)
	if err != nil {
		return notFoundOr(err, id)
	}
	after, err := resumePoint(r)
	if err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	cur := s.newCursor(t.ID, after)
	defer cur.close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil // the writer cannot stream, or the client left
	}
	for {
		ctx, cancel := context.WithTimeout(r.Context(), sseKeepAlive)
		events, err := cur.next(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			_ = rc.Flush()
			continue
		case err != nil:
			// The client went away or the server is draining; the client
			// resumes from the last id it saw.
			return nil
		}
		for _, e := range events {
			data, err := json.Marshal(eventView(e))
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Kind, data); err != nil {
				return nil
			}
			if e.Kind == storage.TaskEventStatus && e.State.Terminal() {
				_ = rc.Flush()
				return nil
			}
		}
		_ = rc.Flush()
	}
}

// resumePoint reads where a stream resumes: Last-Event-ID or ?after.
func resumePoint(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	name := "Last-Event-ID"
	if q := r.URL.Query().Get("after"); q != "" {
		v, name = q, "after"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, httpx.Errorf(http.StatusBadRequest, "%s %q: must be an event sequence number (0 or more)", name, v)
	}
	return n, nil
}

// encodeArtifact stores one artifact as an event payload.
func encodeArtifact(a dispatch.Artifact) json.RawMessage {
	b, _ := json.Marshal(a) // a plain struct cannot fail to encode
	return b
}

// notFoundOr maps storage.ErrNotFound to a 404.
func notFoundOr(err error, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "task %s does not exist", id)
	}
	return err
}
