-- The audit log: who did what, from where, with what outcome. A row is written in the same
-- transaction as the change it records (synctv/store/audit.py), so a change whose row cannot be
-- written does not happen. details never holds a secret.
CREATE TABLE audit_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    -- A user's public id, or 'system' (the server itself) or 'cli' (the management socket).
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 128),
    -- The client address as resolved through server.trusted_proxies; NULL for system and cli.
    actor_address text,
    action       text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'),
    target_type  text NOT NULL DEFAULT '',
    target_id    text NOT NULL DEFAULT '',
    outcome      text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id   text
);

-- Listing is newest first, filtered by time, actor, action or target; retention deletes by time.
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at DESC);
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at DESC);
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id, occurred_at DESC);
