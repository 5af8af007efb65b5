"""Runtime settings: the snapshot's listener, ``synctv admin settings``, the REST routes.

The snapshot itself (:class:`~synctv.core.runtime_settings.RuntimeSettings`) is made by the tree
and shared in ``Services.settings`` so every feature can read and subscribe; this builder loads
it (first in ``FEATURES``, so later builders read stored values, not defaults) and runs its
listener. At start it re-seals secrets still sealed under a previous credential key (a key
rotated by configuration: ``security.previous_credential_encryption_keys``).
"""

from __future__ import annotations

import logging

from synctv.api.grpc.admin_settings import SettingsAdmin
from synctv.api.http.routes.settings import settings_router
from synctv.app.feature import Feature, Services, Task
from synctv.core.runtime_settings import SettingsService
from synctv.core.setting_secrets import SettingCipher
from synctv.store.settings import SettingsStore

log = logging.getLogger("synctv.settings")


async def build(services: Services) -> Feature:
    snapshot, secrets = services.settings, services.secrets
    await snapshot.reload_all()
    service = SettingsService(
        SettingsStore(services.db),
        SettingCipher(
            secrets.credential_encryption_key, secrets.previous_credential_encryption_keys
        ),
    )
    resealed = await service.reseal_stale()
    if resealed:
        log.info("settings secrets re-sealed under the current credential key: %s", resealed)

    async def key_rotated(new_key: bytes) -> None:
        snapshot.use_key(new_key)
        resealed = await service.rotate_key(new_key)
        log.info("settings secrets re-sealed under the rotated credential key: %s", resealed)

    services.key_rotation_hooks.append(key_rotated)
    return Feature(
        "settings",
        api_routers=[settings_router(snapshot, service)],
        admin_handlers=[SettingsAdmin(service)],
        tasks=[Task("settings_listener", snapshot.run)],
    )
