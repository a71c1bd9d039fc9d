// Package agentsdk writes an OSSA agent in Go: give it the agent's manifest
// and a function that does the work, and it serves the platform's native
// task protocol and A2A on one HTTP handler, registers the manifest with the
// platform and keeps it alive with heartbeats.
//
//	agent, err := agentsdk.New(manifest, func(ctx context.Context, t *agentsdk.Task) (any, error) {
//		var in struct{ Text string `json:"text"` }
//		if err := t.Decode(&in); err != nil {
//			return nil, agentsdk.Reject("input needs a text field")
//		}
//		return map[string]int{"words": len(strings.Fields(in.Text))}, nil
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	log.Fatal(agent.Run(ctx)) // LISTEN_ADDR, PUBLIC_URL, OSSA_URL, OSSA_API_KEY
//
// The handler's context ends when the platform cancels the task, when its
// deadline passes or when the agent shuts down; handlers must return soon
// after. docs/agent-protocol.md describes the protocols.
package agentsdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/manifest"
)

// Task is one piece of work for the agent.
type Task struct {
	// ID is the platform's task ID (for tasks sent over A2A by other
	// clients, the A2A task ID).
	ID string
	// Capability is the capability asked for, one of the manifest's.
	Capability string
	// Input is the task's input as JSON: an object for structured input, a
	// string for text.
	Input json.RawMessage
	// Attempt counts from 1; a retried task comes again with the next one.
	Attempt int
	// Deadline is when the platform stops waiting; zero when none was set.
	// The handler's context carries it too.
	Deadline time.Time
}

// Decode decodes the input into v.
func (t *Task) Decode(v any) error {
	if err := json.Unmarshal(t.Input, v); err != nil {
		return fmt.Errorf("decode input of task %s: %w", t.ID, err)
	}
	return nil
}

// Text returns the input as text: a JSON string's value, or the JSON itself
// for any other input.
func (t *Task) Text() string {
	var s string
	if json.Unmarshal(t.Input, &s) == nil {
		return s
	}
	return string(t.Input)
}

// Handler does the work of a task. What it returns is the task's output,
// encoded as JSON (a string is text; json.RawMessage is sent as is; a Result
// adds artifacts and a message). An error fails the task with the error's
// text, except the errors Reject and NeedInput make.
type Handler func(ctx context.Context, t *Task) (any, error)

// Result is a handler's output with extras.
type Result struct {
	Output    any
	Artifacts []Artifact
	// Message explains the outcome to people.
	Message string
}

// Artifact is an extra output, such as a file or a log.
type Artifact struct {
	Name      string
	Text      string
	Data      any
	MediaType string
}

// outcomeError is an error that ends a task in a state other than failed.
type outcomeError struct {
	state  dispatch.State
	reason string
}

func (e *outcomeError) Error() string { return string(e.state) + ": " + e.reason }

// Reject returns an error that ends the task as rejected: the agent will not
// do it (wrong input, out of scope), and retrying will not help.
func Reject(reason string) error {
	return &outcomeError{state: dispatch.StateRejected, reason: reason}
}

// NeedInput returns an error that ends the task as input-required, asking
// the question. Over A2A the client can answer with a message on the same
// task, which runs the handler again with the answer as input.
func NeedInput(question string) error {
	return &outcomeError{state: dispatch.StateInputRequired, reason: question}
}

// Causes of a task context's end that the agent chose.
var (
	errCanceled = errors.New("task canceled by the platform")
	errShutdown = errors.New("agent shutting down")
)

// Agent is an OSSA agent: its manifest, its handler and the servers around
// them. It is an http.Handler.
type Agent struct {
	manifest []byte
	m        *manifest.Manifest
	caps     []string
	handle   Handler
	log      *slog.Logger
	hc       *http.Client

	publicURL string
	protocol  string
	heartbeat time.Duration
	shutdown  time.Duration
	// slots bounds tasks running at once (manifest max_concurrent); nil
	// means unbounded.
	slots chan struct{}

	mux *http.ServeMux
	a2a *a2aBackend
	id  atomic.Pointer[string]
	wg  sync.WaitGroup // A2A task goroutines; Add only under mu while !stopping

	mu       sync.Mutex
	stopping bool            // set by Shutdown: no new tasks
	runs     map[string]*run // running tasks by run key
	// recent keeps the outcomes of finished native requests for replays,
	// in finishing order.
	recent      map[string]outcome
	recentOrder []string

	// Test hooks: heartbeat ticks and the result of each heartbeat.
	newTicker   func(time.Duration) (<-chan time.Time, func())
	onHeartbeat func(error)
}

