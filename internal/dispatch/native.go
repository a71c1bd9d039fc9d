package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// The native HTTP task protocol (docs/agent-protocol.md): the platform POSTs
// a task to {endpoint}/ossa/v1/tasks and the agent answers with its outcome
// when done; {endpoint}/ossa/v1/tasks/{task_id}:cancel stops it.
const (
	NativeTasksPath    = "/ossa/v1/tasks"
	NativeCancelSuffix = ":cancel"
)

// NativeCancelPath is the path that cancels taskID.
func NativeCancelPath(taskID string) string {
	return NativeTasksPath + "/" + url.PathEscape(taskID) + NativeCancelSuffix
}

// TaskRequest is the body of a native task request.
type TaskRequest struct {
	TaskID     string          `json:"task_id"`
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
	// Attempt counts from 1; together with TaskID it identifies the
	// request, so a repeat must not run the task twice.
	Attempt  int       `json:"attempt"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// TaskResponse is the body of a native agent's 200 answer.
type TaskResponse struct {
	State     State           `json:"state"`
	Output    json.RawMessage `json:"output,omitempty"`
	Artifacts []Artifact      `json:"artifacts,omitempty"`
	Message   string          `json:"message,omitempty"`
}

// Valid reports whether s is a state an attempt can end in.
func (s State) Valid() bool {
	switch s {
	case StateCompleted, StateFailed, StateRejected, StateCanceled, StateInputRequired, StateAuthRequired:
		return true
	}
	return false
}

// maxNativeResponse bounds a native agent's answer.
const maxNativeResponse = 16 << 20

// native dispatches over the native HTTP task protocol.
type native struct {
	hc *http.Client
}

func newNative(hc *http.Client) *native { return &native{hc: hc} }

func (n *native) Dispatch(ctx context.Context, req Request, _ chan<- Update) (Result, error) {
	body, err := json.Marshal(TaskRequest{
		TaskID: req.TaskID, Capability: req.Capability, Input: req.Input,
		Attempt: req.Attempt, Deadline: req.Deadline,
	})
	if err != nil {
		return Result{}, fmt.Errorf("encode task %s: %w", req.TaskID, err)
	}
	resp, err := n.post(ctx, joinURL(req.Agent.Endpoint, NativeTasksPath), body, req.TaskID+"/"+strconv.Itoa(req.Attempt))
	if err != nil {
		return Result{}, fmt.Errorf("dispatch task %s to %s: %w", req.TaskID, req.Agent.Endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxNativeResponse+1))
	if err != nil {
		return Result{}, fmt.Errorf("dispatch task %s to %s: read answer: %w", req.TaskID, req.Agent.Endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Result{}, statusError(ProtocolHTTP, resp.StatusCode, string(data))
	}
	var out TaskResponse
	if err := json.Unmarshal(data, &out); err != nil || len(data) > maxNativeResponse {
		return Result{}, &AgentError{Protocol: ProtocolHTTP, Status: resp.StatusCode,
			Detail: truncate(fmt.Sprintf("answer is not a task response (%v): %s", err, data))}
	}
	if !out.State.Valid() {
		return Result{}, &AgentError{Protocol: ProtocolHTTP, Status: resp.StatusCode,
			Detail: truncate(fmt.Sprintf("answer has state %q; want completed, failed, rejected, canceled, input-required or auth-required", out.State))}
	}
	return Result{State: out.State, Output: out.Output, Artifacts: out.Artifacts, Message: out.Message}, nil
}

// Cancel asks the agent to stop the task. An agent that does not know the
// task (404) has nothing left to stop, which is success.
func (n *native) Cancel(ctx context.Context, agent storage.Agent, taskID, _ string) error {
	resp, err := n.post(ctx, joinURL(agent.Endpoint, NativeCancelPath(taskID)), nil, "")
	if err != nil {
		return fmt.Errorf("cancel task %s on %s: %w", taskID, agent.Endpoint, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxDetail))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299, resp.StatusCode == http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("cancel task %s: %w", taskID, statusError(ProtocolHTTP, resp.StatusCode, string(data)))
}

// joinURL appends path to an agent's base URL, which may end in a slash.
func joinURL(endpoint, path string) string {
	return strings.TrimRight(endpoint, "/") + path
}

// post sends a JSON POST.
func (n *native) post(ctx context.Context, target string, body []byte, idempotencyKey string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	if id := httpx.RequestID(ctx); id != "" {
		req.Header.Set(httpx.RequestIDHeader, id)
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			// The context's error says why more plainly than the transport's.
			return nil, fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return nil, err
	}
	return resp, nil
}
