package taskagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/ossa-platform/ossa/internal/a2a"
	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// The platform as one A2A agent: a message becomes a task routed like any
// other. Which capability it asks for is read, in order, from
// message.metadata.capability, the request's metadata.capability, or (when
// healthy agents offer exactly one capability) that one. metadata.agent pins
// an agent. The task's input is the message's one data part when it has
// exactly that, {"text": …} when it has only text parts, and {"parts": […]}
// otherwise. The messageId is the idempotency key, so a client retrying a
// send gets the same task.

// Metadata keys an A2A message may use to steer routing.
const (
	a2aCapabilityKey = "capability"
	a2aAgentKey      = "agent"
)

// a2aBackend implements a2a.Backend on the service.
type a2aBackend struct{ s *Service }

var _ a2a.Backend = a2aBackend{}

func (s *Service) newA2AServer() http.Handler {
	return a2a.NewServer(a2aBackend{s: s}, s.card, a2a.WithLogger(s.log.With("component", "a2a")))
}

// SendMessage implements a2a.Backend.
func (b a2aBackend) SendMessage(ctx context.Context, req a2a.SendMessageRequest) (a2a.Task, error) {
	msg := req.Message
	input, err := messageInput(msg)
	if err != nil {
		return a2a.Task{}, fmt.Errorf("message: %v: %w", err, a2a.ErrInvalidParams)
	}
	if msg.TaskID != "" {
		return b.continueTask(ctx, msg.TaskID, input)
	}
	capability := metadataString(a2aCapabilityKey, msg.Metadata, req.Metadata)
	agent := metadataString(a2aAgentKey, msg.Metadata, req.Metadata)
	if capability == "" && agent == "" {
		if capability, err = b.onlyCapability(ctx); err != nil {
			return a2a.Task{}, err
		}
	}
	t, _, err := b.s.Submit(ctx, SubmitRequest{Capability: capability, Agent: agent, Input: input, ContextID: msg.ContextID},
		"a2a:"+msg.MessageID)
	if err != nil {
		return a2a.Task{}, a2aError(err)
	}
	return b.task(ctx, t.ID)
}

// continueTask gives an interrupted task the client's answer.
func (b a2aBackend) continueTask(ctx context.Context, id string, input json.RawMessage) (a2a.Task, error) {
	t, err := b.s.tasks.Get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return a2a.Task{}, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
	}
	if err != nil {
		return a2a.Task{}, err
	}
	if !t.State.Interrupted() {
		return a2a.Task{}, fmt.Errorf("task %s is %s and takes no messages; only a task waiting for input does: %w",
			id, t.State, a2a.ErrUnsupportedOperation)
	}
	if _, err := b.s.Continue(ctx, id, input); err != nil {
		return a2a.Task{}, a2aError(err)
	}
	return b.task(ctx, id)
}

// onlyCapability is the capability a message that names none asks for:
// the one healthy agents offer, when there is exactly one.
func (b a2aBackend) onlyCapability(ctx context.Context) (string, error) {
	caps, err := b.s.offeredCapabilities(ctx)
	if err != nil {
		return "", err
	}
	switch len(caps) {
	case 1:
		return caps[0].name, nil
	case 0:
		return "", fmt.Errorf("no healthy agent is registered, so there is nothing to route the message to: %w", a2a.ErrInvalidParams)
	}
	names := make([]string, len(caps))
	for i, c := range caps {
		names[i] = c.name
	}
	return "", fmt.Errorf("name the capability in message.metadata.%s; healthy agents offer %s: %w",
		a2aCapabilityKey, strings.Join(names, ", "), a2a.ErrInvalidParams)
}

// GetTask implements a2a.Backend.
func (b a2aBackend) GetTask(ctx context.Context, id string) (a2a.Task, error) { return b.task(ctx, id) }

// CancelTask implements a2a.Backend.
func (b a2aBackend) CancelTask(ctx context.Context, id string) (a2a.Task, error) {
	if _, err := b.s.Cancel(ctx, id); err != nil {
		var he *httpx.Error
		if errors.As(err, &he) && he.Status == http.StatusConflict {
			return a2a.Task{}, fmt.Errorf("%s: %w", he.Detail, a2a.ErrTaskNotCancelable)
		}
		return a2a.Task{}, a2aError(err)
	}
	return b.task(ctx, id)
}

