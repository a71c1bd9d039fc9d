package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// writerParams are the settings of the write pool's connection.
func writerParams() url.Values {
	q := commonParams()
	q.Set("_journal_mode", "WAL")
	// FULL makes a commit the caller saw succeed survive power loss, the
	// guarantee PostgreSQL's default synchronous_commit gives; NORMAL would
	// be faster but could drop the last registrations on a crash.
	q.Set("_synchronous", "FULL")
	// Take the write lock at BEGIN. A deferred transaction that reads and
	// then writes cannot wait for a lock held by another process: SQLite
	// fails it with SQLITE_BUSY at once, because waiting could deadlock.
	q.Set("_txlock", "immediate")
	return q
}

// readerParams are the settings of the read pool's connections. query_only
// turns a write sent to the wrong pool into an error instead of a lock fight.
func readerParams() url.Values {
	q := commonParams()
	q.Set("_query_only", "1")
	return q
}

func commonParams() url.Values {
	q := url.Values{}
	q.Set("_busy_timeout", strconv.Itoa(busyTimeoutMS))
	q.Set("_foreign_keys", "1")
	return q
}

// dsn builds a file: URI so that any character in path ('?', '#', '%') is
// escaped rather than read as the start of the parameters.
func dsn(path string, params url.Values) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") { // a Windows drive path: C:/...
		p = "/" + p
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// openPool opens a pool of at most n connections and makes sure one of them
// opens, which applies the pragmas (the writer's switches the file to WAL).
func openPool(ctx context.Context, path string, params url.Values, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, params))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	// Idle connections are kept for good: reopening one re-runs the pragmas
	// and throws away its page cache.
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the ping error is the one worth reporting
		return nil, err
	}
	return db, nil
}
