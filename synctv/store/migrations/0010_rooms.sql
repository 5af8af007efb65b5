-- Rooms: members, bans, kick cool-downs, join requests, playlists, media, the playback state,
-- and room_events, the ordered log of every change (written in the change's own transaction, so
-- a change without its event cannot happen; the realtime channel streams and replays it).
CREATE TABLE rooms (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description     text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    is_public       boolean NOT NULL DEFAULT true,
    owner_id        text NOT NULL REFERENCES users (id),
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The room password as an OPAQUE registration record (the same code as user passwords).
    password_record bytea CHECK (password_record IS NULL OR length(password_record) = 192),
    password_version integer NOT NULL DEFAULT 0,
    -- The per-room sequence of room_events: bumped in the transaction that writes an event.
    last_event_seq  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    -- A platform administrator's suspension of the whole room (not a member's room ban).
    suspended_at    timestamptz,
    suspend_reason  text NOT NULL DEFAULT '' CHECK (char_length(suspend_reason) <= 500),
    deleted_at      timestamptz
);
CREATE INDEX rooms_owner_idx ON rooms (owner_id) WHERE deleted_at IS NULL;
CREATE INDEX rooms_discovery_idx ON rooms (created_at DESC, id)
    WHERE is_public AND deleted_at IS NULL AND closed_at IS NULL;

-- A stored member (guests never are). Overrides are permission names (core/permissions.py).
CREATE TABLE room_members (
    room_id     text NOT NULL REFERENCES rooms (id),
    user_id     text NOT NULL REFERENCES users (id),
    role        text NOT NULL CHECK (role IN ('creator', 'admin', 'member')),
    added       text[] NOT NULL DEFAULT '{}',
    removed     text[] NOT NULL DEFAULT '{}',
    joined_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user_idx ON room_members (user_id);
-- One creator per room, always.
CREATE UNIQUE INDEX room_members_one_creator ON room_members (room_id) WHERE role = 'creator';

CREATE TABLE room_bans (
    room_id     text NOT NULL REFERENCES rooms (id),
    user_id     text NOT NULL REFERENCES users (id),
    reason      text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 500),
    banned_by   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- After a kick the person may not join again until the cool-down ends (1 s to 30 days).
CREATE TABLE room_kick_cooldowns (
    room_id     text NOT NULL REFERENCES rooms (id),
    user_id     text NOT NULL REFERENCES users (id),
    until       timestamptz NOT NULL,
    kicked_by   text NOT NULL,
    reason      text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 500),
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE room_join_requests (
    room_id      text NOT NULL REFERENCES rooms (id),
    user_id      text NOT NULL REFERENCES users (id),
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

-- The ordered log of a room's changes: (room, seq) with seq from rooms.last_event_seq.
CREATE TABLE room_events (
    room_id     text NOT NULL REFERENCES rooms (id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    type        text NOT NULL CHECK (type ~ '^[a-z][a-z_]{1,63}$'),
    payload     jsonb NOT NULL,
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, seq)
);
CREATE INDEX room_events_time_idx ON room_events (created_at);
