package sqlite

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlval"
)

// encodeTask returns t's column values in taskColumns order.
func encodeTask(t *storage.Task) ([]any, error) {
	if !t.State.Valid() {
		return nil, fmt.Errorf("invalid task state %q", t.State)
	}
	tags, err := encodeList(t.Tags)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	failed, err := encodeList(t.FailedAgents)
	if err != nil {
		return nil, fmt.Errorf("encode failed agents: %w", err)
	}
	input, err := sqlval.OptionalJSON(t.Input, "input")
	if err != nil {
		return nil, err
	}
	output, err := sqlval.OptionalJSON(t.Output, "output")
	if err != nil {
		return nil, err
	}
	artifacts, err := sqlval.JSONList(t.Artifacts, "artifacts")
	if err != nil {
		return nil, err
	}
	times := make([]any, 0, 5)
	for _, tm := range []time.Time{t.WaitForAgentUntil, t.LeaseExpiresAt, t.CreatedAt, t.UpdatedAt, t.FinishedAt} {
		v, err := encodeTime(tm)
		if err != nil {
			return nil, err
		}
		times = append(times, v)
	}
	offered := 0
	if t.Offered {
		offered = 1
	}
	return []any{
		t.ID, t.Capability, t.RequestedAgent, input, t.MinTier, tags, t.Priority, t.Timeout.Milliseconds(), t.MaxAttempts,
		times[0], sqlval.NullIfEmpty(t.IdempotencyKey), t.RequestHash, t.CreatedBy, t.ContextID,
		string(t.State), t.Message, output, artifacts, t.Attempts, t.AgentID, t.AgentName, sqlval.NullIfEmpty(t.RunningOn),
		offered, times[1], t.AttemptError, t.RemoteID, failed, sqlval.NullIfZero(t.JobID), t.EventSeq,
		times[2], times[3], times[4],
	}, nil
}

// scanTask reads one row of taskColumns.
func scanTask(sc scanner) (*storage.Task, error) {
	var (
		t                                 storage.Task
		input, output, artifacts          []byte
		tags, failed, state               string
		timeoutMS                         int64
		waitUntil, lease, finished, jobID *int64
		idemKey, runningOn                *string
		offered                           int
		created, updated                  int64
	)
	err := sc.Scan(&t.ID, &t.Capability, &t.RequestedAgent, &input, &t.MinTier, &tags, &t.Priority, &timeoutMS,
		&t.MaxAttempts, &waitUntil, &idemKey, &t.RequestHash, &t.CreatedBy, &t.ContextID,
		&state, &t.Message, &output, &artifacts, &t.Attempts, &t.AgentID, &t.AgentName, &runningOn, &offered, &lease,
		&t.AttemptError, &t.RemoteID, &failed, &jobID, &t.EventSeq, &created, &updated, &finished)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &t.Tags); err != nil {
		return nil, fmt.Errorf("task %s: decode tags: %w", t.ID, err)
	}
	if err := json.Unmarshal([]byte(failed), &t.FailedAgents); err != nil {
		return nil, fmt.Errorf("task %s: decode failed agents: %w", t.ID, err)
	}
	if input != nil {
		t.Input = input
	}
	if output != nil {
		t.Output = output
	}
	t.Artifacts = artifacts
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.WaitForAgentUntil, t.LeaseExpiresAt, t.FinishedAt = decodeTime(waitUntil), decodeTime(lease), decodeTime(finished)
	t.CreatedAt, t.UpdatedAt = decodeTime(&created), decodeTime(&updated)
	if idemKey != nil {
		t.IdempotencyKey = *idemKey
	}
	if runningOn != nil {
		t.RunningOn = *runningOn
	}
	if jobID != nil {
		t.JobID = *jobID
	}
	t.State = storage.TaskState(state)
	t.Offered = offered == 1
	return &t, nil
}
