package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ossa-platform/ossa/internal/groupcommit"
)

// No batch leaves a goroutine behind once nothing waits.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// double answers each item with twice its value, recording batch sizes.
type double struct {
	mu      sync.Mutex
	sizes   []int
	running atomic.Int32
	most    atomic.Int32
	gate    chan struct{} // when not nil, every batch waits for it
}

func (d *double) run(_ context.Context, batch []int) ([]groupcommit.Result[int], error) {
	n := d.running.Add(1)
	defer d.running.Add(-1)
	for {
		m := d.most.Load()
		if n <= m || d.most.CompareAndSwap(m, n) {
			break
		}
	}
	if d.gate != nil {
		<-d.gate
	}
	d.mu.Lock()
	d.sizes = append(d.sizes, len(batch))
	d.mu.Unlock()
	out := make([]groupcommit.Result[int], len(batch))
	for i, v := range batch {
		if v < 0 {
			out[i].Err = errors.New("negative")
			continue
		}
		out[i].Value = 2 * v
	}
	return out, nil
}

func TestAloneRunsAtOnce(t *testing.T) {
	d := &double{}
	b := groupcommit.New(groupcommit.Options{MaxBatch: 8, MaxLeaders: 2}, d.run)
	for i := range 3 {
		got, err := b.Do(t.Context(), i)
		require.NoError(t, err)
		require.Equal(t, 2*i, got)
	}
	require.Equal(t, []int{1, 1, 1}, d.sizes, "callers one after another are batches of one")
	_, err := b.Do(t.Context(), -1)
	require.EqualError(t, err, "negative", "each write gets its own error")
}

// While one batch runs, the callers that arrive wait and then share the
// next batches, each getting its own result.
func TestWaitingCallersShareBatches(t *testing.T) {
	d := &double{gate: make(chan struct{})}
	b := groupcommit.New(groupcommit.Options{MaxBatch: 10, MaxLeaders: 1}, d.run)
	const callers = 25
	var wg sync.WaitGroup
	results := make([]int, callers)
	wg.Go(func() {
		v, err := b.Do(t.Context(), 0)
		require.NoError(t, err)
		results[0] = v
	})
	require.Eventually(t, func() bool { return d.running.Load() == 1 }, 5*time.Second, time.Millisecond)
	for i := 1; i < callers; i++ {
		wg.Go(func() {
			v, err := b.Do(t.Context(), i)
			require.NoError(t, err)
			results[i] = v
		})
	}
	// Let every caller queue behind the first batch, then open the gate.
	require.Eventually(t, func() bool { return b.Waiting() == callers-1 }, 5*time.Second, time.Millisecond)
	close(d.gate)
	wg.Wait()
	for i, v := range results {
		require.Equal(t, 2*i, v)
	}
	require.Equal(t, []int{1, 10, 10, 4}, d.sizes, "the waiting callers went in batches of at most MaxBatch")
	require.EqualValues(t, 1, d.most.Load(), "one leader: one batch at a time")
}

func TestLeadersBoundConcurrentBatches(t *testing.T) {
	d := &double{}
	b := groupcommit.New(groupcommit.Options{MaxBatch: 4, MaxLeaders: 3}, func(ctx context.Context, batch []int) ([]groupcommit.Result[int], error) {
		time.Sleep(time.Millisecond)
		return d.run(ctx, batch)
	})
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			v, err := b.Do(t.Context(), i)
			require.NoError(t, err)
			require.Equal(t, 2*i, v)
		})
	}
	wg.Wait()
	require.LessOrEqual(t, d.most.Load(), int32(3))
	total := 0
	for _, n := range d.sizes {
		require.LessOrEqual(t, n, 4)
		total += n
	}
	require.Equal(t, 200, total, "every write ran once")
}

// Many callers and leaders at once, batches that take no time: callers
// race to take each other's writes, and each must still get its own result,
// only once its write is done.
func TestEveryCallerGetsItsOwnResult(t *testing.T) {
	d := &double{}
	b := groupcommit.New(groupcommit.Options{MaxBatch: 4, MaxLeaders: 8}, d.run)
	var wg sync.WaitGroup
	for i := range 5000 {
		wg.Go(func() {
			v, err := b.Do(t.Context(), i)
			require.NoError(t, err)
			require.Equal(t, 2*i, v, "caller %d", i)
		})
	}
	wg.Wait()
}

