"""SyncTV: a self-hosted watch-together server with a built-in live-streaming media server."""

from __future__ import annotations

__version__ = "0.1.0"