// Subscribe implements a2a.Backend: the task as it stands, then its events,
// until a terminal or interrupted state.
func (b a2aBackend) Subscribe(ctx context.Context, id string) (<-chan a2a.StreamEvent, error) {
	cur := b.s.newCursor(id, 0)
	t, err := b.s.tasks.Get(ctx, id)
	if err != nil {
		cur.close()
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
		}
		return nil, err
	}
	// Events up to the task's EventSeq are in the snapshot sent first.
	cur.after = t.EventSeq
	out := make(chan a2a.StreamEvent)
	go func() {
		defer close(out)
		defer cur.close()
		send := func(ev a2a.StreamEvent) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		first := toA2ATask(t)
		if !send(a2a.StreamEvent{Task: &first}) || t.State.Terminal() || t.State.Interrupted() {
			return
		}
		for {
			events, err := cur.next(ctx)
			if err != nil {
				return
			}
			for _, e := range events {
				if !send(toA2AEvent(t, e)) {
					return
				}
				if e.Kind == storage.TaskEventStatus && (e.State.Terminal() || e.State.Interrupted()) {
					return
				}
			}
		}
	}()
	return out, nil
}

// task reads a task in its A2A form.
func (b a2aBackend) task(ctx context.Context, id string) (a2a.Task, error) {
	t, err := b.s.tasks.Get(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return a2a.Task{}, fmt.Errorf("task %s: %w", id, a2a.ErrTaskNotFound)
	}
	if err != nil {
		return a2a.Task{}, err
	}
	return toA2ATask(t), nil
}

// a2aError maps the service's client errors to A2A's invalid-params, so the
// client sees why (a 422 naming the missing capability, say).
func a2aError(err error) error {
	var he *httpx.Error
	if errors.As(err, &he) && he.Status >= 400 && he.Status < 500 {
		if he.Status == http.StatusNotFound {
			return fmt.Errorf("%s: %w", he.Detail, a2a.ErrTaskNotFound)
		}
		return fmt.Errorf("%s: %w", he.Detail, a2a.ErrInvalidParams)
	}
	return err
}

