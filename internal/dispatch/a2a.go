package dispatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/storage"
)

// a2aDispatcher runs tasks on A2A agents over JSON-RPC. The agent's
// Endpoint is its JSON-RPC URL; its Agent Card, looked for at
// {endpoint}/.well-known/agent-card.json and then at the host's root, says
// whether it streams. Streaming agents get SendStreamingMessage; others get
// a non-blocking SendMessage followed by GetTask polls with backoff. Both
// learn the agent's task ID at once, so the task can be canceled
// (CancelTask) when the attempt's context ends first.
type a2aDispatcher struct {
	hc *http.Client
	o  options

	mu      sync.Mutex
	clients map[string]*a2a.Client // by endpoint; each remembers its agent's dialect
	cards   map[string]cardInfo    // by endpoint
}

// cardInfo is what the dispatcher keeps of an agent's card.
type cardInfo struct {
	streaming bool
	expires   time.Time
}

// cardFetchTimeout bounds the wait for a card, which is only an
// optimisation: without one the dispatcher polls.
const cardFetchTimeout = 5 * time.Second

// outputModes are the media types the platform accepts in results.
var outputModes = []string{"application/json", "text/plain"}

func newA2A(hc *http.Client, o options) *a2aDispatcher {
	return &a2aDispatcher{hc: hc, o: o, clients: map[string]*a2a.Client{}, cards: map[string]cardInfo{}}
}

func (d *a2aDispatcher) client(endpoint string) *a2a.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.clients[endpoint]
	if !ok {
		c = a2a.NewClient(endpoint, d.hc)
		d.clients[endpoint] = c
	}
	return c
}

// streams reports whether the agent's card declares streaming, fetching
// the card when the cached answer has expired.
func (d *a2aDispatcher) streams(ctx context.Context, endpoint string) bool {
	d.mu.Lock()
	info, ok := d.cards[endpoint]
	d.mu.Unlock()
	if ok && time.Now().Before(info.expires) {
		return info.streaming
	}
	fetchCtx, cancel := context.WithTimeout(ctx, cardFetchTimeout)
	defer cancel()
	info = cardInfo{expires: time.Now().Add(d.o.cardTTL)}
	for _, u := range cardURLs(endpoint) {
		card, err := a2a.FetchCard(fetchCtx, d.hc, u)
		if err == nil {
			info.streaming = card.Capabilities.Streaming
			break
		}
		d.o.log.DebugContext(ctx, "no a2a agent card", "url", u, "err", err)
	}
	if ctx.Err() == nil {
		d.mu.Lock()
		d.cards[endpoint] = info
		d.mu.Unlock()
	}
	return info.streaming
}

// cardURLs are where an agent's card may be: beside its JSON-RPC endpoint,
// then at the root of its host.
func cardURLs(endpoint string) []string {
	urls := []string{joinURL(endpoint, a2a.WellKnownCardPath)}
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		root := u.Scheme + "://" + u.Host + a2a.WellKnownCardPath
		if root != urls[0] {
			urls = append(urls, root)
		}
	}
	return urls
}

func (d *a2aDispatcher) Dispatch(ctx context.Context, req Request, updates chan<- Update) (Result, error) {
	at := &a2aAttempt{d: d, c: d.client(req.Agent.Endpoint), req: req, updates: updates}
	send := a2a.SendMessageRequest{
		Message:       requestMessage(req),
		Configuration: &a2a.SendMessageConfiguration{AcceptedOutputModes: outputModes},
	}
	var (
		res Result
		err error
	)
	if d.streams(ctx, req.Agent.Endpoint) {
		res, err = at.stream(ctx, send)
	} else {
		send.Configuration.ReturnImmediately = true
		res, err = at.poll(ctx, send)
	}
	if err != nil && ctx.Err() != nil && at.task.ID != "" && !at.task.Status.State.Terminal() {
		// The attempt is over (deadline or cancellation); the agent should
		// stop too. Best effort, on a context of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.o.cancelTimeout)
		defer cancel()
		if cerr := d.Cancel(cctx, req.Agent, req.TaskID, at.task.ID); cerr != nil {
			d.o.log.WarnContext(ctx, "cancel a2a task after attempt ended", "task_id", req.TaskID,
				"remote_id", at.task.ID, "agent_id", req.Agent.ID, "err", cerr)
		}
	}
	return res, err
}

