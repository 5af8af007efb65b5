"""Proxy refusals carry catalogue codes and statuses; a provider's server-side failure reaches the
client as its code and the catalogue's description, never the provider's own message."""

from __future__ import annotations

import json
import logging

import pytest

from synctv import errors
from synctv.errors import DomainError
from synctv.providers.base import ResolvedSource
from tests.proxy.conftest import HarnessFactory

# What a provider says about its server (addresses, upstream answers) is for the operator's log.
LEAKY = "alist unreachable: connection to 10.0.0.7:5244 refused"


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [
        (DomainError(errors.PROVIDER_UNAVAILABLE, LEAKY), 502, None),
        (DomainError(errors.PROVIDER_AUTH_FAILED, LEAKY), 502, None),
        (DomainError(errors.CREDENTIALS_UNAVAILABLE, LEAKY), 503, None),
        (
            DomainError(errors.MEDIA_NOT_FOUND, "alist: object not found"),
            404,
            "alist: object not found",
        ),
        (DomainError(errors.INVALID_MEDIA_REF, "bad alist path"), 400, "bad alist path"),
    ],
    ids=lambda value: value.code if isinstance(value, DomainError) else None,
)
async def test_provider_failures_reach_the_client_by_code(
    make_harness: HarnessFactory,
    caplog: pytest.LogCaptureFixture,
    raised: DomainError,
    status: int,
    message: str | None,
) -> None:
    harness = await make_harness()

    async def failing(instance_id: str, media_ref: str) -> ResolvedSource:
        raise raised

    harness.resolver.resolve_for_proxy = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, "synctv.proxy"):
        reply = await harness.get(harness.path("/film"))
    body = json.loads(reply.body)
    assert (reply.status, body["code"]) == (status, raised.code)
    assert raised.error.http_status == status
    assert body["message"] == (message or raised.error.description)
    if message is None:
        assert "10.0.0.7" not in reply.body.decode()
        assert LEAKY in caplog.text  # logged for the operator


async def test_token_refusals_use_the_catalogue(make_harness: HarnessFactory) -> None:
    harness = await make_harness()
    reply = await harness.get("/proxy/not-a-token")
    assert (reply.status, json.loads(reply.body)["code"]) == (403, "proxy_token_invalid")
    gone = await harness.get(harness.path("/film", instance="nowhere"))
    assert (gone.status, json.loads(gone.body)["code"]) == (404, "provider_not_found")
