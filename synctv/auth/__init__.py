"""auth."""

from __future__ import annotations
