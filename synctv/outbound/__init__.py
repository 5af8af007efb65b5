"""Outbound HTTP: the one httpx client, the address policy and the header scope rules.

Below both the media proxy and the providers (neither imports the other's internals): the proxy
fetches media through :class:`synctv.outbound.client.HttpUpstream`, the providers make their API
calls through it, and both judge URLs and headers with :mod:`synctv.outbound.scope`.
"""

from __future__ import annotations
