-- Agents registered with discovery.
--
-- Conventions for this and later migrations: STRICT tables; times are
-- INTEGER unix nanoseconds in UTC, NULL for "never"; JSON is TEXT checked
-- with json_valid.

-- +goose Up
CREATE TABLE agents (
    -- Rowid table on purpose: rows carry whole manifests, too large for
    -- WITHOUT ROWID to pay off. The id index gives ID-ordered pages.
    id                TEXT    NOT NULL PRIMARY KEY,
    name              TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    tier              TEXT    NOT NULL,
    tier_reached      TEXT    NOT NULL,
    -- Rank of tier_reached (core 1, governed 2, advanced 3, else 0) so that
    -- AgentFilter.MinTier is a range test.
    tier_rank         INTEGER NOT NULL,
    class             TEXT    NOT NULL,
    -- The lists as written (order kept), for reading back. Filters use the
    -- indexed agent_capabilities and agent_tags tables instead.
    capabilities      TEXT    NOT NULL CHECK (json_valid(capabilities)),
    tags              TEXT    NOT NULL CHECK (json_valid(tags)),
    protocol          TEXT    NOT NULL,
    endpoint          TEXT    NOT NULL,
    manifest          TEXT    CHECK (manifest IS NULL OR json_valid(manifest)),
    health            TEXT    NOT NULL CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    reason            TEXT    NOT NULL,
    last_heartbeat_at INTEGER,
    last_probe_at     INTEGER,
    probes_total      INTEGER NOT NULL,
    probes_ok         INTEGER NOT NULL,
    latency_ms        REAL    NOT NULL,
    uptime            REAL    NOT NULL,
    healthy_since     INTEGER,
    revision          INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (name, version)
) STRICT;

-- Equality filters that page in id order walk these in order.
CREATE INDEX agents_class_id ON agents (class, id);
CREATE INDEX agents_health_id ON agents (health, id);

-- One row per (capability, agent): the primary key lists, per capability,
-- the agents that have it in id order, so an all-of filter is an index range
-- per capability rather than a JSON scan of every agent.
CREATE TABLE agent_capabilities (
    capability TEXT NOT NULL,
    agent_id   TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (capability, agent_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX agent_capabilities_agent ON agent_capabilities (agent_id);

CREATE TABLE agent_tags (
    tag      TEXT NOT NULL,
    agent_id TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, agent_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX agent_tags_agent ON agent_tags (agent_id);

-- +goose Down
DROP TABLE agent_tags;
DROP TABLE agent_capabilities;
DROP TABLE agents;
