"""The RTMP tests' shared fixture (a live-stream registry on a test database)."""

from __future__ import annotations

from tests.support.rtmp import registry

__all__ = ["registry"]
