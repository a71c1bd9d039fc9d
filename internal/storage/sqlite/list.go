package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// listColumns is agentColumns qualified with the agents alias of List.
var listColumns = func() string {
	cols := strings.Split(agentColumns, ",")
	for i, c := range cols {
		cols[i] = "a." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// List implements storage.AgentStore. It is one statement, so the page is one
// consistent snapshot even while writers commit.
//
// With a capability (or else a tag) to match, the query walks that entry's
// primary-key range of agent_capabilities (agent_tags), which lists the
// agents having it in id order: a page costs its own rows whether the entry
// is common or rare, and needs no sort. Further entries are point lookups.
func (s agentStore) List(ctx context.Context, f storage.AgentFilter) (storage.AgentPage, error) {
	var (
		from  = "agents a"
		id    = "a.id" // the column pages are ordered and cut by
		where []string
		args  []any
	)
	caps, tags := f.Capabilities, f.Tags
	switch {
	case len(caps) > 0:
		from, id = "agent_capabilities d JOIN agents a ON a.id = d.agent_id", "d.agent_id"
		where, args = append(where, "d.capability = ?"), append(args, caps[0])
		caps = caps[1:]
	case len(tags) > 0:
		from, id = "agent_tags d JOIN agents a ON a.id = d.agent_id", "d.agent_id"
		where, args = append(where, "d.tag = ?"), append(args, tags[0])
		tags = tags[1:]
	}
	if f.Cursor != "" {
		after, err := storage.DecodeCursor(f.Cursor)
		if err != nil {
			return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
		}
		where, args = append(where, id+" > ?"), append(args, after)
	}
	for _, c := range caps {
		where = append(where, "EXISTS (SELECT 1 FROM agent_capabilities c WHERE c.capability = ? AND c.agent_id = a.id)")
		args = append(args, c)
	}
	for _, t := range tags {
		where = append(where, "EXISTS (SELECT 1 FROM agent_tags t WHERE t.tag = ? AND t.agent_id = a.id)")
		args = append(args, t)
	}
	if f.MinTier != "" {
		rank := manifest.Tier(f.MinTier).Rank()
		if rank == 0 {
			return storage.AgentPage{}, fmt.Errorf("list agents: unknown tier %q", f.MinTier)
		}
		where, args = append(where, "a.tier_rank >= ?"), append(args, rank)
	}
	if f.Class != "" {
		where, args = append(where, "a.class = ?"), append(args, f.Class)
	}
	if len(f.Health) > 0 {
		where = append(where, "a.health IN (?"+strings.Repeat(", ?", len(f.Health)-1)+")")
		for _, h := range f.Health {
			args = append(args, string(h))
		}
	}
	if f.Name != "" {
		where, args = append(where, "a.name = ?"), append(args, f.Name)
	}

	limit := storage.PageLimit(f.Limit)
	q := `SELECT ` + listColumns + ` FROM ` + from
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	// One row more than the page tells whether another page follows.
	q += ` ORDER BY ` + id + ` LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	defer rows.Close()
	page := storage.AgentPage{Agents: []storage.Agent{}}
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
		}
		page.Agents = append(page.Agents, *a)
	}
	if err := rows.Err(); err != nil {
		return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	page.Agents, page.NextCursor = storage.TrimPage(page.Agents, limit, func(v storage.Agent) string { return v.ID })
	return page, nil
}
