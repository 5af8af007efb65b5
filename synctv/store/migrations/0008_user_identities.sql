-- OpenID Connect identities: which account an (issuer, subject) pair signs in to. The pair is
-- what the provider guarantees stable (OIDC Core 5.7); emails and usernames may change or move.
CREATE TABLE user_identities (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id),
    -- The runtime-settings name of the provider it came through (for display and unlinking).
    provider      text NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 64),
    issuer        text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 512),
    subject       text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id, created_at);
