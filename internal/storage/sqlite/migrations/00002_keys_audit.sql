-- API keys and the audit log of the gateway.

-- +goose Up
CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    agent        TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    -- Hex SHA-256 of the key; authentication looks keys up by it.
    hash         TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
) STRICT;

CREATE TABLE audit_events (
    id         TEXT    NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    actor_name TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    target     TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    request_id TEXT    NOT NULL
) STRICT;

-- Each equality filter walks its index in id order, newest first.
CREATE INDEX audit_events_actor_id ON audit_events (actor, id);
CREATE INDEX audit_events_action_id ON audit_events (action, id);
CREATE INDEX audit_events_target_id ON audit_events (target, id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