// Cancel sends CancelTask for remoteID. An agent that does not know the
// task, or has already finished it, has nothing left to stop: success.
func (d *a2aDispatcher) Cancel(ctx context.Context, agent storage.Agent, taskID, remoteID string) error {
	if remoteID == "" {
		return fmt.Errorf("cancel task %s on A2A agent %s: the agent's task ID is unknown: %w", taskID, agent.ID, ErrPermanent)
	}
	_, err := d.client(agent.Endpoint).CancelTask(ctx, remoteID)
	switch {
	case err == nil, errors.Is(err, a2a.ErrTaskNotFound), errors.Is(err, a2a.ErrTaskNotCancelable):
		return nil
	}
	return fmt.Errorf("cancel task %s: %w", taskID, a2aFault(ctx, agent.Endpoint, err))
}

// a2aAttempt follows one task on one agent.
type a2aAttempt struct {
	d       *a2aDispatcher
	c       *a2a.Client
	req     Request
	updates chan<- Update
	task    a2a.Task // the latest known state of the agent's task
}

// poll sends the message without waiting and polls until the task is done.
func (at *a2aAttempt) poll(ctx context.Context, send a2a.SendMessageRequest) (Result, error) {
	ev, err := withGrace(ctx, at.d.o.cancelTimeout, func(ctx context.Context) (a2a.StreamEvent, error) {
		return at.c.SendMessage(ctx, send)
	})
	if err != nil {
		return Result{}, at.fail(ctx, err)
	}
	if ev.Message != nil {
		return messageResult(*ev.Message), nil
	}
	if err := at.observe(*ev.Task); err != nil {
		return Result{}, err
	}
	if ctx.Err() != nil {
		return Result{}, at.fail(ctx, ctx.Err())
	}
	return at.waitFinal(ctx)
}

// withGrace runs call on a context that outlives ctx by up to grace: when
// the attempt ends while the agent is creating its task, the answer naming
// the task still arrives, so the task can be canceled instead of left
// running unseen.
func withGrace[T any](ctx context.Context, grace time.Duration, call func(context.Context) (T, error)) (T, error) {
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	type answer struct {
		v   T
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := call(callCtx)
		done <- answer{v, err}
	}()
	select {
	case a := <-done:
		return a.v, a.err
	case <-ctx.Done():
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case a := <-done:
		return a.v, a.err
	case <-timer.C:
		cancel()
		a := <-done
		return a.v, ctx.Err()
	}
}

// waitFinal polls GetTask with backoff until the task reaches a terminal or
// interrupted state.
func (at *a2aAttempt) waitFinal(ctx context.Context) (Result, error) {
	wait := at.d.o.pollMin
	noHistory := 0
	for !at.task.Status.State.Final() {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Result{}, at.fail(ctx, ctx.Err())
		case <-timer.C:
		}
		wait = min(wait*2, at.d.o.pollMax)
		t, err := at.c.GetTask(ctx, at.task.ID, &noHistory)
		if err != nil {
			return Result{}, at.fail(ctx, err)
		}
		if err := at.observe(t); err != nil {
			return Result{}, err
		}
	}
	return taskResult(at.task), nil
}

// streamItem is an event (or the error) read from a stream.
type streamItem struct {
	ev  a2a.StreamEvent
	err error
}

