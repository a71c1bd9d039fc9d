package taskagent

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

// scriptedDispatcher answers each attempt with the next step of a script.
type scriptedDispatcher struct {
	steps []func(req dispatch.Request, updates chan<- dispatch.Update) (dispatch.Result, error)
	n     atomic.Int32
}

func (d *scriptedDispatcher) Dispatch(_ context.Context, req dispatch.Request, updates chan<- dispatch.Update) (dispatch.Result, error) {
	i := int(d.n.Add(1)) - 1
	return d.steps[min(i, len(d.steps)-1)](req, updates)
}

func (d *scriptedDispatcher) Cancel(context.Context, storage.Agent, string, string) error { return nil }

// Progress an agent streams becomes events; an answer in no known state is
// a failed attempt, retried.
func TestProgressAndUnknownState(t *testing.T) {
	t.Parallel()
	d := &scriptedDispatcher{steps: []func(dispatch.Request, chan<- dispatch.Update) (dispatch.Result, error){
		func(dispatch.Request, chan<- dispatch.Update) (dispatch.Result, error) {
			return dispatch.Result{State: "thinking"}, nil
		},
		func(req dispatch.Request, updates chan<- dispatch.Update) (dispatch.Result, error) {
			updates <- dispatch.Update{Message: "halfway"}
			updates <- dispatch.Update{Artifact: &dispatch.Artifact{Name: "draft", Text: "d"}}
			return dispatch.Result{State: dispatch.StateCompleted, Output: json.RawMessage(`{"attempt": 2}`),
				Artifacts: []dispatch.Artifact{{Name: "final", Data: json.RawMessage(`{"ok": true}`)}}, RemoteID: "r-2"}, nil
		},
	}}
	e := newEnv(t, withDispatcher(d))
	e.addAgent(agentSpec{name: "streamer", capabilities: []string{"write"}, endpoint: "http://127.0.0.1:1"})

	task := e.submit(SubmitRequest{Capability: "write"})
	done := e.waitState(task.ID, storage.TaskCompleted)
	require.Equal(t, 2, done.Attempts)
	require.JSONEq(t, `{"attempt": 2}`, string(done.Output))
	require.Equal(t, []dispatch.Artifact{{Name: "final", Data: json.RawMessage(`{"ok":true}`)}}, done.Artifacts)

	var log []string
	for _, ev := range e.events(task.ID) {
		entry := string(ev.Kind) + ":" + string(ev.State)
		if ev.Kind == storage.TaskEventArtifact {
			var a dispatch.Artifact
			require.NoError(t, json.Unmarshal(ev.Artifact, &a))
			entry += ":" + a.Name
		}
		log = append(log, entry)
		if strings.Contains(ev.Message, "unknown state") {
			require.Contains(t, ev.Message, `"thinking"`)
		}
	}
	require.Equal(t, []string{
		"status:submitted", "status:working", "status:working", // attempt 1, and its failure
		"status:working", "status:working", "artifact:working:draft", // attempt 2 with its progress
		"artifact:working:final", "status:completed",
	}, log)
	stored, err := e.store.Tasks().Get(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, "r-2", stored.RemoteID)
}

// An agent that reports the task failed or rejected is believed: no retry.
func TestAgentReportedOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		state dispatch.State
		want  storage.TaskState
		msg   string
	}{
		{dispatch.StateFailed, storage.TaskFailed, "agent streamer reported the task failed"},
		{dispatch.StateRejected, storage.TaskRejected, ""},
		{dispatch.StateAuthRequired, storage.TaskAuthRequired, ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.state), func(t *testing.T) {
			t.Parallel()
			d := &scriptedDispatcher{steps: []func(dispatch.Request, chan<- dispatch.Update) (dispatch.Result, error){
				func(dispatch.Request, chan<- dispatch.Update) (dispatch.Result, error) {
					return dispatch.Result{State: tc.state}, nil
				},
			}}
			e := newEnv(t, withDispatcher(d))
			e.addAgent(agentSpec{name: "streamer", capabilities: []string{"write"}, endpoint: "http://127.0.0.1:1"})
			task := e.submit(SubmitRequest{Capability: "write", MaxAttempts: 3})
			got := e.waitState(task.ID, tc.want)
			require.Equal(t, 1, got.Attempts)
			require.Equal(t, tc.msg, got.Message)
			require.EqualValues(t, 1, d.n.Load())
		})
	}
}

// A run River counts but the task does not is an attempt whose worker died
// before writing its start: it is counted, and when it was the last one the
// spare run fails the task.
func TestUnrecordedAttemptsCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// A task whose job (99) this River client never sees, run by hand.
	task := &storage.Task{Capability: "write", Priority: 2, Timeout: time.Second, MaxAttempts: 2, JobID: 99}
	require.NoError(t, e.store.Tasks().Create(ctx, []*storage.Task{task}, nil))

	require.NoError(t, e.svc.work(ctx, 99, 3, task.ID), "River's third run: two attempts died unrecorded")
	got, err := e.store.Tasks().Get(ctx, task.ID)
	require.NoError(t, err)
	require.Equal(t, storage.TaskFailed, got.State)
	require.Equal(t, 2, got.Attempts)
	require.Contains(t, got.Message, "gave up after 2 attempts; last: attempt 2 did not finish: the worker running it stopped")

	other := &storage.Task{Capability: "write", Priority: 2, Timeout: time.Second, MaxAttempts: 2, JobID: 100}
	require.NoError(t, e.store.Tasks().Create(ctx, []*storage.Task{other}, nil))
	require.NoError(t, e.svc.work(ctx, 101, 1, other.ID), "a job the task no longer names does nothing")
	got, err = e.store.Tasks().Get(ctx, other.ID)
	require.NoError(t, err)
	require.Equal(t, storage.TaskSubmitted, got.State)
}
