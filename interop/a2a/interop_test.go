// Package interop checks that ossa's A2A implementation interoperates with
// the official A2A JavaScript SDK (@a2a-js/sdk), at 1.3.0 (protocol v1.0,
// with its v0.3 compat transport) and 0.3.14 (protocol v0.3), both ways:
//
//   - their clients (client-v1.mjs, client-v03.mjs) against an agentsdk
//     agent and against the platform's own /a2a endpoint;
//   - ossa's dispatcher against their servers (server-v1.mjs,
//     server-v03.mjs), streaming and polling.
//
// It needs node and the SDKs (npm ci --prefix interop/a2a). Without them it
// skips, unless OSSA_TEST_A2A_INTEROP=1 (as CI sets), when it fails.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/app"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/pkg/agentsdk"
)

// EnvForce makes a missing node or node_modules a failure instead of a skip.
const EnvForce = "OSSA_TEST_A2A_INTEROP"

// scriptTimeout bounds one client script run; the whole test takes a few
// seconds.
const scriptTimeout = 20 * time.Second

// requireNode returns the path of node, skipping the test (or failing it,
// when EnvForce is 1) when node or the SDKs are missing.
func requireNode(t *testing.T) string {
	t.Helper()
	forced := os.Getenv(EnvForce) == "1"
	missing := func(what string) {
		t.Helper()
		if forced {
			t.Fatalf("%s=1 but %s; install Node.js (>= 18) and run `npm ci --prefix interop/a2a` from the repository root", EnvForce, what)
		}
		t.Skipf("A2A interop check skipped: %s. Run `npm ci --prefix interop/a2a` (needs Node.js >= 18); set %s=1 to make this a failure", what, EnvForce)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not on PATH")
	}
	for _, pkg := range []string{"a2a-v1", "a2a-v03", "express"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			missing("interop/a2a/node_modules/" + pkg + " is not installed")
		}
	}
	return node
}

func TestA2AInterop(t *testing.T) {
	node := requireNode(t)

	t.Run("TheirClientsToAgentSDK", func(t *testing.T) {
		t.Parallel()
		base := startEchoAgent(t)
		runScripts(t, node, [][]string{
			{"client-v1.mjs", "--base", base, "--mode", "v1"},
			{"client-v1.mjs", "--base", base, "--mode", "v03"},
			{"client-v03.mjs", "--base", base},
		})
	})

	t.Run("TheirClientsToPlatform", func(t *testing.T) {
		t.Parallel()
		base, key := startPlatform(t)
		common := []string{"--base", base, "--token", key, "--capability", "echo", "--platform"}
		runScripts(t, node, [][]string{
			append([]string{"client-v1.mjs", "--mode", "v1"}, common...),
			append([]string{"client-v1.mjs", "--mode", "v03"}, common...),
			append([]string{"client-v03.mjs"}, common...),
		})
	})

	for _, script := range []string{"server-v1.mjs", "server-v03.mjs"} {
		for _, streaming := range []bool{true, false} {
			name := strings.TrimSuffix(script, ".mjs") + map[bool]string{true: "/streaming", false: "/polling"}[streaming]
			t.Run("DispatcherTo/"+name, func(t *testing.T) {
				t.Parallel()
				testDispatcherAgainst(t, startJSServer(t, node, script, streaming), streaming)
			})
		}
	}
}

// runScripts runs client scripts in parallel; each must exit 0.
func runScripts(t *testing.T, node string, runs [][]string) {
	t.Helper()
	for _, args := range runs {
		name := strings.TrimSuffix(args[0], ".mjs")
		if mode := modeOf(args); mode != "" {
			name += "/" + mode
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), scriptTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, args...)
			cmd.WaitDelay = time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			t.Logf("%s", bytes.TrimSpace(out))
		})
	}
}

