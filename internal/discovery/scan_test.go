package discovery

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/storage"
)

type workspace string

func (w workspace) write(t *testing.T, rel, content string) {
	t.Helper()
	path := filepath.Join(string(w), workspaceDir, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func (w workspace) path(rel string) string { return filepath.Join(string(w), workspaceDir, rel) }

// run starts f's service and stops it when the test ends.
func (f *fixture) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

func (f *fixture) idOf(name string) string {
	id, _ := f.svc.idx.idByName(name, "1.0.0")
	return id
}

func TestWorkspaceScan(t *testing.T) {
	t.Parallel()
	ws := workspace(t.TempDir())
	ws.write(t, "summarizer/agent.yml", spec{name: "summarizer",
		annotations: map[string]string{AnnotationEndpoint: "http://summarizer.local:8080", AnnotationProtocol: "a2a"}}.yaml())
	ws.write(t, "summarizer/README.md", "not a manifest")
	ws.write(t, "team/nested/reviewer/agent.yml", spec{name: "reviewer"}.yaml())
	ws.write(t, "broken/agent.yml", "ossa: [\n")
	ws.write(t, "invalid/agent.yml", "ossa: \"0.1.8\"\nmetadata: {name: invalid}\n")

	cfg := testConfig(t)
	cfg.Scan = string(ws)
	f := newFixture(t, cfg)
	apiID := f.register(t, spec{name: "from-api"}.yaml(), "")
	f.run(t)

	eventually(t, "workspace agents registered", func() bool { return f.idOf("summarizer") != "" && f.idOf("reviewer") != "" })
	summarizer := f.idOf("summarizer")
	a, err := f.svc.Get(t.Context(), summarizer)
	require.NoError(t, err)
	require.Equal(t, "http://summarizer.local:8080", a.Endpoint)
	require.Equal(t, ProtocolA2A, a.Protocol)
	require.Len(t, f.snapshot(t), 3, "broken and invalid files are skipped")

	// A changed file updates its agent in place.
	ws.write(t, "summarizer/agent.yml", spec{name: "summarizer", caps: []string{"summarization", "translation"}}.yaml())
	eventually(t, "summarizer updated", func() bool {
		got := f.svc.Discover(t.Context(), Query{Capabilities: []string{"translation"}, IncludeUnhealthy: true})
		return len(got) == 1 && got[0].ID == summarizer
	})

	// New directories are watched; a fixed file registers.
	ws.write(t, "late/deeper/agent.yml", spec{name: "late"}.yaml())
	ws.write(t, "broken/agent.yml", spec{name: "fixed"}.yaml())
	eventually(t, "late and fixed registered", func() bool { return f.idOf("late") != "" && f.idOf("fixed") != "" })

	// An invalid edit leaves the earlier registration in place. The removal
	// of late, made after it, proves the edit has been scanned.
	reviewer := f.idOf("reviewer")
	ws.write(t, "team/nested/reviewer/agent.yml", "ossa: \"0.1.8\"\nmetadata: {name: reviewer}\n")
	require.NoError(t, os.RemoveAll(ws.path("late")))
	eventually(t, "late deregistered", func() bool { return f.idOf("late") == "" })
	require.Equal(t, reviewer, f.idOf("reviewer"))

	// A renamed directory keeps the agent's ID.
	require.NoError(t, os.Rename(ws.path("summarizer"), ws.path("summarizer-renamed")))
	ws.write(t, "marker/agent.yml", spec{name: "marker"}.yaml())
	eventually(t, "rename scanned", func() bool { return f.idOf("marker") != "" })
	require.Equal(t, summarizer, f.idOf("summarizer"))

	// A removed file deregisters its agent; agents registered through the
	// API are not the scan's to remove.
	require.NoError(t, os.RemoveAll(ws.path("team")))
	eventually(t, "reviewer deregistered", func() bool { return f.idOf("reviewer") == "" })
	_, err = f.store.Get(t.Context(), reviewer)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = f.svc.Get(t.Context(), apiID)
	require.NoError(t, err)
}

// TestWorkspaceScanAdoptsOnRestart checks that a second run over the same
// store and workspace updates the agents the first registered instead of
// failing on their names.
func TestWorkspaceScanAdoptsOnRestart(t *testing.T) {
	t.Parallel()
	ws := workspace(t.TempDir())
	ws.write(t, "one/agent.yml", spec{name: "one"}.yaml())
	ws.write(t, "z-dup/agent.yml", spec{name: "one"}.yaml()) // same name and version, later path: skipped
	cfg := testConfig(t)
	cfg.Scan = string(ws)
	store := &countingStore{AgentStore: newStore(t)}

	first := newFixtureOn(t, cfg, store)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- first.svc.Run(ctx) }()
	eventually(t, "first run registers", func() bool { return first.idOf("one") != "" })
	id := first.idOf("one")
	cancel()
	require.NoError(t, <-done)

	ws.write(t, "one/agent.yml", spec{name: "one", caps: []string{"new-skill"}}.yaml())
	second := newFixtureOn(t, cfg, store)
	second.run(t)
	eventually(t, "second run adopts", func() bool {
		got := second.svc.Discover(t.Context(), Query{Capabilities: []string{"new-skill"}, IncludeUnhealthy: true})
		return len(got) == 1 && got[0].ID == id
	})
	require.Len(t, second.snapshot(t), 1)
}

func TestNewRejectsMissingScanDir(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Scan = filepath.Join(t.TempDir(), "absent")
	_, err := New(t.Context(), cfg, Deps{Agents: newStore(t)})
	require.ErrorContains(t, err, "scan directory")
}
