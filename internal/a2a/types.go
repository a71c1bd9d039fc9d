// Package a2a speaks the Agent2Agent protocol v1.0 over its JSON-RPC binding,
// and the older v0.3 dialect of it, with small hand-written types.
//
// The types follow specification/a2a.proto (package lf.a2a.v1) serialised as
// ProtoJSON, which is what the v1.0 JSON bindings put on the wire: camelCase
// field names, enums as their SCREAMING_SNAKE_CASE value names ("ROLE_USER",
// "TASK_STATE_COMPLETED"), parts as a oneof of text/raw/url/data and
// responses wrapped in a oneof ({"task": …}, {"statusUpdate": …}).
//
// Decoding is lenient in what it accepts, so that one client and one server
// interoperate with both generations of peers: enums in either spelling
// ("completed" or "TASK_STATE_COMPLETED"), parts with or without the v0.3
// "kind" discriminator, results wrapped or bare. Encoding is strict: v1.0
// shapes by default, v0.3 shapes (see legacy.go) when the peer speaks v0.3.
//
// The package has three parts: the wire types (this file, part.go, card.go),
// a client (client.go) and a server for any Backend (server.go).
package a2a

import (
	"encoding/json"
	"strings"
	"time"
)

// ProtocolVersion is the A2A version this package implements; LegacyVersion
// is the older one it also speaks.
const (
	ProtocolVersion = "1.0"
	LegacyVersion   = "0.3"
)

// VersionHeader carries the A2A version a client speaks (spec §3.6.1). An
// absent header means 0.3.
const VersionHeader = "A2A-Version"

// Role is the sender of a message.
type Role string

// Roles, as ProtoJSON enum names.
const (
	RoleUnspecified Role = "ROLE_UNSPECIFIED"
	RoleUser        Role = "ROLE_USER"
	RoleAgent       Role = "ROLE_AGENT"
)

// UnmarshalJSON accepts the v1.0 names and the v0.3 "user" and "agent".
func (r *Role) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch strings.ToLower(s) {
	case "user", "role_user":
		*r = RoleUser
	case "agent", "role_agent":
		*r = RoleAgent
	default:
		*r = RoleUnspecified
	}
	return nil
}

// TaskState is where a task is in its lifecycle.
type TaskState string

// Task states, as ProtoJSON enum names (a2a.proto TaskState).
const (
	TaskStateUnspecified   TaskState = "TASK_STATE_UNSPECIFIED"
	TaskStateSubmitted     TaskState = "TASK_STATE_SUBMITTED"
	TaskStateWorking       TaskState = "TASK_STATE_WORKING"
	TaskStateCompleted     TaskState = "TASK_STATE_COMPLETED"
	TaskStateFailed        TaskState = "TASK_STATE_FAILED"
	TaskStateCanceled      TaskState = "TASK_STATE_CANCELED"
	TaskStateInputRequired TaskState = "TASK_STATE_INPUT_REQUIRED"
	TaskStateRejected      TaskState = "TASK_STATE_REJECTED"
	TaskStateAuthRequired  TaskState = "TASK_STATE_AUTH_REQUIRED"
)

// legacyStates maps v1.0 state names to the v0.3 ones.
var legacyStates = map[TaskState]string{
	TaskStateUnspecified:   "unknown",
	TaskStateSubmitted:     "submitted",
	TaskStateWorking:       "working",
	TaskStateCompleted:     "completed",
	TaskStateFailed:        "failed",
	TaskStateCanceled:      "canceled",
	TaskStateInputRequired: "input-required",
	TaskStateRejected:      "rejected",
	TaskStateAuthRequired:  "auth-required",
}

// UnmarshalJSON accepts the v1.0 names and the v0.3 lowercase ones
// ("input-required", and "cancelled" as some peers spell it). An unknown
// value is kept as sent so that callers can report it; Valid says false.
func (s *TaskState) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ParseTaskState(v)
	return nil
}

// ParseTaskState normalises a state in either spelling; unknown values are
// returned unchanged.
func ParseTaskState(v string) TaskState {
	if _, ok := legacyStates[TaskState(v)]; ok {
		return TaskState(v)
	}
	lower := strings.ToLower(v)
	if lower == "cancelled" {
		return TaskStateCanceled
	}
	for state, legacy := range legacyStates {
		if lower == legacy {
			return state
		}
	}
	return TaskState(v)
}

// Valid reports whether s is a known state other than unspecified.
func (s TaskState) Valid() bool {
	_, ok := legacyStates[s]
	return ok && s != TaskStateUnspecified
}

// Terminal reports whether the task can no longer change: completed, failed,
// canceled or rejected.
func (s TaskState) Terminal() bool {
	switch s {
	case TaskStateCompleted, TaskStateFailed, TaskStateCanceled, TaskStateRejected:
		return true
	}
	return false
}

// Interrupted reports whether the task waits for the client: input-required
// or auth-required.
func (s TaskState) Interrupted() bool {
	return s == TaskStateInputRequired || s == TaskStateAuthRequired
}

// Final reports whether a stream about the task ends at this state (terminal
// or interrupted), as does a blocking SendMessage.
func (s TaskState) Final() bool { return s.Terminal() || s.Interrupted() }

// Legacy returns the v0.3 spelling of s ("input-required").
func (s TaskState) Legacy() string {
	if l, ok := legacyStates[s]; ok {
		return l
	}
	return "unknown"
}

