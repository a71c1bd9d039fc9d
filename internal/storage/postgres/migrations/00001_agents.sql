-- Agents registered with discovery.
--
-- Conventions for this and later migrations: unqualified names (the schema
-- comes from search_path); timestamptz, NULL for "never"; ids are text
-- COLLATE "C" so that id order is byte order, the same as SQLite's.

-- +goose Up
CREATE TABLE agents (
    id                text COLLATE "C" PRIMARY KEY,
    name              text             NOT NULL,
    version           text             NOT NULL,
    tier              text             NOT NULL,
    tier_reached      text             NOT NULL,
    -- Rank of tier_reached (core 1, governed 2, advanced 3, else 0) so that
    -- AgentFilter.MinTier is a range test.
    tier_rank         smallint         NOT NULL,
    class             text             NOT NULL,
    capabilities      text[]           NOT NULL,
    tags              text[]           NOT NULL,
    protocol          text             NOT NULL,
    endpoint          text             NOT NULL,
    manifest          jsonb,
    health            text             NOT NULL CHECK (health IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    reason            text             NOT NULL,
    last_heartbeat_at timestamptz,
    last_probe_at     timestamptz,
    probes_total      bigint           NOT NULL,
    probes_ok         bigint           NOT NULL,
    latency_ms        double precision NOT NULL,
    uptime            double precision NOT NULL,
    healthy_since     timestamptz,
    revision          bigint           NOT NULL,
    created_at        timestamptz      NOT NULL,
    updated_at        timestamptz      NOT NULL,
    CONSTRAINT agents_name_version_key UNIQUE (name, version)
);

-- All-of filters are array containment (capabilities @> $1), which GIN
-- indexes answer. fastupdate is off because the registry is read far more
-- than written: with it on, new entries wait in an unsorted pending list
-- that every search must scan (and the planner, costing that, falls back
-- to a sequential scan) until vacuum merges them.
CREATE INDEX agents_capabilities_gin ON agents USING gin (capabilities) WITH (fastupdate = off);
CREATE INDEX agents_tags_gin ON agents USING gin (tags) WITH (fastupdate = off);
-- Equality filters that page in id order walk these in order.
CREATE INDEX agents_class_id ON agents (class, id);
CREATE INDEX agents_health_id ON agents (health, id);

-- +goose Down
DROP TABLE agents;
