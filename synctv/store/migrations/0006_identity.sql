-- Identity: accounts, bans, login sessions, the first-start setup token and the OPAQUE server
-- setup's fingerprint. Passwords never reach the server: a user holds the OPAQUE registration
-- record their client uploaded (RFC 9807, 192 bytes), nothing derived from a password.
CREATE TABLE users (
    -- Public id: random URL-safe text (never sequential, so ids say nothing about sign-up order).
    id                  text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    -- As the person typed it (NFKC-normalised, 3 to 32 characters, no control characters).
    username            text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 32),
    -- NFKC + case fold of username: what uniqueness and login compare (synctv/auth/usernames.py).
    username_key        text NOT NULL CHECK (char_length(username_key) BETWEEN 1 AND 128),
    display_name        text NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 64),
    role                text NOT NULL CHECK (role IN ('root', 'admin', 'user')),
    -- 'pending_review' while user.signupNeedsReview holds a new account for an administrator.
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'pending_review')),
    opaque_record       bytea CHECK (opaque_record IS NULL OR length(opaque_record) = 192),
    -- Bumped on every password change; tokens carry it (claim pv) so old ones stop.
    password_version    integer NOT NULL DEFAULT 1 CHECK (password_version >= 1),
    must_reset_password boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);
-- One live account per name; a deleted account keeps its row (audit rows name its id).
CREATE UNIQUE INDEX users_username_key_live ON users (username_key) WHERE deleted_at IS NULL;
CREATE INDEX users_created_idx ON users (created_at, id);

-- A ban is its own row (who, why, until, by whom); whether a user is banned now is derived.
CREATE TABLE user_bans (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id),
    reason      text NOT NULL DEFAULT '' CHECK (char_length(reason) <= 500),
    banned_by   text NOT NULL CHECK (char_length(banned_by) BETWEEN 1 AND 128),
    created_at  timestamptz NOT NULL DEFAULT now(),
    until       timestamptz,          -- NULL: until lifted
    lifted_at   timestamptz,
    lifted_by   text
);
CREATE INDEX user_bans_user_idx ON user_bans (user_id) WHERE lifted_at IS NULL;

-- A login session: one sign-in on one device. Its refresh token rotates; the jti of the one
-- refresh token currently valid is kept, so presenting an older one is detected as reuse.
CREATE TABLE login_sessions (
    id               text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    user_id          text NOT NULL REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz NOT NULL DEFAULT now(),
    client_address   text,
    user_agent       text NOT NULL DEFAULT '' CHECK (char_length(user_agent) <= 512),
    refresh_jti      text NOT NULL,
    refresh_counter  integer NOT NULL DEFAULT 0,
    revoked_at       timestamptz,
    revoked_reason   text
);
CREATE INDEX login_sessions_user_idx ON login_sessions (user_id, created_at DESC);

-- First start with no users: a one-time token (only its SHA-256 is stored) creates root.
CREATE TABLE setup_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz,
    used_by     text REFERENCES users (id)
);

-- The fingerprint of security.opaque_server_setup the stored records were made under (one row):
-- a changed setup would make every login fail, so start-up compares and refuses instead.
CREATE TABLE opaque_server_setup (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    fingerprint  text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
