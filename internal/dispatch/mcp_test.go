package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

type sumIn struct {
	A int `json:"a"`
	B int `json:"b"`
}

type sumOut struct {
	Sum int `json:"sum"`
}

type textIn struct {
	Input string `json:"input"`
}

// mcpAgent serves tools over streamable HTTP: sum (structured output),
// shout (text), listing (JSON as text), broken (isError) and slow (waits
// for cancellation, reporting it on canceled).
func mcpAgent(t *testing.T, started, canceled chan<- struct{}) storage.Agent {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "tools", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "sum"}, func(_ context.Context, _ *mcp.CallToolRequest, in sumIn) (*mcp.CallToolResult, sumOut, error) {
		return nil, sumOut{Sum: in.A + in.B}, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "shout"}, func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.ToUpper(in.Input)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "listing"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: `[{"file":"a.txt"}]`},
			&mcp.ImageContent{Data: []byte{1, 2}, MIMEType: "image/png"},
		}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "broken"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return nil, nil, errors.New("disk full")
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		started <- struct{}{}
		<-ctx.Done()
		canceled <- struct{}{}
		return nil, nil, ctx.Err()
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return storage.Agent{ID: "agent-mcp", Protocol: ProtocolMCP, Endpoint: srv.URL}
}

func TestMCPDispatch(t *testing.T) {
	t.Parallel()
	agent := mcpAgent(t, nil, nil)
	tests := []struct {
		tool  string
		input string
		want  Result
	}{
		{"sum", `{"a":2,"b":3}`, Result{State: StateCompleted, Output: json.RawMessage(`{"sum":5}`),
			Artifacts: []Artifact{{ID: "content/0", Text: `{"sum":5}`, MediaType: "text/plain"}}}},
		{"shout", `"hello"`, Result{State: StateCompleted, Output: json.RawMessage(`"HELLO"`),
			Artifacts: []Artifact{{ID: "content/0", Text: "HELLO", MediaType: "text/plain"}}}},
		{"listing", ``, Result{State: StateCompleted, Output: json.RawMessage(`[{"file":"a.txt"}]`),
			Artifacts: []Artifact{
				{ID: "content/0", Text: `[{"file":"a.txt"}]`, MediaType: "text/plain"},
				{ID: "content/1", Data: json.RawMessage(`"AQI="`), MediaType: "image/png"},
			}}},
		{"broken", `{}`, Result{State: StateFailed, Message: "disk full",
			Artifacts: []Artifact{{ID: "content/0", Text: "disk full", MediaType: "text/plain"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			t.Parallel()
			res, err := New(nil).Dispatch(t.Context(), Request{TaskID: "t", Capability: tt.tool, Input: json.RawMessage(tt.input), Attempt: 1, Agent: agent}, nil)
			require.NoError(t, err)
			require.Equal(t, tt.want, res)
		})
	}
}

func TestMCPFaults(t *testing.T) {
	t.Parallel()
	agent := mcpAgent(t, nil, nil)
	_, err := New(nil).Dispatch(t.Context(), Request{TaskID: "t", Capability: "nope", Attempt: 1, Agent: agent}, nil)
	var ae *AgentError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, -32602, ae.Status)
	require.Contains(t, ae.Detail, `unknown tool "nope"`)
	require.ErrorIs(t, err, ErrPermanent)

	for _, tt := range []struct {
		status    int
		permanent bool
	}{{500, false}, {503, false}, {401, true}, {404, true}} {
		srv := httptest.NewServer(httpAnswer(tt.status, "text/plain", "gateway says "+http.StatusText(tt.status)))
		broken := storage.Agent{ID: "a", Protocol: ProtocolMCP, Endpoint: srv.URL}
		_, err := New(nil).Dispatch(t.Context(), Request{TaskID: "t", Capability: "sum", Attempt: 1, Agent: broken}, nil)
		srv.Close()
		require.ErrorAs(t, err, &ae, "status %d", tt.status)
		require.Equal(t, tt.status, ae.Status)
		require.Contains(t, ae.Detail, "gateway says")
		require.Equal(t, tt.permanent, errors.Is(err, ErrPermanent), "status %d", tt.status)
	}
}

// TestMCPHang checks that a tool that never returns ends the attempt at its
// deadline and that the server sees the call canceled.
func TestMCPHang(t *testing.T) {
	t.Parallel()
	started, canceled := make(chan struct{}, 1), make(chan struct{}, 1)
	agent := mcpAgent(t, started, canceled)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := New(nil).Dispatch(ctx, Request{TaskID: "t", Capability: "slow", Attempt: 1, Agent: agent}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	<-started
	<-canceled
	require.NoError(t, New(nil).Cancel(t.Context(), agent, "t", ""))
}