// stream sends the message as a stream and follows its events. If the
// stream breaks before the task is done, polling takes over.
//
// The stream is read by a goroutine on a context detached from the
// attempt's: when the attempt ends before the first event has named the
// agent's task, the reader gets a grace period to deliver it, so that the
// task can be canceled.
func (at *a2aAttempt) stream(ctx context.Context, send a2a.SendMessageRequest) (Result, error) {
	streamCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	items := make(chan streamItem)
	readerDone := make(chan struct{})
	go at.readStream(streamCtx, send, items, readerDone)
	defer func() {
		stop()
		<-readerDone
	}()
	ended := ctx.Done()
	var grace <-chan time.Time
	for {
		var it streamItem
		select {
		case it = <-items:
		case <-ended:
			if at.task.ID != "" {
				return Result{}, at.fail(ctx, ctx.Err())
			}
			t := time.NewTimer(at.d.o.cancelTimeout)
			defer t.Stop()
			ended, grace = nil, t.C
			continue
		case <-grace:
			return Result{}, at.fail(ctx, ctx.Err())
		}
		if it.err != nil {
			var rpcErr *a2a.Error
			if at.task.ID != "" && ctx.Err() == nil && !errors.As(it.err, &rpcErr) && !errors.Is(it.err, a2a.ErrMalformedResponse) {
				at.d.o.log.DebugContext(ctx, "a2a stream ended early; polling", "task_id", at.req.TaskID, "err", it.err)
				return at.waitFinal(ctx)
			}
			if errors.Is(it.err, io.EOF) {
				it.err = fmt.Errorf("%w: stream ended before the agent created a task", a2a.ErrMalformedResponse)
			}
			return Result{}, at.fail(ctx, it.err)
		}
		res, done, err := at.apply(it.ev)
		switch {
		case err != nil:
			return Result{}, err
		case ctx.Err() != nil:
			return Result{}, at.fail(ctx, ctx.Err())
		case done:
			return res, nil
		}
	}
}

