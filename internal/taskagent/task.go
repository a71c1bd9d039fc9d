package taskagent

import (
	"encoding/json"
	"time"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Task is a task as the API shows it.
type Task struct {
	ID string `json:"id"`
	// Capability and Agent are what was asked for; AssignedAgent is who got
	// the current or last attempt.
	Capability string            `json:"capability,omitempty"`
	Agent      string            `json:"agent,omitempty"`
	State      storage.TaskState `json:"state"`
	// Message explains the state; for a failed task it holds the error,
	// including what the agent said.
	Message   string              `json:"message,omitempty"`
	Input     json.RawMessage     `json:"input,omitempty"`
	Output    json.RawMessage     `json:"output,omitempty"`
	Artifacts []dispatch.Artifact `json:"artifacts"`
	Tier      string              `json:"tier,omitempty"`
	Tags      []string            `json:"tags,omitempty"`
	Priority  int                 `json:"priority"`
	// Timeout bounds each attempt, as a Go duration ("30s").
	Timeout           string    `json:"timeout"`
	MaxAttempts       int       `json:"max_attempts"`
	Attempts          int       `json:"attempts"`
	AssignedAgent     *AgentRef `json:"assigned_agent,omitempty"`
	WaitForAgentUntil time.Time `json:"wait_for_agent_until,omitzero"`
	// LeaseExpiresAt is when a pull-mode agent's claim lapses.
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	ContextID      string    `json:"context_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	FinishedAt     time.Time `json:"finished_at,omitzero"`
}

// AgentRef names an agent.
type AgentRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// TaskList is a page of tasks, newest first.
type TaskList struct {
	Tasks []Task `json:"tasks"`
	// NextCursor fetches the next page; empty on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Event is one entry of a task's history, as streams and the API show it.
type Event struct {
	TaskID string `json:"task_id"`
	// Seq numbers the task's events from 1; streams send it as the SSE id.
	Seq   int64                 `json:"seq"`
	Kind  storage.TaskEventKind `json:"kind"`
	State storage.TaskState     `json:"state"`
	// Final is true on the event that puts the task in a terminal state.
	Final     bool               `json:"final,omitempty"`
	Message   string             `json:"message,omitempty"`
	Artifact  *dispatch.Artifact `json:"artifact,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
}

// view converts a stored task to its API form.
func view(t *storage.Task) Task {
	v := Task{
		ID: t.ID, Capability: t.Capability, Agent: t.RequestedAgent, State: t.State, Message: t.Message,
		Input: t.Input, Output: t.Output, Artifacts: decodeArtifacts(t.Artifacts), Tier: t.MinTier,
		Tags: t.Tags, Priority: t.Priority, Timeout: t.Timeout.String(), MaxAttempts: t.MaxAttempts,
		Attempts: t.Attempts, WaitForAgentUntil: t.WaitForAgentUntil, LeaseExpiresAt: t.LeaseExpiresAt,
		ContextID: t.ContextID, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, FinishedAt: t.FinishedAt,
	}
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	if t.AgentID != "" {
		v.AssignedAgent = &AgentRef{ID: t.AgentID, Name: t.AgentName}
	}
	return v
}

// eventView converts a stored event to its API form.
func eventView(e storage.TaskEvent) Event {
	ev := Event{
		TaskID: e.TaskID, Seq: e.Seq, Kind: e.Kind, State: e.State, Message: e.Message, CreatedAt: e.CreatedAt,
		Final: e.Kind == storage.TaskEventStatus && e.State.Terminal(),
	}
	if len(e.Artifact) > 0 {
		var a dispatch.Artifact
		if json.Unmarshal(e.Artifact, &a) == nil {
			ev.Artifact = &a
		}
	}
	return ev
}

// decodeArtifacts reads the stored artifact array; it is never nil, so the
// API always shows a list.
func decodeArtifacts(raw json.RawMessage) []dispatch.Artifact {
	out := []dispatch.Artifact{}
	if len(raw) > 0 {
		// The column only ever holds what encodeArtifacts wrote.
		_ = json.Unmarshal(raw, &out)
	}
	return out
}

func encodeArtifacts(a []dispatch.Artifact) json.RawMessage {
	if a == nil {
		a = []dispatch.Artifact{}
	}
	b, _ := json.Marshal(a) // a plain struct slice cannot fail to encode
	return b
}
