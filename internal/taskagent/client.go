package taskagent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Client is the typed client of the task API, used by the CLI, by agents in
// pull mode and by tests. Errors from the API are *httpx.APIError (wrapped);
// httpx.StatusCode reads the status.
type Client struct {
	http httpx.Client
}

// NewClient returns a client for the API at baseURL (the gateway, or the
// task service itself). hc nil means http.DefaultClient, which suits
// streams and long polls; a client with a Timeout cuts them short.
func NewClient(baseURL string, hc *http.Client, apiKey string) *Client {
	return &Client{http: httpx.Client{BaseURL: baseURL, HTTP: hc, APIKey: apiKey}}
}

// ListOptions filter a List call; zero fields do not filter.
type ListOptions struct {
	States     []storage.TaskState
	Capability string
	// Agent is the agent of the current or last attempt, by ID or name.
	Agent  string
	Cursor string
	Limit  int
}

// Submit submits a task. With an idempotency key, a retry of the same
// request returns the same task.
func (c *Client) Submit(ctx context.Context, req SubmitRequest, idempotencyKey string) (*Task, error) {
	hc := c.http
	if idempotencyKey != "" {
		hc.Header = maps.Clone(hc.Header)
		if hc.Header == nil {
			hc.Header = http.Header{}
		}
		hc.Header.Set(IdempotencyKeyHeader, idempotencyKey)
	}
	var out Task
	if err := hc.Do(ctx, http.MethodPost, "/api/v1/tasks", req, &out); err != nil {
		return nil, fmt.Errorf("submit task: %w", err)
	}
	return &out, nil
}

// Get returns a task.
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	var out Task
	if err := c.http.Do(ctx, http.MethodGet, taskPath(id), nil, &out); err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return &out, nil
}

// List returns one page of tasks, newest first.
func (c *Client) List(ctx context.Context, opts ListOptions) (*TaskList, error) {
	q := url.Values{}
	if len(opts.States) > 0 {
		states := make([]string, len(opts.States))
		for i, s := range opts.States {
			states[i] = string(s)
		}
		q.Set("state", strings.Join(states, ","))
	}
	for k, v := range map[string]string{"capability": opts.Capability, "agent": opts.Agent, "cursor": opts.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	path := "/api/v1/tasks"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out TaskList
	if err := c.http.Do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return &out, nil
}

// Cancel cancels a live task.
func (c *Client) Cancel(ctx context.Context, id string) (*Task, error) {
	var out Task
	if err := c.http.Do(ctx, http.MethodPost, taskPath(id)+":cancel", nil, &out); err != nil {
		return nil, fmt.Errorf("cancel task %s: %w", id, err)
	}
	return &out, nil
}

// Continue answers a task that waits for its client (input-required or
// auth-required) with new input: the task goes back to the agent that asked.
func (c *Client) Continue(ctx context.Context, id string, input json.RawMessage) (*Task, error) {
	var out Task
	if err := c.http.Do(ctx, http.MethodPost, taskPath(id)+":continue", ContinueRequest{Input: input}, &out); err != nil {
		return nil, fmt.Errorf("continue task %s: %w", id, err)
	}
	return &out, nil
}

// Events streams the task's events after seq after to fn, until the stream
// ends (after the event that makes the task terminal, or when the server
// closes it) or fn returns an error, which Events returns. It returns the
// last sequence number seen, for resuming.
func (c *Client) Events(ctx context.Context, id string, after int64, fn func(Event) error) (int64, error) {
	hc := c.http
	hc.Header = maps.Clone(hc.Header)
	if hc.Header == nil {
		hc.Header = http.Header{}
	}
	hc.Header.Set("Accept", "text/event-stream")
	if after > 0 {
		hc.Header.Set("Last-Event-ID", strconv.FormatInt(after, 10))
	}
	resp, err := hc.Send(ctx, http.MethodGet, taskPath(id)+"/events", "", nil)
	if err != nil {
		return after, fmt.Errorf("stream task %s: %w", id, err)
	}
	defer resp.Body.Close()
	err = readSSE(resp.Body, func(data []byte) error {
		var ev Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		after = ev.Seq
		return fn(ev)
	})
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return after, err
}

// errPaused stops Watch's stream at a status event that asks the client
// for something.
var errPaused = errors.New("the task waits for its client")

// Watch streams the task's events to fn (fn may be nil) until the task is
// terminal or waits for its client (input-required, auth-required),
// resuming after dropped connections, and returns the task as it then is.
func (c *Client) Watch(ctx context.Context, id string, fn func(Event) error) (*Task, error) {
	var after int64
	for {
		var final bool
		var err error
		after, err = c.Events(ctx, id, after, func(ev Event) error {
			final = final || ev.Final
			if fn != nil {
				if err := fn(ev); err != nil {
					return err
				}
			}
			if ev.Kind == storage.TaskEventStatus && ev.State.Interrupted() {
				return errPaused
			}
			return nil
		})
		if final {
			return c.Get(ctx, id)
		}
		if errors.Is(err, errPaused) {
			// The pause may be history the stream replayed: stop only if
			// the task still waits.
			t, err := c.Get(ctx, id)
			if err != nil || t.State.Interrupted() || t.State.Terminal() {
				return t, err
			}
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if httpx.StatusCode(err) >= 400 && httpx.StatusCode(err) < 500 {
			return nil, err
		}
		// The server closed the stream (it restarted, or a proxy cut it):
		// resume where it stopped, after a pause.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Claim asks for a task offered to the pull-mode agent; nil means none came
// within req.Wait.
func (c *Client) Claim(ctx context.Context, req ClaimRequest) (*Task, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	resp, err := c.http.Send(ctx, http.MethodPost, "/api/v1/tasks:claim", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var out Task
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("claim: decode response: %w", err)
	}
	return &out, nil
}

// Complete reports the outcome of a claimed task.
func (c *Client) Complete(ctx context.Context, id string, req CompleteRequest) (*Task, error) {
	var out Task
	if err := c.http.Do(ctx, http.MethodPost, taskPath(id)+":complete", req, &out); err != nil {
		return nil, fmt.Errorf("complete task %s: %w", id, err)
	}
	return &out, nil
}

// Fail reports that a claimed task failed.
func (c *Client) Fail(ctx context.Context, id string, req FailRequest) (*Task, error) {
	var out Task
	if err := c.http.Do(ctx, http.MethodPost, taskPath(id)+":fail", req, &out); err != nil {
		return nil, fmt.Errorf("fail task %s: %w", id, err)
	}
	return &out, nil
}

// Heartbeat extends the lease on a claimed task. A 409 means the task is no
// longer the agent's (canceled, finished, lease lost): stop working on it.
func (c *Client) Heartbeat(ctx context.Context, id string, req HeartbeatRequest) (*Lease, error) {
	var out Lease
	if err := c.http.Do(ctx, http.MethodPost, taskPath(id)+":heartbeat", req, &out); err != nil {
		return nil, fmt.Errorf("heartbeat task %s: %w", id, err)
	}
	return &out, nil
}

func taskPath(id string) string { return "/api/v1/tasks/" + url.PathEscape(id) }

// readSSE calls fn with the data of each Server-Sent Event on r, until r
// ends or fn fails. Comments, ids and event types are skipped: the data
// carries everything the client needs.
func readSSE(r io.Reader, fn func(data []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				if err := fn([]byte(strings.Join(data, "\n"))); err != nil {
					return err
				}
				data = data[:0]
			}
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read event stream: %w", err)
	}
	return nil
}
