package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// List implements storage.AgentStore.
func (s agentStore) List(ctx context.Context, f storage.AgentFilter) (storage.AgentPage, error) {
	var (
		where []string
		args  []any
	)
	// param adds a query parameter and returns its placeholder.
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Cursor != "" {
		after, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
		}
		where = append(where, "id > "+param(after))
	}
	if len(f.Capabilities) > 0 {
		where = append(where, "capabilities @> "+param(f.Capabilities))
	}
	if len(f.Tags) > 0 {
		where = append(where, "tags @> "+param(f.Tags))
	}
	if f.MinTier != "" {
		rank := manifest.Tier(f.MinTier).Rank()
		if rank == 0 {
			return storage.AgentPage{}, fmt.Errorf("list agents: unknown tier %q", f.MinTier)
		}
		where = append(where, "tier_rank >= "+param(rank))
	}
	if f.Class != "" {
		where = append(where, "class = "+param(f.Class))
	}
	if len(f.Health) > 0 {
		hs := make([]string, len(f.Health))
		for i, h := range f.Health {
			hs[i] = string(h)
		}
		where = append(where, "health = ANY("+param(hs)+")")
	}
	if f.Name != "" {
		where = append(where, "name = "+param(f.Name))
	}

	limit := storage.PageLimit(f.Limit)
	q := `SELECT ` + agentColumns + ` FROM agents`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page follows.
	q += ` ORDER BY id LIMIT ` + param(limit+1)

	// An unnamed statement, planned for these values each time. A cached
	// prepared statement would soon get PostgreSQL's generic plan, which
	// cannot know whether a capability is common (walk the primary key,
	// stop at the limit) or rare (GIN bitmap scan), and is slow for one.
	rows, err := s.pool.Query(ctx, q, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	agents, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Agent, error) {
		a, err := scanAgent(row)
		if err != nil {
			return storage.Agent{}, err
		}
		return *a, nil
	})
	if err != nil {
		return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	var page storage.AgentPage
	page.Agents, page.NextCursor = storage.TrimPage(agents, limit, func(v storage.Agent) string { return v.ID })
	return page, nil
}
