"""State stores: where breaker, rate-limit, bulkhead and budget state lives.

:class:`MemoryStore` (the default) keeps it in this process;
:class:`RedisStore` shares it between processes and hosts through a Redis
(or Valkey) server and needs the ``redis`` extra
(``pip install "pyresilience[redis]"``). Importing this package works
without redis installed; only using ``RedisStore`` needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._store import MemoryStore, StateStore

if TYPE_CHECKING:
    from .._redis import RedisStore

__all__ = ["MemoryStore", "RedisStore", "StateStore"]


def __getattr__(name: str) -> Any:
    # RedisStore imports redis; load it on first use so that this package
    # imports without the extra installed.
    if name == "RedisStore":
        try:
            from .._redis import RedisStore
        except ImportError as exc:
            raise ImportError(
                "pyresilience.stores.RedisStore needs the redis package: "
                'pip install "pyresilience[redis]"'
            ) from exc
        RedisStore.__module__ = __name__
        globals()["RedisStore"] = RedisStore
        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
