package discovery

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Workspace scan conventions (UADP).
const (
	workspaceDir     = ".agents"
	manifestFileName = "agent.yml"
	// AnnotationEndpoint and AnnotationProtocol in metadata.annotations say
	// where and how to reach a workspace agent, since a manifest file has no
	// registration request around it.
	AnnotationEndpoint = "ossa.io/endpoint"
	AnnotationProtocol = "ossa.io/protocol"
	// scanDebounce lets a burst of file events (an editor's save, a git
	// checkout) settle into one rescan.
	scanDebounce = 100 * time.Millisecond
)

// scanned is what the scanner knows about one manifest file.
type scanned struct {
	hash [sha256.Size]byte
	// id is the agent registered from the file; empty if it never was valid.
	id string
}

// scanner registers the manifests of a UADP workspace, DIR/.agents/**/agent.yml,
// and follows their changes: new and changed files register or update their
// agent; removed files deregister it. An invalid file is logged with its
// diagnostics and skipped, leaving any agent registered from an earlier
// version of it in place. fsnotify does not watch recursively, so the scanner
// watches DIR and every directory under .agents, and answers any event with
// a debounced full rescan, which also catches files created in a directory
// before its watch was added.
//
// The scanner runs in one goroutine and owns all its fields.
type scanner struct {
	svc     *Service
	root    string
	agents  string // root/.agents
	watcher *fsnotify.Watcher
	watched map[string]bool
	files   map[string]scanned
	log     *slog.Logger
}

func newScanner(svc *Service, root string) (*scanner, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	sc := &scanner{
		svc:     svc,
		root:    root,
		agents:  filepath.Join(root, workspaceDir),
		watcher: w,
		watched: map[string]bool{},
		files:   map[string]scanned{},
		log:     svc.log.With("scan_dir", root),
	}
	if err := sc.watch(root); err != nil {
		_ = w.Close()
		return nil, err
	}
	return sc, nil
}

// run scans once, then rescans after changes until ctx is done.
func (sc *scanner) run(ctx context.Context) {
	defer sc.watcher.Close()
	sc.rescan(ctx)
	debounce := time.NewTimer(scanDebounce)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sc.watcher.Events:
			if !ok {
				return
			}
			if sc.relevant(ev.Name) {
				debounce.Reset(scanDebounce)
			}
		case err, ok := <-sc.watcher.Errors:
			if !ok {
				return
			}
			// Typically an event queue overflow: events were lost, so rescan.
			sc.log.Warn("workspace watch error", "err", err)
			debounce.Reset(scanDebounce)
		case <-debounce.C:
			sc.rescan(ctx)
		}
	}
}

// relevant reports whether an event at path can affect the workspace.
func (sc *scanner) relevant(path string) bool {
	return path == sc.agents || strings.HasPrefix(path, sc.agents+string(filepath.Separator))
}

func (sc *scanner) watch(dir string) error {
	if sc.watched[dir] {
		return nil
	}
	if err := sc.watcher.Add(dir); err != nil {
		return err
	}
	sc.watched[dir] = true
	return nil
}

// rescan walks the workspace and reconciles the registry with it.
func (sc *scanner) rescan(ctx context.Context) {
	found := map[string][]byte{}
	dirs := map[string]bool{sc.root: true}
	err := filepath.WalkDir(sc.agents, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == sc.agents && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // no workspace yet; the root watch sees it appear
			}
			sc.log.Warn("workspace scan: cannot read", "path", path, "err", err)
			return nil
		}
		if d.IsDir() {
			dirs[path] = true
			if err := sc.watch(path); err != nil {
				sc.log.Warn("workspace scan: cannot watch directory", "path", path, "err", err)
			}
			return nil
		}
		if d.Name() != manifestFileName || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			sc.log.Warn("workspace scan: cannot read manifest", "path", path, "err", err)
			return nil
		}
		found[path] = data
		return nil
	})
	if err != nil {
		sc.log.Warn("workspace scan failed", "err", err)
		return
	}
	for dir := range sc.watched {
		if !dirs[dir] {
			// The kernel drops a deleted directory's watch by itself.
			_ = sc.watcher.Remove(dir)
			delete(sc.watched, dir)
		}
	}
	// Removed files first: their agents become orphans that a file found
	// under a new path (a rename) can adopt; the rest are deregistered.
	orphans := map[string]string{}
	for path, prev := range sc.files {
		if _, ok := found[path]; !ok {
			delete(sc.files, path)
			if prev.id != "" {
				orphans[prev.id] = path
			}
		}
	}
	// Path order makes the outcome deterministic when two files declare the
	// same name and version: the first one wins.
	for _, path := range slices.Sorted(maps.Keys(found)) {
		if ctx.Err() != nil {
			return
		}
		data := found[path]
		prev, known := sc.files[path]
		hash := sha256.Sum256(data)
		if known && prev.hash == hash {
			continue
		}
		sc.files[path] = scanned{hash: hash, id: sc.apply(ctx, path, data, prev.id)}
	}
	for id, path := range orphans {
		if sc.ownedElsewhere(id) {
			continue
		}
		if err := sc.svc.delete(ctx, id, sourceScan); err != nil && !errors.Is(err, storage.ErrNotFound) {
			sc.log.Warn("workspace scan: deregister failed", "path", path, "agent_id", id, "err", err)
		}
	}
}

