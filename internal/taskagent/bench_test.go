package taskagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/ossa-platform/ossa/internal/dispatch"
	"github.com/ossa-platform/ossa/internal/storage"
	"github.com/ossa-platform/ossa/internal/storage/postgres"
	"github.com/ossa-platform/ossa/internal/storage/sqlite"
)

// The end-to-end benchmark and River's own, with the same River settings, so
// that the ratio of their throughputs is the task service's overhead. Run
// with a fixed count, since every iteration is one task:
//
//	OSSA_TEST_POSTGRES_URL=… go test ./internal/taskagent -run '^$' -bench Tasks -benchtime 2000x -count 1
//
// docs/benchmarks.md has the figures and the machine.

// Settings shared by both sides of the comparison.
const (
	benchWorkers           = 100
	benchFetchCooldown     = 10 * time.Millisecond
	benchFetchPollInterval = 100 * time.Millisecond
	// benchSubmitters is how many clients submit (or insert) at once.
	benchSubmitters = 32
	// benchPacedRate is the arrival rate of the latency run, per second.
	benchPacedRate = 100
)

func BenchmarkTasks(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		pg := db == "postgres"
		b.Run(db+"/river-noop", func(b *testing.B) { benchRiver(b, pg) })
		b.Run(db+"/ossa-e2e", func(b *testing.B) { benchTasks(b, pg, 0) })
		b.Run(db+"/ossa-paced", func(b *testing.B) { benchTasks(b, pg, benchPacedRate) })
	}
}

// benchTasks submits b.N tasks over HTTP to the task service, which runs
// each on a no-op agent over HTTP. rate 0 submits as fast as benchSubmitters
// clients can (throughput); otherwise tasks arrive at rate per second
// (latency without queueing). It reports tasks/s and the percentiles of
// submit-to-complete latency.
func benchTasks(b *testing.B, pg bool, rate int) {
	var opts []envOption
	if pg {
		opts = append(opts, onPostgres())
	}
	// Clients keep a connection per concurrent caller, as the app's do.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = benchWorkers
	hc := &http.Client{Transport: transport}
	b.Cleanup(transport.CloseIdleConnections)
	opts = append(opts, withDispatcher(dispatch.New(hc)), withConfig(func(c *Config) {
		c.Workers, c.FetchCooldown, c.FetchPollInterval = benchWorkers, benchFetchCooldown, benchFetchPollInterval
		c.PollInterval, c.DefaultTimeout = time.Second, 30*time.Second
	}))
	e := newEnv(b, opts...)
	e.client = NewClient(e.url, hc, "")
	agent := newFakeAgent(b, nil)
	e.addAgent(agentSpec{name: "noop", capabilities: []string{"noop"}, endpoint: agent.srv.URL})
	ctx := context.Background()
	completed := e.svc.metrics.finished.WithLabelValues(string(storage.TaskCompleted))

	var (
		mu      sync.Mutex
		started = make(map[string]time.Time, b.N)
		errs    = make(chan error, b.N)
	)
	submit := func() {
		at := time.Now()
		task, err := e.client.Submit(ctx, SubmitRequest{Capability: "noop"}, "")
		if err != nil {
			errs <- err
			return
		}
		mu.Lock()
		started[task.ID] = at
		mu.Unlock()
	}
	b.ResetTimer()
	begin := time.Now()
	var wg sync.WaitGroup
	if rate == 0 {
		var next atomic.Int64
		for range benchSubmitters {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					submit()
				}
			})
		}
	} else {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		for range b.N {
			<-tick.C
			wg.Go(submit)
		}
		tick.Stop()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for testutil.ToFloat64(completed) < float64(b.N) {
		time.Sleep(time.Millisecond) // polling a counter in memory; the tasks are what take time
	}
	elapsed := time.Since(begin)
	b.StopTimer()

	var latencies []time.Duration
	f := storage.TaskFilter{Limit: storage.MaxPageLimit}
	for {
		page, err := e.store.Tasks().List(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range page.Tasks {
			latencies = append(latencies, t.FinishedAt.Sub(started[t.ID]))
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	reportThroughput(b, "tasks/s", elapsed)
	slices.Sort(latencies)
	b.ReportMetric(ms(percentile(latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(latencies, 0.99)), "p99-ms")
}

// noopArgs is River's no-op job.
type noopArgs struct{}

func (noopArgs) Kind() string { return "ossa_bench_noop" }

// riverClient is what the benchmark needs of a River client of either driver.
type riverClient interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// benchRiver inserts b.N no-op jobs, one per transaction from
// benchSubmitters goroutines, into River on the same database with the
// task service's settings, and reports jobs/s from the first insert to the
// last job worked.
func benchRiver(b *testing.B, pg bool) {
	st := openStore(b, pg)
	var done atomic.Int64
	finished := make(chan struct{})
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[noopArgs]) error {
		if done.Add(1) == int64(b.N) {
			close(finished)
		}
		return nil
	}))
	cfg := riverConfig(queueSettings{
		Workers: benchWorkers, FetchCooldown: benchFetchCooldown, FetchPollInterval: benchFetchPollInterval,
		RescueAfter: time.Minute, SoftStopTimeout: time.Second, Retry: newBackoff(time.Second, time.Minute),
		Logger: slog.New(slog.DiscardHandler),
	}, workers)
	var (
		client riverClient
		err    error
	)
	switch s := st.(type) {
	case *sqlite.Store:
		client, err = river.NewClient(riversqlite.New(s.DB()), cfg)
	case *postgres.Store:
		client, err = river.NewClient(riverpgxv5.New(s.Pool()), cfg)
	default:
		err = fmt.Errorf("unsupported store %T", st)
	}
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := client.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			b.Error(err)
		}
	})

	b.ResetTimer()
	begin := time.Now()
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range benchSubmitters {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := client.Insert(ctx, noopArgs{}, &river.InsertOpts{Queue: queueName}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-finished
	elapsed := time.Since(begin)
	b.StopTimer()
	reportThroughput(b, "jobs/s", elapsed)
}

func reportThroughput(b *testing.B, unit string, elapsed time.Duration) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit)
	b.ReportMetric(0, "ns/op") // per-op time is meaningless for a concurrent burst
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
