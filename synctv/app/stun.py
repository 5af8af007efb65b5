"""WebRTC: the built-in STUN server and ``GET /api/webrtc/ice-servers`` that advertises it."""

from __future__ import annotations

from functools import partial

from synctv import metrics
from synctv.api.http.routes.webrtc import webrtc_router
from synctv.app.feature import Feature, Listener, Services, Stop
from synctv.core.settings import WEBRTC_EXTERNAL_ICE_SERVERS
from synctv.state.limits import STUN_PER_SOURCE
from synctv.stun.server import StunServer


async def build(services: Services) -> Feature:
    rtc, addresses = services.config.webrtc, services.addresses
    settings = services.settings
    routers = [
        webrtc_router(
            rtc,
            bound_stun_port=addresses.stun_port,
            external_servers=lambda: settings.get(WEBRTC_EXTERNAL_ICE_SERVERS),
        )
    ]
    if not rtc.enable_builtin_stun:
        return Feature("stun", api_routers=routers)
    book = services.limits.book
    stun = StunServer(rtc, rate_rule=partial(book.rule, STUN_PER_SOURCE))
    listener = Listener(
        "stun_listener",
        "webrtc.stun_port",
        rtc.stun_host,
        rtc.stun_port,
        stun.serve,
        addresses.stun_bound,
        Stop.AT_SHUTDOWN,  # stops answering when the shutdown starts; not drained
    )
    return Feature(
        "stun",
        api_routers=routers,
        listeners=[listener],
        collectors=[partial(metrics.export_snapshot, metrics.STUN_SERVER, stun.statistics)],
    )
