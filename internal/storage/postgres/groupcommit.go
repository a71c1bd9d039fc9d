package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ossa-platform/ossa/internal/groupcommit"
)

// statement is one write of a pipelined transaction (see
// pipeTx.commitWith); in a group commit, it returns one integer (the rows
// it changed), and key names the row it locks.
type statement struct {
	key  string
	sql  string
	args []any
}

// Group commit bounds: a batch is one pipeline on one connection, so a few
// at once keep the server's cores busy without taking the pool.
const (
	groupMaxBatch   = 64
	groupMaxLeaders = 4
	groupTimeout    = 30 * time.Second
)

func newTaskWrites(pool *pgxpool.Pool) *groupcommit.Batcher[statement, int] {
	return groupcommit.New(groupcommit.Options{
		MaxBatch: groupMaxBatch, MaxLeaders: groupMaxLeaders, Timeout: groupTimeout,
	}, func(ctx context.Context, batch []statement) ([]groupcommit.Result[int], error) {
		return runStatements(ctx, pool, batch)
	})
}

// runStatements runs the batch in one transaction, sent as one pipeline:
// BEGIN, the statements, COMMIT; a batch of one runs as it is. It fails as a
// whole when a statement or the commit does; groupcommit.NothingKept marks
// the failures PostgreSQL answered (the transaction then rolled back), not
// those that leave the commit in doubt, such as a lost connection.
func runStatements(ctx context.Context, pool *pgxpool.Pool, batch []statement) ([]groupcommit.Result[int], error) {
	// Rows are locked in key order, so that two batches writing the same
	// rows cannot deadlock; writes to one row keep their order.
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(batch[a].key, batch[b].key) })
	sorted := make([]statement, len(batch))
	for i, j := range order {
		sorted[i] = batch[j]
	}
	results := make([]groupcommit.Result[int], len(batch))
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, groupcommit.NothingKept(fmt.Errorf("begin: %w", err))
	}
	tx := &pipeTx{conn: conn}
	err = tx.commitWith(ctx, sorted, func(i int, row pgx.Row) error {
		return row.Scan(&results[order[i]].Value)
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return results, nil
	case errors.As(err, &pgErr), errors.Is(err, pgx.ErrTxCommitRollback):
		return nil, groupcommit.NothingKept(err)
	}
	return nil, err
}
