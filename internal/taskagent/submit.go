package taskagent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/groupcommit"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// SubmitRequest is the body of POST /api/v1/tasks.
type SubmitRequest struct {
	// Capability is what the task needs; Agent pins it to one agent (ID or
	// name). At least one is required.
	Capability string `json:"capability,omitempty"`
	Agent      string `json:"agent,omitempty"`
	// Input is any JSON value, handed to the agent as is.
	Input json.RawMessage `json:"input,omitempty"`
	// Tier is the lowest verified conformance tier an agent must reach;
	// Tags must all be on the agent.
	Tier string   `json:"tier,omitempty"`
	Tags []string `json:"tags,omitempty"`
	// Priority is 1 (most urgent) to 4; 0 means 2.
	Priority int `json:"priority,omitempty"`
	// Timeout bounds each attempt, as a Go duration ("90s", "5m").
	Timeout     string `json:"timeout,omitempty"`
	MaxAttempts int    `json:"max_attempts,omitempty"`
	// WaitForAgent, a duration, queues the task while no capable agent is
	// available, for at most that long, instead of refusing it.
	WaitForAgent string `json:"wait_for_agent,omitempty"`
	// ContextID groups related tasks (A2A's contextId).
	ContextID string `json:"context_id,omitempty"`
}

// FieldError is one violation of a request, at its JSON path.
type FieldError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Limits of request fields.
const (
	maxNameLen           = 256
	maxTags              = 32
	defaultPriority      = 2
	maxIdempotencyKeyLen = 255
)

// request is a validated SubmitRequest with defaults applied.
type request struct {
	Capability   string          `json:"capability"`
	Agent        string          `json:"agent"`
	Input        json.RawMessage `json:"input"`
	Tier         string          `json:"tier"`
	Tags         []string        `json:"tags"`
	Priority     int             `json:"priority"`
	Timeout      time.Duration   `json:"timeout"`
	MaxAttempts  int             `json:"max_attempts"`
	WaitForAgent time.Duration   `json:"wait_for_agent"`
	ContextID    string          `json:"context_id"`
}