// readStream opens the stream and hands its events to items until the
// stream ends or ctx does.
func (at *a2aAttempt) readStream(ctx context.Context, send a2a.SendMessageRequest, items chan<- streamItem, done chan<- struct{}) {
	defer close(done)
	emit := func(it streamItem) bool {
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	s, err := at.c.SendStreamingMessage(ctx, send)
	if err != nil {
		emit(streamItem{err: err})
		return
	}
	defer s.Close()
	for {
		ev, err := s.Next()
		if !emit(streamItem{ev, err}) || err != nil {
			return
		}
	}
}

// apply folds a stream event into the task; done reports a final outcome.
func (at *a2aAttempt) apply(ev a2a.StreamEvent) (res Result, done bool, err error) {
	switch {
	case ev.Task != nil:
		err = at.observe(*ev.Task)
	case ev.Message != nil && at.task.ID == "":
		return messageResult(*ev.Message), true, nil
	case ev.StatusUpdate != nil:
		t := at.task
		if t.ID == "" {
			t.ID, t.ContextID = ev.StatusUpdate.TaskID, ev.StatusUpdate.ContextID
		}
		t.Status = ev.StatusUpdate.Status
		err = at.observe(t)
	case ev.ArtifactUpdate != nil:
		at.addArtifact(*ev.ArtifactUpdate)
	}
	if err != nil || !at.task.Status.State.Final() {
		return Result{}, false, err
	}
	return taskResult(at.task), true, nil
}

// observe records the task's latest state, reporting state changes as
// updates. A state the platform cannot interpret fails the attempt.
func (at *a2aAttempt) observe(t a2a.Task) error {
	if !t.Status.State.Valid() {
		return &AgentError{Protocol: ProtocolA2A, Status: http.StatusOK,
			Detail: truncate(fmt.Sprintf("task %q has unknown state %q", t.ID, t.Status.State))}
	}
	if t.ID == "" {
		return &AgentError{Protocol: ProtocolA2A, Status: http.StatusOK, Detail: "task has no id"}
	}
	changed := t.Status.State != at.task.Status.State
	if t.Artifacts == nil && t.ID == at.task.ID {
		t.Artifacts = at.task.Artifacts // polls and status events carry no artifacts
	}
	at.task = t
	if changed {
		sendUpdate(at.updates, Update{State: stateOf(t.Status.State), Message: t.Status.Message.Text()})
	}
	return nil
}

// addArtifact merges a streamed artifact (or chunk) into the task.
func (at *a2aAttempt) addArtifact(ev a2a.TaskArtifactUpdateEvent) {
	arts := at.task.Artifacts
	i := 0
	for i < len(arts) && arts[i].ArtifactID != ev.Artifact.ArtifactID {
		i++
	}
	switch {
	case i == len(arts):
		at.task.Artifacts = append(arts, ev.Artifact)
	case ev.Append:
		arts[i].Parts = appendParts(arts[i].Parts, ev.Artifact.Parts)
	default:
		arts[i] = ev.Artifact
	}
	for _, a := range convertArtifacts([]a2a.Artifact{ev.Artifact}) {
		sendUpdate(at.updates, Update{Artifact: &a})
	}
}

// fail turns an error of the attempt into the error Dispatch returns.
func (at *a2aAttempt) fail(ctx context.Context, err error) error {
	return fmt.Errorf("a2a task %s: %w", at.req.TaskID, a2aFault(ctx, at.req.Agent.Endpoint, err))
}

// a2aFault classifies an A2A client error: the attempt's own context first,
// then what the agent said (HTTP status or JSON-RPC error), then garbage.
func a2aFault(ctx context.Context, endpoint string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", endpoint, ctxErr)
	}
	var httpErr *a2a.HTTPError
	var rpcErr *a2a.Error
	switch {
	case errors.As(err, &httpErr):
		return statusError(ProtocolA2A, httpErr.StatusCode, httpErr.Body)
	case errors.As(err, &rpcErr):
		ae := &AgentError{Protocol: ProtocolA2A, Status: rpcErr.Code, Detail: truncate(err.Error())}
		if permanentRPC(rpcErr.Code) {
			ae.Err = ErrPermanent
		}
		return ae
	case errors.Is(err, a2a.ErrMalformedResponse):
		return &AgentError{Protocol: ProtocolA2A, Status: http.StatusOK, Detail: truncate(err.Error())}
	}
	return fmt.Errorf("%s: %w", endpoint, err)
}

// permanentRPC reports whether a JSON-RPC error code means the agent refuses
// the request as such. Internal errors, invalid agent responses and a task
// the agent lost (it may have restarted) are worth another attempt.
func permanentRPC(code int) bool {
	switch code {
	case a2a.CodeInternalError, a2a.CodeTaskNotFound, a2a.CodeInvalidAgentResponse:
		return false
	}
	return code <= -32600 && code >= -32700 || code <= -32001 && code >= -32009
}

// stateOf names an A2A state as dispatch does: by its v0.3 spelling, which
// the State constants use ("completed", "input-required"); progress states
// come out as "submitted" and "working".
func stateOf(s a2a.TaskState) State { return State(s.Legacy()) }

// attemptMessageID identifies the message of one attempt, so an agent that
// deduplicates by message ID sees a repeat as one.
func attemptMessageID(req Request) string {
	return req.TaskID + "-" + strconv.Itoa(req.Attempt)
}

// appendParts appends streamed chunks to an artifact's parts. A text chunk
// continues a text part (agents stream text a few tokens at a time);
// anything else is a part of its own.
func appendParts(parts, chunk []a2a.Part) []a2a.Part {
	parts = slices.Clone(parts)
	for _, p := range chunk {
		if n := len(parts); n > 0 && p.Kind() == a2a.PartText && parts[n-1].Kind() == a2a.PartText {
			parts[n-1].Text += p.Text
			continue
		}
		parts = append(parts, p)
	}
	return parts
}
