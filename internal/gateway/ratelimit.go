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

// setHeaders writes the IETF draft RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset headers, and Retry-After on a denial. Seconds are rounded
// up so that waiting them is always enough.
//
// It runs on every request, so it sets the canonical keys directly, and
// the numbers share one string and the values one slice: two allocations
// instead of Header.Set's eight.
func (r rateResult) setHeaders(h http.Header) {
	var buf [4 * 20]byte
	nums, end := r.headerValues(buf[:0])
	s := string(nums)
	v := make([]string, 4)
	v[0], v[1], v[2], v[3] = s[:end[0]], s[end[0]:end[1]], s[end[1]:end[2]], s[end[2]:end[3]]
	h["Ratelimit-Limit"], h["Ratelimit-Remaining"], h["Ratelimit-Reset"] = v[0:1:1], v[1:2:2], v[2:3:3]
	if !r.allowed {
		h["Retry-After"] = v[3:4:4]
	}
}

// rateHeaders are the names of the values of headerValues, in order.
var rateHeaders = [4]string{"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Retry-After"}

// headerValues appends the values of rateHeaders to b, one after the
// other: value i ends at end[i]. Retry-After is empty unless denied.
func (r rateResult) headerValues(b []byte) (_ []byte, end [4]int) {
	b = strconv.AppendInt(b, int64(r.burst), 10)
	end[0] = len(b)
	b = strconv.AppendInt(b, int64(max(r.remaining, 0)), 10)
	end[1] = len(b)
	b = strconv.AppendInt(b, int64(ceilSeconds(r.resetAfter)), 10)
	end[2] = len(b)
	if !r.allowed {
		b = strconv.AppendInt(b, int64(max(ceilSeconds(r.retryAfter), 1)), 10)
	}
	end[3] = len(b)
	return b, end
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
