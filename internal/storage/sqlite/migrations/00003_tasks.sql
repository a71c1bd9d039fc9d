-- Tasks of the task service and their event history. The queue that runs
-- them is River's (its own tables, migrated by rivermigrate); tasks.job_id
-- names the River job of the current run.

-- +goose Up
CREATE TABLE tasks (
    id                   TEXT    NOT NULL PRIMARY KEY,
    capability           TEXT    NOT NULL,
    requested_agent      TEXT    NOT NULL,
    input                TEXT    CHECK (input IS NULL OR json_valid(input)),
    min_tier             TEXT    NOT NULL,
    tags                 TEXT    NOT NULL CHECK (json_valid(tags)),
    priority             INTEGER NOT NULL,
    timeout_ms           INTEGER NOT NULL,
    max_attempts         INTEGER NOT NULL,
    wait_for_agent_until INTEGER,
    -- NULL when the caller gave none; UNIQUE ignores NULLs.
    idempotency_key      TEXT    UNIQUE,
    request_hash         TEXT    NOT NULL,
    created_by           TEXT    NOT NULL,
    context_id           TEXT    NOT NULL,
    state                TEXT    NOT NULL CHECK (state IN ('submitted', 'working', 'input-required',
                                 'auth-required', 'completed', 'failed', 'canceled', 'rejected')),
    message              TEXT    NOT NULL,
    output               TEXT    CHECK (output IS NULL OR json_valid(output)),
    artifacts            TEXT    NOT NULL CHECK (json_valid(artifacts)),
    attempts             INTEGER NOT NULL,
    agent_id             TEXT    NOT NULL,
    agent_name           TEXT    NOT NULL,
    -- The agent of the attempt in flight; NULL between attempts.
    running_on           TEXT,
    offered              INTEGER NOT NULL CHECK (offered IN (0, 1)),
    lease_expires_at     INTEGER,
    attempt_error        TEXT    NOT NULL,
    remote_id            TEXT    NOT NULL,
    failed_agents        TEXT    NOT NULL CHECK (json_valid(failed_agents)),
    job_id               INTEGER,
    event_seq            INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    finished_at          INTEGER
) STRICT;

-- Lists page newest first (ids are UUIDv7, so id order is creation order);
-- each filter walks its own index in id order.
CREATE INDEX tasks_state_id ON tasks (state, id);
CREATE INDEX tasks_capability_id ON tasks (capability, id);
CREATE INDEX tasks_agent_id ON tasks (agent_id, id);
CREATE INDEX tasks_agent_name_id ON tasks (agent_name, id);
-- Per-agent concurrency counts the tasks running on an agent.
CREATE INDEX tasks_running_on ON tasks (running_on) WHERE running_on IS NOT NULL;
-- Pull-mode claims take the most urgent task offered to the agent.
CREATE INDEX tasks_offered ON tasks (running_on, priority, id) WHERE offered = 1;

CREATE TABLE task_events (
    task_id    TEXT    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('status', 'artifact')),
    state      TEXT    NOT NULL,
    message    TEXT    NOT NULL,
    artifact   TEXT    CHECK (artifact IS NULL OR json_valid(artifact)),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (task_id, seq)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE task_events;
DROP TABLE tasks;
