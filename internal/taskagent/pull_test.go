package taskagent

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// A pull-mode agent long-polls for its task, heartbeats and completes it.
func TestPullModeClaimAndComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.addAgent(agentSpec{name: "behind-nat", capabilities: []string{"ocr"}})
	ctx := context.Background()

	// A claim that finds nothing waits, then answers 204.
	none, err := e.client.Claim(ctx, ClaimRequest{AgentID: agent.ID, Wait: "50ms"})
	require.NoError(t, err)
	require.Nil(t, none)

	// A claim waiting when the task arrives gets it without polling again.
	claimed := make(chan *Task, 1)
	go func() {
		task, err := e.client.Claim(ctx, ClaimRequest{AgentID: "behind-nat", Capabilities: []string{"ocr"}, Wait: "10s"})
		if err != nil {
			t.Error(err)
		}
		claimed <- task
	}()
	task := e.submit(SubmitRequest{Capability: "ocr", Input: json.RawMessage(`{"page": 1}`)})
	got := <-claimed
	require.NotNil(t, got)
	require.Equal(t, task.ID, got.ID)
	require.Equal(t, storage.TaskWorking, got.State)
	require.JSONEq(t, `{"page": 1}`, string(got.Input))
	require.False(t, got.LeaseExpiresAt.IsZero())

	lease, err := e.client.Heartbeat(ctx, task.ID, HeartbeatRequest{AgentID: agent.ID})
	require.NoError(t, err)
	require.False(t, lease.LeaseExpiresAt.Before(got.LeaseExpiresAt))

	done, err := e.client.Complete(ctx, task.ID, CompleteRequest{
		AgentID: agent.ID, Output: json.RawMessage(`{"text": "hi"}`),
		Artifacts: []dispatch.Artifact{{Name: "page.txt", Text: "hi"}},
	})
	require.NoError(t, err)
	require.Equal(t, storage.TaskCompleted, done.State)
	require.Equal(t, []dispatch.Artifact{{Name: "page.txt", Text: "hi"}}, done.Artifacts)

	_, err = e.client.Complete(ctx, task.ID, CompleteRequest{Output: json.RawMessage(`1`)})
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err), "an outcome is recorded once")
	_, err = e.client.Heartbeat(ctx, task.ID, HeartbeatRequest{})
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err), "a finished task has no lease")
	final := e.waitState(task.ID, storage.TaskCompleted)
	require.JSONEq(t, `{"text": "hi"}`, string(final.Output))
}

// A lease that lapses counts as a failed attempt and the task is offered
// again; a retryable failure does the same; a final one fails the task.
func TestPullModeFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	claim := func(e *testEnv, agentID string) *Task {
		t.Helper()
		task, err := e.client.Claim(ctx, ClaimRequest{AgentID: agentID, Wait: "10s"})
		require.NoError(t, err)
		require.NotNil(t, task)
		return task
	}
	messages := func(e *testEnv, id string) []string {
		var out []string
		for _, ev := range e.events(id) {
			out = append(out, ev.Message)
		}
		return out
	}

	t.Run("lease lapses", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withConfig(func(c *Config) { c.Lease = 100 * time.Millisecond }))
		agent := e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
		task := e.submit(SubmitRequest{Capability: "ocr", MaxAttempts: 4})
		first := claim(e, agent.ID)
		require.Equal(t, 1, first.Attempts)
		// No heartbeat: the lease lapses and the task comes back.
		second := claim(e, agent.ID)
		require.Equal(t, task.ID, second.ID)
		require.Equal(t, 2, second.Attempts)
		_, err := e.client.Complete(ctx, task.ID, CompleteRequest{AgentID: "someone-else"})
		require.Equal(t, http.StatusConflict, httpx.StatusCode(err), "only the lease holder completes")
		require.Contains(t, messages(e, task.ID), "attempt 1 of 4 failed: pull-mode agent puller's lease expired at "+
			first.LeaseExpiresAt.UTC().Format(time.RFC3339)+" without a heartbeat; retrying")
	})

	// With the default lease, so that a slow machine does not let it lapse
	// between the claim and the report.
	t.Run("reported failures", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		agent := e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
		task := e.submit(SubmitRequest{Capability: "ocr", MaxAttempts: 4})
		require.Equal(t, 1, claim(e, agent.ID).Attempts)
		_, err := e.client.Fail(ctx, task.ID, FailRequest{AgentID: agent.ID, Message: "scanner jammed", Retryable: true})
		require.NoError(t, err)
		require.Equal(t, 2, claim(e, agent.ID).Attempts, "a retryable failure offers the task again")

		_, err = e.client.Fail(ctx, task.ID, FailRequest{Message: ""})
		require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err))
		failed, err := e.client.Fail(ctx, task.ID, FailRequest{AgentID: agent.ID, Message: "page is blank"})
		require.NoError(t, err)
		require.Equal(t, storage.TaskFailed, failed.State)
		require.Contains(t, failed.Message, "page is blank")
		require.Contains(t, messages(e, task.ID), "attempt 1 of 4 failed: pull-mode agent puller reported a failure: scanner jammed; retrying")
	})
}

// A canceled pull-mode task tells its agent to stop at the next heartbeat.
func TestPullModeCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
	ctx := context.Background()
	task := e.submit(SubmitRequest{Capability: "ocr"})
	claimed, err := e.client.Claim(ctx, ClaimRequest{AgentID: agent.ID, Wait: "10s"})
	require.NoError(t, err)
	require.Equal(t, task.ID, claimed.ID)
	_, err = e.client.Cancel(ctx, task.ID)
	require.NoError(t, err)
	_, err = e.client.Heartbeat(ctx, task.ID, HeartbeatRequest{AgentID: agent.ID})
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err))
	require.ErrorContains(t, err, "canceled")
}

// An agent key claims and reports only as its own agent.
func TestPullModeOwnership(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAgent(agentSpec{name: "mine", capabilities: []string{"ocr"}})
	ctx := auth.WithPrincipal(context.Background(), auth.Principal{Subject: "k1", Role: auth.RoleAgent, Agent: "other"})
	_, err := e.svc.Claim(ctx, ClaimRequest{AgentID: "mine"})
	require.ErrorContains(t, err, `key for agent "other" may not act for agent "mine"`)

	task := e.submit(SubmitRequest{Capability: "ocr"})
	own := auth.WithPrincipal(context.Background(), auth.Principal{Subject: "k2", Role: auth.RoleAgent, Agent: "mine"})
	claimed, err := e.svc.Claim(own, ClaimRequest{AgentID: "mine", Wait: "10s"})
	require.NoError(t, err)
	require.Equal(t, task.ID, claimed.ID)
	_, err = e.svc.Complete(ctx, task.ID, CompleteRequest{})
	require.ErrorContains(t, err, "may not act for agent")
	_, err = e.svc.Complete(own, task.ID, CompleteRequest{})
	require.NoError(t, err)

	_, err = e.client.Claim(context.Background(), ClaimRequest{AgentID: "nobody"})
	require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err))
	_, err = e.client.Claim(context.Background(), ClaimRequest{AgentID: "mine", Wait: "later"})
	require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err))
}
