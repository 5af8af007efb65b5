-- Live streams published over RTMP. The publish key is stored only as its SHA-256 (see
-- synctv/livestream/registry.py for why a fast hash is right for a random 256-bit key).
CREATE TABLE live_streams (
    stream_id       text PRIMARY KEY,
    -- RTMP app: the room id for a room-bound stream, "live" for a stream without a room.
    app             text NOT NULL,
    room_id         text,
    title           text NOT NULL DEFAULT '',
    key_hash        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    key_rotated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT live_streams_key_hash_len CHECK (octet_length(key_hash) = 32),
    CONSTRAINT live_streams_app_matches_room
        CHECK ((room_id IS NULL AND app = 'live') OR (room_id IS NOT NULL AND app = room_id))
);

-- authorize_publish looks the stream up by the hash of the presented key.
CREATE UNIQUE INDEX live_streams_key_hash_idx ON live_streams (key_hash);
CREATE INDEX live_streams_room_idx ON live_streams (room_id) WHERE room_id IS NOT NULL;