func modeOf(args []string) string {
	for i, a := range args {
		if a == "--mode" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

const echoManifest = `
ossa: "0.1.8"
kind: Agent
metadata:
  name: echo
  version: "1.0.0"
  description: Echoes its input.
spec:
  conformance_tier: core
  class: general
  capabilities:
    primary: [echo]
  protocols:
    - {name: a2a, version: "1.0", required: true}
  endpoints:
    health: /healthz
`

// streamDelay is how long the echo agent takes over inputs that mention
// "streamed": the client scripts' streaming calls. A task that finishes
// before the server subscribes to it is streamed as one event, the finished
// task, which is valid but would leave the status and artifact events
// unchecked; the delay makes the stream carry them every time.
const streamDelay = 300 * time.Millisecond

// newEchoAgent is an agentsdk agent whose output is its input.
func newEchoAgent(t *testing.T, opts ...agentsdk.Option) *agentsdk.Agent {
	t.Helper()
	a, err := agentsdk.New([]byte(echoManifest), func(ctx context.Context, task *agentsdk.Task) (any, error) {
		if strings.Contains(string(task.Input), "streamed") {
			timer := time.NewTimer(streamDelay)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return task.Input, nil
	}, append([]agentsdk.Option{agentsdk.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	require.NoError(t, err)
	return a
}

// serveAgent serves a on a test server until the test ends.
func serveAgent(t *testing.T, a *agentsdk.Agent, srv *httptest.Server) {
	t.Helper()
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, a.Shutdown(ctx))
	})
}

// startEchoAgent serves an echo agent and returns its base URL.
func startEchoAgent(t *testing.T) string {
	t.Helper()
	a := newEchoAgent(t)
	srv := httptest.NewServer(a)
	serveAgent(t, a, srv)
	return srv.URL
}

// testAdminKey seeds the platform's first admin (OSSA_ADMIN_KEY).
const testAdminKey = "ossa_interop_admin_key_0123456789abcdefghij"

// startPlatform runs the whole platform in process on SQLite, registers an
// echo agent (dispatched over A2A) and returns the platform's base URL and
// a key for its /a2a endpoint once the agent is routable.
func startPlatform(t *testing.T) (base, key string) {
	t.Helper()
	var cfg config.Config
	fs := pflag.NewFlagSet("interop", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	require.NoError(t, cfg.Load(fs, "", nil))
	cfg.Database.URL = filepath.Join(t.TempDir(), "ossa.db")
	cfg.Auth.AdminKey = testAdminKey
	cfg.HTTP.ShutdownDelay = 0
	cfg.Discovery.ProbeInterval = 0
	require.NoError(t, cfg.Validate())
	platform, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- platform.Run(ctx, ln) }()
	base = "http://" + ln.Addr().String()

	// The agent: served first, so that its cleanup (LIFO) runs after the
	// registration has stopped and before the platform stops.
	srv := httptest.NewUnstartedServer(nil)
	a := newEchoAgent(t, agentsdk.WithPublicURL("http://"+srv.Listener.Addr().String()), agentsdk.WithProtocol(dispatch.ProtocolA2A),
		agentsdk.WithHeartbeatInterval(time.Second))
	srv.Config.Handler = a
	srv.Start()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("platform did not stop within 20s")
		}
	})
	serveAgent(t, a, srv)
	regCtx, stopReg := context.WithCancel(context.Background())
	registered := make(chan error, 1)
	go func() { registered <- a.Register(regCtx, base, testAdminKey) }()
	t.Cleanup(func() {
		stopReg()
		require.NoError(t, <-registered)
	})

	// Routable once the platform's card offers the agent's capability.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var card struct{ Skills []struct{ ID string } }
		resp, err := http.Get(base + "/.well-known/agent-card.json")
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				err = json.NewDecoder(resp.Body).Decode(&card)
			}
			resp.Body.Close()
		}
		if err == nil && len(card.Skills) == 1 && card.Skills[0].ID == "echo" {
			break
		}
		select {
		case err := <-registered:
			t.Fatalf("agent registration ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the platform's agent card did not offer capability echo within 10s (last: %+v, %v)", card, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base, testAdminKey
}

// jsServer is a server script running under node.
type jsServer struct {
	base string

	mu     sync.Mutex
	lines  []string
	notify chan struct{} // a token after each new line
}

var listeningRE = regexp.MustCompile(`^listening (\d+)$`)

// startJSServer starts a server script on a free port and waits until it
// listens. It is stopped (stdin closed, then killed) when the test ends.
func startJSServer(t *testing.T, node, script string, streaming bool) *jsServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{script, "--port", "0"}
	if streaming {
		args = append(args, "--stream")
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.WaitDelay = 2 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe() // the script exits when it closes
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	s := &jsServer{notify: make(chan struct{}, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		exited := make(chan error, 1)
		go func() {
			<-scanned // Wait must not run before the pipe's reads are done
			exited <- cmd.Wait()
		}()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cancel() // kills node
			<-exited
		}
		cancel()
		if t.Failed() {
			t.Logf("%s stdout:\n%s\nstderr:\n%s", script, strings.Join(s.snapshot(), "\n"), stderr.String())
		}
	})
	line, ok := s.waitFor(func(l string) bool { return listeningRE.MatchString(l) }, 10*time.Second)
	if !ok {
		t.Fatalf("%s did not print %q within 10s; stderr:\n%s", script, "listening PORT", stderr.String())
	}
	s.base = "http://127.0.0.1:" + listeningRE.FindStringSubmatch(line)[1]
	return s
}

