"""The browser client's files over real HTTP: the page at ``/`` and at client routes, server
prefixes kept 404, immutable fingerprinted assets, ETag/304, brotli/gzip negotiation, and the
security headers."""

from __future__ import annotations

import gzip
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import brotli
import httpx
import pytest
import trio

from synctv import metrics
from synctv.api.http.routes import web_client
from synctv.api.http.routes.web_client import (
    CONTENT_SECURITY_POLICY,
    WebClient,
    load_web_client,
    negotiate,
)
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.web import build_web_app
from synctv.config import ServerConfig

GUARD = 15
BIG = "export const text = " + repr("synctv " * 400) + ";\n"
FILES = {
    "index.html": b'<!doctype html><script type="module" src="/assets/__VERSION__/app/main.js">'
    b"</script>",
    "app/main.js": BIG.encode(),
    "app/tiny.css": b"body{}",
    "vendor/lib/LICENSE": b"MIT",
}
NO_ENCODING = {"accept-encoding": "identity"}


@asynccontextmanager
async def serving(client: WebClient) -> AsyncIterator[httpx.AsyncClient]:
    app = build_web_app(ServerConfig(), routes=[], clock=trio.current_time, web_client=client)
    settings = HttpListenerSettings(
        "test", "127.0.0.1", 0, max_connections=10, max_connections_per_address=10
    )
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(HttpServer(app, settings).serve)
        async with httpx.AsyncClient(base_url=binds[0], timeout=GUARD) as http:
            yield http
        nursery.cancel_scope.cancel()


@pytest.fixture
async def small() -> AsyncIterator[tuple[WebClient, httpx.AsyncClient]]:
    client = WebClient(FILES)
    async with serving(client) as http:
        yield client, http


