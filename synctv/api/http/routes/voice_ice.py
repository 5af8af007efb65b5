"""``GET /api/rooms/{room}/webrtc/ice-servers``: what a voice participant passes to
``new RTCPeerConnection({iceServers})``, and whether the built-in STUN can be reached.

The list is the deployment's (:func:`~synctv.api.http.routes.webrtc.build_ice_servers`: the
built-in STUN at its advertised address, the config file's servers, the runtime setting
``webrtc.externalIceServers``) plus, when ``webrtc.turn`` is configured, the TURN server with a
time-limited credential of its own (:func:`turn_rest_credential`), so a client never sees the
shared secret and a leaked credential stops working after ``webrtc.turn.ttl_seconds``.

``builtinStun.reachable`` is the doctor's STUN probe (:mod:`synctv.stun.probe`) sent by the
server to the address it advertises, remembered for :data:`PROBE_CACHE_SECONDS`: false means a
client that reaches the same address will not gather a server-reflexive candidate from it, and
people behind different NATs will not hear each other unless a TURN server is offered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final

import trio
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from synctv import errors
from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who
from synctv.api.http.routes.webrtc import IceServerModel, build_ice_servers, builtin_stun_address
from synctv.config import TurnConfig, WebRTCConfig
from synctv.core.permissions import Permission
from synctv.core.rooms import Caller, RoomService
from synctv.errors import DomainError
from synctv.stun.probe import probe

# A probe result is reused this long: asking on every call would let callers make the server
# send packets, and reachability does not change by the second.
PROBE_CACHE_SECONDS: Final = 30.0
# The probe waits at most this long (a client is waiting for the list).
PROBE_TIMEOUT_SECONDS: Final = 1.5


def turn_rest_credential(secret: str, user: str, expires_at: int) -> tuple[str, str]:
    """The TURN REST API credential coturn checks with ``--use-auth-secret``: the username is
    ``<expiry unix time>:<user>``, the password base64(HMAC-SHA1(secret, username))."""
    username = f"{expires_at}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def turn_servers(turn: TurnConfig, user: str, now: float) -> tuple[list[IceServerModel], int]:
    """The TURN entry (empty when not configured) and its credential's expiry (Unix time)."""
    if not turn.urls or turn.shared_secret is None:
        return [], 0
    expires_at = int(now) + turn.ttl_seconds
    username, credential = turn_rest_credential(
        turn.shared_secret.get_secret_value(), user, expires_at
    )
    return [IceServerModel(urls=list(turn.urls), username=username, credential=credential)], (
        expires_at
    )


class BuiltinStunOut(CamelModel):
    url: str = Field(examples=["stun:tv.example.org:3478"])
    transports: list[str] = Field(description="The built-in STUN answers on UDP and TCP.")
    reachable: bool = Field(
        description="Whether the server's own STUN probe to this address was answered."
    )
    problem: str | None = Field(None, description="Why it was not (null when reachable).")


class VoiceIceServersOut(CamelModel):
    ice_servers: list[IceServerModel] = Field(description="RTCConfiguration.iceServers.")
    builtin_stun: BuiltinStunOut | None = Field(
        description="The built-in STUN's advertised address (null: disabled or unknown)."
    )
    turn_expires_at: int | None = Field(
        description="Unix time the TURN credential stops working (null: no TURN offered)."
    )
    max_participants: int = Field(description="webrtc.maxVoiceParticipantsPerRoom.")


