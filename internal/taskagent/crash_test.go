package taskagent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/testenv"
)

const crashAdminKey = "ossa_crash_test_admin_key_0123456789abcdef"

// TestKillNineLosesNoTask runs `ossa serve` on a SQLite file, kills it with
// SIGKILL while tasks run, starts it again, and checks that every accepted
// task ends, that only the tasks in flight at the kill ran twice, and that
// each outcome was recorded once.
func TestKillNineLosesNoTask(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ossa binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "ossa")
	build := exec.Command("go", "build", "-o", bin, "github.com/ossa-platform/ossa/cmd/ossa")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "build ossa")
	db := filepath.Join(t.TempDir(), "ossa.db")

	// The agent does each task in 200ms, at most 4 at a time (its manifest
	// says so), and remembers every dispatch.
	var (
		mu         sync.Mutex
		dispatches = map[string]int{}
		inFlight   int
	)
	agent := newFakeAgent(t, func(w http.ResponseWriter, r *http.Request, req dispatch.TaskRequest) {
		mu.Lock()
		dispatches[req.TaskID]++
		inFlight++
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		select {
		case <-time.After(200 * time.Millisecond):
			completed(w, json.RawMessage(fmt.Sprintf(`{"task": %q}`, req.TaskID)))
		case <-r.Context().Done():
		}
	})

	proc := startOSSA(t, bin, db)
	dc := discovery.NewClient(proc.url, nil, crashAdminKey)
	ctx := context.Background()
	reg, err := dc.Register(ctx, []byte(`ossa: "0.1.8"
kind: Agent
metadata: {name: worker, version: "1.0.0"}
spec:
  conformance_tier: core
  class: nlp
  capabilities: {primary: [crunch]}
  performance: {concurrency: {max_concurrent: 4}}
`), agent.srv.URL, dispatch.ProtocolHTTP)
	require.NoError(t, err)
	_, err = dc.Heartbeat(ctx, reg.Agent.ID, discovery.Heartbeat{})
	require.NoError(t, err)

	const tasks = 24
	client := NewClient(proc.url, nil, crashAdminKey)
	ids := make([]string, tasks)
	for i := range ids {
		task, err := client.Submit(ctx, SubmitRequest{Capability: "crunch", Timeout: "2s", MaxAttempts: 3}, fmt.Sprintf("crash-%d", i))
		require.NoError(t, err)
		ids[i] = task.ID
	}
	// Kill once some tasks are done and others are being worked on.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(dispatches) >= 8 && inFlight > 0
	}, 30*time.Second, 5*time.Millisecond)
	proc.kill(t)
	mu.Lock()
	dispatchedBeforeKill := len(dispatches)
	mu.Unlock()

	proc = startOSSA(t, bin, db)
	client = NewClient(proc.url, nil, crashAdminKey)
	// River's rescuer retries the attempts the killed process was running,
	// once a new leader is elected and the tasks' timeouts have passed.
	require.Eventually(t, func() bool {
		list, err := client.List(ctx, ListOptions{Limit: 500, States: []storage.TaskState{storage.TaskCompleted}})
		return err == nil && len(list.Tasks) == tasks
	}, 90*time.Second, 100*time.Millisecond, "every accepted task completes after the restart")

	mu.Lock()
	defer mu.Unlock()
	var twice int
	for _, id := range ids {
		n := dispatches[id]
		require.GreaterOrEqual(t, n, 1, "task %s never reached the agent", id)
		require.LessOrEqual(t, n, 2, "task %s ran %d times", id, n)
		if n == 2 {
			twice++
		}
		var terminal int
		_, err := client.Events(ctx, id, 0, func(ev Event) error {
			if ev.Final {
				terminal++
			}
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 1, terminal, "task %s: its outcome is recorded once", id)
		task, err := client.Get(ctx, id)
		require.NoError(t, err)
		require.JSONEq(t, fmt.Sprintf(`{"task": %q}`, id), string(task.Output))
	}
	require.LessOrEqual(t, twice, 4, "only the tasks in flight at the kill (max_concurrent 4) run again")
	require.Less(t, dispatchedBeforeKill, tasks+1)
	t.Logf("%d tasks, %d dispatched before the kill, %d ran twice", tasks, dispatchedBeforeKill, twice)
	proc.stop(t)
}

// ossaProcess is a running `ossa serve`.
type ossaProcess struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

var listenAddr = regexp.MustCompile(`"addr":"([^"]+)"`)

// startOSSA runs `ossa serve` on db with short task-service intervals and
// waits until it is ready.
func startOSSA(t *testing.T, bin, db string) *ossaProcess {
	t.Helper()
	cmd := exec.Command(bin, "serve",
		"--http.addr=127.0.0.1:0", "--database-url="+db, "--log.format=json", "--log.level=info",
		"--http.shutdown-delay=0s", "--discovery.probe-interval=0s", "--discovery.heartbeat-ttl=1h",
		"--task-agent.rescue-after=1s", "--task-agent.fetch-poll-interval=100ms", "--task-agent.fetch-cooldown=10ms",
		"--task-agent.retry-base=100ms", "--task-agent.retry-max=500ms", "--task-agent.poll-interval=100ms",
	)
	cmd.Env = append(cleanEnv(), "OSSA_ADMIN_KEY="+crashAdminKey)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	cmd.Stdout = io.Discard
	require.NoError(t, cmd.Start())
	p := &ossaProcess{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listenAddr.FindStringSubmatch(sc.Text()); m != nil && strings.Contains(sc.Text(), "ossa started") {
				addr <- m[1]
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.url = "http://" + a
	case err := <-p.done:
		t.Fatalf("ossa serve exited before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("ossa serve did not start within 60s")
	}
	testenv.WaitReady(t, p.url, 30*time.Second)
	return p
}

// kill sends SIGKILL: no shutdown code runs.
func (p *ossaProcess) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *ossaProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err, "ossa serve exits cleanly on SIGTERM")
	case <-time.After(60 * time.Second):
		t.Fatal("ossa serve did not stop within 60s")
	}
}

// cleanEnv drops OSSA_* variables of the developer's shell.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OSSA_") {
			env = append(env, kv)
		}
	}
	return env
}
