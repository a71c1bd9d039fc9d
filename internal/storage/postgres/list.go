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

// pageQuery builds the query of one page of a List: conditions with
// numbered parameters, the cursor, and the order and limit.
type pageQuery struct {
	where []string
	args  []any
}

// param adds a parameter and returns its placeholder.
func (q *pageQuery) param(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// cond adds a condition.
func (q *pageQuery) cond(c string) { q.where = append(q.where, c) }

// cursor adds the condition that starts the page after cursor's ID: op is
// ">" for pages in ID order, "<" for newest first.
func (q *pageQuery) cursor(cursor, op string) error {
	if cursor == "" {
		return nil
	}
	id, err := storage.DecodeCursor(cursor)
	if err != nil {
		return err
	}
	q.cond("id " + op + " " + q.param(id))
	return nil
}

// sql returns selectFrom under the conditions, ordered by id (direction
// "ASC" or "DESC"), one row past the page of limit: the extra row tells
// whether another page follows.
func (q *pageQuery) sql(selectFrom, direction string, limit int) string {
	if len(q.where) > 0 {
		selectFrom += ` WHERE ` + strings.Join(q.where, " AND ")
	}
	return selectFrom + ` ORDER BY id ` + direction + ` LIMIT ` + q.param(limit+1)
}

// List implements storage.AgentStore.
func (s agentStore) List(ctx context.Context, f storage.AgentFilter) (storage.AgentPage, error) {
	var q pageQuery
	if err := q.cursor(f.Cursor, ">"); err != nil {
		return storage.AgentPage{}, fmt.Errorf("list agents: %w", err)
	}
	if len(f.Capabilities) > 0 {
		q.cond("capabilities @> " + q.param(f.Capabilities))
	}
	if len(f.Tags) > 0 {
		q.cond("tags @> " + q.param(f.Tags))
	}
	if f.MinTier != "" {
		rank := manifest.Tier(f.MinTier).Rank()
		if rank == 0 {
			return storage.AgentPage{}, fmt.Errorf("list agents: unknown tier %q", f.MinTier)
		}
		q.cond("tier_rank >= " + q.param(rank))
	}
	if f.Class != "" {
		q.cond("class = " + q.param(f.Class))
	}
	if len(f.Health) > 0 {
		hs := make([]string, len(f.Health))
		for i, h := range f.Health {
			hs[i] = string(h)
		}
		q.cond("health = ANY(" + q.param(hs) + ")")
	}
	if f.Name != "" {
		q.cond("name = " + q.param(f.Name))
	}
	limit := storage.PageLimit(f.Limit)
	query := q.sql(`SELECT `+agentColumns+` FROM agents`, "ASC", limit)

	// An unnamed statement, planned for these values each time. A cached
	// prepared statement would soon get PostgreSQL's generic plan, which
	// cannot know whether a capability is common (walk the primary key,
	// stop at the limit) or rare (GIN bitmap scan), and is slow for one.
	rows, err := s.pool.Query(ctx, query, append([]any{pgx.QueryExecModeExec}, q.args...)...)
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