// validate checks r and applies the defaults, reporting every violation.
func (s *Service) validate(r SubmitRequest) (request, []FieldError) {
	var errs []FieldError
	bad := func(path, format string, args ...any) {
		errs = append(errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	n := request{
		Capability: strings.TrimSpace(r.Capability), Agent: strings.TrimSpace(r.Agent), Input: r.Input,
		Tier: r.Tier, Priority: r.Priority, MaxAttempts: r.MaxAttempts, ContextID: r.ContextID,
		Tags: []string{},
	}
	if n.Capability == "" && n.Agent == "" {
		bad("capability", "required unless agent is given")
	}
	if len(n.Capability) > maxNameLen {
		bad("capability", "longer than %d bytes", maxNameLen)
	}
	if len(n.Agent) > maxNameLen {
		bad("agent", "longer than %d bytes", maxNameLen)
	}
	if n.Tier != "" {
		if _, err := manifest.ParseTier(n.Tier); err != nil {
			bad("tier", "%q is not a tier: want core, governed or advanced", n.Tier)
		}
	}
	if len(r.Tags) > maxTags {
		bad("tags", "at most %d tags", maxTags)
	}
	for i, tag := range r.Tags {
		if tag = strings.TrimSpace(tag); tag == "" {
			bad(fmt.Sprintf("tags[%d]", i), "must not be empty")
		} else if !slices.Contains(n.Tags, tag) {
			n.Tags = append(n.Tags, tag)
		}
	}
	switch {
	case n.Priority == 0:
		n.Priority = defaultPriority
	case n.Priority < 1 || n.Priority > 4:
		bad("priority", "%d is out of range: 1 (most urgent) to 4", n.Priority)
	}
	n.Timeout = s.cfg.DefaultTimeout
	if r.Timeout != "" {
		d, err := time.ParseDuration(r.Timeout)
		switch {
		case err != nil:
			bad("timeout", "%q is not a duration such as \"30s\" or \"5m\"", r.Timeout)
		case d < time.Millisecond || d > s.cfg.MaxTimeout:
			bad("timeout", "%s is out of range: 1ms to %s", d, s.cfg.MaxTimeout)
		default:
			n.Timeout = d
		}
	}
	switch {
	case n.MaxAttempts == 0:
		n.MaxAttempts = s.cfg.DefaultMaxAttempts
	case n.MaxAttempts < 1 || n.MaxAttempts > s.cfg.MaxAttempts:
		bad("max_attempts", "%d is out of range: 1 to %d", n.MaxAttempts, s.cfg.MaxAttempts)
	}
	if r.WaitForAgent != "" {
		d, err := time.ParseDuration(r.WaitForAgent)
		switch {
		case err != nil:
			bad("wait_for_agent", "%q is not a duration such as \"5m\"", r.WaitForAgent)
		case d < 0 || d > s.cfg.MaxWaitForAgent:
			bad("wait_for_agent", "%s is out of range: 0 to %s", d, s.cfg.MaxWaitForAgent)
		default:
			n.WaitForAgent = d
		}
	}
	if len(n.ContextID) > maxNameLen {
		bad("context_id", "longer than %d bytes", maxNameLen)
	}
	return n, errs
}

// digest identifies a request for idempotency: the same request in any
// formatting (key order, whitespace) has the same digest.
func (r request) digest() string {
	c := r
	if len(c.Input) > 0 {
		dec := json.NewDecoder(bytes.NewReader(c.Input))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) == nil {
			if b, err := json.Marshal(v); err == nil {
				c.Input = b
			}
		}
	}
	b, _ := json.Marshal(c) // strings, numbers and valid JSON only
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Submit accepts a task: it validates r, refuses it when no capable agent is
// available (unless r asks to wait for one), and stores it with the queue job
// that will run it. With an idempotency key, a repeat of the same request
// returns the task the first one created (created is false), and a different
// request under the same key is refused. Errors are *httpx.Error for the
// caller's mistakes.
func (s *Service) Submit(ctx context.Context, r SubmitRequest, idempotencyKey string) (task Task, created bool, err error) {
	req, errs := s.validate(r)
	if len(errs) > 0 {
		return Task{}, false, httpx.Errorf(http.StatusUnprocessableEntity, "invalid task: %s", errs[0].Path+": "+errs[0].Message).WithErrors(errs)
	}
	principal, _ := auth.FromContext(ctx)
	t := &storage.Task{
		Capability: req.Capability, RequestedAgent: req.Agent, Input: req.Input, MinTier: req.Tier, Tags: req.Tags,
		Priority: req.Priority, Timeout: req.Timeout, MaxAttempts: req.MaxAttempts, RequestHash: req.digest(),
		CreatedBy: principal.Subject, ContextID: req.ContextID, State: storage.TaskSubmitted,
	}
	if idempotencyKey != "" {
		if len(idempotencyKey) > maxIdempotencyKeyLen {
			return Task{}, false, httpx.Errorf(http.StatusBadRequest, "Idempotency-Key is longer than %d bytes", maxIdempotencyKeyLen)
		}
		// Keys are the caller's own: two callers may pick the same one.
		t.IdempotencyKey = principal.Subject + ":" + idempotencyKey
		if prior, err := s.replay(ctx, t); err != nil || prior != nil {
			return derefTask(prior), false, err
		}
	}
	if req.WaitForAgent > 0 {
		t.WaitForAgentUntil = s.clock().Add(req.WaitForAgent)
		t.Message = fmt.Sprintf("waiting up to %s for an agent", req.WaitForAgent)
	} else if err := s.requireAgent(ctx, t); err != nil {
		return Task{}, false, err
	}
	if t.ContextID == "" {
		t.ContextID = newContextID()
	}
	_, err = s.creates.Do(ctx, t)
	if errors.Is(err, storage.ErrConflict) && t.IdempotencyKey != "" {
		// Another request with the key won the race.
		prior, rerr := s.replay(ctx, t)
		if rerr != nil || prior != nil {
			return derefTask(prior), false, rerr
		}
	}
	if err != nil {
		return Task{}, false, fmt.Errorf("submit task: %w", err)
	}
	s.metrics.submitted.Inc()
	s.log.Debug("task submitted", "task", t.ID, "capability", t.Capability, "agent", t.RequestedAgent)
	return view(t), true, nil
}

// createBatch stores the tasks submitted at once, with the River jobs that
// run them, in one transaction (see Service.creates). A taken idempotency
// key fails the whole batch, which then kept nothing; the group commit
// creates each task again alone, so that only its own submission sees the
// conflict. Other failures are every submission's: the batch may have been
// committed, and creating its tasks again would create them twice.
func (s *Service) createBatch(ctx context.Context, ts []*storage.Task) ([]groupcommit.Result[struct{}], error) {
	err := s.tasks.Create(ctx, ts, func(ctx context.Context, tx storage.TaskTx, cs []*storage.Task) error {
		return s.queue.enqueue(ctx, tx, cs)
	})
	if errors.Is(err, storage.ErrConflict) {
		return nil, groupcommit.NothingKept(err)
	}
	if err != nil {
		return nil, err
	}
	return make([]groupcommit.Result[struct{}], len(ts)), nil
}

// replay returns the task already created under t's idempotency key, nil
// when there is none, or a 422 when it was created by a different request.
func (s *Service) replay(ctx context.Context, t *storage.Task) (*Task, error) {
	prior, err := s.tasks.GetByIdempotencyKey(ctx, t.IdempotencyKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("submit task: %w", err)
	}
	if prior.RequestHash != t.RequestHash {
		return nil, httpx.Errorf(http.StatusUnprocessableEntity,
			"Idempotency-Key was already used for task %s with a different request; use a new key for a new task", prior.ID)
	}
	v := view(prior)
	return &v, nil
}

func derefTask(t *Task) Task {
	if t == nil {
		return Task{}
	}
	return *t
}

// requireAgent is the admission check: a 422 naming what is missing unless
// some healthy agent could run t now.
func (s *Service) requireAgent(ctx context.Context, t *storage.Task) error {
	ok, err := s.anyEligible(ctx, t)
	if err != nil {
		return fmt.Errorf("submit task: find agents: %w", err)
	}
	if ok {
		return nil
	}
	if t.RequestedAgent != "" {
		a, err := s.finder.Agent(ctx, t.RequestedAgent)
		if errors.Is(err, storage.ErrNotFound) || httpx.StatusCode(err) == http.StatusNotFound {
			return unprocessable("agent", "no agent is registered with the ID or name %q", t.RequestedAgent)
		}
		if err != nil {
			return fmt.Errorf("submit task: find agent %s: %w", t.RequestedAgent, err)
		}
		return unprocessable("agent", "agent %s (%s) cannot take the task: %s", a.Name, a.ID, ineligibility(a, t))
	}
	return unprocessable("capability", "no healthy agent offers capability %q%s; register one, or set wait_for_agent to queue the task until one appears",
		t.Capability, constraintsText(t))
}

func unprocessable(path, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return httpx.Errorf(http.StatusUnprocessableEntity, "%s", msg).WithErrors([]FieldError{{Path: path, Message: msg}})
}

func constraintsText(t *storage.Task) string {
	var parts []string
	if t.MinTier != "" {
		parts = append(parts, "tier ≥ "+t.MinTier)
	}
	if len(t.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(t.Tags, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return " with " + strings.Join(parts, " and ")
}

// anyEligible reports whether some healthy agent may run t, whatever its
// load: the admission check, which reads no counts.
func (s *Service) anyEligible(ctx context.Context, t *storage.Task) (bool, error) {
	if t.RequestedAgent != "" {
		a, err := s.finder.Agent(ctx, t.RequestedAgent)
		if errors.Is(err, storage.ErrNotFound) || httpx.StatusCode(err) == http.StatusNotFound {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return eligible(a, t), nil
	}
	ranked, err := s.finder.Discover(ctx, discovery.Query{
		Capabilities: []string{t.Capability}, Tags: t.Tags, MinTier: manifest.Tier(t.MinTier), Limit: 1,
	})
	return len(ranked) > 0, err
}

// eligible reports whether agent a may run t, whatever its load.
func eligible(a *storage.Agent, t *storage.Task) bool { return ineligibility(a, t) == "" }

// ineligibility says why a may not run t, or "" when it may.
func ineligibility(a *storage.Agent, t *storage.Task) string {
	switch {
	case a.Status.Health != storage.HealthHealthy && a.Status.Health != storage.HealthDegraded:
		return fmt.Sprintf("it is %s", a.Status.Health)
	case t.Capability != "" && !slices.Contains(a.Capabilities, t.Capability):
		return fmt.Sprintf("it does not offer capability %q", t.Capability)
	case t.MinTier != "" && manifest.Tier(a.TierReached).Rank() < manifest.Tier(t.MinTier).Rank():
		return fmt.Sprintf("its verified tier %q is below %q", a.TierReached, t.MinTier)
	}
	for _, tag := range t.Tags {
		if !slices.Contains(a.Tags, tag) {
			return fmt.Sprintf("it lacks tag %q", tag)
		}
	}
	return ""
}

// candidates returns the agents that may run t, best first, each with its
// running tasks and concurrency limit (routing skips those at their limit),
// preferring agents that have not failed t.
func (s *Service) candidates(ctx context.Context, t *storage.Task) ([]candidate, error) {
	var cands []candidate
	if t.RequestedAgent != "" {
		a, err := s.finder.Agent(ctx, t.RequestedAgent)
		if errors.Is(err, storage.ErrNotFound) || httpx.StatusCode(err) == http.StatusNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !eligible(a, t) {
			return nil, nil
		}
		cands = append(cands, candidate{agent: *a, score: healthBand(a.Status.Health)})
	} else {
		ranked, err := s.finder.Discover(ctx, discovery.Query{
			Capabilities: []string{t.Capability}, Tags: t.Tags, MinTier: manifest.Tier(t.MinTier), Limit: maxCandidates,
		})
		if err != nil {
			return nil, err
		}
		for _, r := range ranked {
			cands = append(cands, candidate{agent: r.Agent, score: r.Score})
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	// Agents with a concurrency limit are counted in the store, across
	// replicas, so that routing skips the full ones; the check that counts
	// is repeated atomically when the attempt begins. Load without a limit
	// only ranks, and this process's own count is enough for that.
	var limited []string
	for i := range cands {
		c := &cands[i]
		if c.limit = s.limits.of(&c.agent); c.limit > 0 {
			limited = append(limited, c.agent.ID)
		}
	}
	var counts map[string]int
	if len(limited) > 0 {
		var err error
		if counts, err = s.tasks.RunningCounts(ctx, limited); err != nil {
			return nil, err
		}
	}
	for i := range cands {
		c := &cands[i]
		if c.limit > 0 {
			c.running = counts[c.agent.ID]
		} else {
			c.running = s.load.of(c.agent.ID)
		}
		c.adjusted = adjustedScore(c.score, c.running, c.limit)
	}
	cands = preferUntried(cands, t.FailedAgents)
	rank(cands)
	return cands, nil
}

// healthBand is the integer part of discovery's score for a health, the
// score a pinned agent routes with.
func healthBand(h storage.Health) float64 {
	switch h {
	case storage.HealthHealthy:
		return 3
	case storage.HealthDegraded:
		return 2
	}
	return 0
}
