"""Live streaming: RTMP ingest, the stream hub, HTTP-FLV and HLS playback, ``admin live``."""

from __future__ import annotations

import time
from functools import partial

from synctv import metrics
from synctv.api.grpc.admin_live import LiveAdminService, LiveStatusSnapshot, LiveUrls
from synctv.api.http.routes.live_flv import live_flv_routes
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.app.feature import Feature, Listener, Services, Task
from synctv.auth.live_tokens import LiveViewerTokens
from synctv.core.room_live import RoomLiveGate
from synctv.livestream.hls import HlsDemand, HlsSegmenter
from synctv.livestream.hls_audience import VIEWER_PROTOCOL, HlsAudience
from synctv.livestream.hls_store import open_hls_store
from synctv.livestream.hls_viewers import HlsViewerTable
from synctv.livestream.hub import StreamHub
from synctv.rtmp.server import RtmpServer
from synctv.store.rooms import RoomStore


async def build(services: Services) -> Feature:
    config, hub, registry = services.config, services.hub, services.live_streams
    live = config.livestream
    hls_store = open_hls_store(
        live.hls_storage.backend,
        memory_max_bytes=live.hls_storage.memory_max_mb * 1024 * 1024,
        directory=config.path(live.hls_storage.dir),
    )
    await hls_store.clean_on_start()  # a crash may have left segments of streams long gone
    # HLS requests per stream: they make the segmenter realtime, or (hls_on_demand) run it at all.
    hls_demand = HlsDemand(live.hls_on_demand_idle_seconds)
    if live.hls_enabled:
        segmenter = HlsSegmenter.from_config(hls_store, live, hls_demand)
        hub.add_stream_task_factory(segmenter.task_factory)
    # HLS players hold no connection: viewer sessions from their segment requests count them.
    audience = HlsAudience(HlsViewerTable(default_target_duration=live.hls_segment_seconds))
    hub.add_viewer_counter(VIEWER_PROTOCOL, audience.count)
    # A room's stream plays for viewers with the room's token, or anyone if the room allows it.
    tokens = LiveViewerTokens(
        services.secrets.jwt_secret, time.time, ttl=config.security.live_token_ttl_seconds
    )
    gate = RoomLiveGate(RoomStore(services.db), tokens.check).admit
    urls = LiveUrls(
        config,
        http_binds=services.addresses.http_binds,
        rtmp_port=services.addresses.rtmp_port,
    )
    listeners, collectors = (
        [],
        [
            partial(metrics.export_snapshot, metrics.LIVESTREAM_HUB, hub.statistics),
            partial(metrics.export_snapshot, metrics.HLS_VIEWER_SESSIONS, audience.statistics),
        ],
    )
    if live.enabled:
        rtmp = RtmpServer(live, hub, registry, registry, gate=gate)
        # RTMP drains like HTTP: listeners close at shutdown, open sessions get the drain
        # timeout. The hub is a root task, so it outlives every session.
        serve = partial(rtmp.serve, drain_timeout=config.server.shutdown_drain_timeout_seconds)
        listeners.append(
            Listener(
                "rtmp_listener",
                "livestream.rtmp_port",
                live.rtmp_host,
                live.rtmp_port,
                serve,
                services.addresses.rtmp_bound,
            )
        )
        collectors.append(partial(metrics.export_snapshot, metrics.RTMP_SERVER, rtmp.statistics))
    return Feature(
        "live",
        routes=[
            *live_flv_routes(hub, registry, live, gate=gate),
            *live_hls_routes(
                hls_store,
                config=live,
                directory=registry,
                demand=hls_demand,
                gate=gate,
                audience=audience,
            ),
        ],
        admin_handlers=[
            LiveAdminService(registry, urls, live_status=partial(_live_status, hub), kick=hub.kick)
        ],
        # The hub and the HLS store outlive every session that feeds or reads them.
        tasks=[Task("hls_store", hls_store.run), Task("stream_hub", hub.run)],
        listeners=listeners,
        collectors=collectors,
    )


def _live_status(hub: StreamHub, stream_id: str) -> LiveStatusSnapshot | None:
    stats = hub.stream_statistics(stream_id)
    if stats is None:
        return None
    return LiveStatusSnapshot(stats.live, stats.bitrate_bps, sum(stats.viewers.values()))