func (s *jsServer) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// waitFor returns the first log line match accepts, waiting up to d.
func (s *jsServer) waitFor(match func(string) bool, d time.Duration) (string, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		for _, l := range s.snapshot() {
			if match(l) {
				return l, true
			}
		}
		select {
		case <-s.notify:
		case <-timer.C:
			return "", false
		}
	}
}

// executed is the message the server logged for its task id.
func (s *jsServer) executed(t *testing.T, id string) map[string]any {
	t.Helper()
	line, ok := s.waitFor(func(l string) bool { return strings.HasPrefix(l, "execute "+id+" ") }, 5*time.Second)
	require.True(t, ok, "the server logged no execution of task %s:\n%s", id, strings.Join(s.snapshot(), "\n"))
	var msg map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "execute "+id+" ")), &msg))
	return msg
}

// testDispatcherAgainst runs tasks on a JS server with ossa's dispatcher.
func testDispatcherAgainst(t *testing.T, s *jsServer, streaming bool) {
	d := dispatch.New(nil, dispatch.WithPollInterval(5*time.Millisecond, 50*time.Millisecond))
	agent := storage.Agent{ID: "js-echo", Protocol: dispatch.ProtocolA2A, Endpoint: s.base + "/a2a"}
	req := func(id, input string) dispatch.Request {
		return dispatch.Request{TaskID: id, Capability: "echo", Input: json.RawMessage(input), Attempt: 1, Agent: agent}
	}

	for _, tc := range []struct{ name, input string }{
		{"data", `{"a": 1, "list": [true, "x"], "nested": {"b": null}}`},
		{"text", `"hello, js"`},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		updates := make(chan dispatch.Update, 64)
		res, err := d.Dispatch(ctx, req("task-"+tc.name, tc.input), updates)
		cancel()
		require.NoError(t, err, tc.name)
		require.Equal(t, dispatch.StateCompleted, res.State, tc.name)
		require.JSONEq(t, tc.input, string(res.Output), "%s: the output is the input, echoed", tc.name)
		require.NotEmpty(t, res.RemoteID, tc.name)
		require.Len(t, res.Artifacts, 1, tc.name)
		require.Equal(t, "output", res.Artifacts[0].Name, tc.name)

		// What their server received: the input and the platform's metadata.
		msg := s.executed(t, res.RemoteID)
		require.Contains(t, mustJSON(t, msg["metadata"]), `"capability":"echo"`, "%s: metadata.ossa reaches the agent", tc.name)
		require.Contains(t, mustJSON(t, msg["metadata"]), `"taskId":"task-`+tc.name+`"`, tc.name)

		close(updates)
		var states []dispatch.State
		for u := range updates {
			if u.State != "" {
				states = append(states, u.State)
			}
		}
		require.NotEmpty(t, states, "%s: progress updates", tc.name)
		require.Equal(t, dispatch.StateCompleted, states[len(states)-1], "%s: updates end completed: %v", tc.name, states)
		if streaming {
			require.Contains(t, states, dispatch.State("working"), "%s: streamed updates: %v", tc.name, states)
		}
	}

	// A task still running at the deadline is canceled on their server.
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	start := time.Now()
	_, err := d.Dispatch(ctx, req("task-slow", `"slow"`), nil)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 8*time.Second, "the dispatcher returns soon after the deadline")
	line, ok := s.waitFor(func(l string) bool { return strings.HasPrefix(l, "execute ") && strings.Contains(l, `"slow"`) }, 5*time.Second)
	require.True(t, ok, "their server never ran the slow task")
	id := strings.Fields(line)[1]
	_, ok = s.waitFor(func(l string) bool { return l == "cancelTask "+id }, 5*time.Second)
	require.True(t, ok, "the dispatcher's CancelTask for %s did not reach their server:\n%s", id, strings.Join(s.snapshot(), "\n"))
	_, ok = s.waitFor(func(l string) bool { return l == "canceled "+id }, 5*time.Second)
	require.True(t, ok, "their executor did not stop task %s", id)

	// Cancel of a task their server has finished, or never had, is done.
	require.NoError(t, d.Cancel(t.Context(), agent, "task-data", firstExecuted(t, s)))
	require.NoError(t, d.Cancel(t.Context(), agent, "task-x", "no-such-task"))
}

// firstExecuted is the id of the first task the server ran.
func firstExecuted(t *testing.T, s *jsServer) string {
	t.Helper()
	line, ok := s.waitFor(func(l string) bool { return strings.HasPrefix(l, "execute ") }, time.Second)
	require.True(t, ok)
	return strings.Fields(line)[1]
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
