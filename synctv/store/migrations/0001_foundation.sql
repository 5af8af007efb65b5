-- Node bookkeeping: which SyncTV nodes have used this database and when they last started.
CREATE TABLE nodes (
    node_id     text PRIMARY KEY,
    version     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);
