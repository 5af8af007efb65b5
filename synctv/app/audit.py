"""The audit log: ``synctv admin audit``, ``GET /api/admin/audit``, and its retention task."""

from __future__ import annotations

from synctv.api.grpc.admin_audit import AuditAdmin
from synctv.api.http.routes.audit import audit_router
from synctv.app.feature import Feature, Services, Task
from synctv.core.audit import AuditRetention
from synctv.store.audit import AuditLog

# The audit.retentionDays default, until the runtime setting exists.
DEFAULT_RETENTION_DAYS = 365


async def build(services: Services) -> Feature:
    audit = AuditLog(services.db)
    # wired to runtime setting audit.retentionDays at merge
    retention = AuditRetention(audit, lambda: DEFAULT_RETENTION_DAYS)
    return Feature(
        "audit",
        api_routers=[audit_router(audit)],
        admin_handlers=[AuditAdmin(audit)],
        tasks=[Task("audit_retention", retention.run)],
    )
