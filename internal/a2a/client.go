package a2a

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/ossa-platform/ossa/internal/httpx"
)

// Client calls one agent's A2A JSON-RPC endpoint.
//
// It speaks v1.0 first. When the agent answers a v1.0 call with "method not
// found" (-32601) or "version not supported" (-32009), the client repeats
// the call with the v0.3 method name and shapes, and keeps speaking v0.3 to
// that agent if the repeat is understood.
type Client struct {
	url    string
	hc     *http.Client
	header http.Header
	legacy atomic.Bool
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHeader adds a header to every request (credentials, for instance).
func WithHeader(key, value string) ClientOption {
	return func(c *Client) { c.header.Add(key, value) }
}

// WithLegacyDialect makes the client speak v0.3 from the start.
func WithLegacyDialect() ClientOption { return func(c *Client) { c.legacy.Store(true) } }

// NewClient returns a client of the JSON-RPC endpoint at url. hc nil means
// http.DefaultClient; deadlines come from each call's context.
func NewClient(url string, hc *http.Client, opts ...ClientOption) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{url: url, hc: hc, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Legacy reports whether the client speaks v0.3 to its agent.
func (c *Client) Legacy() bool { return c.legacy.Load() }

// HTTPError is a non-2xx answer to a JSON-RPC call.
type HTTPError struct {
	StatusCode int
	// Body is the start of the response body, as sent.
	Body string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.StatusCode, e.Body)
}

// ErrMalformedResponse marks an answer that is not a well-formed A2A
// JSON-RPC response.
var ErrMalformedResponse = errors.New("malformed A2A response")

// Bounds on what the client reads from a peer.
const (
	maxResponseSize  = 32 << 20
	maxErrorBodySize = 4 << 10
)

// SendMessage sends a message; the result holds a Task or, for agents that
// answer directly, a Message.
func (c *Client) SendMessage(ctx context.Context, req SendMessageRequest) (StreamEvent, error) {
	var out StreamEvent
	err := c.unary(ctx, MethodSendMessage, sendParams(req), &out)
	if err == nil && out.Task == nil && out.Message == nil {
		err = fmt.Errorf("%w: %s result is neither a task nor a message", ErrMalformedResponse, MethodSendMessage)
	}
	return out, err
}

// GetTask returns a task; historyLength nil asks for all of its history.
func (c *Client) GetTask(ctx context.Context, id string, historyLength *int) (Task, error) {
	var out Task
	err := c.unary(ctx, MethodGetTask, queryParams(TaskQuery{ID: id, HistoryLength: historyLength}), &out)
	return out, err
}

// CancelTask asks the agent to cancel a task and returns the task.
func (c *Client) CancelTask(ctx context.Context, id string) (Task, error) {
	var out Task
	err := c.unary(ctx, MethodCancelTask, queryParams(TaskQuery{ID: id}), &out)
	return out, err
}

// SendStreamingMessage sends a message and streams the task's events.
func (c *Client) SendStreamingMessage(ctx context.Context, req SendMessageRequest) (*Stream, error) {
	return c.stream(ctx, MethodSendStreamingMessage, sendParams(req))
}

// SubscribeToTask streams the events of an existing task.
func (c *Client) SubscribeToTask(ctx context.Context, id string) (*Stream, error) {
	return c.stream(ctx, MethodSubscribeToTask, queryParams(TaskQuery{ID: id}))
}

// paramsFor renders a method's params in the dialect being spoken.
type paramsFor func(legacy bool) any

func sendParams(req SendMessageRequest) paramsFor {
	return func(legacy bool) any {
		if legacy {
			return toLegacySendParams(req)
		}
		return req
	}
}

// queryParams are the same in both dialects.
func queryParams(q TaskQuery) paramsFor { return func(bool) any { return q } }

// fallsBack reports whether err means the agent speaks only v0.3.
func fallsBack(err error) bool {
	return errors.Is(err, ErrMethodNotFound) || errors.Is(err, ErrVersionNotSupported)
}

// unary makes a call with one JSON result, decoded into out.
func (c *Client) unary(ctx context.Context, method string, params paramsFor, out any) error {
	legacy := c.legacy.Load()
	result, err := c.call(ctx, method, legacy, params)
	if err != nil && !legacy && fallsBack(err) {
		var retryErr error
		if result, retryErr = c.call(ctx, method, true, params); retryErr == nil || !fallsBack(retryErr) {
			c.legacy.Store(true)
			err = retryErr
		}
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(result, out); err != nil {
		return fmt.Errorf("%w: %s result: %v", ErrMalformedResponse, method, err)
	}
	return nil
}

// call makes one unary call and returns its raw result.
func (c *Client) call(ctx context.Context, method string, legacy bool, params paramsFor) (json.RawMessage, error) {
	resp, name, err := c.post(ctx, method, legacy, params, "application/json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return readResponse(resp.Body, name)
}

// post sends a JSON-RPC request and returns the 2xx response; name is the
// method name used on the wire.
func (c *Client) post(ctx context.Context, method string, legacy bool, params paramsFor, accept string) (*http.Response, string, error) {
	name, version := method, ProtocolVersion
	if legacy {
		name, version = legacyName(method), LegacyVersion
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "2.0", ID: uuid.NewString(), Method: name, Params: params(legacy)})
	if err != nil {
		return nil, name, fmt.Errorf("encode %s request: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, name, fmt.Errorf("build %s request: %w", name, err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set(VersionHeader, version)
	if id := httpx.RequestID(ctx); id != "" {
		req.Header.Set(httpx.RequestIDHeader, id)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, name, fmt.Errorf("%s: %w", name, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodySize))
		return nil, name, fmt.Errorf("%s: %w", name, &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(data))})
	}
	return resp, name, nil
}

// readResponse decodes a JSON-RPC response, returning its result or its
// error (an *Error, wrapped).
func readResponse(r io.Reader, method string) (json.RawMessage, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", method, err)
	}
	if len(data) > maxResponseSize {
		return nil, fmt.Errorf("%w: %s response exceeds %d bytes", ErrMalformedResponse, method, maxResponseSize)
	}
	return decodeResponse(data, method)
}

