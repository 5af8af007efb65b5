"""What an outbound request is, what a JSON call returns, and how either fails.

Shared vocabulary of the client (``client.py``) and its two users: the proxy's slice cache
fetches :class:`UpstreamTarget` objects and sees :class:`UpstreamError`; the providers' API calls
get a :class:`JsonReply` or a :class:`JsonCallError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synctv.outbound.scope import LanScope, Origin


class UpstreamError(Exception):
    """An upstream request failed. ``kind``: not_found, status, timeout, connect, protocol,
    refused (address policy), redirects, invalid_url (a URL the client cannot fetch), internal
    (an unexpected exception on the way: a bug, recorded as a crash).

    ``counted``: the failure is already in ``synctv_outbound_errors_total`` (the client
    counts what it sees; whoever raises an uncounted one counts it).
    """

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, counted: bool = False
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.counted = counted


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """What to fetch. ``key`` is the cache identity (stable even when the URL is re-signed).

    ``headers`` go in full only to ``header_origin`` (``None``: the origin of ``url``), and only
    the cross-origin allow-list anywhere else (``outbound.scope.scoped_headers``); ``lan`` is
    the instance's LAN scope (``None``: the strict address policy everywhere).
    """

    key: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    lan: LanScope | None = None
    header_origin: Origin | None = None


class JsonCallError(Exception):
    """A JSON API call failed below HTTP (``kind`` as :attr:`UpstreamError.kind`)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class JsonReply:
    """A JSON API answer: its status, the parsed body (``None`` if not JSON) and the raw bytes."""

    status: int
    data: Any
    raw: bytes = b""
