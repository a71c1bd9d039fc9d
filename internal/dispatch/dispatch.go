// Package dispatch delivers a task to an agent over the agent's protocol —
// the native HTTP task protocol, A2A JSON-RPC or MCP tools/call — and brings
// back its outcome. The task agent decides what to run where and when; this
// package only speaks the wire protocols.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
)

// Protocols a registered agent can be dispatched over (storage.Agent.Protocol).
const (
	ProtocolHTTP = "http"
	ProtocolA2A  = "a2a"
	ProtocolMCP  = "mcp"
)

// Request is one attempt to run a task on one agent.
type Request struct {
	TaskID     string          `json:"task_id"`
	Capability string          `json:"capability"`
	Input      json.RawMessage `json:"input"`
	// Attempt counts from 1.
	Attempt int `json:"attempt"`
	// Deadline is when the platform gives up on this attempt; agents should
	// stop working by then. The ctx passed to Dispatch carries it too.
	Deadline time.Time `json:"deadline"`
	// Agent is the chosen agent; Endpoint and Protocol say how to reach it.
	Agent storage.Agent `json:"-"`
}

// State is the outcome an agent reports, named as A2A task states.
type State string

// Terminal and interrupted states an attempt can end in.
const (
	StateCompleted     State = "completed"
	StateFailed        State = "failed"
	StateRejected      State = "rejected"
	StateCanceled      State = "canceled"
	StateInputRequired State = "input-required"
	StateAuthRequired  State = "auth-required"
)

// Artifact is an output the agent produced, following A2A's artifact shape.
type Artifact struct {
	ID          string          `json:"artifact_id,omitempty"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Data        json.RawMessage `json:"data,omitempty"`
	Text        string          `json:"text,omitempty"`
	MediaType   string          `json:"media_type,omitempty"`
}

// Result is what an attempt produced.
type Result struct {
	State     State           `json:"state"`
	Output    json.RawMessage `json:"output,omitempty"`
	Artifacts []Artifact      `json:"artifacts,omitempty"`
	// Message is the agent's explanation, kept for failed, rejected and
	// input-required outcomes.
	Message string `json:"message,omitempty"`
	// RemoteID is the agent's own task ID when it differs from TaskID (A2A
	// servers mint their own), needed to cancel or poll it.
	RemoteID string `json:"remote_id,omitempty"`
}

// Update is a progress event an agent streamed during an attempt.
type Update struct {
	State    State     `json:"state,omitempty"`
	Message  string    `json:"message,omitempty"`
	Artifact *Artifact `json:"artifact,omitempty"`
}

// Dispatcher runs tasks on agents of one or more protocols.
type Dispatcher interface {
	// Dispatch runs req on req.Agent and returns the outcome. It returns when
	// the agent reaches a terminal or interrupted state, or ctx ends. Progress
	// is sent to updates when non-nil (never blocking the dispatcher for
	// long). A non-nil error means the attempt itself failed (transport error,
	// 5xx, garbage, timeout); wrap ErrPermanent when retrying cannot help.
	Dispatch(ctx context.Context, req Request, updates chan<- Update) (Result, error)
	// Cancel asks the agent to stop working on the task. remoteID is
	// Result.RemoteID when known.
	Cancel(ctx context.Context, agent storage.Agent, taskID, remoteID string) error
}

// ErrPermanent marks attempt errors that retrying will not fix, such as an
// agent answering 4xx to a well-formed request.
var ErrPermanent = errors.New("permanent dispatch failure")

// AgentError is an error the agent reported, with what it said kept verbatim
// (truncated) so users can see why a task failed.
type AgentError struct {
	Protocol string
	Status   int    // HTTP status, or a JSON-RPC error code
	Detail   string // the agent's own words
	Err      error  // ErrPermanent or nil
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent answered %s status %d: %s", e.Protocol, e.Status, e.Detail)
}

func (e *AgentError) Unwrap() error { return e.Err }
