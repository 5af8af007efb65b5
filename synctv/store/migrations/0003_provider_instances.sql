-- Provider instances: a configured provider kind (direct, alist, emby ...). Credentials are
-- AES-256-GCM ciphertext (nonce || ciphertext || tag) under the key named by credentials_key_id;
-- the plaintext never reaches the database.
CREATE TABLE provider_instances (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL,
    name                text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    config              jsonb NOT NULL DEFAULT '{}'::jsonb,
    credentials         bytea,
    credentials_key_id  text,
    lan_service         boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))
);
CREATE INDEX provider_instances_key_id ON provider_instances (credentials_key_id);
