package dispatch

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/ossa-platform/ossa/internal/a2a"
)

// A2AMetadataKey is the key of the message metadata in which the platform
// tells an A2A agent which task, capability and attempt a message is for.
// A2A has no field to choose a skill, so agents that serve several
// capabilities read it here (docs/agent-protocol.md).
const A2AMetadataKey = "ossa"

// A2AMetadata is the value under A2AMetadataKey.
type A2AMetadata struct {
	TaskID     string    `json:"taskId"`
	Capability string    `json:"capability"`
	Attempt    int       `json:"attempt"`
	Deadline   time.Time `json:"deadline,omitzero"`
}

// ParseA2AMetadata reads the platform's metadata from an A2A message's
// metadata; ok is false when there is none.
func ParseA2AMetadata(md map[string]any) (A2AMetadata, bool) {
	v, ok := md[A2AMetadataKey]
	if !ok {
		return A2AMetadata{}, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return A2AMetadata{}, false
	}
	var out A2AMetadata
	if err := json.Unmarshal(b, &out); err != nil {
		return A2AMetadata{}, false
	}
	return out, true
}

// requestMessage is the A2A message that carries a task's input: a JSON
// string becomes a text part, any other JSON value a data part.
func requestMessage(req Request) a2a.Message {
	md := A2AMetadata{TaskID: req.TaskID, Capability: req.Capability, Attempt: req.Attempt, Deadline: req.Deadline.UTC()}
	return a2a.Message{
		MessageID: attemptMessageID(req),
		Role:      a2a.RoleUser,
		Parts:     []a2a.Part{InputPart(req.Input)},
		Metadata:  map[string]any{A2AMetadataKey: md},
	}
}

// InputPart is the A2A part that carries a task input or output: a JSON
// string as a text part, any other JSON value (null included) as a data
// part.
func InputPart(v json.RawMessage) a2a.Part {
	trimmed := bytes.TrimSpace(v)
	if len(trimmed) == 0 {
		trimmed = []byte("null")
	}
	var s string
	if trimmed[0] == '"' && json.Unmarshal(trimmed, &s) == nil {
		return a2a.TextPart(s)
	}
	return a2a.Part{Data: json.RawMessage(trimmed), MediaType: "application/json"}
}

// PartsValue is the JSON value a list of parts stands for, the inverse of
// InputPart: a lone data part's data; otherwise the text parts joined into
// a JSON string; nil when there is nothing.
func PartsValue(parts []a2a.Part) json.RawMessage {
	var data []json.RawMessage
	hasText := false
	for _, p := range parts {
		switch p.Kind() {
		case a2a.PartData:
			data = append(data, p.Data)
		case a2a.PartText:
			hasText = true
		}
	}
	switch {
	case len(data) == 1 && !hasText:
		return data[0]
	case hasText:
		b, _ := json.Marshal(a2a.PartsText(parts))
		return b
	case len(data) > 1:
		b, _ := json.Marshal(data)
		return b
	}
	return nil
}

// taskResult is the outcome a finished A2A task stands for. The output is
// the value of the artifact named "output" or else the first artifact; an
// agent that answers only in its status message has that as output.
func taskResult(t a2a.Task) Result {
	res := Result{State: stateOf(t.Status.State), RemoteID: t.ID, Artifacts: convertArtifacts(t.Artifacts)}
	if len(t.Artifacts) > 0 {
		out := t.Artifacts[0]
		for _, a := range t.Artifacts {
			if a.Name == "output" {
				out = a
				break
			}
		}
		res.Output = PartsValue(out.Parts)
	}
	if t.Status.Message != nil {
		if res.Output == nil && t.Status.State == a2a.TaskStateCompleted {
			res.Output = PartsValue(t.Status.Message.Parts)
		} else {
			res.Message = t.Status.Message.Text()
		}
	}
	return res
}

// messageResult is the outcome of an agent that answered with a message
// instead of a task.
func messageResult(m a2a.Message) Result {
	return Result{State: StateCompleted, Output: PartsValue(m.Parts)}
}

// convertArtifacts flattens A2A artifacts into one Artifact per part. Files
// become data: {"url", "filename"} for links, a base64 string for bytes.
func convertArtifacts(arts []a2a.Artifact) []Artifact {
	var out []Artifact
	for _, a := range arts {
		for i, p := range a.Parts {
			da := Artifact{ID: a.ArtifactID, Name: a.Name, Description: a.Description, MediaType: p.MediaType}
			if len(a.Parts) > 1 {
				da.ID += "/" + strconv.Itoa(i)
			}
			switch p.Kind() {
			case a2a.PartData:
				da.Data = p.Data
			case a2a.PartRaw:
				da.Data, _ = json.Marshal(base64.StdEncoding.EncodeToString(p.Raw))
			case a2a.PartURL:
				da.Data, _ = json.Marshal(map[string]string{"url": p.URL, "filename": p.Filename})
			default:
				da.Text = p.Text
			}
			out = append(out, da)
		}
	}
	return out
}
