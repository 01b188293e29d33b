"""Redis-backed state store (needs the ``redis`` extra)."""

from __future__ import annotations

from ._store import RedisStore

__all__ = ["RedisStore"]