// metadataString returns the first non-blank string value of key in the
// maps.
func metadataString(key string, maps ...map[string]any) string {
	for _, m := range maps {
		if v, ok := m[key].(string); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// messageInput derives a task's input from a message (see the comment at
// the top of this file).
func messageInput(m a2a.Message) (json.RawMessage, error) {
	if len(m.Parts) == 1 && m.Parts[0].Kind() == a2a.PartData {
		if !json.Valid(m.Parts[0].Data) {
			return nil, errors.New("the data part is not valid JSON")
		}
		return m.Parts[0].Data, nil
	}
	if !slices.ContainsFunc(m.Parts, func(p a2a.Part) bool { return p.Kind() != a2a.PartText }) {
		return json.Marshal(map[string]string{"text": a2a.PartsText(m.Parts)})
	}
	return json.Marshal(map[string][]a2a.Part{"parts": m.Parts})
}

// inputParts inverts messageInput so the history shows the user's message:
// {"text": …} as a text part (text parts sent together come back joined
// into one, as messageInput joined them), {"parts": […]} as those parts,
// and anything else as one data part. (A data part that was exactly {"text": …}
// comes back as text; the two are the same input to an agent.)
func inputParts(input json.RawMessage) []a2a.Part {
	var text struct {
		Text *string `json:"text"`
	}
	if httpx.UnmarshalStrict(input, &text) == nil && text.Text != nil {
		return []a2a.Part{a2a.TextPart(*text.Text)}
	}
	var parts struct {
		Parts []a2a.Part `json:"parts"`
	}
	if httpx.UnmarshalStrict(input, &parts) == nil && len(parts.Parts) > 0 {
		return parts.Parts
	}
	return []a2a.Part{a2a.DataPart(input)}
}

// toA2AState maps a state to A2A's enum.
func toA2AState(s storage.TaskState) a2a.TaskState { return a2a.ParseTaskState(string(s)) }

// toA2ATask renders a task for A2A: the input as the user's message in the
// history, the output (when any) as an artifact named "output" followed by
// the agent's artifacts, and the service's message as the status message.
func toA2ATask(t *storage.Task) a2a.Task {
	out := a2a.Task{
		ID: t.ID, ContextID: t.ContextID,
		Status: a2a.TaskStatus{State: toA2AState(t.State), Timestamp: t.UpdatedAt},
		Metadata: map[string]any{
			"capability": t.Capability, "attempts": t.Attempts,
		},
	}
	if t.Message != "" {
		out.Status.Message = agentMessage(t, t.Message)
	}
	if t.AgentName != "" {
		out.Metadata["agent"] = t.AgentName
	}
	if len(t.Input) > 0 {
		out.History = []a2a.Message{{
			MessageID: t.ID + "-input", TaskID: t.ID, ContextID: t.ContextID, Role: a2a.RoleUser,
			Parts: inputParts(t.Input),
		}}
	}
	if len(t.Output) > 0 {
		out.Artifacts = append(out.Artifacts, a2a.Artifact{ArtifactID: "output", Name: "output", Parts: []a2a.Part{a2a.DataPart(t.Output)}})
	}
	for i, art := range decodeArtifacts(t.Artifacts) {
		out.Artifacts = append(out.Artifacts, toA2AArtifact(art, i))
	}
	return out
}

func agentMessage(t *storage.Task, text string) *a2a.Message {
	return &a2a.Message{
		MessageID: fmt.Sprintf("%s-status-%d", t.ID, t.EventSeq), TaskID: t.ID, ContextID: t.ContextID,
		Role: a2a.RoleAgent, Parts: []a2a.Part{a2a.TextPart(text)},
	}
}

func toA2AArtifact(a dispatch.Artifact, i int) a2a.Artifact {
	out := a2a.Artifact{ArtifactID: a.ID, Name: a.Name, Description: a.Description}
	if out.ArtifactID == "" {
		out.ArtifactID = fmt.Sprintf("artifact-%d", i+1)
	}
	if len(a.Data) > 0 {
		out.Parts = append(out.Parts, a2a.Part{Data: a.Data, MediaType: a.MediaType})
	}
	if a.Text != "" || len(out.Parts) == 0 {
		out.Parts = append(out.Parts, a2a.Part{Text: a.Text, MediaType: a.MediaType})
	}
	return out
}

// toA2AEvent renders one stored event for an A2A stream.
func toA2AEvent(t *storage.Task, e storage.TaskEvent) a2a.StreamEvent {
	if e.Kind == storage.TaskEventArtifact {
		var art dispatch.Artifact
		_ = json.Unmarshal(e.Artifact, &art) // written by encodeArtifact
		return a2a.StreamEvent{ArtifactUpdate: &a2a.TaskArtifactUpdateEvent{
			TaskID: t.ID, ContextID: t.ContextID, Artifact: toA2AArtifact(art, int(e.Seq)), LastChunk: true,
		}}
	}
	st := a2a.TaskStatus{State: toA2AState(e.State), Timestamp: e.CreatedAt}
	if e.Message != "" {
		st.Message = &a2a.Message{
			MessageID: fmt.Sprintf("%s-status-%d", t.ID, e.Seq), TaskID: t.ID, ContextID: t.ContextID,
			Role: a2a.RoleAgent, Parts: []a2a.Part{a2a.TextPart(e.Message)},
		}
	}
	return a2a.StreamEvent{StatusUpdate: &a2a.TaskStatusUpdateEvent{TaskID: t.ID, ContextID: t.ContextID, Status: st}}
}

// offered is a capability healthy agents offer, with how many do.
type offered struct {
	name   string
	agents int
}

// offeredCapabilities lists the capabilities of healthy and degraded agents.
func (s *Service) offeredCapabilities(ctx context.Context) ([]offered, error) {
	ranked, err := s.finder.Discover(ctx, discovery.Query{Limit: 500})
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for _, r := range ranked {
		for _, c := range r.Capabilities {
			counts[c]++
		}
	}
	out := make([]offered, 0, len(counts))
	for name, n := range counts {
		out = append(out, offered{name: name, agents: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// card is the platform's Agent Card: one skill per capability that healthy
// agents currently offer.
func (s *Service) card(ctx context.Context) a2a.AgentCard {
	caps, err := s.offeredCapabilities(ctx)
	if err != nil {
		s.log.Warn("agent card: list capabilities failed", "err", err)
	}
	skills := make([]a2a.AgentSkill, 0, len(caps))
	for _, c := range caps {
		skills = append(skills, a2a.AgentSkill{
			ID: c.name, Name: c.name, Tags: []string{c.name},
			Description: fmt.Sprintf("Routed to the best of %d healthy agent(s) offering %q. Name it in message.metadata.capability.", c.agents, c.name),
			InputModes:  []string{"application/json", "text/plain"}, OutputModes: []string{"application/json", "text/plain"},
		})
	}
	card := a2a.AgentCard{
		Name:        "ossa",
		Description: "The OSSA agent platform: each message becomes a task, routed to the best healthy agent offering the capability it names.",
		SupportedInterfaces: []a2a.AgentInterface{{
			URL: a2a.BaseURL(ctx) + "/a2a", ProtocolBinding: a2a.BindingJSONRPC, ProtocolVersion: a2a.ProtocolVersion,
		}},
		Provider:           &a2a.AgentProvider{Organization: "OSSA platform", URL: a2a.BaseURL(ctx)},
		Version:            "0.1.8",
		Capabilities:       a2a.AgentCapabilities{Streaming: true},
		SecuritySchemes:    map[string]a2a.Scheme{"bearer": {HTTPAuth: &a2a.HTTPAuthScheme{Scheme: "Bearer", Description: "an ossa API key"}}},
		DefaultInputModes:  []string{"application/json", "text/plain"},
		DefaultOutputModes: []string{"application/json", "text/plain"},
		Skills:             skills,
	}
	card.RequireSchemes("bearer")
	return card
}
