// Package groupcommit lets concurrent callers share one database
// transaction: a caller hands its write to a Batcher, which runs the writes
// waiting at that moment together, so that under load many writes cost one
// round trip and one commit, and at low load a write runs at once, alone, on
// its caller's goroutine.
//
// A batch that fails as a whole, and is known to have kept nothing of its
// writes (its RunFunc says so with NothingKept), runs each of them again
// alone, on its caller's goroutine, so that every caller gets its own
// outcome (the one write that broke the batch gets its error, the others
// succeed). Any other failure, such as a connection lost while committing,
// may have kept the writes, and is every caller's outcome: running them
// again could apply them twice.
//
// No goroutine runs while nothing waits. The first caller to find a free
// leader slot leads: it runs batches of what is waiting until its own write
// is done, then hands the slot to a new goroutine if more writes wait, so
// that no caller's answer waits on other callers' batches.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

var errMissingResult = errors.New("groupcommit: the batch returned no result for this write")

// Result is one write's outcome in a batch.
type Result[R any] struct {
	Value R
	Err   error
}

// RunFunc runs a batch of writes in one transaction and returns one Result
// per write, in order; or, when the batch failed as a whole, an error. An
// error made by NothingKept has each write of a larger batch run again
// alone; any other is every write's error.
type RunFunc[T, R any] func(ctx context.Context, batch []T) ([]Result[R], error)

// NothingKept marks err, the failure of a whole batch, as one that kept
// none of the batch's writes (the transaction was rolled back), so that
// they may run again.
func NothingKept(err error) error { return nothingKept{err} }

type nothingKept struct{ error }

func (e nothingKept) Unwrap() error { return e.error }

// Options bound a Batcher.
type Options struct {
	// MaxBatch is the most writes one batch carries.
	MaxBatch int
	// MaxLeaders is how many batches may run at once (on as many
	// connections).
	MaxLeaders int
	// Timeout bounds one batch. A batch runs on a context that carries the
	// leader's values but not its cancellation: one caller going away must
	// not abort the others' writes.
	Timeout time.Duration
}

// Batcher gathers writes of type T into batches with results of type R.
type Batcher[T, R any] struct {
	run  RunFunc[T, R]
	opts Options

	mu      sync.Mutex
	pending []*call[T, R]
	leaders int
}

type call[T, R any] struct {
	item T
	res  Result[R]
	// alone is set when the write's batch failed as a whole: its caller
	// runs it again on its own.
	alone bool
	done  chan struct{}
}

// New returns a Batcher that runs batches with run.
func New[T, R any](opts Options, run RunFunc[T, R]) *Batcher[T, R] {
	opts.MaxBatch = max(opts.MaxBatch, 1)
	opts.MaxLeaders = max(opts.MaxLeaders, 1)
	return &Batcher[T, R]{run: run, opts: opts}
}

// Do runs item in a batch and returns its result. When ctx ends before a
// batch took the write, Do returns ctx's error and the write is not made;
// once a batch took it, the batch runs to its end (within Options.Timeout)
// whatever ctx does, and when ctx ends first Do returns ctx's error while
// the write may still be committed. A caller that leads batches returns
// once they are done.
func (b *Batcher[T, R]) Do(ctx context.Context, item T) (R, error) {
	c := &call[T, R]{item: item, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	lead := b.leaders < b.opts.MaxLeaders
	if lead {
		b.leaders++
	}
	b.mu.Unlock()
	if lead {
		// This returns when the write is done, or when nothing is left to
		// lead because another leader's batch took it.
		b.lead(context.WithoutCancel(ctx), c)
	}
	select {
	case <-c.done:
	default:
		select {
		case <-c.done:
		case <-ctx.Done():
			b.withdraw(c)
			var zero R
			return zero, ctx.Err()
		}
	}
	if c.alone {
		return b.runAlone(ctx, item)
	}
	return c.res.Value, c.res.Err
}

// runAlone runs one write as a batch of its own.
func (b *Batcher[T, R]) runAlone(ctx context.Context, item T) (R, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var zero R
	results, err := b.run(ctx, []T{item})
	switch {
	case err != nil:
		return zero, err
	case len(results) == 0:
		return zero, errMissingResult
	}
	return results[0].Value, results[0].Err
}

// withdraw removes c from the writes waiting, if no batch took it yet.
func (b *Batcher[T, R]) withdraw(c *call[T, R]) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.pending, c); i >= 0 {
		b.pending = slices.Delete(b.pending, i, i+1)
	}
}

// Waiting returns how many writes wait for a batch to take them.
func (b *Batcher[T, R]) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// lead runs batches until own is done (or, with own nil, until nothing
// waits), holding one leader slot, which it releases or hands on.
func (b *Batcher[T, R]) lead(ctx context.Context, own *call[T, R]) {
	for {
		if own != nil {
			select {
			case <-own.done:
				b.handOn(ctx)
				return
			default:
			}
		}
		batch := b.take()
		if batch == nil {
			return
		}
		b.runBatch(ctx, batch)
	}
}

// handOn passes the caller's leader slot to a new goroutine that leads the
// writes waiting, or releases it when none wait.
func (b *Batcher[T, R]) handOn(ctx context.Context) {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.leaders--
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	go b.lead(ctx, nil)
}

// take returns up to MaxBatch waiting calls, oldest first; when none wait it
// releases the caller's leader slot and returns nil.
func (b *Batcher[T, R]) take() []*call[T, R] {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.pending), b.opts.MaxBatch)
	if n == 0 {
		b.leaders--
		return nil
	}
	batch := make([]*call[T, R], n)
	copy(batch, b.pending)
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	return batch
}

func (b *Batcher[T, R]) runBatch(ctx context.Context, batch []*call[T, R]) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	items := make([]T, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	defer func() {
		// A panicking batch fails its writes instead of leaving their
		// callers waiting forever.
		if p := recover(); p != nil {
			err := fmt.Errorf("groupcommit: batch panicked: %v\n%s", p, debug.Stack())
			for _, c := range batch {
				c.res = Result[R]{Err: err}
				close(c.done)
			}
		}
	}()
	results, err := b.run(ctx, items)
	for i, c := range batch {
		switch {
		case err != nil && len(batch) > 1 && errors.As(err, new(nothingKept)):
			c.alone = true
		case err != nil:
			c.res.Err = err
		case i < len(results):
			c.res = results[i]
		default:
			c.res.Err = errMissingResult
		}
		close(c.done)
	}
}

// bound applies Options.Timeout to ctx.
func (b *Batcher[T, R]) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.opts.Timeout > 0 {
		return context.WithTimeout(ctx, b.opts.Timeout)
	}
	return ctx, func() {}
}
