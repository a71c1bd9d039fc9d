package dispatch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ossa-platform/ossa/internal/storage"
)

// mcpDispatcher runs a task as an MCP tools/call on the agent's streamable
// HTTP endpoint, the tool named after the capability. Each attempt has a
// session of its own: MCP servers are commonly stateless, and a failed
// session then cannot poison the next attempt.
type mcpDispatcher struct {
	hc *http.Client
	o  options
}

func newMCP(hc *http.Client, o options) *mcpDispatcher { return &mcpDispatcher{hc: hc, o: o} }

// mcpClientInfo names the platform to MCP servers.
var mcpClientInfo = &mcp.Implementation{Name: "ossa-task-agent", Version: "0.1.8"}

func (d *mcpDispatcher) Dispatch(ctx context.Context, req Request, _ chan<- Update) (Result, error) {
	rec := &lastStatus{base: d.hc.Transport, cancelSent: make(chan struct{})}
	hc := *d.hc
	hc.Transport = rec
	transport := &mcp.StreamableClientTransport{
		Endpoint: req.Agent.Endpoint, HTTPClient: &hc,
		// A task needs only the answer to its own call; the attempt, not
		// the transport, decides about retries.
		DisableStandaloneSSE: true, MaxRetries: -1,
	}
	session, err := mcp.NewClient(mcpClientInfo, nil).Connect(ctx, transport, nil)
	if err != nil {
		return Result{}, fmt.Errorf("mcp task %s: connect: %w", req.TaskID, mcpFault(ctx, req.Agent.Endpoint, rec, err))
	}
	defer session.Close()
	res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: req.Capability, Arguments: toolArguments(req.Input)})
	if err != nil && ctx.Err() != nil {
		// The SDK tells the server that the call is canceled from a
		// goroutine of its own; closing the session before that notice is
		// out would lose it, and the tool would run on.
		timer := time.NewTimer(d.o.cancelTimeout)
		select {
		case <-rec.cancelSent:
		case <-timer.C:
		}
		timer.Stop()
	}
	if err != nil {
		return Result{}, fmt.Errorf("mcp task %s: call tool %q: %w", req.TaskID, req.Capability, mcpFault(ctx, req.Agent.Endpoint, rec, err))
	}
	return toolResult(res), nil
}

// Cancel has nothing to send: an MCP call stops when its attempt's context
// is canceled, which is reported to the server as notifications/cancelled
// before the session closes.
func (d *mcpDispatcher) Cancel(context.Context, storage.Agent, string, string) error { return nil }

// toolArguments passes a JSON object through as the tool's arguments and
// wraps any other input as {"input": value}.
func toolArguments(input json.RawMessage) any {
	trimmed := bytes.TrimSpace(input)
	switch {
	case len(trimmed) == 0 || string(trimmed) == "null":
		return map[string]any{}
	case trimmed[0] == '{':
		return json.RawMessage(trimmed)
	}
	return map[string]json.RawMessage{"input": trimmed}
}

// toolResult maps a tool's result: isError means failed (the content says
// why); the output is the structured content when there is any, otherwise
// the text content (a JSON object or array kept as JSON, other text as a
// string). Every content item is also an artifact.
func toolResult(res *mcp.CallToolResult) Result {
	out := Result{State: StateCompleted}
	var texts []string
	for i, c := range res.Content {
		a := Artifact{ID: "content/" + strconv.Itoa(i)}
		switch c := c.(type) {
		case *mcp.TextContent:
			texts = append(texts, c.Text)
			a.Text, a.MediaType = c.Text, "text/plain"
		case *mcp.ImageContent:
			a.Data, a.MediaType = base64JSON(c.Data), c.MIMEType
		case *mcp.AudioContent:
			a.Data, a.MediaType = base64JSON(c.Data), c.MIMEType
		case *mcp.ResourceLink:
			a.Name, a.Description, a.MediaType = c.Name, c.Description, c.MIMEType
			a.Data, _ = json.Marshal(map[string]string{"url": c.URI})
		case *mcp.EmbeddedResource:
			a.Data, _ = json.Marshal(c.Resource)
		default:
			a.Data, _ = json.Marshal(c)
		}
		out.Artifacts = append(out.Artifacts, a)
	}
	text := strings.Join(texts, "\n")
	if res.IsError {
		out.State, out.Message = StateFailed, truncate(text)
		return out
	}
	switch trimmed := strings.TrimSpace(text); {
	case res.StructuredContent != nil:
		out.Output, _ = json.Marshal(res.StructuredContent)
	case (strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")) && json.Valid([]byte(trimmed)):
		out.Output = json.RawMessage(trimmed)
	case len(texts) > 0:
		out.Output, _ = json.Marshal(text)
	}
	return out
}

func base64JSON(b []byte) json.RawMessage {
	out, _ := json.Marshal(base64.StdEncoding.EncodeToString(b))
	return out
}

// mcpFault classifies an MCP failure: the attempt's context, then the HTTP
// status of the request that failed, then a JSON-RPC error. Method not found
// (no tools) and invalid params (no such tool, bad arguments) will not pass
// on retry; other protocol errors may.
func mcpFault(ctx context.Context, endpoint string, rec *lastStatus, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", endpoint, ctxErr)
	}
	if status, body := rec.get(); status != 0 {
		return statusError(ProtocolMCP, status, body)
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) {
		ae := &AgentError{Protocol: ProtocolMCP, Status: int(rpcErr.Code), Detail: truncate(rpcErr.Message)}
		if rpcErr.Code == jsonrpc.CodeMethodNotFound || rpcErr.Code == jsonrpc.CodeInvalidParams {
			ae.Err = ErrPermanent
		}
		return ae
	}
	return fmt.Errorf("%s: %w", endpoint, err)
}

// lastStatus watches the session's HTTP traffic. It remembers the failure
// status and body of the latest POST, the detail the MCP SDK's errors leave
// out, and closes cancelSent once a cancellation notice has been delivered.
type lastStatus struct {
	base       http.RoundTripper
	cancelSent chan struct{}

	mu       sync.Mutex
	status   int
	body     string
	canceled bool
}

func (l *lastStatus) RoundTrip(req *http.Request) (*http.Response, error) {
	base := l.base
	if base == nil {
		base = http.DefaultTransport
	}
	isCancel := req.Method == http.MethodPost && carriesCancel(req)
	resp, err := base.RoundTrip(req)
	if isCancel {
		l.mu.Lock()
		if !l.canceled {
			l.canceled = true
			close(l.cancelSent)
		}
		l.mu.Unlock()
	}
	if err != nil || req.Method != http.MethodPost {
		return resp, err
	}
	status, body := 0, ""
	if resp.StatusCode >= 400 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxDetail))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		status, body = resp.StatusCode, string(data)
	}
	l.mu.Lock()
	l.status, l.body = status, body
	l.mu.Unlock()
	return resp, nil
}

// carriesCancel reports whether a POST holds notifications/cancelled,
// reading a copy of its body.
func carriesCancel(req *http.Request) bool {
	if req.GetBody == nil {
		return false
	}
	rc, err := req.GetBody()
	if err != nil {
		return false
	}
	defer rc.Close()
	data, _ := io.ReadAll(io.LimitReader(rc, 64<<10))
	return bytes.Contains(data, []byte(`"notifications/cancelled"`))
}

func (l *lastStatus) get() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status, l.body
}
