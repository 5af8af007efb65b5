"""rtmp."""

from __future__ import annotations
