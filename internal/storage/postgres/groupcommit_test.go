package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/groupcommit"
	"github.com/ossa-platform/ossa/internal/testenv"
)

// A batch whose one statement fails keeps none of its writes and fails as a
// whole, marked so that the group commit runs each write again alone: the
// failing one gets its error, the others are made.
func TestRunStatementsFailedBatchKeepsNothing(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, testenv.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	_, err = s.pool.Exec(ctx, `CREATE TABLE gc (id int PRIMARY KEY)`)
	require.NoError(t, err)
	insert := func(key, sql string) statement {
		return statement{key: key, sql: sql}
	}

	ok, err := runStatements(ctx, s.pool, []statement{
		insert("b", `WITH i AS (INSERT INTO gc VALUES (2) RETURNING id) SELECT count(*)::int FROM i`),
		insert("a", `WITH i AS (INSERT INTO gc VALUES (1) RETURNING id) SELECT count(*)::int FROM i`),
	})
	require.NoError(t, err)
	for i, r := range ok {
		require.NoError(t, r.Err)
		require.Equal(t, 1, r.Value, "result %d is its own statement's", i)
	}

	_, err = runStatements(ctx, s.pool, []statement{
		insert("c", `WITH i AS (INSERT INTO gc VALUES (3) RETURNING id) SELECT count(*)::int FROM i`),
		insert("d", `SELECT 1/0`),
	})
	require.ErrorContains(t, err, "division by zero")
	var n int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM gc`).Scan(&n))
	require.Equal(t, 2, n, "nothing of the failed batch was kept")

	// Through a Batcher: the first write holds the only leader while the
	// next two queue into one batch, which fails and runs again alone.
	gate, held := make(chan struct{}), make(chan struct{})
	b := groupcommit.New(groupcommit.Options{MaxBatch: 8, MaxLeaders: 1}, func(ctx context.Context, batch []statement) ([]groupcommit.Result[int], error) {
		if batch[0].key == "hold" {
			close(held)
			<-gate
		}
		return runStatements(ctx, s.pool, batch)
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { _, errs[0] = b.Do(ctx, insert("hold", `SELECT 1`)) })
	<-held
	wg.Go(func() {
		_, errs[1] = b.Do(ctx, insert("e", `WITH i AS (INSERT INTO gc VALUES (5) RETURNING id) SELECT count(*)::int FROM i`))
	})
	wg.Go(func() { _, errs[2] = b.Do(ctx, insert("f", `SELECT 1/0`)) })
	require.Eventually(t, func() bool { return b.Waiting() == 2 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1], "the good write ran again alone")
	require.ErrorContains(t, errs[2], "division by zero")
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM gc WHERE id = 5`).Scan(&n))
	require.Equal(t, 1, n)
}
