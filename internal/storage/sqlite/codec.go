package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// manifestFields are an agent's manifest-derived column values, encoded, in
// the column order of the INSERT and UPDATE statements.
type manifestFields struct {
	name, version, tier, tierReached string
	tierRank                         int
	class                            string
	capabilities, tags               string // JSON arrays
	protocol, endpoint               string
	manifest                         any // JSON text, or nil for SQL NULL
}

func (m manifestFields) args() []any {
	return []any{
		m.name, m.version, m.tier, m.tierReached, m.tierRank, m.class,
		m.capabilities, m.tags, m.protocol, m.endpoint, m.manifest,
	}
}

func encodeManifestFields(a *storage.Agent) (manifestFields, error) {
	m := manifestFields{
		name: a.Name, version: a.Version, tier: a.Tier, tierReached: a.TierReached,
		tierRank: manifest.Tier(a.TierReached).Rank(), class: a.Class, protocol: a.Protocol, endpoint: a.Endpoint,
	}
	var err error
	if m.capabilities, err = encodeList(a.Capabilities); err != nil {
		return m, fmt.Errorf("encode capabilities: %w", err)
	}
	if m.tags, err = encodeList(a.Tags); err != nil {
		return m, fmt.Errorf("encode tags: %w", err)
	}
	if len(a.Manifest) > 0 {
		// Checked here for a clear error; the column's CHECK is the backstop.
		if !json.Valid(a.Manifest) {
			return m, errors.New("manifest is not valid JSON")
		}
		m.manifest = string(a.Manifest)
	}
	return m, nil
}

// encodeList stores a nil list as [] so that it reads back non-nil.
func encodeList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// statusFields are an agent's status column values, encoded, in the column
// order of the INSERT and UPDATE statements.
type statusFields struct {
	health, reason               string
	lastHeartbeatAt, lastProbeAt any
	probesTotal, probesOK        int64
	latencyMS, uptime            float64
	healthySince                 any
}

func (s statusFields) args() []any {
	return []any{
		s.health, s.reason, s.lastHeartbeatAt, s.lastProbeAt, s.probesTotal, s.probesOK,
		s.latencyMS, s.uptime, s.healthySince,
	}
}

func encodeStatus(st storage.AgentStatus) (statusFields, error) {
	s := statusFields{
		health: string(st.Health), reason: st.Reason,
		probesTotal: st.ProbesTotal, probesOK: st.ProbesOK, latencyMS: st.LatencyMS, uptime: st.Uptime,
	}
	if st.Health == "" {
		s.health = string(storage.HealthUnknown)
	} else if !st.Health.Valid() {
		return s, fmt.Errorf("invalid health %q", st.Health)
	}
	var err error
	if s.lastHeartbeatAt, err = encodeTime(st.LastHeartbeatAt); err != nil {
		return s, fmt.Errorf("last heartbeat: %w", err)
	}
	if s.lastProbeAt, err = encodeTime(st.LastProbeAt); err != nil {
		return s, fmt.Errorf("last probe: %w", err)
	}
	if s.healthySince, err = encodeTime(st.HealthySince); err != nil {
		return s, fmt.Errorf("healthy since: %w", err)
	}
	return s, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanAgent reads one row of agentColumns.
func scanAgent(sc scanner) (*storage.Agent, error) {
	var (
		a                storage.Agent
		caps, tags       string
		manifest         []byte
		health           string
		hb, probe, since *int64
		created, updated int64
	)
	err := sc.Scan(&a.ID, &a.Name, &a.Version, &a.Tier, &a.TierReached, &a.Class, &caps, &tags,
		&a.Protocol, &a.Endpoint, &manifest, &health, &a.Status.Reason, &hb, &probe,
		&a.Status.ProbesTotal, &a.Status.ProbesOK, &a.Status.LatencyMS, &a.Status.Uptime, &since,
		&a.Revision, &created, &updated)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(caps), &a.Capabilities); err != nil {
		return nil, fmt.Errorf("agent %s: decode capabilities: %w", a.ID, err)
	}
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return nil, fmt.Errorf("agent %s: decode tags: %w", a.ID, err)
	}
	if manifest != nil {
		a.Manifest = manifest
	}
	a.Status.Health = storage.Health(health)
	a.Status.LastHeartbeatAt = decodeTime(hb)
	a.Status.LastProbeAt = decodeTime(probe)
	a.Status.HealthySince = decodeTime(since)
	a.CreatedAt = decodeTime(&created)
	a.UpdatedAt = decodeTime(&updated)
	return &a, nil
}

// Times are INTEGER unix nanoseconds, truncated to microseconds so that both
// drivers return the same value; NULL stands for the zero time.
var (
	minTime = time.Unix(0, math.MinInt64).UTC()
	maxTime = time.Unix(0, math.MaxInt64).UTC()
)

func encodeTime(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minTime) || t.After(maxTime) {
		return nil, fmt.Errorf("time %s outside %d..%d", t, minTime.Year(), maxTime.Year())
	}
	return t.Truncate(time.Microsecond).UnixNano(), nil
}

func decodeTime(nanos *int64) time.Time {
	if nanos == nil {
		return time.Time{}
	}
	return time.Unix(0, *nanos).UTC()
}

func nowNanos() int64 {
	return time.Now().Truncate(time.Microsecond).UnixNano()
}