// Option configures an Agent.
type Option func(*Agent)

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(a *Agent) { a.log = l } }

// WithPublicURL sets the base URL the platform and A2A clients reach the
// agent at. Run defaults it from PUBLIC_URL or the listen address.
func WithPublicURL(u string) Option { return func(a *Agent) { a.publicURL = u } }

// WithProtocol sets the protocol the platform should dispatch over: "http"
// (the native protocol) or "a2a". Empty, the default, lets the platform
// choose from the manifest's protocols.
func WithProtocol(p string) Option { return func(a *Agent) { a.protocol = p } }

// WithHeartbeatInterval sets how often Register heartbeats; default 10s,
// well inside the platform's default 30s heartbeat TTL.
func WithHeartbeatInterval(d time.Duration) Option { return func(a *Agent) { a.heartbeat = d } }

// WithHTTPClient sets the client used to call the platform.
func WithHTTPClient(hc *http.Client) Option { return func(a *Agent) { a.hc = hc } }

// WithShutdownTimeout sets how long a graceful stop waits for running tasks
// before canceling them; default 10s.
func WithShutdownTimeout(d time.Duration) Option { return func(a *Agent) { a.shutdown = d } }

// New validates the manifest (YAML or JSON) and returns the agent.
func New(manifestDoc []byte, h Handler, opts ...Option) (*Agent, error) {
	if h == nil {
		return nil, errors.New("new agent: handler is nil")
	}
	m, res, err := manifest.Validate(manifestDoc)
	if err != nil {
		return nil, fmt.Errorf("new agent: %w", err)
	}
	if !res.Valid || m == nil {
		msgs := make([]string, 0, len(res.Errors))
		for _, d := range res.Errors {
			msgs = append(msgs, d.String())
		}
		return nil, fmt.Errorf("new agent: invalid manifest: %s", strings.Join(msgs, "; "))
	}
	a := &Agent{
		manifest: manifestDoc, m: m, caps: m.AllCapabilities(), handle: h,
		log: slog.Default(), hc: http.DefaultClient,
		heartbeat: 10 * time.Second, shutdown: 10 * time.Second,
		runs: map[string]*run{}, recent: map[string]outcome{},
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		},
		onHeartbeat: func(error) {},
	}
	for _, o := range opts {
		o(a)
	}
	if n := m.MaxConcurrency(); n > 0 {
		a.slots = make(chan struct{}, n)
	}
	a.a2a = newA2ABackend(a)
	a.mux = a.routes()
	return a, nil
}

// Name returns the agent's name from its manifest.
func (a *Agent) Name() string { return a.m.Metadata.Name }

// Capabilities returns the capabilities the agent offers.
func (a *Agent) Capabilities() []string { return slices.Clone(a.caps) }

// ID returns the ID the platform registered the agent under, or "" before
// registration.
func (a *Agent) ID() string {
	if id := a.id.Load(); id != nil {
		return *id
	}
	return ""
}

// offers reports whether the agent has the capability.
func (a *Agent) offers(capability string) bool { return slices.Contains(a.caps, capability) }

// outcome is how a run ended.
type outcome struct {
	state     dispatch.State
	output    json.RawMessage
	artifacts []dispatch.Artifact
	message   string
}

// run is a task being worked on.
type run struct {
	taskID string
	cancel context.CancelCauseFunc
	stop   context.CancelFunc // releases the deadline timer
	done   chan struct{}
	out    outcome // set before done is closed
}

// newRun makes a run of t with a context derived from parent, bounded by
// the task's deadline. The caller registers it in a.runs under a.mu.
func newRun(parent context.Context, t *Task) (context.Context, *run) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.CancelFunc(func() {})
	if !t.Deadline.IsZero() {
		ctx, stop = context.WithDeadline(ctx, t.Deadline)
	}
	return ctx, &run{taskID: t.ID, cancel: cancel, stop: stop, done: make(chan struct{})}
}

// endRun records the outcome and releases the run's context.
func (a *Agent) endRun(key string, r *run, o outcome) {
	r.out = o
	a.mu.Lock()
	if a.runs[key] == r {
		delete(a.runs, key)
	}
	a.mu.Unlock()
	r.stop()
	r.cancel(nil)
	close(r.done)
}

// cancelRun cancels the run registered under key, if any.
func (a *Agent) cancelRun(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.runs[key]; ok {
		r.cancel(errCanceled)
	}
}

