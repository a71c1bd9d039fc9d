package taskagent

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// A task runs on a capable agent and every transition is an event, on both
// drivers.
func TestTaskRunsToCompletion(t *testing.T) {
	t.Parallel()
	eachDriver(t, func(t *testing.T, driver envOption) {
		e := newEnv(t, driver)
		agent := newFakeAgent(t, nil)
		a := e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
		e.addAgent(agentSpec{name: "translator", capabilities: []string{"translation"}, endpoint: agent.srv.URL})

		task := e.submit(SubmitRequest{Capability: "summarization", Input: json.RawMessage(`{"text":"hello"}`)})
		require.Equal(t, storage.TaskSubmitted, task.State)
		require.Equal(t, 2, task.Priority, "default priority")
		require.Equal(t, "10s", task.Timeout)

		done := e.waitState(task.ID, storage.TaskCompleted)
		require.JSONEq(t, `{"text":"hello"}`, string(done.Output))
		require.Equal(t, &AgentRef{ID: a.ID, Name: "summarizer"}, done.AssignedAgent)
		require.Equal(t, 1, done.Attempts)
		require.False(t, done.FinishedAt.IsZero())

		agent.mu.Lock()
		require.Len(t, agent.calls, 1)
		require.Equal(t, dispatch.TaskRequest{TaskID: task.ID, Capability: "summarization", Input: json.RawMessage(`{"text":"hello"}`),
			Attempt: 1, Deadline: agent.calls[0].Deadline}, agent.calls[0])
		agent.mu.Unlock()

		var states []storage.TaskState
		for i, ev := range e.events(task.ID) {
			require.EqualValues(t, i+1, ev.Seq)
			states = append(states, ev.State)
		}
		require.Equal(t, []storage.TaskState{storage.TaskSubmitted, storage.TaskWorking, storage.TaskCompleted}, states)
	})
}

func TestSubmitRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: "http://127.0.0.1:1"})

	tests := []struct {
		name   string
		body   string
		status int
		paths  []string // field paths in the problem's errors
		detail string
	}{
		{"malformed JSON", `{"capability": "summarization",}`, http.StatusBadRequest, nil, "line 1"},
		{"unknown field", `{"capability": "summarization", "colour": "red"}`, http.StatusBadRequest, nil, `"colour"`},
		{"wrong type", `{"capability": "summarization", "priority": "high"}`, http.StatusBadRequest, nil, `"priority"`},
		{"empty body", ``, http.StatusBadRequest, nil, "empty"},
		{"neither capability nor agent", `{"input": {}}`, http.StatusUnprocessableEntity, []string{"capability"}, ""},
		{"every violation at once", `{"capability": "summarization", "timeout": "soon", "priority": 9, "tier": "gold", "max_attempts": 99, "tags": ["ok", " "], "wait_for_agent": "-1s"}`,
			http.StatusUnprocessableEntity, []string{"tier", "tags[1]", "priority", "timeout", "max_attempts", "wait_for_agent"}, ""},
		{"timeout too long", `{"capability": "summarization", "timeout": "2h"}`, http.StatusUnprocessableEntity, []string{"timeout"}, ""},
		{"unknown capability", `{"capability": "astrology"}`, http.StatusUnprocessableEntity, []string{"capability"}, `"astrology"`},
		{"capability with unmet tags", `{"capability": "summarization", "tags": ["gpu"]}`, http.StatusUnprocessableEntity, []string{"capability"}, "tags gpu"},
		{"unknown agent", `{"agent": "nobody"}`, http.StatusUnprocessableEntity, []string{"agent"}, `"nobody"`},
		{"pinned agent lacks capability", `{"agent": "summarizer", "capability": "translation"}`, http.StatusUnprocessableEntity, []string{"agent"}, "does not offer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(e.url+"/api/v1/tasks", "application/json", strings.NewReader(tc.body))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, httpx.ProblemContentType, resp.Header.Get("Content-Type"))
			var p struct {
				httpx.Problem
				Errors []FieldError `json:"errors"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
			require.Contains(t, p.Detail, tc.detail)
			var paths []string
			for _, fe := range p.Errors {
				paths = append(paths, fe.Path)
				require.NotEmpty(t, fe.Message)
			}
			require.ElementsMatch(t, tc.paths, paths)
		})
	}
	list, err := e.client.List(context.Background(), ListOptions{})
	require.NoError(t, err)
	require.Empty(t, list.Tasks, "nothing refused was stored")
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
	ctx := context.Background()

	req := SubmitRequest{Capability: "summarization", Input: json.RawMessage(`{"a": 1, "b": [1, 2]}`)}
	first, err := e.client.Submit(ctx, req, "order-42")
	require.NoError(t, err)
	// The same request, formatted differently, is the same request.
	same := req
	same.Input = json.RawMessage(`{"b":[1,2],"a":1}`)
	again, err := e.client.Submit(ctx, same, "order-42")
	require.NoError(t, err)
	require.Equal(t, first.ID, again.ID)

	resp, err := http.DefaultClient.Do(mustRequest(t, http.MethodPost, e.url+"/api/v1/tasks", `{"capability":"summarization","input":{"a":1,"b":[1,2]}}`,
		map[string]string{IdempotencyKeyHeader: "order-42"}))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "a replay is 200, not 201")
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))

	other := req
	other.Input = json.RawMessage(`{"a": 2}`)
	_, err = e.client.Submit(ctx, other, "order-42")
	require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err))
	require.ErrorContains(t, err, first.ID)

	_, err = e.client.Submit(ctx, SubmitRequest{Capability: "summarization"}, strings.Repeat("k", 256))
	require.Equal(t, http.StatusBadRequest, httpx.StatusCode(err))

	e.waitState(first.ID, storage.TaskCompleted)
	list, err := e.client.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Tasks, 1)
	require.Equal(t, 1, agent.callCount(), "one task, dispatched once")
}

func mustRequest(t *testing.T, method, url, body string, headers map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

// Submissions that arrive together share a transaction. Several with one
// new key race into it: the key's uniqueness fails the shared batch, and the
// group commit then creates each task alone, so that one keyed submission
// creates the task, the others replay it, every unkeyed one gets its own
// task, and none fails.
func TestConcurrentSubmissionsRacingForAKey(t *testing.T) {
	t.Parallel()
	eachDriver(t, func(t *testing.T, driver envOption) {
		e := newEnv(t, driver)
		agent := newFakeAgent(t, nil)
		e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
		ctx := context.Background()
		req := SubmitRequest{Capability: "summarization"}
		const n = 40
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				key := ""
				if i%4 == 0 {
					key = "shared"
				}
				task, err := e.client.Submit(ctx, req, key)
				require.NoError(t, err)
				ids[i] = task.ID
			})
		}
		wg.Wait()
		distinct := map[string]bool{}
		for i, id := range ids {
			if i%4 == 0 {
				require.Equal(t, ids[0], id, "keyed submission %d got the one keyed task", i)
			}
			distinct[id] = true
		}
		require.Len(t, distinct, n-n/4+1, "every unkeyed submission got its own task")
		var all []Task
		for cursor := ""; ; {
			page, err := e.client.List(ctx, ListOptions{Cursor: cursor, Limit: 500})
			require.NoError(t, err)
			all = append(all, page.Tasks...)
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		require.Len(t, all, len(distinct), "nothing more was stored")
	})
}

// An agent answering 5xx or garbage is retried, then the task fails with
// what the agent said.
func TestAgentErrorsAreRetriedThenFail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		detail string
	}{
		{"5xx", func(w http.ResponseWriter) { http.Error(w, "model backend overloaded", http.StatusServiceUnavailable) },
			"status 503: model backend overloaded"},
		{"garbage", func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>oops</html>")) }, "<html>oops</html>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			agent := newFakeAgent(t, func(w http.ResponseWriter, _ *http.Request, _ dispatch.TaskRequest) { tc.answer(w) })
			e.addAgent(agentSpec{name: "flaky", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})

			task := e.submit(SubmitRequest{Capability: "summarization", MaxAttempts: 3})
			failed := e.waitState(task.ID, storage.TaskFailed)
			require.Equal(t, 3, failed.Attempts)
			require.Equal(t, 3, agent.callCount())
			require.Contains(t, failed.Message, "attempt 3 of 3 failed")
			require.Contains(t, failed.Message, tc.detail, "the agent's own words are kept")
			var retries int
			for _, ev := range e.events(task.ID) {
				if strings.Contains(ev.Message, "; retrying") {
					retries++
				}
			}
			require.Equal(t, 2, retries)
		})
	}
}

// A 4xx says retrying cannot help: the task fails after one attempt.
func TestPermanentAgentErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, func(w http.ResponseWriter, _ *http.Request, _ dispatch.TaskRequest) {
		http.Error(w, "input.text is required", http.StatusBadRequest)
	})
	e.addAgent(agentSpec{name: "strict", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
	task := e.submit(SubmitRequest{Capability: "summarization", MaxAttempts: 5})
	failed := e.waitState(task.ID, storage.TaskFailed)
	require.Equal(t, 1, failed.Attempts)
	require.Contains(t, failed.Message, "retrying cannot help")
	require.Contains(t, failed.Message, "input.text is required")
}

// A failed attempt is retried on another agent when there is one.
func TestRetryPrefersAnotherAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := newFakeAgent(t, func(w http.ResponseWriter, _ *http.Request, _ dispatch.TaskRequest) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	good := newFakeAgent(t, nil)
	// The failing agent ranks first: a higher UADP priority.
	badAgent := e.addAgent(agentSpec{name: "bad", capabilities: []string{"summarization"}, endpoint: bad.srv.URL, priority: 100})
	goodAgent := e.addAgent(agentSpec{name: "good", capabilities: []string{"summarization"}, endpoint: good.srv.URL, priority: 1})

	task := e.submit(SubmitRequest{Capability: "summarization", Input: json.RawMessage(`"x"`)})
	done := e.waitState(task.ID, storage.TaskCompleted)
	require.Equal(t, 2, done.Attempts)
	require.Equal(t, goodAgent.ID, done.AssignedAgent.ID)
	require.Equal(t, 1, bad.callCount())
	require.Equal(t, 1, good.callCount())
	stored, err := e.store.Tasks().Get(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, []string{badAgent.ID}, stored.FailedAgents)
}

// An agent that hangs is timed out and the task retried elsewhere.
func TestHangingAgentTimesOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var slow *fakeAgent
	slow = newFakeAgent(t, func(_ http.ResponseWriter, r *http.Request, _ dispatch.TaskRequest) { slow.hang(r) })
	fast := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "slow", capabilities: []string{"summarization"}, endpoint: slow.srv.URL, priority: 100})
	e.addAgent(agentSpec{name: "fast", capabilities: []string{"summarization"}, endpoint: fast.srv.URL, priority: 1})

	task := e.submit(SubmitRequest{Capability: "summarization", Timeout: "200ms"})
	done := e.waitState(task.ID, storage.TaskCompleted)
	require.Equal(t, "fast", done.AssignedAgent.Name)
	var timedOut bool
	for _, ev := range e.events(task.ID) {
		timedOut = timedOut || strings.Contains(ev.Message, "did not finish within the timeout of 200ms")
	}
	require.True(t, timedOut, "the timeout is recorded")
}

// An agent that deregisters mid-task loses the task to another.
func TestAgentDeregisteredMidTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := make(chan struct{}, 1)
	var gone *fakeAgent
	gone = newFakeAgent(t, func(w http.ResponseWriter, r *http.Request, _ dispatch.TaskRequest) {
		started <- struct{}{}
		gone.hang(r)
	})
	other := newFakeAgent(t, nil)
	leaving := e.addAgent(agentSpec{name: "leaving", capabilities: []string{"summarization"}, endpoint: gone.srv.URL, priority: 100})
	e.addAgent(agentSpec{name: "staying", capabilities: []string{"summarization"}, endpoint: other.srv.URL, priority: 1})

	task := e.submit(SubmitRequest{Capability: "summarization", Timeout: "300ms"})
	<-started
	require.NoError(t, e.disco.Delete(context.Background(), leaving.ID))
	done := e.waitState(task.ID, storage.TaskCompleted)
	require.Equal(t, "staying", done.AssignedAgent.Name)
	require.Equal(t, 1, other.callCount())
}

func TestCancelReachesTheAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := make(chan struct{}, 1)
	var agent *fakeAgent
	agent = newFakeAgent(t, func(_ http.ResponseWriter, r *http.Request, _ dispatch.TaskRequest) {
		started <- struct{}{}
		agent.hang(r)
	})
	e.addAgent(agentSpec{name: "busy", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
	task := e.submit(SubmitRequest{Capability: "summarization"})
	<-started

	canceled, err := e.client.Cancel(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, storage.TaskCanceled, canceled.State, "the state changes at once")
	require.Eventually(t, func() bool { return len(agent.canceled()) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the agent is told to stop")
	require.Equal(t, []string{task.ID}, agent.canceled())

	_, err = e.client.Cancel(context.Background(), task.ID)
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err), "a finished task cannot be canceled")
	_, err = e.client.Cancel(context.Background(), "no-such-task")
	require.Equal(t, http.StatusNotFound, httpx.StatusCode(err))

	final := e.waitState(task.ID, storage.TaskCanceled)
	require.Equal(t, 1, final.Attempts)
	stored, err := e.store.Tasks().Get(context.Background(), task.ID)
	require.NoError(t, err)
	require.Empty(t, stored.RunningOn, "a canceled task holds no slot")
}

// A task whose agent asks for input waits for it; the client answers over
// REST and the task goes back to the same agent with the answer.
func TestContinueOverREST(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var inputs []string
	var mu sync.Mutex
	agent := newFakeAgent(t, func(w http.ResponseWriter, _ *http.Request, req dispatch.TaskRequest) {
		mu.Lock()
		inputs = append(inputs, string(req.Input))
		mu.Unlock()
		if !strings.Contains(string(req.Input), "yes") {
			_ = json.NewEncoder(w).Encode(dispatch.TaskResponse{State: dispatch.StateInputRequired, Message: "confirm with yes"})
			return
		}
		completed(w, json.RawMessage(`"deployed"`))
	})
	e.addAgent(agentSpec{name: "careful", capabilities: []string{"deploy"}, endpoint: agent.srv.URL})
	ctx := context.Background()

	task, err := e.client.Submit(ctx, SubmitRequest{Capability: "deploy", Input: json.RawMessage(`{"env": "prod"}`)}, "")
	require.NoError(t, err)
	paused, err := e.client.Watch(ctx, task.ID, nil)
	require.NoError(t, err, "Watch returns at the pause")
	require.Equal(t, storage.TaskInputRequired, paused.State)
	require.Equal(t, "confirm with yes", paused.Message)

	_, err = e.client.Continue(ctx, task.ID, nil)
	require.Equal(t, http.StatusUnprocessableEntity, httpx.StatusCode(err), "an answer needs input: %v", err)
	require.ErrorContains(t, err, "input: required", "%v", err)

	// A second capable agent that routing would prefer: the answer still
	// goes to the agent that asked.
	other := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "other", capabilities: []string{"deploy"}, endpoint: other.srv.URL, priority: 100})
	continued, err := e.client.Continue(ctx, task.ID, json.RawMessage(`{"answer": "yes"}`))
	require.NoError(t, err)
	require.Equal(t, storage.TaskSubmitted, continued.State)
	final, err := e.client.Watch(ctx, task.ID, nil)
	require.NoError(t, err, "Watch passes the earlier pause it replays and follows the task to its end")
	require.Equal(t, storage.TaskCompleted, final.State)
	require.JSONEq(t, `"deployed"`, string(final.Output))
	require.Equal(t, "careful", final.AssignedAgent.Name)
	mu.Lock()
	require.Equal(t, []string{`{"env":"prod"}`, `{"answer":"yes"}`}, inputs, "each attempt got the input of its time")
	mu.Unlock()
	require.Zero(t, other.callCount(), "the other agent never got the task")

	_, err = e.client.Continue(ctx, task.ID, json.RawMessage(`"yes"`))
	require.Equal(t, http.StatusConflict, httpx.StatusCode(err), "a finished task waits for nothing")
	_, err = e.client.Continue(ctx, "no-such-task", json.RawMessage(`"yes"`))
	require.Equal(t, http.StatusNotFound, httpx.StatusCode(err))
}

// A queued task waits for a capable agent when asked to, and fails with a
// clear message when none comes in time.
func TestWaitForAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, nil)

	waiting := e.submit(SubmitRequest{Capability: "ocr", WaitForAgent: "1m"})
	require.Equal(t, storage.TaskSubmitted, waiting.State)
	require.False(t, waiting.WaitForAgentUntil.IsZero())
	expiring := e.submit(SubmitRequest{Capability: "astrology", WaitForAgent: "100ms"})

	failed := e.waitState(expiring.ID, storage.TaskFailed)
	require.Contains(t, failed.Message, `no healthy agent offering capability "astrology" appeared before the wait_for_agent deadline`)
	require.Zero(t, failed.Attempts, "waiting uses no attempts")

	still, err := e.client.Get(context.Background(), waiting.ID)
	require.NoError(t, err)
	require.Equal(t, storage.TaskSubmitted, still.State)
	e.addAgent(agentSpec{name: "ocr", capabilities: []string{"ocr"}, endpoint: agent.srv.URL})
	e.waitState(waiting.ID, storage.TaskCompleted)
}

// An agent at its max_concurrent gets no more tasks; they wait their turn.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	agent := newFakeAgent(t, func(w http.ResponseWriter, r *http.Request, req dispatch.TaskRequest) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		completed(w, req.Input)
	})
	e.addAgent(agentSpec{name: "narrow", capabilities: []string{"summarization"}, endpoint: agent.srv.URL, maxConcurrent: 2})

	var ids []string
	for range 5 {
		ids = append(ids, e.submit(SubmitRequest{Capability: "summarization"}).ID)
	}
	require.Eventually(t, func() bool { return inFlight.Load() == 2 }, 10*time.Second, 5*time.Millisecond)
	counts, err := e.store.Tasks().RunningCounts(context.Background(), []string{e.mustAgentID("narrow")})
	require.NoError(t, err)
	require.Equal(t, 2, counts[e.mustAgentID("narrow")])
	close(release)
	for _, id := range ids {
		e.waitState(id, storage.TaskCompleted)
	}
	require.EqualValues(t, 2, peak.Load(), "never more than max_concurrent at once")
}

func (e *testEnv) mustAgentID(name string) string {
	e.t.Helper()
	a, err := e.svc.finder.Agent(context.Background(), name)
	require.NoError(e.t, err)
	return a.ID
}
