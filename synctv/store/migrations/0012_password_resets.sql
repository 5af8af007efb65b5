-- One-time password reset links an administrator hands out: only the SHA-256 of the token is
-- kept; a reset clears the account's OPAQUE record, so the old password stops working at once.
CREATE TABLE password_reset_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id     text NOT NULL REFERENCES users (id),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id) WHERE used_at IS NULL;
