package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ossa-platform/ossa/internal/manifest"
	"github.com/ossa-platform/ossa/internal/storage"
)

// manifestFields are an agent's manifest-derived column values, encoded, in
// the parameter order of the INSERT and UPDATE statements.
type manifestFields struct {
	name, version, tier, tierReached string
	tierRank                         int16
	class                            string
	capabilities, tags               []string
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
		tierRank: int16(manifest.Tier(a.TierReached).Rank()), class: a.Class,
		capabilities: nonNil(a.Capabilities), tags: nonNil(a.Tags),
		protocol: a.Protocol, endpoint: a.Endpoint,
	}
	if len(a.Manifest) > 0 {
		// Checked here for the same error as the SQLite driver's; jsonb
		// input parsing is the backstop.
		if !json.Valid(a.Manifest) {
			return m, errors.New("manifest is not valid JSON")
		}
		m.manifest = string(a.Manifest)
	}
	return m, nil
}

// nonNil stores a nil list as '{}' (a nil slice would be NULL) so that it
// reads back non-nil.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// statusFields are an agent's status column values, encoded, in the
// parameter order of the INSERT and UPDATE statements.
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
		lastHeartbeatAt: encodeTime(st.LastHeartbeatAt), lastProbeAt: encodeTime(st.LastProbeAt),
		probesTotal: st.ProbesTotal, probesOK: st.ProbesOK, latencyMS: st.LatencyMS, uptime: st.Uptime,
		healthySince: encodeTime(st.HealthySince),
	}
	if st.Health == "" {
		s.health = string(storage.HealthUnknown)
	} else if !st.Health.Valid() {
		return s, fmt.Errorf("invalid health %q", st.Health)
	}
	return s, nil
}

// scanAgent reads one row of agentColumns.
func scanAgent(row pgx.Row) (*storage.Agent, error) {
	var (
		a                storage.Agent
		manifest         []byte
		health           string
		hb, probe, since pgtype.Timestamptz
		created, updated time.Time
	)
	err := row.Scan(&a.ID, &a.Name, &a.Version, &a.Tier, &a.TierReached, &a.Class, &a.Capabilities, &a.Tags,
		&a.Protocol, &a.Endpoint, &manifest, &health, &a.Status.Reason, &hb, &probe,
		&a.Status.ProbesTotal, &a.Status.ProbesOK, &a.Status.LatencyMS, &a.Status.Uptime, &since,
		&a.Revision, &created, &updated)
	if err != nil {
		return nil, err
	}
	if manifest != nil {
		a.Manifest = manifest
	}
	a.Status.Health = storage.Health(health)
	a.Status.LastHeartbeatAt = decodeTime(hb)
	a.Status.LastProbeAt = decodeTime(probe)
	a.Status.HealthySince = decodeTime(since)
	a.CreatedAt = created.UTC()
	a.UpdatedAt = updated.UTC()
	return &a, nil
}

// Times are truncated to microseconds, timestamptz's precision, rather than
// rounded by the server, so that both drivers return the same value; NULL
// stands for the zero time.
func encodeTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Truncate(time.Microsecond)
}

func decodeTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}
