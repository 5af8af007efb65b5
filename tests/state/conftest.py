"""The state tests use the session-wide ``redis_url`` fixture from tests/conftest.py."""

from __future__ import annotations
