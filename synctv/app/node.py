"""This node's identity: its id, its row in ``nodes``, its pool gauges."""

from __future__ import annotations

import secrets as random_secrets

from synctv import __version__, metrics
from synctv.config import Config
from synctv.store.db import Database


def node_id_for(config: Config) -> str:
    """The configured node id, else one generated once and kept in data_dir/node_id."""
    if config.cluster.node_id:
        return config.cluster.node_id
    path = config.data_dir / "node_id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = f"node-{random_secrets.token_hex(6)}"
        path.write_text(value + "\n")
        return value


async def register_node(db: Database, node_id: str) -> None:
    """Record this node and its version; export the database pool's gauges."""
    await db.execute(
        "INSERT INTO nodes (node_id, version) VALUES ($1, $2) "
        "ON CONFLICT (node_id) DO UPDATE SET version = $2, started_at = now()",
        node_id,
        __version__,
    )
    metrics.export_snapshot(metrics.DB_POOL, db.statistics)
