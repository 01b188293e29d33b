"""A bounded, expiring result cache and the key it is looked up by."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from ._clock import SYSTEM_CLOCK, Clock
from ._config import CacheConfig

__all__ = ["MISS", "AsyncResultCache", "ResultCache", "make_key"]


class _Miss:
    def __repr__(self) -> str:
        return "MISS"


#: Returned by :meth:`ResultCache.get` when there is no fresh entry.
MISS: Any = _Miss()

_SIMPLE = (str, int, float, bool, bytes, type(None))


def _typed(value: object) -> object:
    # 1, 1.0 and True are equal and hash alike; tag each with its type so
    # f(1), f(1.0) and f(True) are cached separately. Tuples are tagged
    # element-wise so f((1,)) and f((1.0,)) differ too.
    kind = type(value)
    if kind in _SIMPLE:
        return (kind, value)
    if isinstance(value, tuple):  # named tuples included
        return (kind, tuple(_typed(item) for item in value))
    if isinstance(value, frozenset):
        return (kind, frozenset(_typed(item) for item in value))
    return (kind, value)


def make_key(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], prefix: object = None
) -> Hashable | None:
    """Return a cache key for a call, or ``None`` if an argument is unhashable."""
    key: tuple[Any, ...] = (prefix, tuple(_typed(arg) for arg in args))
    if kwargs:
        key += tuple(sorted((name, _typed(v)) for name, v in kwargs.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


class ResultCache:
    """Least-recently-used entries that expire ``ttl`` seconds after writing.

    Thread-safe. Size is bounded by ``max_size``; expired entries are dropped
    when they are read or when they reach the old end of the queue.
    """

    def __init__(
        self, config: CacheConfig | None = None, *, clock: Clock | None = None
    ) -> None:
        self.config = config or CacheConfig()
        self.clock = clock or SYSTEM_CLOCK
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        """Return the fresh value for ``key``, or :data:`MISS`."""
        now = self.clock.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= now:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return MISS
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value``; evict the least recently used entry when full."""
        expires = self.clock.monotonic() + self.config.ttl
        with self._lock:
            entries = self._entries
            entries[key] = (expires, value)
            entries.move_to_end(key)
            while len(entries) > self.config.max_size:
                entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    # Names kept for users of the older API.
    set = put


class AsyncResultCache(ResultCache):
    """The same cache with awaitable accessors, for async code."""

    async def aget(self, key: Hashable) -> Any:
        """Async twin of :meth:`get`."""
        return self.get(key)

    async def aput(self, key: Hashable, value: Any) -> None:
        """Async twin of :meth:`put`."""
        self.put(key, value)
