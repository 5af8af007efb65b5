"""The media proxy: one upstream client pool, the slice cache, the provider service (and its
admin routes ``/api/admin/providers``), ``/proxy``."""

from __future__ import annotations

from synctv.api.grpc.admin_live import LiveUrls
from synctv.api.grpc.admin_providers import ProviderAdmin
from synctv.api.http.routes.providers import admin_providers_router
from synctv.api.http.routes.proxy import proxy_routes
from synctv.app.feature import Feature, Services, Task
from synctv.outbound.client import HttpUpstream
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService
from synctv.proxy.service import MediaProxy
from synctv.proxy.slice_cache import SliceCache
from synctv.proxy.slice_store import FileSliceStore
from synctv.proxy.token import ProxyTokenSigner
from synctv.store.playlists import PlaylistStore
from synctv.store.providers import ProviderInstanceStore
from synctv.store.secrets import credential_key_custody


async def build(services: Services) -> Feature:
    config, secrets = services.config, services.secrets
    settings, cache_settings = config.proxy, config.proxy_slice_cache
    upstream = HttpUpstream(
        connect_timeout=settings.upstream_connect_timeout_seconds,
        read_timeout=settings.upstream_read_timeout_seconds,
        max_connections=settings.max_upstream_connections,
        max_redirects=settings.max_redirects,
        allow_private=settings.allow_private_upstreams,
        own_listeners=services.addresses.own_listeners,
    )
    cache = None
    if cache_settings.enabled:
        store = (
            FileSliceStore(config.path(cache_settings.dir))
            if cache_settings.file_backend_enabled
            else None
        )
        cache = SliceCache(
            upstream,
            slice_size=cache_settings.slice_size_bytes,
            max_bytes=cache_settings.max_size_mb * 1024 * 1024,
            ttl=cache_settings.ttl_seconds,
            stale_max_age=cache_settings.stale_max_age_seconds,
            stale_while_revalidate=cache_settings.stale_while_revalidate,
            eviction_interval=cache_settings.eviction_interval_seconds,
            target_ratio=cache_settings.eviction_target_ratio,
            store=store,
            max_in_flight=cache_settings.max_in_flight_fetches,
        )
    providers = ProviderService(
        ProviderInstanceStore(services.db),
        CredentialCipher(
            secrets.credential_encryption_key, secrets.previous_credential_encryption_keys
        ),
        upstream,
        key_custody=credential_key_custody(config, secrets),
        rotation_hooks=services.key_rotation_hooks,
    )
    proxy = MediaProxy(
        signer=ProxyTokenSigner(secrets.jwt_secret),
        resolver=services.room_media,
        upstream=upstream,
        cache=cache,
        token_ttl=settings.token_ttl_seconds,
    )
    services.room_media.attach(
        PlaylistStore(services.db),
        providers,
        lambda instance, ref, selector: proxy.issue_token(instance, ref, selector=selector),
        settings.token_ttl_seconds,
        proxy.serve,
    )
    services.room_library.attach_providers(providers)
    urls = LiveUrls(config, http_binds=services.addresses.http_binds)

    def proxy_url(instance: str, ref: str, selector: str | None) -> str:
        return f"{urls.http_base()}/proxy/{proxy.issue_token(instance, ref, selector=selector)}"

    return Feature(
        "media_proxy",
        routes=proxy_routes(proxy),
        api_routers=[admin_providers_router(providers)],
        admin_handlers=[ProviderAdmin(providers, proxy_url)],
        tasks=[Task("slice_cache", cache.run)] if cache is not None else [],
        closers=[upstream.aclose],
    )
