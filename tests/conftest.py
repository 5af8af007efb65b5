"""Shared test configuration: hypothesis profiles and the fixture-file loader."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

FIXTURES = Path(__file__).parent / "fixtures"

# `ci` keeps the whole suite inside its time budget and reproducible; `fuzz` is for `make fuzz`.
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def fixture_bytes(relative: str) -> bytes:
    """Read a binary fixture from tests/fixtures (see tests/fixtures/README.md for provenance)."""
    return (FIXTURES / relative).read_bytes()
