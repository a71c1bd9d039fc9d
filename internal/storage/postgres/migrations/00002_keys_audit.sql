-- API keys and the audit log of the gateway.

-- +goose Up
CREATE TABLE api_keys (
    id           text COLLATE "C" PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL,
    agent        text        NOT NULL,
    prefix       text        NOT NULL,
    -- Hex SHA-256 of the key; authentication looks keys up by it.
    hash         text        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

CREATE TABLE audit_events (
    id         text COLLATE "C" PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    actor_name text        NOT NULL,
    role       text        NOT NULL,
    action     text        NOT NULL,
    target     text        NOT NULL,
    status     integer     NOT NULL,
    request_id text        NOT NULL
);

-- Each equality filter walks its index in id order, newest first.
CREATE INDEX audit_events_actor_id ON audit_events (actor, id);
CREATE INDEX audit_events_action_id ON audit_events (action, id);
CREATE INDEX audit_events_target_id ON audit_events (target, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