def assert_secure(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self' 'wasm-unsafe-eval';" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"


async def test_the_page_names_the_fingerprinted_tree(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    client, http = small
    page = await http.get("/", headers=NO_ENCODING)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert f"/assets/{client.version}/app/main.js".encode() in page.content
    assert b"__VERSION__" not in page.content
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["etag"].startswith('"')
    assert_secure(page)


async def test_client_routes_get_the_page_server_prefixes_stay_404(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    _, http = small
    index = (await http.get("/", headers=NO_ENCODING)).content
    for path in ("/rooms", "/rooms/abc", "/setup", "/signin/"):
        reply = await http.get(path, headers=NO_ENCODING)
        assert (reply.status_code, reply.content) == (200, index), path
        head = await http.head(path)
        assert (head.status_code, head.content) == (200, b""), path
    for path in (
        "/api/nothing", "/api", "/ws/rooms/x", "/live/x.flv", "/proxy/abc",
        "/assets/nothing", "/health/x", "/metrics", "/favicon.ico", "/rooms/x.js",
    ):  # fmt: skip
        reply = await http.get(path)
        assert reply.status_code == 404, path
        assert reply.json()["code"] == "not_found", path
    posted = await http.post("/rooms/abc")
    assert (posted.status_code, posted.json()["code"]) == (404, "not_found")


async def test_assets_of_this_version_are_immutable(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    client, http = small
    current = await http.get(f"/assets/{client.version}/app/main.js", headers=NO_ENCODING)
    assert current.status_code == 200
    assert current.content == FILES["app/main.js"]
    assert current.headers["content-type"] == "text/javascript; charset=utf-8"
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_secure(current)
    licence = await http.get(f"/assets/{client.version}/vendor/lib/LICENSE")
    assert licence.headers["content-type"] == "text/plain; charset=utf-8"
    # A page loaded before an upgrade asks for the old digest: it gets today's file, revalidated.
    old = await http.get("/assets/0123456789abcdef/app/main.js", headers=NO_ENCODING)
    assert (old.status_code, old.content) == (200, FILES["app/main.js"])
    assert old.headers["cache-control"] == "no-cache"
    missing = await http.get(f"/assets/{client.version}/app/missing.js")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    escape = await http.get(f"/assets/{client.version}/../index.html")
    assert escape.status_code == 404 or escape.content != FILES["index.html"]


async def test_etag_revalidation_answers_304(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    client, http = small
    for path in ("/", "/rooms/x", "/assets/0123456789abcdef/app/main.js"):
        first = await http.get(path, headers=NO_ENCODING)
        etag = first.headers["etag"]
        again = await http.get(path, headers={**NO_ENCODING, "if-none-match": etag})
        assert (again.status_code, again.content) == (304, b""), path
        assert again.headers["etag"] == etag
        assert_secure(again)
        listed = await http.get(path, headers={**NO_ENCODING, "if-none-match": f'"x", W/{etag}'})
        assert listed.status_code == 304
        other = await http.get(path, headers={**NO_ENCODING, "if-none-match": '"other"'})
        assert (other.status_code, other.content) == (200, first.content)
    # The gzip representation has its own validator: a cached identity body is not it.
    path = f"/assets/{client.version}/app/main.js"
    etag = (await http.get(path, headers=NO_ENCODING)).headers["etag"]
    zipped = await http.get(path, headers={"accept-encoding": "gzip", "if-none-match": etag})
    assert zipped.status_code == 200
    assert zipped.headers["etag"] not in (etag, f"W/{etag}")


def decoded(coding: str | None, raw: bytes) -> bytes:
    if coding == "br":
        return bytes(brotli.decompress(raw))
    if coding == "gzip":
        return gzip.decompress(raw)
    return raw


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, None),
        ("", None),
        ("gzip, deflate, br, zstd", "br"),  # Chromium
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br, gzip;q=0.5", "br"),
        ("gzip;q=0.8, br;q=0.8", "br"),  # equal weight: br first
        ("br;q=0, gzip", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("gzip;q=0", None),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("*;q=0", None),  # every coding refused, identity included: identity is sent anyway
        ("identity", None),
        ("identity, gzip;q=0.5", None),  # identity listed with the higher weight
        ("gzip;q=0.5, identity;q=0.2", "gzip"),
        ("gzip;q=0.5", "gzip"),  # identity unlisted: acceptable, but not preferred
        ("zstd, deflate", None),  # unknown or not offered
        ("br;q=abc, gzip;q=0.1", "gzip"),  # a malformed weight refuses its coding
        ("br;q=2, gzip;q=0.1", "gzip"),
        ("br;q=nan", None),
        ("br ; q=0.3 , gzip ; q=0.2", "br"),
        (",,br,", "br"),
    ],
)
def test_negotiation_follows_the_weights(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


async def test_brotli_and_gzip_when_accepted(small: tuple[WebClient, httpx.AsyncClient]) -> None:
    client, http = small
    path = f"/assets/{client.version}/app/main.js"
    body = FILES["app/main.js"]
    client.assets["app/main.js"].encoded("br")  # made already (the first request: below)
    etags = set()
    for accept, coding in (
        ("gzip, deflate, br, zstd", "br"), ("br", "br"), ("gzip", "gzip"),
        ("br;q=0.5, gzip", "gzip"), ("*", "br"), ("gzip;q=0", None), ("identity", None),
        ("zstd", None),
    ):  # fmt: skip
        async with http.stream("GET", path, headers={"accept-encoding": accept}) as reply:
            raw = b"".join([chunk async for chunk in reply.aiter_raw()])
        assert reply.status_code == 200
        assert "Accept-Encoding" in reply.headers["vary"]
        assert reply.headers.get("content-encoding") == coding, accept
        assert int(reply.headers["content-length"]) == len(raw)
        assert decoded(coding, raw) == body, accept
        assert_secure(reply)
        if coding is not None:
            assert len(raw) < len(body) / 5
        etags.add((coding, reply.headers["etag"]))
        # HEAD: the same headers (length of that representation), no body.
        head = await http.head(path, headers={"accept-encoding": accept})
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers.get("content-encoding") == coding
        assert head.headers["etag"] == reply.headers["etag"]
        assert head.headers["content-length"] == reply.headers["content-length"]
    # One strong validator per representation, the same for every request of it.
    assert len(etags) == 3
    assert len({etag for _, etag in etags}) == 3
    assert not any(etag.startswith("W/") for _, etag in etags)
    tiny = await http.get(
        f"/assets/{client.version}/app/tiny.css", headers={"accept-encoding": "br"}
    )
    assert "content-encoding" not in tiny.headers  # too small to gain
    # Each encoding is made once and kept: later requests send the very same bytes.
    asset = client.assets["app/main.js"]
    assert asset.cached("br") is asset.encoded("br")
    assert asset.cached("gzip") is asset.encoded("gzip")


async def test_first_brotli_request_gets_gzip_while_brotli_is_made() -> None:
    """Brotli 11 of a big file takes seconds: the first client that takes gzip too is not kept
    waiting; brotli is made in the background and later requests get it. A client that takes
    only br waits for it."""
    client = WebClient(FILES)
    asset = client.assets["app/main.js"]
    async with serving(client) as http:
        path = f"/assets/{client.version}/app/main.js"
        first = await http.get(path, headers={"accept-encoding": "gzip, deflate, br"})
        assert first.headers["content-encoding"] == "gzip"
        assert first.content == FILES["app/main.js"]
        assert asset._started == {"br"}  # under way in the background
        with trio.fail_after(10):  # (waits on the asset's lock for that compression)
            await trio.to_thread.run_sync(asset.encoded, "br")
        later = await http.get(path, headers={"accept-encoding": "gzip, deflate, br"})
        assert later.headers["content-encoding"] == "br"
    only = WebClient(FILES)
    async with serving(only) as http:
        path = f"/assets/{only.version}/app/main.js"
        reply = await http.get(path, headers={"accept-encoding": "br"})
        assert reply.headers["content-encoding"] == "br"
        assert reply.content == FILES["app/main.js"]


@pytest.fixture
def broken_brotli(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Brotli raises, as a broken encoder would; one entry per call of it."""
    tries: list[int] = []

    def broken(_body: bytes) -> bytes:
        tries.append(1)
        raise brotli.error("BrotliEncoderCompress failed")

    monkeypatch.setitem(web_client._COMPRESSORS, "br", broken)
    return tries


async def test_a_failing_background_brotli_is_logged_and_gzip_is_served(
    broken_brotli: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    """Brotli raising in its background thread: logged and counted like any crash, the server
    carries on, and the file keeps being served in gzip (brotli is not tried again)."""
    crashes = metrics.TASK_CRASHES.labels("web_client_compression")
    crashes_before = crashes._value.get()
    client = WebClient(FILES)
    async with serving(client) as http:
        path = f"/assets/{client.version}/app/main.js"
        accept = {"accept-encoding": "gzip, deflate, br"}
        first = await http.get(path, headers=accept)
        assert (first.status_code, first.headers["content-encoding"]) == (200, "gzip")
        with trio.fail_after(GUARD):  # the thread's failure, reported as a crash
            while crashes._value.get() == crashes_before:  # noqa: ASYNC110
                await trio.sleep(0.01)
        [record] = [r for r in caplog.records if r.name == "synctv.supervision"]
        assert record.levelno == logging.ERROR
        assert "web_client_compression crashed (br): error: BrotliEncoderCompress failed" in (
            record.getMessage()
        )
        assert record.exc_info is not None
        for _ in range(3):
            again = await http.get(path, headers=accept)
            assert (again.status_code, again.headers["content-encoding"]) == (200, "gzip")
            assert again.content == FILES["app/main.js"]
    assert broken_brotli == [1]
    assert crashes._value.get() == crashes_before + 1


@pytest.mark.parametrize("first", ["gzip, br", "br"])
async def test_a_failed_brotli_sends_identity_to_a_client_that_takes_only_br(
    first: str, broken_brotli: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    """Brotli failing, whether in its background thread (``gzip, br`` asked first) or for a
    client that takes only br and waited for it (``br`` first): that client, and every later
    one like it, gets the file uncompressed (identity is acceptable unless refused, RFC 9110
    §12.5.3), brotli is tried once, and gzip still goes to whoever takes it."""
    crashes = metrics.TASK_CRASHES.labels("web_client_compression")
    crashes_before = crashes._value.get()
    client = WebClient(FILES)
    body = FILES["app/main.js"]
    async with serving(client) as http:
        path = f"/assets/{client.version}/app/main.js"
        reply = await http.get(path, headers={"accept-encoding": first})
        assert reply.status_code == 200
        assert reply.content == body
        with trio.fail_after(GUARD):  # reported as a crash (from the thread, if background)
            while crashes._value.get() == crashes_before:  # noqa: ASYNC110
                await trio.sleep(0.01)
        identity_etag = f'"{client.assets["app/main.js"].etag}"'
        for accept, coding in (
            ("br", None),
            ("br;q=1, identity;q=0.5", None),
            ("br, gzip;q=0.1", "gzip"),  # gzip is still made for whoever takes it
            ("*", "gzip"),
            # Nothing acceptable left (identity refused too): what every refused coding gets,
            # the identity bytes, as if the header were absent.
            ("br, identity;q=0", None),
            ("br, *;q=0", None),
        ):
            async with http.stream("GET", path, headers={"accept-encoding": accept}) as reply:
                raw = b"".join([chunk async for chunk in reply.aiter_raw()])
            assert reply.status_code == 200, accept
            assert reply.headers.get("content-encoding") == coding, accept
            assert decoded(coding, raw) == body, accept
            assert "Accept-Encoding" in reply.headers["vary"]
            if coding is None:
                assert reply.headers["etag"] == identity_etag, accept
                revalidated = await http.get(
                    path, headers={"accept-encoding": accept, "if-none-match": identity_etag}
                )
                assert revalidated.status_code == 304, accept
    assert broken_brotli == [1]
    assert crashes._value.get() == crashes_before + 1
    [record] = [r for r in caplog.records if r.name == "synctv.supervision"]
    assert "web_client_compression crashed (br): error: BrotliEncoderCompress failed" in (
        record.getMessage()
    )


async def test_concurrent_first_requests_share_one_compression(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[str] = []

    def slow(coding: str, compress: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        def run(body: bytes) -> bytes:
            made.append(coding)
            time.sleep(0.2)
            return compress(body)

        return run

    for coding, compress in list(web_client._COMPRESSORS.items()):
        monkeypatch.setitem(web_client._COMPRESSORS, coding, slow(coding, compress))
    client = WebClient(FILES)
    async with serving(client) as http:
        path = f"/assets/{client.version}/app/main.js"
        replies: list[httpx.Response] = []

        async def fetch(accept: str) -> None:
            replies.append(await http.get(path, headers={"accept-encoding": accept}))

        async with trio.open_nursery() as nursery:
            for accept in ("br", "gzip") * 4:
                nursery.start_soon(fetch, accept)
    assert sorted(made) == ["br", "gzip"]
    assert all(reply.content == FILES["app/main.js"] for reply in replies)
    assert len(replies) == 8


async def test_each_encoding_revalidates_with_its_own_etag(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    client, http = small
    for path in (f"/assets/{client.version}/app/main.js", "/assets/0123456789abcdef/app/main.js"):
        tags = {}
        for accept in ("br", "gzip", "identity"):
            first = await http.get(path, headers={"accept-encoding": accept})
            tags[accept] = first.headers["etag"]
            again = await http.get(
                path, headers={"accept-encoding": accept, "if-none-match": tags[accept]}
            )
            assert (again.status_code, again.content) == (304, b""), (path, accept)
            assert again.headers["etag"] == tags[accept]
            assert "Accept-Encoding" in again.headers["vary"]
            assert "content-encoding" not in again.headers
            assert_secure(again)
            head = await http.head(
                path, headers={"accept-encoding": accept, "if-none-match": tags[accept]}
            )
            assert head.status_code == 304
        # A cache holding one encoding does not validate another: the full other one comes back.
        for accept, other in (("br", "gzip"), ("gzip", "identity"), ("identity", "br")):
            reply = await http.get(
                path, headers={"accept-encoding": accept, "if-none-match": tags[other]}
            )
            assert reply.status_code == 200, (path, accept, other)
            assert reply.headers["etag"] == tags[accept]
            coding = reply.headers.get("content-encoding")
            assert coding == (None if accept == "identity" else accept)
            assert reply.content == FILES["app/main.js"]  # httpx decodes br and gzip
        listed = await http.get(
            path,
            headers={"accept-encoding": "br", "if-none-match": f"{tags['gzip']}, {tags['br']}"},
        )
        assert listed.status_code == 304


async def test_a_range_gets_the_whole_representation(
    small: tuple[WebClient, httpx.AsyncClient],
) -> None:
    """Ranges are not served on these files: ignored (RFC 9110 §14.2), a full 200 of the selected
    representation; no byte range of a compressed body is ever sent."""
    client, http = small
    path = f"/assets/{client.version}/app/main.js"
    for accept in ("br", "gzip", "identity"):
        async with http.stream(
            "GET", path, headers={"accept-encoding": accept, "range": "bytes=0-9"}
        ) as reply:
            raw = b"".join([chunk async for chunk in reply.aiter_raw()])
        assert reply.status_code == 200, accept
        assert "content-range" not in reply.headers
        assert decoded(reply.headers.get("content-encoding"), raw) == FILES["app/main.js"]


def test_a_tree_without_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("")
    with pytest.raises(ValueError):
        WebClient.from_directory(tmp_path)


def test_the_digest_follows_every_byte() -> None:
    same = WebClient(dict(FILES))
    changed = WebClient({**FILES, "app/tiny.css": b"body{ }"})
    renamed = WebClient(
        {**{k: v for k, v in FILES.items() if k != "app/tiny.css"}, "app/t.css": b"body{}"}
    )
    assert same.version == WebClient(FILES).version
    assert len({same.version, changed.version, renamed.version}) == 3


async def test_the_shipped_client_has_no_inline_script() -> None:
    client = load_web_client()
    assert client is load_web_client()  # read once per process
    page = client.index.body.decode()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
    assert scripts
    for attributes, body in scripts:
        assert 'src="/assets/' in attributes
        assert body.strip() == ""
    assert not re.search(r"\son[a-z]+=", page), "inline event handler"
    assert " style=" not in page
    assert "<style" not in page
    for referenced in re.findall(rf"/assets/{client.version}/([^\"']+)", page):
        assert referenced in client.assets, referenced
    async with serving(client) as http:
        page_reply = await http.get("/")
        assert page_reply.status_code == 200
        entry = await http.get(f"{client.base}/app/main.js")
        assert entry.status_code == 200


FIRST_LOAD_BUDGET = 150 * 1024  # issue 15: the sign-in page, compressed
_STATIC_IMPORT = re.compile(
    r"""(?:^|[;\n}])\s*(?:import|export)\s[^;'"]*?from\s*["']([^"']+)["']"""
)


def static_import_graph(client: WebClient, entry: str) -> set[str]:
    """``entry`` and every module it imports statically, transitively (tree-relative names)."""
    pending, found = [entry], set()
    while pending:
        name = pending.pop()
        if name not in found:
            found.add(name)
            for target in _STATIC_IMPORT.findall(client.assets[name].body.decode()):
                pending.append(os.path.normpath(f"{os.path.dirname(name)}/{target}"))
    return found


CHROMIUM_ACCEPT_ENCODING = "gzip, deflate, br, zstd"


async def test_the_first_load_stays_small_the_libraries_load_later() -> None:
    """What the sign-in page fetches before any password is typed: the page, its stylesheet and
    icon, and the static import graph of main.js, compressed as served. OPAQUE, hls.js and
    mpegts.js are dynamic imports (``import()`` / a script added when needed) and are not in it.
    Measured in both encodings; the budget holds for what Chromium gets (it accepts br)."""
    client = load_web_client()
    fetched = {"app/style.css", "favicon.svg", *static_import_graph(client, "app/main.js")}
    assert "app/opaque.js" in fetched  # imported statically, it imports the library lazily
    assert not any(
        name.startswith(("vendor/opaque", "vendor/hls", "vendor/mpegts")) for name in fetched
    )
    # Brotli as once made (the first request of a file gets gzip while brotli is made).
    for name in fetched:
        if client.assets[name].compressible:
            client.assets[name].encoded("br")
    totals = {}
    async with serving(client) as http:
        for accept in ("gzip", CHROMIUM_ACCEPT_ENCODING):
            total, codings = 0, set()
            for path in ["/", *(f"{client.base}/{name}" for name in sorted(fetched))]:
                headers = {"accept-encoding": accept}
                async with http.stream("GET", path, headers=headers) as reply:
                    assert reply.status_code == 200, path
                    total += len(b"".join([chunk async for chunk in reply.aiter_raw()]))
                    codings.add(reply.headers.get("content-encoding"))
            totals[accept] = total
            # Files too small to gain are sent as they are.
            assert codings - {None} == {"br" if "br" in accept else "gzip"}
    gzip_total, br_total = totals["gzip"], totals[CHROMIUM_ACCEPT_ENCODING]
    print(
        f"first load: {len(fetched) + 1} files, {gzip_total} bytes gzip, {br_total} bytes br "
        f"({br_total / gzip_total:.0%} of gzip)"
    )
    assert br_total < gzip_total
    assert br_total <= FIRST_LOAD_BUDGET
