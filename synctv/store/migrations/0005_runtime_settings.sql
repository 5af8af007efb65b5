-- Runtime settings (synctv/core/settings.py declares them): one row per key that differs from
-- its default; a key without a row reads its default. A change writes its audit row and
-- NOTIFY synctv_settings '<key>' in the same transaction (synctv/store/settings.py), so every
-- process reloads it once the change commits. Secret fields inside value are sealed
-- ({"$sealed": ..., "$key": ...}, AES-256-GCM under the credential encryption key).
CREATE TABLE runtime_settings (
    key         text PRIMARY KEY CHECK (key ~ '^[a-z][a-zA-Z0-9]*\.[a-z][a-zA-Z0-9]*$'),
    value       jsonb NOT NULL,
    version     bigint NOT NULL DEFAULT 1 CHECK (version > 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The audit actor: a user's public id, or 'system' / 'cli'.
    updated_by  text NOT NULL
);
