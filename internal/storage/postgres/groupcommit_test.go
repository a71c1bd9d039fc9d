package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/testenv"
)

// A batch whose one statement fails keeps none of its writes and fails as a
// whole; the connection goes back to the pool usable.
func TestRunStatementsFailedBatchRunsAlone(t *testing.T) {
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
}
