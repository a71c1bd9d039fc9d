package gateway

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// limiter is a per-caller token bucket, kept in process or in Redis. Both
// implement GCRA (the generic cell rate algorithm), which is a token bucket
// that stores one timestamp per caller instead of a count and a time.
type limiter interface {
	allow(ctx context.Context, key string) (rateResult, error)
}

// rateResult is one decision of a limiter.
type rateResult struct {
	allowed bool
	// burst is the bucket size; remaining the requests that could be made
	// at once now.
	burst, remaining int
	// retryAfter is when the next request will be allowed (denials only);
	// resetAfter when the bucket will be full again.
	retryAfter, resetAfter time.Duration
}

// setHeaders writes the rate limit headers (see headers) to h.
func (r rateResult) setHeaders(h http.Header) {
	r.headers(func(name string, value []byte) { h[name] = []string{string(value)} })
}

// headers calls set with the canonical name and the value of the IETF
// draft RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers,
// and of Retry-After on a denial. Seconds are rounded up so that waiting
// them is always enough. value is valid only during the call.
func (r rateResult) headers(set func(name string, value []byte)) {
	var buf [20]byte
	set("Ratelimit-Limit", strconv.AppendInt(buf[:0], int64(r.burst), 10))
	set("Ratelimit-Remaining", strconv.AppendInt(buf[:0], int64(max(r.remaining, 0)), 10))
	set("Ratelimit-Reset", strconv.AppendInt(buf[:0], int64(ceilSeconds(r.resetAfter)), 10))
	if !r.allowed {
		set("Retry-After", strconv.AppendInt(buf[:0], int64(max(ceilSeconds(r.retryAfter), 1)), 10))
	}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// memoryLimiter is the in-process GCRA of the embedded mode.
type memoryLimiter struct {
	clock    func() time.Time
	interval time.Duration // between two requests at the sustained rate
	burst    int

	mu  sync.Mutex
	tat map[string]time.Time // theoretical arrival time per key
}

// maxLimiterKeys bounds the in-process limiter's map; past it, keys whose
// bucket is full again (which carry no state) are dropped.
const maxLimiterKeys = 100_000

func newMemoryLimiter(cfg RateLimitConfig, clock func() time.Time) *memoryLimiter {
	return &memoryLimiter{
		clock:    clock,
		interval: cfg.Period / time.Duration(cfg.Requests),
		burst:    cfg.Burst,
		tat:      map[string]time.Time{},
	}
}

func (l *memoryLimiter) allow(_ context.Context, key string) (rateResult, error) {
	now := l.clock()
	burstOffset := l.interval * time.Duration(l.burst)
	l.mu.Lock()
	defer l.mu.Unlock()
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(l.interval)
	diff := now.Sub(newTAT.Add(-burstOffset))
	res := rateResult{burst: l.burst}
	if diff < 0 {
		res.retryAfter = -diff
		res.resetAfter = tat.Sub(now)
		return res, nil
	}
	if len(l.tat) >= maxLimiterKeys {
		for k, t := range l.tat {
			if !t.After(now) {
				delete(l.tat, k)
			}
		}
	}
	l.tat[key] = newTAT
	res.allowed = true
	res.remaining = int(diff / l.interval)
	res.resetAfter = newTAT.Sub(now)
	return res, nil
}

// redisLimiter shares one budget per caller between gateway replicas. The
// GCRA runs as a Lua script on Redis's clock, so replicas' clocks need not
// agree.
type redisLimiter struct {
	rl    *redis_rate.Limiter
	limit redis_rate.Limit
}

// redisKeyPrefix namespaces the limiter's keys (redis_rate adds "rate:").
const redisKeyPrefix = "ossa:gateway:"

func newRedisLimiter(rdb *redis.Client, cfg RateLimitConfig) *redisLimiter {
	return &redisLimiter{
		rl:    redis_rate.NewLimiter(rdb),
		limit: redis_rate.Limit{Rate: cfg.Requests, Period: cfg.Period, Burst: cfg.Burst},
	}
}

func (l *redisLimiter) allow(ctx context.Context, key string) (rateResult, error) {
	res, err := l.rl.Allow(ctx, redisKeyPrefix+key, l.limit)
	if err != nil {
		return rateResult{}, fmt.Errorf("rate limit in redis: %w", err)
	}
	return rateResult{
		allowed:    res.Allowed > 0,
		burst:      l.limit.Burst,
		remaining:  res.Remaining,
		retryAfter: res.RetryAfter,
		resetAfter: res.ResetAfter,
	}, nil
}
