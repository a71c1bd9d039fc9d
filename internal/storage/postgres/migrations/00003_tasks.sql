-- Tasks of the task service and their event history. The queue that runs
-- them is River's (its own tables, migrated by rivermigrate); tasks.job_id
-- names the River job of the current run.

-- +goose Up
CREATE TABLE tasks (
    id                   text COLLATE "C" PRIMARY KEY,
    capability           text        NOT NULL,
    requested_agent      text        NOT NULL,
    input                jsonb,
    min_tier             text        NOT NULL,
    tags                 text[]      NOT NULL,
    priority             smallint    NOT NULL,
    timeout_ms           bigint      NOT NULL,
    max_attempts         integer     NOT NULL,
    wait_for_agent_until timestamptz,
    -- NULL when the caller gave none; UNIQUE ignores NULLs.
    idempotency_key      text        UNIQUE,
    request_hash         text        NOT NULL,
    created_by           text        NOT NULL,
    context_id           text        NOT NULL,
    state                text        NOT NULL CHECK (state IN ('submitted', 'working', 'input-required',
                                     'auth-required', 'completed', 'failed', 'canceled', 'rejected')),
    message              text        NOT NULL,
    output               jsonb,
    artifacts            jsonb       NOT NULL,
    attempts             integer     NOT NULL,
    agent_id             text        NOT NULL,
    agent_name           text        NOT NULL,
    -- The agent of the attempt in flight; NULL between attempts.
    running_on           text,
    offered              boolean     NOT NULL,
    lease_expires_at     timestamptz,
    attempt_error        text        NOT NULL,
    remote_id            text        NOT NULL,
    failed_agents        text[]      NOT NULL,
    job_id               bigint,
    event_seq            bigint      NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    finished_at          timestamptz
);

-- Lists page newest first (ids are UUIDv7, so id order is creation order);
-- each filter walks its own index in id order.
CREATE INDEX tasks_state_id ON tasks (state, id);
CREATE INDEX tasks_capability_id ON tasks (capability, id);
CREATE INDEX tasks_agent_id ON tasks (agent_id, id);
CREATE INDEX tasks_agent_name_id ON tasks (agent_name, id);
-- Per-agent concurrency counts the tasks running on an agent.
CREATE INDEX tasks_running_on ON tasks (running_on) WHERE running_on IS NOT NULL;
-- Pull-mode claims take the most urgent task offered to the agent.
CREATE INDEX tasks_offered ON tasks (running_on, priority, id) WHERE offered;

CREATE TABLE task_events (
    task_id    text COLLATE "C" NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq        bigint      NOT NULL,
    kind       text        NOT NULL CHECK (kind IN ('status', 'artifact')),
    state      text        NOT NULL,
    message    text        NOT NULL,
    artifact   jsonb,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (task_id, seq)
);

-- +goose Down
DROP TABLE task_events;
DROP TABLE tasks;
