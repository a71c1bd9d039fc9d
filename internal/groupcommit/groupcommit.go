// Package groupcommit lets concurrent callers share one database
// transaction: a caller hands its write to a Batcher, which runs the writes
// waiting at that moment together, so that under load many writes cost one
// round trip and one commit, and at low load a write runs at once, alone, on
// its caller's goroutine.
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
	"sync"
	"time"
)

var errMissingResult = errors.New("groupcommit: the batch returned no result for this write")

// Result is one write's outcome in a batch.
type Result[R any] struct {
	Value R
	Err   error
}

// RunFunc runs a batch of writes and returns one Result per write, in order.
// An error that concerns the whole batch (the commit failed) goes in every
// write's Result.
type RunFunc[T, R any] func(ctx context.Context, batch []T) []Result[R]

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
	done chan struct{}
}

// New returns a Batcher that runs batches with run.
func New[T, R any](opts Options, run RunFunc[T, R]) *Batcher[T, R] {
	opts.MaxBatch = max(opts.MaxBatch, 1)
	opts.MaxLeaders = max(opts.MaxLeaders, 1)
	return &Batcher[T, R]{run: run, opts: opts}
}

// Do runs item in a batch and returns its result. When ctx ends before the
// write is done, Do returns ctx's error, and the write may still be
// committed.
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
		return c.res.Value, c.res.Err
	default:
	}
	select {
	case <-c.done:
		return c.res.Value, c.res.Err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
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
		batch := b.take()
		if batch == nil {
			return
		}
		b.runBatch(ctx, batch)
		if own == nil {
			continue
		}
		select {
		case <-own.done:
			// Others may be waiting on this slot: lead them from a new
			// goroutine, which ends when nothing waits.
			go b.lead(ctx, nil)
			return
		default:
		}
	}
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
	if b.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.opts.Timeout)
		defer cancel()
	}
	items := make([]T, len(batch))
	for i, c := range batch {
		items[i] = c.item
	}
	var results []Result[R]
	defer func() {
		// A panicking batch fails its writes instead of leaving their
		// callers waiting forever.
		if p := recover(); p != nil {
			err := fmt.Errorf("groupcommit: batch panicked: %v", p)
			for _, c := range batch {
				c.res = Result[R]{Err: err}
				close(c.done)
			}
		}
	}()
	results = b.run(ctx, items)
	for i, c := range batch {
		if i < len(results) {
			c.res = results[i]
		} else {
			c.res.Err = errMissingResult
		}
		close(c.done)
	}
}