// cancelTask cancels every running attempt of a task; it reports whether
// there was one.
func (a *Agent) cancelTask(taskID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	found := false
	for _, r := range a.runs {
		if r.taskID == taskID {
			r.cancel(errCanceled)
			found = true
		}
	}
	return found
}

// execute runs the handler and turns what it returned into an outcome.
func (a *Agent) execute(ctx context.Context, t *Task) (o outcome) {
	defer func() {
		if v := recover(); v != nil {
			a.log.ErrorContext(ctx, "task handler panicked", "task_id", t.ID, "panic", fmt.Sprint(v))
			o = outcome{state: dispatch.StateFailed, message: "the agent's handler panicked"}
		}
	}()
	v, err := a.handle(ctx, t)
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errCanceled):
		return outcome{state: dispatch.StateCanceled, message: cause.Error()}
	case errors.Is(cause, errShutdown):
		return outcome{state: dispatch.StateFailed, message: cause.Error()}
	}
	if err != nil {
		var oe *outcomeError
		if errors.As(err, &oe) {
			return outcome{state: oe.state, message: oe.reason}
		}
		return outcome{state: dispatch.StateFailed, message: err.Error()}
	}
	o, err = completed(v)
	if err != nil {
		return outcome{state: dispatch.StateFailed, message: err.Error()}
	}
	return o
}

// completed encodes a handler's return value.
func completed(v any) (outcome, error) {
	o := outcome{state: dispatch.StateCompleted}
	if r, ok := v.(*Result); ok && r != nil {
		v = *r
	}
	if r, ok := v.(Result); ok {
		o.message = r.Message
		for _, art := range r.Artifacts {
			da := dispatch.Artifact{Name: art.Name, Text: art.Text, MediaType: art.MediaType}
			if art.Data != nil {
				data, err := json.Marshal(art.Data)
				if err != nil {
					return o, fmt.Errorf("encode artifact %q: %w", art.Name, err)
				}
				da.Data = data
			}
			o.artifacts = append(o.artifacts, da)
		}
		v = r.Output
	}
	switch out := v.(type) {
	case json.RawMessage:
		if !json.Valid(out) {
			return o, errors.New("the handler returned invalid JSON")
		}
		o.output = out
	default:
		data, err := json.Marshal(out)
		if err != nil {
			return o, fmt.Errorf("encode output: %w", err)
		}
		o.output = data
	}
	return o, nil
}

// acquire takes a concurrency slot, waiting for one unless wait is false; it
// reports whether it got one.
func (a *Agent) acquire(ctx context.Context, wait bool) bool {
	if a.slots == nil {
		return true
	}
	if !wait {
		select {
		case a.slots <- struct{}{}:
			return true
		default:
			return false
		}
	}
	select {
	case a.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *Agent) release() {
	if a.slots != nil {
		<-a.slots
	}
}

// Shutdown stops the agent's tasks: it waits for running tasks until ctx
// ends, then cancels the rest and waits for their handlers to return.
// ListenAndServe and Run call it; call it yourself when serving the agent
// with a server of your own.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	a.cancelAll()
	<-done
	return nil
}

// cancelAll cancels every running task because the agent is stopping.
func (a *Agent) cancelAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.runs {
		r.cancel(errShutdown)
	}
}

// card builds the agent's A2A card from its manifest.
func (a *Agent) card(ctx context.Context) a2a.AgentCard {
	base := a.publicURL
	if base == "" {
		base = a2a.BaseURL(ctx)
	}
	endpoint := joinPath(base, a.a2aPath())
	desc := a.m.Metadata.Description
	if desc == "" {
		desc = "OSSA agent " + a.m.Metadata.Name
	}
	tags := append([]string{a.m.Spec.Class}, a.m.Metadata.Tags...)
	skills := make([]a2a.AgentSkill, len(a.caps))
	for i, c := range a.caps {
		skills[i] = a2a.AgentSkill{ID: c, Name: c, Description: desc, Tags: tags}
	}
	modes := []string{"application/json", "text/plain"}
	return a2a.AgentCard{
		Name: a.m.Metadata.Name, Description: desc, Version: a.m.Metadata.Version,
		SupportedInterfaces: []a2a.AgentInterface{
			{URL: endpoint, ProtocolBinding: a2a.BindingJSONRPC, ProtocolVersion: a2a.ProtocolVersion},
			{URL: endpoint, ProtocolBinding: a2a.BindingJSONRPC, ProtocolVersion: a2a.LegacyVersion},
		},
		Capabilities:      a2a.AgentCapabilities{Streaming: true},
		DefaultInputModes: modes, DefaultOutputModes: modes,
		Skills: skills,
	}
}