// apply registers or updates the agent of one manifest file and returns its
// ID: the new one, or id unchanged when the file is skipped.
func (sc *scanner) apply(ctx context.Context, path string, data []byte, id string) string {
	m, res, err := validateManifest(data)
	if err != nil {
		sc.log.Warn("workspace manifest skipped", "path", path, "err", problemDetail(err))
		return id
	}
	var endpoint, protocol string
	if m != nil { // nil when the manifest breaks the schema
		endpoint, protocol = workspaceEndpoint(m)
	}
	a, warnings, err := buildAgent(m, res, endpoint, protocol)
	if err != nil {
		sc.log.Warn("workspace manifest skipped", "path", path, "err", problemDetail(err), "diagnostics", diagnosticsOf(err))
		return id
	}
	for _, w := range warnings {
		sc.log.Info("workspace manifest warning", "path", path, "diagnostic", w.String())
	}
	if id == "" {
		// Adopt an agent already registered under this name and version
		// (by an earlier run of the scan, or through the API): the file wins.
		id = sc.existing(ctx, a.Name, a.Version, path)
	}
	if id != "" {
		a.ID = id
		err := sc.svc.updateAgent(ctx, &a, sourceScan)
		if err == nil {
			return id
		}
		if !errors.Is(err, storage.ErrNotFound) {
			sc.log.Warn("workspace manifest not applied", "path", path, "agent_id", id, "err", err)
			return id
		}
		a.ID = "" // deleted meanwhile: register afresh
	}
	if err := sc.svc.create(ctx, &a, sourceScan); err != nil {
		sc.log.Warn("workspace manifest not registered", "path", path, "err", err)
		return ""
	}
	return a.ID
}

// existing returns the ID of the agent registered as name@version, unless
// another workspace file already owns it.
func (sc *scanner) existing(ctx context.Context, name, version, path string) string {
	id, ok := sc.svc.idx.idByName(name, version)
	if !ok {
		page, err := sc.svc.store.List(ctx, storage.AgentFilter{Name: name, Limit: maxListLimit})
		if err != nil {
			sc.log.Warn("workspace scan: look up agent failed", "name", name, "err", err)
			return ""
		}
		for _, a := range page.Agents {
			if a.Version == version {
				id, ok = a.ID, true
			}
		}
	}
	if !ok {
		return ""
	}
	if sc.ownedElsewhere(id) {
		sc.log.Warn("workspace manifest duplicates another file's name and version; skipped",
			"path", path, "name", name, "version", version)
		return ""
	}
	return id
}

// ownedElsewhere reports whether a current workspace file registered id.
func (sc *scanner) ownedElsewhere(id string) bool {
	for _, f := range sc.files {
		if f.id == id {
			return true
		}
	}
	return false
}

// workspaceEndpoint decides how to reach a workspace agent: the
// ossa.io/endpoint annotation, else spec.endpoints.api when it is an
// absolute http(s) URL, else no endpoint (pull mode). The protocol comes
// from the ossa.io/protocol annotation, else from the manifest.
func workspaceEndpoint(m *manifest.Manifest) (endpoint, protocol string) {
	endpoint = m.Metadata.Annotations[AnnotationEndpoint]
	if api := m.Spec.Endpoints["api"]; endpoint == "" && checkEndpoint(api) == "" {
		endpoint = api
	}
	return endpoint, m.Metadata.Annotations[AnnotationProtocol]
}

func problemDetail(err error) string {
	var he *httpx.Error
	if errors.As(err, &he) && he.Status != http.StatusInternalServerError {
		return he.Detail
	}
	return err.Error()
}

// diagnosticsOf returns the diagnostics of a 422, one line each.
func diagnosticsOf(err error) []string {
	var he *httpx.Error
	if !errors.As(err, &he) {
		return nil
	}
	ds, _ := he.Errors.([]manifest.Diagnostic)
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}
