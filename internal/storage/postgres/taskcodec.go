package postgres

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/sqlval"
)

// encodeTask returns t's column values in taskColumns order.
func encodeTask(t *storage.Task) ([]any, error) {
	if !t.State.Valid() {
		return nil, fmt.Errorf("invalid task state %q", t.State)
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
	return []any{
		t.ID, t.Capability, t.RequestedAgent, input, t.MinTier, nonNil(t.Tags), int16(t.Priority), t.Timeout.Milliseconds(),
		int32(t.MaxAttempts), encodeTime(t.WaitForAgentUntil), sqlval.NullIfEmpty(t.IdempotencyKey), t.RequestHash, t.CreatedBy,
		t.ContextID, string(t.State), t.Message, output, artifacts, int32(t.Attempts), t.AgentID, t.AgentName,
		sqlval.NullIfEmpty(t.RunningOn), t.Offered, encodeTime(t.LeaseExpiresAt), t.AttemptError, t.RemoteID,
		nonNil(t.FailedAgents), sqlval.NullIfZero(t.JobID), t.EventSeq, encodeTime(t.CreatedAt), encodeTime(t.UpdatedAt),
		encodeTime(t.FinishedAt),
	}, nil
}

// progressColumns are the columns a change of a task may write (see
// storage.SettleModified), but for the three of continuedColumns.
const progressColumns = `state, message, output, artifacts, attempts, agent_id, agent_name, running_on, offered,
	lease_expires_at, attempt_error, remote_id, failed_agents, job_id, event_seq, updated_at, finished_at`

// continuedColumns are the request columns a change may write: continuing
// an interrupted task gives it new input and pins its agent.
const continuedColumns = `input, requested_agent, wait_for_agent_until`

// encodeProgress returns t's values of progressColumns, in order.
func encodeProgress(t *storage.Task) ([]any, error) {
	if !t.State.Valid() {
		return nil, fmt.Errorf("invalid task state %q", t.State)
	}
	output, err := sqlval.OptionalJSON(t.Output, "output")
	if err != nil {
		return nil, err
	}
	artifacts, err := sqlval.JSONList(t.Artifacts, "artifacts")
	if err != nil {
		return nil, err
	}
	return []any{
		string(t.State), t.Message, output, artifacts, int32(t.Attempts), t.AgentID, t.AgentName,
		sqlval.NullIfEmpty(t.RunningOn), t.Offered, encodeTime(t.LeaseExpiresAt), t.AttemptError, t.RemoteID,
		nonNil(t.FailedAgents), sqlval.NullIfZero(t.JobID), t.EventSeq, encodeTime(t.UpdatedAt), encodeTime(t.FinishedAt),
	}, nil
}

// encodeContinued returns t's values of continuedColumns, in order.
func encodeContinued(t *storage.Task) ([]any, error) {
	input, err := sqlval.OptionalJSON(t.Input, "input")
	if err != nil {
		return nil, err
	}
	return []any{input, t.RequestedAgent, encodeTime(t.WaitForAgentUntil)}, nil
}

// scanTask reads one row of taskColumns.
func scanTask(row pgx.Row) (*storage.Task, error) {
	var (
		t                          storage.Task
		input, output, artifacts   []byte
		state                      string
		priority                   int16
		timeoutMS                  int64
		maxAttempts, attempts      int32
		waitUntil, lease, finished pgtype.Timestamptz
		idemKey, runningOn         *string
		jobID                      *int64
		created, updated           time.Time
	)
	err := row.Scan(&t.ID, &t.Capability, &t.RequestedAgent, &input, &t.MinTier, &t.Tags, &priority, &timeoutMS,
		&maxAttempts, &waitUntil, &idemKey, &t.RequestHash, &t.CreatedBy, &t.ContextID,
		&state, &t.Message, &output, &artifacts, &attempts, &t.AgentID, &t.AgentName, &runningOn, &t.Offered, &lease,
		&t.AttemptError, &t.RemoteID, &t.FailedAgents, &jobID, &t.EventSeq, &created, &updated, &finished)
	if err != nil {
		return nil, err
	}
	if input != nil {
		t.Input = input
	}
	if output != nil {
		t.Output = output
	}
	t.Artifacts = artifacts
	t.Priority, t.MaxAttempts, t.Attempts = int(priority), int(maxAttempts), int(attempts)
	t.Timeout = time.Duration(timeoutMS) * time.Millisecond
	t.WaitForAgentUntil, t.LeaseExpiresAt, t.FinishedAt = decodeTime(waitUntil), decodeTime(lease), decodeTime(finished)
	t.CreatedAt, t.UpdatedAt = created.UTC(), updated.UTC()
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
	return &t, nil
}