// Message is one turn of communication between a client and an agent.
type Message struct {
	MessageID        string         `json:"messageId"`
	ContextID        string         `json:"contextId,omitempty"`
	TaskID           string         `json:"taskId,omitempty"`
	Role             Role           `json:"role"`
	Parts            []Part         `json:"parts"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	Extensions       []string       `json:"extensions,omitempty"`
	ReferenceTaskIDs []string       `json:"referenceTaskIds,omitempty"`
}

// Text returns the message's text parts joined by newlines.
func (m *Message) Text() string {
	if m == nil {
		return ""
	}
	return PartsText(m.Parts)
}

// Task is the unit of work an agent tracks.
type Task struct {
	ID        string         `json:"id"`
	ContextID string         `json:"contextId,omitempty"`
	Status    TaskStatus     `json:"status"`
	Artifacts []Artifact     `json:"artifacts,omitempty"`
	History   []Message      `json:"history,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// TaskStatus is a task's state with an optional explanatory message.
type TaskStatus struct {
	State     TaskState `json:"state"`
	Message   *Message  `json:"message,omitempty"`
	Timestamp time.Time `json:"timestamp,omitzero"`
}

// Artifact is an output of a task.
type Artifact struct {
	ArtifactID  string         `json:"artifactId"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Parts       []Part         `json:"parts"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Extensions  []string       `json:"extensions,omitempty"`
}

// TaskStatusUpdateEvent reports a change of a task's status in a stream.
type TaskStatusUpdateEvent struct {
	TaskID    string         `json:"taskId"`
	ContextID string         `json:"contextId"`
	Status    TaskStatus     `json:"status"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// TaskArtifactUpdateEvent delivers an artifact, or a chunk of one, in a
// stream. Append asks the client to append the parts to the artifact with the
// same ID sent before.
type TaskArtifactUpdateEvent struct {
	TaskID    string         `json:"taskId"`
	ContextID string         `json:"contextId"`
	Artifact  Artifact       `json:"artifact"`
	Append    bool           `json:"append,omitempty"`
	LastChunk bool           `json:"lastChunk,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// StreamEvent is one item of a stream (a2a.proto StreamResponse) and also
// the result of SendMessage (SendMessageResponse, which only ever sets Task
// or Message). Exactly one field is set.
type StreamEvent struct {
	Task           *Task                    `json:"task,omitempty"`
	Message        *Message                 `json:"message,omitempty"`
	StatusUpdate   *TaskStatusUpdateEvent   `json:"statusUpdate,omitempty"`
	ArtifactUpdate *TaskArtifactUpdateEvent `json:"artifactUpdate,omitempty"`
}

// State returns the task state the event carries, or "" for messages and
// artifact updates.
func (e StreamEvent) State() TaskState {
	switch {
	case e.Task != nil:
		return e.Task.Status.State
	case e.StatusUpdate != nil:
		return e.StatusUpdate.Status.State
	}
	return ""
}

// SendMessageRequest is the parameter of SendMessage and
// SendStreamingMessage.
type SendMessageRequest struct {
	Tenant        string                    `json:"tenant,omitempty"`
	Message       Message                   `json:"message"`
	Configuration *SendMessageConfiguration `json:"configuration,omitempty"`
	Metadata      map[string]any            `json:"metadata,omitempty"`
}

// SendMessageConfiguration tunes a SendMessage call.
type SendMessageConfiguration struct {
	AcceptedOutputModes []string `json:"acceptedOutputModes,omitempty"`
	// HistoryLength caps the messages of history returned; nil means no cap.
	HistoryLength *int `json:"historyLength,omitempty"`
	// ReturnImmediately (v1.0) asks the server not to wait for the task to
	// reach a terminal or interrupted state.
	ReturnImmediately bool `json:"returnImmediately,omitempty"`
	// Blocking is the v0.3 spelling of the opposite; nil means not said
	// (which v0.3 servers take as blocking).
	Blocking *bool `json:"blocking,omitempty"`
	// TaskPushNotificationConfig (v1.0) and PushNotificationConfig (v0.3)
	// are kept raw only to refuse them: push notifications are not
	// supported.
	TaskPushNotificationConfig json.RawMessage `json:"taskPushNotificationConfig,omitempty"`
	PushNotificationConfig     json.RawMessage `json:"pushNotificationConfig,omitempty"`
}

// waits reports whether the server should wait for a final state before
// answering SendMessage.
func (c *SendMessageConfiguration) waits() bool {
	if c == nil {
		return true
	}
	if c.Blocking != nil {
		return *c.Blocking && !c.ReturnImmediately
	}
	return !c.ReturnImmediately
}

// TaskQuery is the parameter of GetTask, CancelTask and SubscribeToTask.
type TaskQuery struct {
	Tenant string `json:"tenant,omitempty"`
	ID     string `json:"id"`
	// HistoryLength (GetTask only) caps the history returned.
	HistoryLength *int           `json:"historyLength,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

// TrimHistory returns t with at most n messages of history (the latest);
// nil n leaves it whole.
func TrimHistory(t Task, n *int) Task {
	if n == nil || len(t.History) <= max(*n, 0) {
		return t
	}
	keep := max(*n, 0)
	t.History = t.History[len(t.History)-keep:]
	if keep == 0 {
		t.History = nil
	}
	return t
}