func decodeResponse(data []byte, method string) (json.RawMessage, error) {
	var resp rpcResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("%w: %s: %v: %s", ErrMalformedResponse, method, err, snippet(data))
	}
	switch {
	case resp.Error != nil:
		return nil, fmt.Errorf("%s: %w", method, resp.Error)
	case len(resp.Result) == 0 || string(resp.Result) == "null":
		return nil, fmt.Errorf("%w: %s response has neither result nor error: %s", ErrMalformedResponse, method, snippet(data))
	}
	return resp.Result, nil
}

// snippet returns the start of a peer's answer for error messages.
func snippet(data []byte) string {
	const limit = 256
	s := strings.TrimSpace(string(data))
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

// stream opens a streaming call. An agent may answer with a plain JSON-RPC
// response instead of a stream (an error, or a single result); both are
// handled.
func (c *Client) stream(ctx context.Context, method string, params paramsFor) (*Stream, error) {
	legacy := c.legacy.Load()
	s, err := c.openStream(ctx, method, legacy, params)
	if err != nil && !legacy && fallsBack(err) {
		var retryErr error
		if s, retryErr = c.openStream(ctx, method, true, params); retryErr == nil || !fallsBack(retryErr) {
			c.legacy.Store(true)
			err = retryErr
		}
	}
	return s, err
}

func (c *Client) openStream(ctx context.Context, method string, legacy bool, params paramsFor) (*Stream, error) {
	resp, name, err := c.post(ctx, method, legacy, params, "text/event-stream")
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "text/event-stream":
		return &Stream{method: name, body: resp.Body, sse: newSSEReader(resp.Body)}, nil
	case "application/json":
		defer resp.Body.Close()
		result, err := readResponse(resp.Body, name)
		if err != nil {
			return nil, err
		}
		var ev StreamEvent
		if err := json.Unmarshal(result, &ev); err != nil {
			return nil, fmt.Errorf("%w: %s result: %v", ErrMalformedResponse, name, err)
		}
		return &Stream{method: name, single: &ev}, nil
	}
	resp.Body.Close()
	return nil, fmt.Errorf("%w: %s answered with Content-Type %q", ErrMalformedResponse, name, mt)
}

// Stream is the event stream of a streaming call. Close it when done.
type Stream struct {
	method string
	body   io.ReadCloser
	sse    *sseReader
	single *StreamEvent
}

// Next returns the next event, io.EOF when the agent ended the stream, or
// the JSON-RPC error the agent sent in it.
func (s *Stream) Next() (StreamEvent, error) {
	if s.sse == nil {
		if s.single == nil {
			return StreamEvent{}, io.EOF
		}
		ev := *s.single
		s.single = nil
		return ev, nil
	}
	data, err := s.sse.next()
	if err != nil {
		return StreamEvent{}, err
	}
	result, err := decodeResponse(data, s.method)
	if err != nil {
		return StreamEvent{}, err
	}
	var ev StreamEvent
	if err := json.Unmarshal(result, &ev); err != nil {
		return StreamEvent{}, fmt.Errorf("%w: %s event: %v", ErrMalformedResponse, s.method, err)
	}
	return ev, nil
}

// Close releases the stream's connection.
func (s *Stream) Close() error {
	if s.body == nil {
		return nil
	}
	return s.body.Close()
}

// FetchCard fetches an Agent Card from cardURL (for instance
// base+WellKnownCardPath).
func FetchCard(ctx context.Context, hc *http.Client, cardURL string) (AgentCard, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cardURL, nil)
	if err != nil {
		return AgentCard{}, fmt.Errorf("fetch agent card: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return AgentCard{}, fmt.Errorf("fetch agent card: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBodySize))
		return AgentCard{}, fmt.Errorf("fetch agent card: %w", &HTTPError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(data))})
	}
	var card AgentCard
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseSize)).Decode(&card); err != nil {
		return AgentCard{}, fmt.Errorf("fetch agent card: %w: %v", ErrMalformedResponse, err)
	}
	return card, nil
}