// Neither a leader's nor a waiting caller's cancellation reaches a batch:
// one caller going away must not abort the others' writes. A waiting caller
// that gives up gets its context's error.
func TestCancellationDoesNotReachBatches(t *testing.T) {
	gate := make(chan struct{})
	started := make(chan struct{}, 2)
	var canceledBatches atomic.Int32
	b := groupcommit.New(groupcommit.Options{MaxLeaders: 1, Timeout: time.Minute}, func(ctx context.Context, batch []int) ([]groupcommit.Result[int], error) {
		started <- struct{}{}
		<-gate
		if ctx.Err() != nil {
			canceledBatches.Add(1)
		}
		out := make([]groupcommit.Result[int], len(batch))
		for i, v := range batch {
			out[i].Value = v
		}
		return out, nil
	})
	leaderCtx, cancelLeader := context.WithCancel(t.Context())
	waiterCtx, cancelWaiter := context.WithCancel(t.Context())
	leader, waiter := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := b.Do(leaderCtx, 1)
		leader <- err
	}()
	<-started
	go func() {
		_, err := b.Do(waiterCtx, 2)
		waiter <- err
	}()
	// The waiter queues behind the leader's batch.
	require.Eventually(t, func() bool { return b.Waiting() == 1 }, 5*time.Second, time.Millisecond)
	cancelWaiter()
	require.ErrorIs(t, <-waiter, context.Canceled)
	require.Zero(t, b.Waiting(), "a write no batch took yet is withdrawn with its caller")
	cancelLeader()
	close(gate)
	// The leader was running its own batch when its context ended: it
	// returns the write's result or its context's error, either way after
	// the batch ran uncanceled.
	if err := <-leader; err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
	require.Zero(t, canceledBatches.Load())
	require.Empty(t, started, "the withdrawn write never ran")
}

// A batch that fails as a whole, keeping nothing, sends each of its writes
// to run again alone: the one that broke it gets its error, the others
// their results. A failure that may have kept the writes is every write's
// error, and nothing runs again.
func TestFailedBatchRunsEachWriteAlone(t *testing.T) {
	for _, kept := range []bool{false, true} {
		t.Run(fmt.Sprintf("maybe kept=%t", kept), func(t *testing.T) { testFailedBatch(t, kept) })
	}
}

func testFailedBatch(t *testing.T, maybeKept bool) {
	gate := make(chan struct{})
	var (
		mu    sync.Mutex
		sizes []int
	)
	b := groupcommit.New(groupcommit.Options{MaxBatch: 8}, func(_ context.Context, batch []int) ([]groupcommit.Result[int], error) {
		mu.Lock()
		sizes = append(sizes, len(batch))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-gate
		}
		out := make([]groupcommit.Result[int], len(batch))
		for i, v := range batch {
			if v < 0 {
				err := errors.New("negative breaks the batch")
				if maybeKept {
					return nil, err
				}
				return nil, groupcommit.NothingKept(err)
			}
			out[i].Value = 2 * v
		}
		return out, nil
	})
	var wg sync.WaitGroup
	results, errs := make([]int, 4), make([]error, 4)
	wg.Go(func() { results[0], errs[0] = b.Do(t.Context(), 0) })
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sizes) == 1 }, 5*time.Second, time.Millisecond)
	for i, v := range []int{1, -1, 3} {
		wg.Go(func() { results[i+1], errs[i+1] = b.Do(t.Context(), v) })
	}
	require.Eventually(t, func() bool { return b.Waiting() == 3 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.NoError(t, errs[0])
	if maybeKept {
		for _, err := range errs[1:] {
			require.EqualError(t, err, "negative breaks the batch")
		}
		require.Equal(t, []int{1, 3}, sizes, "nothing ran again")
		return
	}
	require.NoError(t, errs[1])
	require.Equal(t, 2, results[1])
	require.EqualError(t, errs[2], "negative breaks the batch", "the write that broke the batch gets its own error")
	require.NoError(t, errs[3])
	require.Equal(t, 6, results[3])
	require.Equal(t, []int{1, 3, 1, 1, 1}, sizes, "the failed batch of three ran again as three batches of one")
}

func TestPanickingBatchFailsItsWrites(t *testing.T) {
	b := groupcommit.New(groupcommit.Options{}, func(context.Context, []int) ([]groupcommit.Result[int], error) {
		panic("boom")
	})
	_, err := b.Do(t.Context(), 1)
	require.ErrorContains(t, err, "batch panicked: boom")
	// The leader slot was released: the next write still runs.
	_, err = b.Do(t.Context(), 2)
	require.ErrorContains(t, err, "boom")
}

func TestShortResultFailsTheRest(t *testing.T) {
	gate := make(chan struct{})
	first := make(chan struct{})
	var calls atomic.Int32
	b := groupcommit.New(groupcommit.Options{MaxBatch: 8}, func(_ context.Context, batch []int) ([]groupcommit.Result[int], error) {
		if calls.Add(1) == 1 {
			close(first)
			<-gate
		}
		return make([]groupcommit.Result[int], 1), nil
	})
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { _, errs[0] = b.Do(t.Context(), 0) })
	<-first
	wg.Go(func() { _, errs[1] = b.Do(t.Context(), 1) })
	wg.Go(func() { _, errs[2] = b.Do(t.Context(), 2) })
	require.Eventually(t, func() bool { return b.Waiting() == 2 }, 5*time.Second, time.Millisecond)
	close(gate)
	wg.Wait()
	require.NoError(t, errs[0])
	// The second batch held both others; its first got the one result.
	if errs[1] != nil {
		errs[1], errs[2] = errs[2], errs[1]
	}
	require.NoError(t, errs[1])
	require.ErrorContains(t, errs[2], "no result")
}
