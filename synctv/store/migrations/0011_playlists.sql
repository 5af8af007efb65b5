-- Playlists (a room's root and folders inside), media items with fractional positions, the room's
-- one playback state, the position remembered per media, and the history of what played.
CREATE TABLE playlists (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    room_id     text NOT NULL REFERENCES rooms (id),
    parent_id   text REFERENCES playlists (id) ON DELETE CASCADE,  -- NULL: the room's root
    name        text NOT NULL CHECK (char_length(name) <= 100),
    position    text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX playlists_one_root ON playlists (room_id) WHERE parent_id IS NULL;
CREATE INDEX playlists_parent_idx ON playlists (parent_id, position);

CREATE TABLE media (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    room_id     text NOT NULL REFERENCES rooms (id),
    playlist_id text NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    -- core/ordering.py keys: byte order is the order.
    position    text COLLATE "C" NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- {kind: url|provider|live, ...}: see core/media.py. Credentials never live here.
    source      jsonb NOT NULL,
    proxy_mode  text NOT NULL DEFAULT 'auto'
        CHECK (proxy_mode IN ('auto', 'prefer', 'only', 'direct_prefer', 'direct_only')),
    kind        text NOT NULL DEFAULT 'regular' CHECK (kind IN ('regular', 'live')),
    duration    double precision CHECK (duration IS NULL OR duration >= 0),
    added_by    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_playlist_idx ON media (playlist_id, position);
CREATE INDEX media_room_idx ON media (room_id);

-- The anchor (core/playback.py): server time in seconds since the epoch.
CREATE TABLE playback_state (
    room_id          text PRIMARY KEY REFERENCES rooms (id),
    media_id         text,
    media_kind       text NOT NULL DEFAULT 'regular' CHECK (media_kind IN ('regular', 'live')),
    anchor_position  double precision NOT NULL DEFAULT 0,
    anchor_time      double precision NOT NULL DEFAULT 0,
    speed            double precision NOT NULL DEFAULT 1 CHECK (speed BETWEEN 0.25 AND 4),
    playing          boolean NOT NULL DEFAULT false,
    version          bigint NOT NULL DEFAULT 0,
    duration         double precision
);

CREATE TABLE media_positions (
    room_id     text NOT NULL REFERENCES rooms (id),
    media_id    text NOT NULL,
    position    double precision NOT NULL,
    PRIMARY KEY (room_id, media_id)
);

CREATE TABLE playback_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    room_id       text NOT NULL REFERENCES rooms (id),
    media_id      text NOT NULL,
    name          text NOT NULL,
    chosen_by     text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    last_position double precision NOT NULL DEFAULT 0
);
CREATE INDEX playback_history_room_idx ON playback_history (room_id, id DESC);
