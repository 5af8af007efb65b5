-- Chat and danmaku (issue 13): one row per message. A danmaku is a message with a display mode
-- and a colour, stamped with the media and position the room was at when it was sent. A deleted
-- message keeps its row (deleted_at, deleted_by) until retention removes it; it is never served.
CREATE TABLE chat_messages (
    -- Internal order (the history cursor walks it); the public id below is what clients see.
    n               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              text NOT NULL UNIQUE CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    room_id         text NOT NULL REFERENCES rooms (id),
    -- A user id, or a guest's id (guests have no user row): sender_kind says which.
    sender_id       text NOT NULL,
    sender_kind     text NOT NULL CHECK (sender_kind IN ('user', 'guest')),
    -- The sender's display name when it was sent (a later rename does not rewrite history).
    sender_name     text NOT NULL CHECK (char_length(sender_name) BETWEEN 1 AND 64),
    text            text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 500),
    danmaku_mode    text CHECK (danmaku_mode IN ('scroll', 'top', 'bottom')),
    danmaku_color   text CHECK (danmaku_color ~ '^#[0-9a-f]{6}$'),
    media_id        text,
    media_position  double precision CHECK (media_position IS NULL OR media_position >= 0),
    -- The room_events row that announced it (its text is blanked there on delete).
    event_seq       bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    deleted_by      text,
    CHECK ((danmaku_mode IS NULL) = (danmaku_color IS NULL)),
    CHECK (danmaku_mode IS NULL OR (media_id IS NOT NULL AND media_position IS NOT NULL)),
    CHECK ((deleted_at IS NULL) = (deleted_by IS NULL))
);
CREATE INDEX chat_messages_room_idx ON chat_messages (room_id, n DESC);
CREATE INDEX chat_messages_time_idx ON chat_messages (created_at);
CREATE INDEX chat_messages_timeline_idx ON chat_messages (room_id, media_id, media_position)
    WHERE danmaku_mode IS NOT NULL AND deleted_at IS NULL;
