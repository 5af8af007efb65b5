"""Media proxy against an origin that ignores Range: bytes read upstream and time to first byte.

Starts, in this process, a tiny HTTP/1.1 origin (Trio + h11) that answers every request with 200
and the whole object (``--size-mb``, 200 MiB by default, with its Content-Length), and the proxy
(hypercorn + the real route, slice cache with 2 MiB slices, and outbound client). A client asks
the proxy for ``--range-mb`` (1 MiB) at the start of the object, ``--runs`` times on a cold
cache (a new object name each run). Two clients: ``whole`` reads whatever the proxy answers to
the end; ``abort`` stops after the bytes it asked for and closes the connection (what a player
does with an answer it did not want).

Prints one JSON line per client: status the proxy answered, bytes the client got, time to
first byte and to the client's last byte (median, ms), bytes the proxy read from the origin
(``synctv_outbound_received_bytes_total``) and bytes the origin handed to its socket, per run
(median), measured once the proxy has let go of the origin (sequential reads ended).

Runs against whichever ``synctv`` is on ``PYTHONPATH`` (also the tree before this bench existed:
the client module moved from ``synctv.proxy.upstream`` to ``synctv.outbound.client``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import time
from typing import Any

import h11
import httpx
import trio
from prometheus_client import REGISTRY

MIB = 1024 * 1024


class NoRangeOrigin:
    """Every GET gets 200 and the whole object; counts the body bytes handed to the kernel."""

    def __init__(self, size: int) -> None:
        self.data = memoryview(bytes(range(256)) * (size // 256))
        self.sent = 0
        self.requests = 0
        self.open_responses = 0
        self.port = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    conn.receive_data(data)
                    continue
                if isinstance(event, h11.Request):
                    continue
                if isinstance(event, h11.EndOfMessage):
                    await self._respond(conn, stream)
                    conn.start_next_cycle()
                    continue
                return
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        self.requests += 1
        self.open_responses += 1
        try:
            headers = [
                ("content-type", "video/mp4"),
                ("content-length", str(len(self.data))),
                ("etag", '"bench"'),
            ]
            await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)))
            step = 256 * 1024
            for offset in range(0, len(self.data), step):
                piece = self.data[offset : offset + step]
                await stream.send_all(conn.send(h11.Data(data=bytes(piece))))
                self.sent += len(piece)
            await stream.send_all(conn.send(h11.EndOfMessage()))
        finally:
            self.open_responses -= 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def upstream_bytes() -> float:
    return REGISTRY.get_sample_value("synctv_outbound_received_bytes_total") or 0.0


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve

    from synctv.api.http.asgi import App
    from synctv.api.http.routes.proxy import proxy_routes
    from synctv.providers.base import PlaybackSource, ResolvedSource
    from synctv.proxy.service import MediaProxy
    from synctv.proxy.slice_cache import SliceCache
    from synctv.proxy.token import ProxyTokenSigner

    try:
        from synctv.outbound.client import HttpUpstream
    except ImportError:  # the tree before synctv.outbound existed
        from synctv.proxy.upstream import HttpUpstream  # type: ignore[import-not-found,no-redef]

    origin = NoRangeOrigin(args.size_mb * MIB)

    class Resolver:
        async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
            url = f"http://127.0.0.1:{origin.port}/{media_ref}"
            return ResolvedSource(PlaybackSource(url))

        def subscribe(self, listener: object) -> None:
            return None

    upstream = HttpUpstream(max_connections=64, allow_private=True)
    cache = SliceCache(upstream, slice_size=2 * MIB, max_bytes=512 * MIB)
    proxy = MediaProxy(
        signer=ProxyTokenSigner(os.urandom(32)), resolver=Resolver(), upstream=upstream, cache=cache
    )
    app = App(proxy_routes(proxy), clock=time.monotonic)
    config = HypercornConfig()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    wanted = args.range_mb * MIB

    def busy() -> bool:
        reading = getattr(cache.statistics(), "sequential_reads", 0)  # absent before the change
        return bool(origin.open_responses or reading)

    results: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(origin.serve)
        await nursery.start(cache.run)
        await nursery.start(serve, app, config)
        async with httpx.AsyncClient(timeout=120) as client:
            for mode in ("whole", "abort"):
                runs: list[dict[str, float]] = []
                for n in range(args.runs):
                    token = proxy.issue_token("bench", f"{mode}-{n}.mp4")
                    before_read, before_sent = upstream_bytes(), origin.sent
                    started = time.perf_counter()
                    first: float | None = None
                    got = 0
                    headers = {"range": f"bytes=0-{wanted - 1}"}
                    url = f"http://127.0.0.1:{port}/proxy/{token}"
                    async with client.stream("GET", url, headers=headers) as response:
                        status = response.status_code
                        async for chunk in response.aiter_raw():
                            if first is None:
                                first = time.perf_counter() - started
                            got += len(chunk)
                            if mode == "abort" and got >= wanted:
                                break
                    done = time.perf_counter() - started
                    with trio.fail_after(60):  # the proxy lets go of the origin
                        while busy():  # noqa: ASYNC110
                            await trio.sleep(0.05)
                    await trio.sleep(0.2)
                    runs.append(
                        {
                            "status": status,
                            "client_bytes": got,
                            "ttfb_ms": (first or done) * 1000,
                            "last_byte_ms": done * 1000,
                            "upstream_read": upstream_bytes() - before_read,
                            "origin_sent": origin.sent - before_sent,
                        }
                    )
                results.append(
                    {
                        "client": mode,
                        "size_mib": args.size_mb,
                        "range_mib": args.range_mb,
                        "runs": args.runs,
                        **{
                            key: statistics.median(r[key] for r in runs)
                            for key in runs[0]
                            if key != "status"
                        },
                        "status": sorted({r["status"] for r in runs}),
                    }
                )
        await upstream.aclose()
        nursery.cancel_scope.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--range-mb", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for line in trio.run(run, args):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
