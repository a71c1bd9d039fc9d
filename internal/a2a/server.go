package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Backend is what a Server serves: the tasks of one agent (or of a whole
// platform acting as one agent). Methods return errors wrapping the
// sentinels of this package (ErrTaskNotFound, ErrUnsupportedOperation, …)
// to choose the A2A error code a client sees; any other error is answered as
// an internal error without its text.
type Backend interface {
	// SendMessage accepts a client's message. With Message.TaskID empty it
	// creates a task; otherwise it continues that task (one waiting in
	// input-required, say), failing with ErrTaskNotFound if there is no
	// such task and ErrUnsupportedOperation if it cannot take messages (it
	// is in a terminal state). It returns the task as it stands, without
	// waiting for it to finish: the Server waits when the client asked to.
	SendMessage(ctx context.Context, req SendMessageRequest) (Task, error)
	// GetTask returns the task with its whole history (the Server trims
	// it), or ErrTaskNotFound.
	GetTask(ctx context.Context, id string) (Task, error)
	// CancelTask asks for the task to stop and returns it as it stands
	// after the request; ErrTaskNotFound, or ErrTaskNotCancelable when it
	// is already in a terminal state.
	CancelTask(ctx context.Context, id string) (Task, error)
	// Subscribe streams the task's events, or fails with ErrTaskNotFound.
	// The first event is the task's current state as a Task; then come
	// StatusUpdate and ArtifactUpdate events as they happen. The backend
	// closes the channel after sending a status in a terminal or
	// interrupted state (immediately after the Task, when it is already
	// in one) or when ctx ends, and never blocks on a send once ctx has
	// ended.
	Subscribe(ctx context.Context, id string) (<-chan StreamEvent, error)
}

// Server serves the A2A JSON-RPC binding for a Backend: the v1.0 methods
// (SendMessage, SendStreamingMessage, GetTask, CancelTask, SubscribeToTask,
// GetExtendedAgentCard) and their v0.3 names (message/send, message/stream,
// tasks/get, tasks/cancel, tasks/resubscribe,
// agent/getAuthenticatedExtendedCard).
//
// Each request is answered in the dialect it was made in: the A2A-Version
// header (or query parameter) decides; without one, a v0.3 method name means
// v0.3 and a v1.0 name means v1.0. Errors are JSON-RPC error objects sent
// with HTTP 200; streams are Server-Sent Events whose data are JSON-RPC
// responses, closed once the task reaches a terminal or interrupted state.
// Batch requests and notifications (requests without an id) are refused with
// -32600: every A2A method has a result the caller needs.
type Server struct {
	backend   Backend
	card      func(ctx context.Context) AgentCard
	log       *slog.Logger
	keepAlive time.Duration
	bodyLimit int64
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithLogger sets the logger for failures the client is not told about.
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithKeepAlive sets how often an idle stream gets a comment, so that
// proxies do not drop it; 0 disables keep-alives. The default is 15s.
func WithKeepAlive(d time.Duration) ServerOption { return func(s *Server) { s.keepAlive = d } }

// WithBodyLimit caps request bodies; the default is 4 MiB.
func WithBodyLimit(n int64) ServerOption { return func(s *Server) { s.bodyLimit = n } }

// NewServer returns a handler of A2A JSON-RPC requests (POST) for backend.
// card, when non-nil and declaring capabilities.extendedAgentCard, answers
// GetExtendedAgentCard; serve the public card with CardHandler.
func NewServer(backend Backend, card func(ctx context.Context) AgentCard, opts ...ServerOption) *Server {
	s := &Server{
		backend: backend, card: card, log: slog.New(slog.DiscardHandler),
		keepAlive: 15 * time.Second, bodyLimit: 4 << 20,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// dialect is the generation of A2A a request speaks.
type dialect int

const (
	dialectV1 dialect = iota
	dialectV03
)

// call is one parsed request.
type call struct {
	id      json.RawMessage
	method  string // the v1.0 name, whatever was sent
	params  json.RawMessage
	dialect dialect
}

// ServeHTTP answers one JSON-RPC request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "A2A JSON-RPC requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyLimit))
	if err != nil {
		s.writeError(w, r, nullID, errorf(ErrInvalidRequest, "read request body: %v", err))
		return
	}
	c, id, err := parseCall(body)
	if err != nil {
		s.writeError(w, r, id, err)
		return
	}
	if c.dialect, err = requestDialect(r, c.method); err != nil {
		s.writeError(w, r, c.id, err)
		return
	}
	if legacy, ok := legacyMethods[c.method]; ok {
		c.method = legacy
	}
	switch c.method {
	case MethodSendStreamingMessage, MethodSubscribeToTask:
		s.serveStream(w, r, c)
		return
	}
	result, err := s.unary(r.Context(), c)
	if err != nil {
		s.writeError(w, r, c.id, err)
		return
	}
	s.writeResult(w, r, c.id, result)
}

// parseCall validates the JSON-RPC envelope. On failure it returns the
// request's ID when it could be read, so the error is addressed to it.
func parseCall(body []byte) (call, json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) {
		return call{}, nullID, errorf(ErrParse, "request body is not valid JSON")
	}
	if trimmed[0] == '[' {
		return call{}, nullID, errorf(ErrInvalidRequest, "batch requests are not supported; send one request per HTTP call")
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return call{}, nullID, errorf(ErrInvalidRequest, "a JSON-RPC request must be a JSON object")
	}
	id, ok := env["id"]
	if !ok {
		return call{}, nullID, errorf(ErrInvalidRequest, "request has no id; notifications are not supported")
	}
	if !validID(id) {
		return call{}, nullID, errorf(ErrInvalidRequest, "id must be a string, a number or null")
	}
	var version, method string
	if err := json.Unmarshal(env["jsonrpc"], &version); err != nil || version != "2.0" {
		return call{}, id, errorf(ErrInvalidRequest, `"jsonrpc" must be "2.0"`)
	}
	if err := json.Unmarshal(env["method"], &method); err != nil || method == "" {
		return call{}, id, errorf(ErrInvalidRequest, `"method" must be a non-empty string`)
	}
	params := env["params"]
	if len(params) > 0 && params[0] != '{' && string(params) != "null" {
		return call{}, id, errorf(ErrInvalidParams, "params must be an object")
	}
	return call{id: id, method: method, params: params}, id, nil
}

func validID(id json.RawMessage) bool {
	switch {
	case string(id) == "null":
		return true
	case len(id) > 0 && id[0] == '"':
		return true
	case len(id) > 0 && (id[0] == '-' || id[0] >= '0' && id[0] <= '9'):
		return true
	}
	return false
}

// requestDialect reads the A2A version a request asks for (spec §3.6.1).
func requestDialect(r *http.Request, method string) (dialect, error) {
	v := strings.TrimSpace(r.Header.Get(VersionHeader))
	if v == "" {
		v = r.URL.Query().Get(VersionHeader)
	}
	switch {
	case v == "":
		// The spec reads a missing version as 0.3, but a v1.0 method name
		// cannot come from a v0.3 client.
		if _, legacy := legacyMethods[method]; legacy {
			return dialectV03, nil
		}
		return dialectV1, nil
	case v == "1" || strings.HasPrefix(v, "1."):
		return dialectV1, nil
	case v == LegacyVersion || strings.HasPrefix(v, LegacyVersion+"."):
		return dialectV03, nil
	}
	return 0, errorf(ErrVersionNotSupported, "A2A-Version %q is not supported; this server speaks %s and %s",
		v, ProtocolVersion, LegacyVersion)
}

// unary runs a method that has a single result.
func (s *Server) unary(ctx context.Context, c call) (any, error) {
	switch c.method {
	case MethodSendMessage:
		req, err := decodeSend(c.params)
		if err != nil {
			return nil, err
		}
		t, err := s.backend.SendMessage(ctx, req)
		if err != nil {
			return nil, err
		}
		if req.Configuration.waits() {
			if t, err = s.await(ctx, t); err != nil {
				return nil, err
			}
		}
		t = TrimHistory(t, historyOf(req.Configuration))
		if c.dialect == dialectV03 {
			return toLegacyTask(t), nil
		}
		return StreamEvent{Task: &t}, nil
	case MethodGetTask, MethodCancelTask:
		q, err := decodeQuery(c.params)
		if err != nil {
			return nil, err
		}
		var t Task
		if c.method == MethodGetTask {
			t, err = s.backend.GetTask(ctx, q.ID)
		} else {
			t, err = s.backend.CancelTask(ctx, q.ID)
		}
		if err != nil {
			return nil, err
		}
		t = TrimHistory(t, q.HistoryLength)
		if c.dialect == dialectV03 {
			return toLegacyTask(t), nil
		}
		return t, nil
	case MethodGetExtendedAgentCard:
		if s.card == nil {
			return nil, ErrExtendedAgentCardNotConfigured
		}
		card := s.card(ctx)
		if !card.Capabilities.ExtendedAgentCard {
			return nil, ErrExtendedAgentCardNotConfigured
		}
		return card.WithLegacyFields(), nil
	case MethodListTasks:
		return nil, errorf(ErrUnsupportedOperation, "%s is not supported by this agent", c.method)
	case MethodCreatePushConfig, MethodGetPushConfig, MethodListPushConfigs, MethodDeletePushConfig:
		return nil, ErrPushNotificationNotSupported
	}
	return nil, errorf(ErrMethodNotFound, "method %q not found", c.method)
}

func historyOf(c *SendMessageConfiguration) *int {
	if c == nil {
		return nil
	}
	return c.HistoryLength
}

// await waits until t reaches a terminal or interrupted state and returns
// it then.
func (s *Server) await(ctx context.Context, t Task) (Task, error) {
	if t.Status.State.Final() {
		return t, nil
	}
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := s.backend.Subscribe(subCtx, t.ID)
	if err != nil {
		return Task{}, err
	}
	for ev := range events {
		if ev.State().Final() {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return Task{}, err
	}
	return s.backend.GetTask(ctx, t.ID)
}

func decodeSend(params json.RawMessage) (SendMessageRequest, error) {
	var req SendMessageRequest
	if err := decodeParams(params, &req); err != nil {
		return req, err
	}
	m := req.Message
	switch {
	case m.MessageID == "":
		return req, errorf(ErrInvalidParams, "message.messageId is required")
	case len(m.Parts) == 0:
		return req, errorf(ErrInvalidParams, "message.parts must hold at least one part")
	}
	if c := req.Configuration; c != nil && (len(c.TaskPushNotificationConfig) > 0 || len(c.PushNotificationConfig) > 0) {
		return req, ErrPushNotificationNotSupported
	}
	if req.Message.Role == "" {
		req.Message.Role = RoleUser
	}
	return req, nil
}

func decodeQuery(params json.RawMessage) (TaskQuery, error) {
	var q TaskQuery
	if err := decodeParams(params, &q); err != nil {
		return q, err
	}
	if q.ID == "" {
		return q, errorf(ErrInvalidParams, "id is required")
	}
	return q, nil
}

func decodeParams(params json.RawMessage, v any) error {
	if len(params) == 0 || string(params) == "null" {
		return errorf(ErrInvalidParams, "params are required")
	}
	if err := json.Unmarshal(params, v); err != nil {
		return errorf(ErrInvalidParams, "%v", err)
	}
	return nil
}

// serveStream answers SendStreamingMessage and SubscribeToTask with an
// event stream. Failures before the first event are answered as plain
// JSON-RPC errors, which clients handle more widely than an error event.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, c call) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := s.openStream(ctx, c)
	if err != nil {
		s.writeError(w, r, c.id, err)
		return
	}
	var first StreamEvent
	select {
	case ev, ok := <-events:
		if !ok {
			s.writeError(w, r, c.id, errors.New("subscription closed before the task's state was sent"))
			return
		}
		first = ev
	case <-ctx.Done():
		return
	}
	if c.method == MethodSubscribeToTask && first.State().Terminal() {
		s.writeError(w, r, c.id, errorf(ErrUnsupportedOperation, "task is already %s; there is nothing to subscribe to", first.State().Legacy()))
		return
	}
	sse := newSSEWriter(w)
	var tick <-chan time.Time
	if s.keepAlive > 0 {
		t := time.NewTicker(s.keepAlive)
		defer t.Stop()
		tick = t.C
	}
	if err := s.writeEvent(sse, c, first); err != nil {
		return
	}
	if first.State().Final() {
		s.closeWithFinalStatus(sse, c, first)
		return
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if err := s.writeEvent(sse, c, ev); err != nil || ev.State().Final() {
				return
			}
		case <-tick:
			if sse.keepAlive() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// closeWithFinalStatus ends a stream whose first event was already final. A
// v0.3 stream ends with a status update marked final: true, and clients of
// that dialect may wait for it, so a task that finished before the stream
// opened still gets one; v1.0 clients read the end of the stream instead.
func (s *Server) closeWithFinalStatus(sse *sseWriter, c call, first StreamEvent) {
	if c.dialect != dialectV03 || first.Task == nil {
		return
	}
	_ = s.writeEvent(sse, c, StreamEvent{StatusUpdate: &TaskStatusUpdateEvent{
		TaskID: first.Task.ID, ContextID: first.Task.ContextID, Status: first.Task.Status,
	}})
}

// openStream starts the stream a streaming method asks for.
func (s *Server) openStream(ctx context.Context, c call) (<-chan StreamEvent, error) {
	if c.method == MethodSubscribeToTask {
		q, err := decodeQuery(c.params)
		if err != nil {
			return nil, err
		}
		return s.backend.Subscribe(ctx, q.ID)
	}
	req, err := decodeSend(c.params)
	if err != nil {
		return nil, err
	}
	t, err := s.backend.SendMessage(ctx, req)
	if err != nil {
		return nil, err
	}
	return s.backend.Subscribe(ctx, t.ID)
}

func (s *Server) writeEvent(sse *sseWriter, c call, ev StreamEvent) error {
	var result any = ev
	if c.dialect == dialectV03 {
		result = toLegacyEvent(ev, ev.State().Final())
	}
	payload, err := s.response(c.id, result, nil)
	if err != nil {
		return err
	}
	return sse.data(payload)
}

// response encodes a JSON-RPC response with either a result or an error.
func (s *Server) response(id json.RawMessage, result any, rpcErr *Error) ([]byte, error) {
	resp := rpcResponse{JSONRPC: "2.0", ID: id, Error: rpcErr}
	if rpcErr == nil {
		raw, err := json.Marshal(result)
		if err != nil {
			return nil, fmt.Errorf("encode result: %w", err)
		}
		resp.Result = raw
	}
	return json.Marshal(resp)
}

func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, id json.RawMessage, result any) {
	payload, err := s.response(id, result, nil)
	if err != nil {
		s.writeError(w, r, id, err)
		return
	}
	writeJSON(w, payload)
}

// writeError answers with a JSON-RPC error. Errors carrying an *Error keep
// their code and their text; anything else is logged and reported as an
// internal error, since its text may hold internals.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, id json.RawMessage, err error) {
	rpcErr := &Error{Code: CodeInternalError, Message: "internal error"}
	var e *Error
	switch {
	case errors.As(err, &e):
		rpcErr = &Error{Code: e.Code, Message: err.Error(), Data: e.Data}
	case r.Context().Err() != nil:
		return // the client is gone
	default:
		s.log.ErrorContext(r.Context(), "a2a request failed", "err", err)
	}
	payload, _ := s.response(id, nil, rpcErr)
	writeJSON(w, payload)
}

func writeJSON(w http.ResponseWriter, payload []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(payload, '\n'))
}
