package taskagent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"

	"github.com/ossa-platform/ossa/internal/discovery"
	"github.com/ossa-platform/ossa/internal/httpx"
	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// Finder is how the task service learns which agents may run a task. Both
// implementations are backed by discovery: LocalFinder calls it in process
// (target all), RemoteFinder over HTTP (split mode).
type Finder interface {
	// Discover returns the healthy and degraded agents matching q, best
	// first, with discovery's score.
	Discover(ctx context.Context, q discovery.Query) ([]discovery.Ranked, error)
	// Agent returns the agent with the ID ref or, when there is none, the
	// newest agent named ref, with its live status. The error wraps
	// storage.ErrNotFound when neither exists.
	Agent(ctx context.Context, ref string) (*storage.Agent, error)
}

// LocalFinder is a Finder on the discovery service of this process. agents
// is the store discovery uses, for name lookups.
func LocalFinder(svc *discovery.Service, agents storage.AgentStore) Finder {
	return localFinder{svc: svc, agents: agents}
}

type localFinder struct {
	svc    *discovery.Service
	agents storage.AgentStore
}

func (f localFinder) Discover(ctx context.Context, q discovery.Query) ([]discovery.Ranked, error) {
	return f.svc.Discover(ctx, q), nil
}

func (f localFinder) Agent(ctx context.Context, ref string) (*storage.Agent, error) {
	a, err := f.svc.Get(ctx, ref)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return a, err
	}
	page, err := f.agents.List(ctx, storage.AgentFilter{Name: ref, Limit: storage.MaxPageLimit})
	if err != nil {
		return nil, fmt.Errorf("find agent %s: %w", ref, err)
	}
	if len(page.Agents) == 0 {
		return nil, fmt.Errorf("agent %q: %w", ref, storage.ErrNotFound)
	}
	// IDs are UUIDv7, so the last of the page (in ID order) is the newest.
	return f.svc.Get(ctx, page.Agents[len(page.Agents)-1].ID)
}

// RemoteFinder is a Finder on discovery's HTTP API.
func RemoteFinder(c *discovery.Client) Finder { return remoteFinder{c: c} }

type remoteFinder struct{ c *discovery.Client }

func (f remoteFinder) Discover(ctx context.Context, q discovery.Query) ([]discovery.Ranked, error) {
	res, err := f.c.Discover(ctx, q)
	if err != nil {
		return nil, err
	}
	return res.Agents, nil
}

func (f remoteFinder) Agent(ctx context.Context, ref string) (*storage.Agent, error) {
	a, err := f.c.Get(ctx, ref)
	if err == nil {
		return a, nil
	}
	if httpx.StatusCode(err) != http.StatusNotFound {
		return nil, err
	}
	var newest *storage.Agent
	opts := discovery.ListOptions{Name: ref, Limit: storage.MaxPageLimit}
	for {
		page, err := f.c.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		if n := len(page.Agents); n > 0 {
			newest = &page.Agents[n-1]
		}
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	if newest == nil {
		return nil, fmt.Errorf("agent %q: %w", ref, storage.ErrNotFound)
	}
	return newest, nil
}

// candidate is an agent that may run a task, with what routing knows of it.
type candidate struct {
	agent storage.Agent
	// score is discovery's; adjusted is after the load penalty.
	score, adjusted float64
	// running counts the tasks running on the agent; limit is its
	// max_concurrent, 0 for none.
	running, limit int
}

// Routing constants; docs/tasks.md explains the score.
const (
	// loadWeight is the share of an agent's quality that full load costs.
	loadWeight = 0.5
	// unlimitedLoadHalf is the number of running tasks at which an agent
	// without a concurrency limit counts as half loaded.
	unlimitedLoadHalf = 4.0
	// maxCandidates bounds how many agents discovery is asked for.
	maxCandidates = 50
)

// adjustedScore lowers discovery's score for the tasks running on the agent,
// within the agent's health band (the integer part of the score), so load
// never lifts a degraded agent over a healthy one:
//
//	load     = running / limit                    (with a concurrency limit)
//	         = running / (running + 4)            (without)
//	adjusted = band + (score − band) × (1 − 0.5 × load)
func adjustedScore(score float64, running, limit int) float64 {
	var load float64
	switch {
	case limit > 0:
		load = math.Min(float64(running)/float64(limit), 1)
	case running > 0:
		load = float64(running) / (float64(running) + unlimitedLoadHalf)
	}
	band := math.Floor(score)
	return band + (score-band)*(1-loadWeight*load)
}

// rank orders candidates best first: adjusted score, then fewer running
// tasks, then ID, so the order is deterministic.
func rank(cands []candidate) {
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if c := cmp.Compare(b.adjusted, a.adjusted); c != 0 {
			return c
		}
		if c := cmp.Compare(a.running, b.running); c != 0 {
			return c
		}
		return cmp.Compare(a.agent.ID, b.agent.ID)
	})
}

// preferUntried drops agents that already failed the task, unless that would
// leave none: a retry goes elsewhere when it can.
func preferUntried(cands []candidate, failed []string) []candidate {
	fresh := slices.DeleteFunc(slices.Clone(cands), func(c candidate) bool { return slices.Contains(failed, c.agent.ID) })
	if len(fresh) == 0 {
		return cands
	}
	return fresh
}

// limits caches each agent's max_concurrent by revision, so routing does not
// decode a manifest per decision.
type limits struct {
	mu sync.Mutex
	m  map[string]limitEntry
}

type limitEntry struct {
	revision int64
	limit    int
}

// of returns the agent's concurrency limit, 0 when its manifest sets none
// (or cannot be read, which registration would have refused).
func (l *limits) of(a *storage.Agent) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.m[a.ID]; ok && e.revision == a.Revision {
		return e.limit
	}
	limit := 0
	if len(a.Manifest) > 0 {
		var m manifest.Manifest
		if json.Unmarshal(a.Manifest, &m) == nil {
			limit = max(m.MaxConcurrency(), 0)
		}
	}
	if l.m == nil {
		l.m = map[string]limitEntry{}
	}
	l.m[a.ID] = limitEntry{revision: a.Revision, limit: limit}
	return limit
}

// load counts the attempts this process runs on each agent.
type load struct {
	mu sync.Mutex
	m  map[string]int
}

func (l *load) add(agentID string, delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]int{}
	}
	if l.m[agentID] += delta; l.m[agentID] <= 0 {
		delete(l.m, agentID)
	}
}

func (l *load) of(agentID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[agentID]
}
