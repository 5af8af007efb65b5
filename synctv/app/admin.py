"""Node status for ``synctv admin status`` (management gRPC)."""

from __future__ import annotations

import time

from synctv import __version__
from synctv.api.grpc._gen.synctv.admin.v1 import admin_pb2
from synctv.api.grpc.admin import AdminService
from synctv.app.feature import Feature, Services
from synctv.store.db import Database
from synctv.store.migrations import latest_version, schema_version


async def build(services: Services) -> Feature:
    async def status() -> admin_pb2.StatusResponse:
        ready, checks = await services.readiness.evaluate()
        return admin_pb2.StatusResponse(
            node_id=services.node_id,
            version=__version__,
            uptime_seconds=time.monotonic() - services.started_at,
            ready=ready,
            database_status=str(checks["database"]["detail"]),
            database_kind=services.database_kind,
            schema_version=await _schema_version_or_minus_one(services.db),
            expected_schema_version=latest_version(),
            state_backend="redis" if services.config.redis.url else "memory",
        )

    return Feature("admin", admin_handlers=[AdminService(status)])


async def _schema_version_or_minus_one(db: Database) -> int:
    try:
        version = await schema_version(db)
    except Exception:
        return -1
    return -1 if version is None else version