class _Reachability:
    """The probe's answer per advertised address, cached; one probe at a time."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int], tuple[float, bool, str | None]] = {}
        self._lock = trio.Lock()

    async def check(self, host: str, port: int) -> tuple[bool, str | None]:
        async with self._lock:
            now = trio.current_time()
            known = self._known.get((host, port))
            if known is None or now - known[0] > PROBE_CACHE_SECONDS:
                result = await probe(host.strip("[]"), port, PROBE_TIMEOUT_SECONDS)
                known = (now, result.reachable, result.problem(PROBE_TIMEOUT_SECONDS))
                if len(self._known) > 64:  # Host headers vary; keep the table small
                    self._known.clear()
                self._known[(host, port)] = known
            return known[1], known[2]


class VoiceIce:
    """The voice ICE list of a room for one caller: the REST route below and its gRPC twin
    (``synctv.v1.RoomService.GetVoiceIceServers``) both answer with :meth:`servers`."""

    def __init__(
        self,
        rooms: RoomService,
        webrtc_config: WebRTCConfig,
        *,
        bound_stun_port: Callable[[], int | None],
        external_servers: Callable[[], Sequence[BaseModel]] = tuple,
        max_participants: Callable[[], int] = lambda: 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rooms = rooms
        self._config = webrtc_config
        self._bound_stun_port = bound_stun_port
        self._external_servers = external_servers
        self._max_participants = max_participants
        self._clock = clock
        self._reachability = _Reachability()

    async def servers(
        self, caller: Caller, room_id: str, request_host: str | None
    ) -> VoiceIceServersOut:
        """The list for ``caller`` in the room (members and guests who may use voice).
        ``request_host`` is the host the client reached us at (REST: ``Host``; gRPC:
        ``:authority``): the built-in STUN's address when ``webrtc.public_host`` is not set."""
        access = await self._rooms.access(caller, room_id)
        if access.role is None and Permission.USE_VOICE_CHAT not in access.permissions:
            raise DomainError(errors.PERMISSION_DENIED, "join the room first")
        access.require(Permission.USE_VOICE_CHAT)
        if not access.settings.voice_chat_enabled:
            raise DomainError(errors.VOICE_DISABLED, "this room has voice chat turned off")
        config, port = self._config, self._bound_stun_port()
        servers = [
            IceServerModel.model_validate(s)
            for s in build_ice_servers(config, request_host=request_host, stun_port=port)
        ]
        servers += [IceServerModel.model_validate(s.model_dump()) for s in self._external_servers()]
        turn, expires_at = turn_servers(config.turn, caller.user_id, self._clock())
        builtin = builtin_stun_address(config, request_host=request_host, stun_port=port)
        stun_out = None
        if builtin is not None:
            reachable, problem = await self._reachability.check(*builtin)
            stun_out = BuiltinStunOut(
                url=f"stun:{builtin[0]}:{builtin[1]}",
                transports=["udp", "tcp"],
                reachable=reachable,
                problem=problem,
            )
        return VoiceIceServersOut(
            ice_servers=servers + turn,
            builtin_stun=stun_out,
            turn_expires_at=expires_at or None,
            max_participants=self._max_participants(),
        )


def voice_ice_router(ice: VoiceIce) -> APIRouter:
    router = APIRouter(prefix="/api/rooms", tags=["rooms"])

    @router.get(
        "/{room_id}/webrtc/ice-servers",
        response_model=VoiceIceServersOut,
        responses=refusals(
            (401, "`authentication_required`"),
            (403, "`permission_denied` (use_voice_chat), `voice_disabled`"),
            (404, "`room_not_found`"),
        ),
        summary="ICE servers for the room's voice chat",
    )
    async def ice_servers(
        who: Who, request: Request, room_id: Annotated[str, Path(min_length=1, max_length=64)]
    ) -> Any:
        """The RTCIceServer list for voice in this room (members and guests who may use voice),
        with a TURN credential valid ``webrtc.turn.ttl_seconds`` when TURN is configured, and
        whether the built-in STUN answers at the address it is advertised at."""
        body = await ice.servers(who, room_id, request.headers.get("host"))
        out = body.model_dump(mode="json", by_alias=True)
        # An RTCIceServer member is never null (a browser would take "null" as a username).
        out["iceServers"] = [s.model_dump(exclude_none=True) for s in body.ice_servers]
        return JSONResponse(out, headers={"cache-control": "no-store"})

    return router
