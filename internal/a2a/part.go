package a2a

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Part is one piece of content of a message or artifact (a2a.proto Part):
// exactly one of text, raw bytes, a URL or structured data, with optional
// filename, media type and metadata.
//
// Which content a Part holds is decided by Kind: Data when non-nil, else Raw
// when non-nil, else URL when non-empty, else Text (possibly empty).
type Part struct {
	Text string
	Raw  []byte
	URL  string
	// Data is any JSON value (v1.0); v0.3 peers only accept objects and get
	// other values wrapped as {"value": …}.
	Data      json.RawMessage
	Filename  string
	MediaType string
	Metadata  map[string]any
}

// PartKind names the content a Part holds.
type PartKind string

// Part kinds.
const (
	PartText PartKind = "text"
	PartRaw  PartKind = "raw"
	PartURL  PartKind = "url"
	PartData PartKind = "data"
)

// Kind returns which content p holds.
func (p Part) Kind() PartKind {
	switch {
	case p.Data != nil:
		return PartData
	case p.Raw != nil:
		return PartRaw
	case p.URL != "":
		return PartURL
	}
	return PartText
}

// TextPart returns a text part.
func TextPart(s string) Part { return Part{Text: s} }

// DataPart returns a structured-data part holding the JSON value v.
func DataPart(v json.RawMessage) Part { return Part{Data: v} }

// PartsText joins the text parts of parts with newlines.
func PartsText(parts []Part) string {
	var texts []string
	for _, p := range parts {
		if p.Kind() == PartText && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// partWire is the v1.0 ProtoJSON shape of a Part.
type partWire struct {
	Text      *string         `json:"text,omitempty"`
	Raw       []byte          `json:"raw,omitempty"`
	URL       string          `json:"url,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Metadata  map[string]any  `json:"metadata,omitempty"`
	Filename  string          `json:"filename,omitempty"`
	MediaType string          `json:"mediaType,omitempty"`
}

// MarshalJSON writes the v1.0 shape: one of text, raw (base64), url or data.
func (p Part) MarshalJSON() ([]byte, error) {
	w := partWire{Metadata: p.Metadata, Filename: p.Filename, MediaType: p.MediaType}
	switch p.Kind() {
	case PartData:
		w.Data = p.Data
	case PartRaw:
		w.Raw = p.Raw
	case PartURL:
		w.URL = p.URL
	default:
		w.Text = &p.Text
	}
	return json.Marshal(w)
}

// partInput accepts both generations: v1.0 (text/raw/url/data) and v0.3
// ({"kind": "text"|"data"|"file", …} with file {bytes|uri, mimeType, name}).
type partInput struct {
	Kind      string          `json:"kind"`
	Text      *string         `json:"text"`
	Raw       *string         `json:"raw"`
	URL       *string         `json:"url"`
	Data      json.RawMessage `json:"data"`
	File      *legacyFile     `json:"file"`
	Metadata  map[string]any  `json:"metadata"`
	Filename  string          `json:"filename"`
	MediaType string          `json:"mediaType"`
}

var errEmptyPart = errors.New("part has no text, raw, url, data or file content")

// UnmarshalJSON accepts the v1.0 and the v0.3 shapes.
func (p *Part) UnmarshalJSON(b []byte) error {
	var in partInput
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	out := Part{Metadata: in.Metadata, Filename: in.Filename, MediaType: in.MediaType}
	var err error
	switch {
	case in.Kind == "text" || (in.Kind == "" && in.Text != nil && in.Data == nil):
		if in.Text == nil {
			return errors.New(`text part has no "text"`)
		}
		out.Text = *in.Text
	case in.Kind == "data" || (in.Kind == "" && in.Data != nil):
		if in.Data == nil {
			return errors.New(`data part has no "data"`)
		}
		out.Data = bytes.Clone(in.Data)
	case in.Kind == "file" || (in.Kind == "" && in.File != nil):
		if in.File == nil {
			return errors.New(`file part has no "file"`)
		}
		err = out.setFile(*in.File)
	case in.Kind == "" && in.Raw != nil:
		out.Raw, err = decodeBase64(*in.Raw)
	case in.Kind == "" && in.URL != nil:
		out.URL = *in.URL
	case in.Kind != "":
		return fmt.Errorf("unknown part kind %q", in.Kind)
	default:
		return errEmptyPart
	}
	if err != nil {
		return err
	}
	*p = out
	return nil
}

// setFile fills p from a v0.3 file object.
func (p *Part) setFile(f legacyFile) error {
	if p.Filename == "" {
		p.Filename = f.Name
	}
	if p.MediaType == "" {
		p.MediaType = f.MimeType
	}
	switch {
	case f.Bytes != "":
		raw, err := decodeBase64(f.Bytes)
		if err != nil {
			return err
		}
		p.Raw = raw
	case f.URI != "":
		p.URL = f.URI
	default:
		return errors.New(`file part has neither "bytes" nor "uri"`)
	}
	return nil
}

// decodeBase64 accepts standard and URL-safe alphabets, padded or not, as
// ProtoJSON parsers do.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("raw part: %w", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// UnmarshalJSON decodes a v1.0 StreamResponse/SendMessageResponse ({"task":
// …} and so on) or a bare v0.3 result (a Task, Message or event told apart
// by "kind", or by shape when "kind" is missing).
func (e *StreamEvent) UnmarshalJSON(b []byte) error {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return err
	}
	var out StreamEvent
	wrapped := 0
	for key, dst := range map[string]any{
		"task": &out.Task, "message": &out.Message,
		"statusUpdate": &out.StatusUpdate, "artifactUpdate": &out.ArtifactUpdate,
	} {
		raw, ok := probe[key]
		if !ok || string(raw) == "null" {
			continue
		}
		wrapped++
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	switch {
	case wrapped > 1:
		return fmt.Errorf("result sets %d of task, message, statusUpdate and artifactUpdate; want one", wrapped)
	case wrapped == 1:
		*e = out
		return nil
	}
	var dst any
	switch kindOf(probe) {
	case "task":
		out.Task = &Task{}
		dst = out.Task
	case "message":
		out.Message = &Message{}
		dst = out.Message
	case "status-update":
		out.StatusUpdate = &TaskStatusUpdateEvent{}
		dst = out.StatusUpdate
	case "artifact-update":
		out.ArtifactUpdate = &TaskArtifactUpdateEvent{}
		dst = out.ArtifactUpdate
	default:
		return errors.New("result is none of task, message, status update or artifact update")
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return err
	}
	*e = out
	return nil
}

// kindOf reads the v0.3 "kind" discriminator, inferring it from the fields
// present when a peer leaves it out.
func kindOf(obj map[string]json.RawMessage) string {
	var kind string
	if raw, ok := obj["kind"]; ok {
		_ = json.Unmarshal(raw, &kind)
		return kind
	}
	has := func(k string) bool { _, ok := obj[k]; return ok }
	switch {
	case has("messageId") && has("parts"):
		return "message"
	case has("artifact") && has("taskId"):
		return "artifact-update"
	case has("status") && has("taskId") && !has("id"):
		return "status-update"
	case has("status") && has("id"):
		return "task"
	}
	return ""
}
