"""The audit log: ``synctv admin audit``, ``GET /api/admin/audit``, and its retention task."""

from __future__ import annotations

from synctv.api.grpc.admin_audit import AuditAdmin
from synctv.api.http.routes.audit import audit_router
from synctv.app.feature import Feature, Services, Task
from synctv.core.audit import AuditRetention
from synctv.core.settings import AUDIT_RETENTION_DAYS
from synctv.store.audit import AuditLog


async def build(services: Services) -> Feature:
    audit = AuditLog(services.db)
    # Read at each pass, so a changed audit.retentionDays applies from the next one.
    retention = AuditRetention(audit, lambda: services.settings.get(AUDIT_RETENTION_DAYS))
    return Feature(
        "audit",
        api_routers=[audit_router(audit)],
        admin_handlers=[AuditAdmin(audit)],
        tasks=[Task("audit_retention", retention.run)],
    )
