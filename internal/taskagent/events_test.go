package taskagent

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
)

// The stream replays history, follows live events, ends after the terminal
// one, and resumes after Last-Event-ID.
func TestEventStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	task := e.submit(SubmitRequest{Capability: "ocr"})

	got := make(chan []Event, 1)
	go func() {
		var evs []Event
		final, err := e.client.Watch(ctx, task.ID, func(ev Event) error { evs = append(evs, ev); return nil })
		if err != nil || final.State != storage.TaskCompleted {
			t.Errorf("watch: %v, %+v", err, final)
		}
		got <- evs
	}()
	claimed, err := e.client.Claim(ctx, ClaimRequest{AgentID: agent.ID, Wait: "10s"})
	require.NoError(t, err)
	_, err = e.client.Complete(ctx, claimed.ID, CompleteRequest{Artifacts: []dispatch.Artifact{{Name: "a.txt", Text: "a"}}})
	require.NoError(t, err)

	evs := <-got
	var kinds []string
	for i, ev := range evs {
		require.EqualValues(t, i+1, ev.Seq, "every event, in order, once")
		require.Equal(t, task.ID, ev.TaskID)
		kinds = append(kinds, string(ev.Kind)+":"+string(ev.State))
	}
	require.Equal(t, []string{"status:submitted", "status:submitted", "status:working", "artifact:working", "status:completed"}, kinds)
	require.True(t, evs[len(evs)-1].Final)
	require.Equal(t, &dispatch.Artifact{Name: "a.txt", Text: "a"}, evs[3].Artifact)

	// Resuming after seq 3 replays the rest, then the stream ends.
	var resumed []int64
	last, err := e.client.Events(ctx, task.ID, 3, func(ev Event) error { resumed = append(resumed, ev.Seq); return nil })
	require.NoError(t, err)
	require.Equal(t, []int64{4, 5}, resumed)
	require.EqualValues(t, 5, last)

	// The wire format: SSE ids and event types.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/api/v1/tasks/"+task.ID+"/events?after=4", nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	require.Len(t, lines, 4)
	require.Equal(t, "id: 5", lines[0])
	require.Equal(t, "event: status", lines[1])
	require.True(t, strings.HasPrefix(lines[2], "data: "))
	var ev Event
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(lines[2], "data: ")), &ev))
	require.Equal(t, storage.TaskCompleted, ev.State)

	for _, bad := range []string{"?after=-1", "?after=x"} {
		resp, err := http.Get(e.url + "/api/v1/tasks/" + task.ID + "/events" + bad)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, bad)
	}
	resp, err = http.Get(e.url + "/api/v1/tasks/no-such-task/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// Draining the service ends open streams, so the HTTP server can stop.
func TestDrainEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
	task := e.submit(SubmitRequest{Capability: "ocr"})
	ended := make(chan error, 1)
	opened := make(chan struct{})
	go func() {
		_, err := e.client.Events(context.Background(), task.ID, 0, func(ev Event) error {
			if ev.Seq == 1 {
				close(opened)
			}
			return nil
		})
		ended <- err
	}()
	<-opened
	e.svc.BeginDrain()
	select {
	case err := <-ended:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end on drain")
	}
}

func TestListTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})
	e.addAgent(agentSpec{name: "puller", capabilities: []string{"ocr"}})
	ctx := context.Background()
	var done []string
	for range 3 {
		id := e.submit(SubmitRequest{Capability: "summarization"}).ID
		e.waitState(id, storage.TaskCompleted)
		done = append(done, id)
	}
	waiting := e.submit(SubmitRequest{Capability: "ocr"}).ID

	all, err := e.client.List(ctx, ListOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{waiting, done[2], done[1], done[0]}, taskIDs(all.Tasks), "newest first")

	page, err := e.client.List(ctx, ListOptions{States: []storage.TaskState{storage.TaskCompleted}, Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{done[2], done[1]}, taskIDs(page.Tasks))
	page, err = e.client.List(ctx, ListOptions{States: []storage.TaskState{storage.TaskCompleted}, Limit: 2, Cursor: page.NextCursor})
	require.NoError(t, err)
	require.Equal(t, []string{done[0]}, taskIDs(page.Tasks))
	require.Empty(t, page.NextCursor)

	byAgent, err := e.client.List(ctx, ListOptions{Agent: "summarizer"})
	require.NoError(t, err)
	require.Len(t, byAgent.Tasks, 3)
	byCap, err := e.client.List(ctx, ListOptions{Capability: "ocr"})
	require.NoError(t, err)
	require.Equal(t, []string{waiting}, taskIDs(byCap.Tasks))

	for _, q := range []string{"state=paused", "limit=0", "limit=x", "cursor=%25%25", "colour=red"} {
		resp, err := http.Get(e.url + "/api/v1/tasks?" + q)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
	}
	for _, path := range []string{"/api/v1/tasks/" + waiting + ":explode", "/api/v1/tasks/" + waiting} {
		resp, err := http.Post(e.url+path, "application/json", strings.NewReader(`{}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
	_, err = e.client.Get(ctx, "no-such-task")
	require.ErrorContains(t, err, "404")
}

func taskIDs(ts []Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// In split mode the service finds agents through discovery's HTTP API.
func TestRemoteDiscovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withRemoteDiscovery())
	agent := newFakeAgent(t, nil)
	e.addAgent(agentSpec{name: "summarizer", capabilities: []string{"summarization"}, endpoint: agent.srv.URL})

	task := e.submit(SubmitRequest{Capability: "summarization"})
	e.waitState(task.ID, storage.TaskCompleted)
	pinned := e.submit(SubmitRequest{Agent: "summarizer"})
	done := e.waitState(pinned.ID, storage.TaskCompleted)
	require.Equal(t, "summarizer", done.AssignedAgent.Name)

	_, err := e.client.Submit(context.Background(), SubmitRequest{Capability: "ocr"}, "")
	require.ErrorContains(t, err, `no healthy agent offers capability "ocr"`)
	_, err = e.client.Submit(context.Background(), SubmitRequest{Agent: "nobody"}, "")
	require.ErrorContains(t, err, `no agent is registered with the ID or name "nobody"`)
}
