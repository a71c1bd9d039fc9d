package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// stmtCache prepares a statement once per pool and reuses it. The driver
// does not cache statements itself, and for the task service's writes,
// which run several times per task, parsing and planning the SQL anew each
// time costs more than executing it.
type stmtCache struct {
	mu sync.Mutex
	m  map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// get returns the statement for query on db, preparing it on first use. A
// failed preparation (say, before the migration that creates the table) is
// not remembered.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := stmtKey{db: db, query: query}
	if st, ok := c.m[k]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[stmtKey]*sql.Stmt{}
	}
	c.m[k] = st
	return st, nil
}

// inTx returns the statement for query bound to tx, a transaction on db.
// The statement must have been prepared (ensure) before tx began: the
// write pool has one connection, which tx holds, so preparing on the pool
// now would wait for tx forever.
func (c *stmtCache) inTx(ctx context.Context, db *sql.DB, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.m[stmtKey{db: db, query: query}]
	c.mu.Unlock()
	if !ok {
		return nil, errors.New("statement not prepared before its transaction began")
	}
	return tx.StmtContext(ctx, st), nil
}

// ensure prepares the queries on db that are not prepared yet.
func (c *stmtCache) ensure(ctx context.Context, db *sql.DB, queries ...string) error {
	for _, q := range queries {
		if _, err := c.get(ctx, db, q); err != nil {
			return err
		}
	}
	return nil
}

// close closes every statement; the cache stays usable.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for k, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, k)
	}
	return errors.Join(errs...)
}
