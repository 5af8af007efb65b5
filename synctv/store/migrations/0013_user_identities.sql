-- Accounts linked to OpenID Connect identities: (issuer, subject) names a person at a provider
-- for good (RFC: the pair is stable and never reassigned), so it is the key, not an e-mail.
CREATE TABLE user_identities (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16,64}$'),
    user_id      text NOT NULL REFERENCES users (id),
    provider     text NOT NULL CHECK (char_length(provider) BETWEEN 1 AND 32),
    issuer       text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 512),
    subject      text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 255),
    email        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, subject)
);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);
