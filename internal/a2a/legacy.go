package a2a

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"time"
)

// This file renders the v0.3 dialect: lowercase enums, parts and results
// discriminated by "kind", bare results instead of oneof wrappers, and
// "final" on the last status update of a stream. Decoding needs no mirror:
// the v1.0 types accept both dialects.

type legacyFile struct {
	Bytes    string `json:"bytes,omitempty"`
	URI      string `json:"uri,omitempty"`
	MimeType string `json:"mimeType,omitempty"`
	Name     string `json:"name,omitempty"`
}

type legacyPart struct {
	Kind     string          `json:"kind"`
	Text     *string         `json:"text,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
	File     *legacyFile     `json:"file,omitempty"`
	Metadata map[string]any  `json:"metadata,omitempty"`
}

type legacyMessage struct {
	Kind             string         `json:"kind"`
	MessageID        string         `json:"messageId"`
	ContextID        string         `json:"contextId,omitempty"`
	TaskID           string         `json:"taskId,omitempty"`
	Role             string         `json:"role"`
	Parts            []legacyPart   `json:"parts"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	Extensions       []string       `json:"extensions,omitempty"`
	ReferenceTaskIDs []string       `json:"referenceTaskIds,omitempty"`
}

type legacyStatus struct {
	State     string         `json:"state"`
	Message   *legacyMessage `json:"message,omitempty"`
	Timestamp string         `json:"timestamp,omitempty"`
}

type legacyArtifact struct {
	ArtifactID  string         `json:"artifactId"`
	Name        string         `json:"name,omitempty"`
	Description string         `json:"description,omitempty"`
	Parts       []legacyPart   `json:"parts"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Extensions  []string       `json:"extensions,omitempty"`
}

type legacyTask struct {
	Kind      string           `json:"kind"`
	ID        string           `json:"id"`
	ContextID string           `json:"contextId"`
	Status    legacyStatus     `json:"status"`
	Artifacts []legacyArtifact `json:"artifacts,omitempty"`
	History   []legacyMessage  `json:"history,omitempty"`
	Metadata  map[string]any   `json:"metadata,omitempty"`
}

type legacyStatusEvent struct {
	Kind      string         `json:"kind"`
	TaskID    string         `json:"taskId"`
	ContextID string         `json:"contextId"`
	Status    legacyStatus   `json:"status"`
	Final     bool           `json:"final"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

type legacyArtifactEvent struct {
	Kind      string         `json:"kind"`
	TaskID    string         `json:"taskId"`
	ContextID string         `json:"contextId"`
	Artifact  legacyArtifact `json:"artifact"`
	Append    bool           `json:"append,omitempty"`
	LastChunk bool           `json:"lastChunk,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

type legacySendParams struct {
	Message       legacyMessage  `json:"message"`
	Configuration *legacyConfig  `json:"configuration,omitempty"`
	Metadata      map[string]any `json:"metadata,omitempty"`
}

type legacyConfig struct {
	AcceptedOutputModes []string `json:"acceptedOutputModes,omitempty"`
	HistoryLength       *int     `json:"historyLength,omitempty"`
	Blocking            *bool    `json:"blocking,omitempty"`
}

func toLegacyPart(p Part) legacyPart {
	out := legacyPart{Metadata: p.Metadata}
	switch p.Kind() {
	case PartData:
		out.Kind = "data"
		out.Data = p.Data
		if !isJSONObject(p.Data) {
			// v0.3 DataPart.data is an object; carry other values inside one.
			out.Data, _ = json.Marshal(map[string]json.RawMessage{"value": p.Data})
		}
	case PartRaw:
		out.Kind = "file"
		out.File = &legacyFile{Bytes: base64.StdEncoding.EncodeToString(p.Raw), MimeType: p.MediaType, Name: p.Filename}
	case PartURL:
		out.Kind = "file"
		out.File = &legacyFile{URI: p.URL, MimeType: p.MediaType, Name: p.Filename}
	default:
		out.Kind = "text"
		out.Text = &p.Text
	}
	return out
}

func toLegacyParts(parts []Part) []legacyPart {
	out := make([]legacyPart, len(parts))
	for i, p := range parts {
		out[i] = toLegacyPart(p)
	}
	return out
}

func toLegacyRole(r Role) string {
	if r == RoleAgent {
		return "agent"
	}
	return "user"
}

func toLegacyMessage(m Message) legacyMessage {
	return legacyMessage{
		Kind: "message", MessageID: m.MessageID, ContextID: m.ContextID, TaskID: m.TaskID,
		Role: toLegacyRole(m.Role), Parts: toLegacyParts(m.Parts), Metadata: m.Metadata,
		Extensions: m.Extensions, ReferenceTaskIDs: m.ReferenceTaskIDs,
	}
}

func toLegacyStatus(s TaskStatus) legacyStatus {
	out := legacyStatus{State: s.State.Legacy()}
	if s.Message != nil {
		m := toLegacyMessage(*s.Message)
		out.Message = &m
	}
	if !s.Timestamp.IsZero() {
		out.Timestamp = s.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return out
}

func toLegacyArtifact(a Artifact) legacyArtifact {
	return legacyArtifact{
		ArtifactID: a.ArtifactID, Name: a.Name, Description: a.Description,
		Parts: toLegacyParts(a.Parts), Metadata: a.Metadata, Extensions: a.Extensions,
	}
}

func toLegacyTask(t Task) legacyTask {
	out := legacyTask{
		Kind: "task", ID: t.ID, ContextID: t.ContextID, Status: toLegacyStatus(t.Status), Metadata: t.Metadata,
	}
	for _, a := range t.Artifacts {
		out.Artifacts = append(out.Artifacts, toLegacyArtifact(a))
	}
	for _, m := range t.History {
		out.History = append(out.History, toLegacyMessage(m))
	}
	return out
}

// toLegacyEvent renders a stream event or SendMessage result in v0.3 form;
// final marks the last status update of a stream.
func toLegacyEvent(e StreamEvent, final bool) any {
	switch {
	case e.Task != nil:
		return toLegacyTask(*e.Task)
	case e.Message != nil:
		return toLegacyMessage(*e.Message)
	case e.StatusUpdate != nil:
		su := e.StatusUpdate
		return legacyStatusEvent{
			Kind: "status-update", TaskID: su.TaskID, ContextID: su.ContextID,
			Status: toLegacyStatus(su.Status), Final: final, Metadata: su.Metadata,
		}
	case e.ArtifactUpdate != nil:
		au := e.ArtifactUpdate
		return legacyArtifactEvent{
			Kind: "artifact-update", TaskID: au.TaskID, ContextID: au.ContextID,
			Artifact: toLegacyArtifact(au.Artifact), Append: au.Append, LastChunk: au.LastChunk, Metadata: au.Metadata,
		}
	}
	return nil
}

func toLegacySendParams(req SendMessageRequest) legacySendParams {
	out := legacySendParams{Message: toLegacyMessage(req.Message), Metadata: req.Metadata}
	if c := req.Configuration; c != nil {
		blocking := c.waits()
		out.Configuration = &legacyConfig{AcceptedOutputModes: c.AcceptedOutputModes, HistoryLength: c.HistoryLength, Blocking: &blocking}
	}
	return out
}

func isJSONObject(raw json.RawMessage) bool {
	trimmed := bytes.TrimSpace(raw)
	return len(trimmed) > 0 && trimmed[0] == '{'
}
