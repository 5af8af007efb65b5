"""Upstream URLs carry credentials (``api_key=``, Emby tokens): no log line may contain them."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import trio

from synctv.log import configure_logging
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj

SECRET = "SECRET-api-key-4711"
QUIET = ("httpx", "httpcore", "hpack")


@pytest.fixture
def logging_set_up() -> Iterator[None]:
    """The server's logging set-up, undone afterwards (it replaces the root handlers)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET}
    configure_logging("debug", "human")
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_http_client_loggers_are_at_warning(logging_set_up: None) -> None:
    for name in ("httpx", "httpcore"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("synctv.proxy").isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "passthrough"])
async def test_proxied_fetches_never_log_the_credential(
    make_harness: HarnessFactory,
    caplog: pytest.LogCaptureFixture,
    logging_set_up: None,
    cache: bool,
) -> None:
    caplog.set_level(logging.DEBUG, logger="synctv")
    harness: Harness = await make_harness(cache=cache, slice_size=4096)
    base = harness.origin.base
    obj = Obj(bytes(range(256)) * 64)
    harness.origin.objects["/f"] = obj
    harness.origin.objects["/jump"] = Obj(b"", redirect=f"/f?api_key={SECRET}")
    harness.origin.objects["/gone"] = Obj(b"", status=500)

    def change_midway(seen: object) -> None:
        if len(harness.origin.seen) == 12:
            obj.etag = '"v2"'

    harness.origin.hook = change_midway
    with trio.fail_after(20):
        for ref in (
            f"{base}/f?api_key={SECRET}&MediaSourceId=1",
            f"{base}/jump?x-emby-token={SECRET}",
            f"{base}/gone?api_key={SECRET}",
            f"{base}/missing?api_key={SECRET}",
            f"http://a..b/x?api_key={SECRET}",
            f"http://169.254.169.254/x?api_key={SECRET}",
        ):
            await harness.get(harness.path(ref))
        refused = await make_harness(cache=cache, lan_service=False)
        await refused.get(refused.path(f"http://localhost:{harness.origin.port}/f?key={SECRET}"))
    assert harness.origin.seen  # the requests did reach the origin, with the credential
    records = caplog.records
    assert records, "the failures above are logged"
    for record in records:
        text = record.getMessage() + repr(getattr(record, "__dict__", {}))
        assert SECRET not in text, (record.name, record.getMessage())
    assert not [r for r in records if r.name.startswith(("httpx", "httpcore"))]
