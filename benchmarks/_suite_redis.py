"""Per-call cost of the Redis store against Redis round trips and pybreaker.

The suite starts its own ``redis-server`` on a free port of 127.0.0.1 and
stops it afterwards; without the binary every row is skipped with the
reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from . import _ours as ours
from . import _peers as peers
from ._cases import Case, run_async, run_sync
from ._harness import Settings
from ._redis_server import RedisServer
from ._report import Section
from ._subjects import Unavailable, awork, work

__all__ = ["redis_sections"]

BREAKER = "ours breaker"
BOTH = "ours breaker + limiter"
PING = "PING round trip"
GET = "GET round trip"

_names = itertools.count()


def _redis() -> Any:
    try:
        import redis.asyncio

        import redis
    except ImportError as exc:
        raise Unavailable(f"the redis package is not installed ({exc})") from None
    return redis


def _configs() -> dict[str, Any]:
    pr = ours.core()
    breaker = pr.CircuitBreakerConfig()
    limiter = pr.RateLimiterConfig(max_calls=ours.LIMIT_CALLS, period=ours.LIMIT_PERIOD)
    return {
        BREAKER: pr.ResilienceConfig(circuit_breaker=breaker),
        BOTH: pr.ResilienceConfig(circuit_breaker=breaker, rate_limiter=limiter),
    }


class _Registries:
    """Registries on the memory store and on the Redis store, opened lazily."""

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.loop = loop
        self._open: list[Any] = []

    def registry(self, store: str, *, is_async: bool) -> Any:
        """Return a fresh open registry on ``store`` ("memory" or "redis")."""
        pr = ours.core()
        from pyresilience.config import load_store

        # A fresh key prefix per registry: no row sees another row's state.
        value = {"url": self.url, "prefix": f"bench{next(_names)}"}
        if store == "memory":
            value = None
        registry = pr.ResilienceRegistry(store=load_store(value, path="bench"))
        for name, config in _configs().items():
            registry.register(name, config)
        if is_async:
            self.loop.run_until_complete(registry.aopen())
        else:
            registry.open()
        self._open.append((registry, is_async))
        return registry

    def close(self) -> None:
        """Shut every registry down."""
        for registry, is_async in self._open:
            if is_async:
                self.loop.run_until_complete(registry.ashutdown(timeout=5.0))
            else:
                registry.shutdown(timeout=5.0)


def _ours_case(regs: _Registries, name: str, store: str, is_async: bool) -> Case:
    label = f"{name}, {store} store"

    def build() -> Callable[[], Any]:
        registry = regs.registry(store, is_async=is_async)
        return registry.decorator(name)(awork if is_async else work)  # type: ignore[no-any-return]

    return Case(label, "ours", build)


def _sync_cases(regs: _Registries, client: Any) -> list[Case]:
    def pybreaker_redis() -> Callable[[], Any]:
        import pybreaker

        state = pybreaker.CircuitRedisStorage(
            pybreaker.STATE_CLOSED, client, namespace=f"bench{next(_names)}"
        )
        return peers.pybreaker_breaker(work, storage=state)

    return [
        Case(PING, "floor", lambda: client.ping, True),
        Case(GET, "floor", lambda: lambda: client.get("bench:missing"), None),
        _ours_case(regs, BREAKER, "memory", False),
        _ours_case(regs, BREAKER, "redis", False),
        _ours_case(regs, BOTH, "memory", False),
        _ours_case(regs, BOTH, "redis", False),
        Case("pybreaker, memory state", "peer", lambda: peers.pybreaker_breaker(work)),
        Case("pybreaker, CircuitRedisStorage", "peer", pybreaker_redis),
    ]


def _async_cases(regs: _Registries, client: Any) -> list[Case]:
    async def get() -> Any:
        return await client.get("bench:missing")

    return [
        Case(PING, "floor", lambda: client.ping, True),
        Case(GET, "floor", lambda: get, None),
        _ours_case(regs, BREAKER, "memory", True),
        _ours_case(regs, BREAKER, "redis", True),
        _ours_case(regs, BOTH, "memory", True),
        _ours_case(regs, BOTH, "redis", True),
    ]


def _judge(section: Section) -> None:
    section.judge(f"{BREAKER}, redis store", [PING], 1.0)
    section.judge(f"{BOTH}, redis store", [PING], 1.5)
    for name in (BREAKER, BOTH):
        section.judge(
            f"{name}, redis store", [f"{name}, memory store"], 1.0, informative=True
        )
    section.judge("pybreaker, CircuitRedisStorage", [PING], 1.0, informative=True)


@contextlib.contextmanager
def _server() -> Iterator[RedisServer | Unavailable]:
    try:
        with RedisServer() as server:
            yield server
    except Unavailable as exc:
        yield exc


def _skipped(title: str, reason: str) -> Section:
    section = Section(title)
    section.skip(f"{BREAKER}, redis store", "ours", reason)
    section.skip(f"{BOTH}, redis store", "ours", reason)
    _judge(section)
    return section


def redis_sections(settings: Settings, sections: Sequence[str] = ()) -> list[Section]:
    """Time the Redis rows, sync then async, against one fresh server."""
    sync_title = "Redis store, sync (redis-server on 127.0.0.1, same host)"
    async_title = "Redis store, async (redis.asyncio)"
    with _server() as server:
        if isinstance(server, Unavailable):
            return [
                _skipped(sync_title, str(server)),
                _skipped(async_title, str(server)),
            ]
        return _measure(server.url, settings, sync_title, async_title)


def _measure(
    url: str, settings: Settings, sync_title: str, async_title: str
) -> list[Section]:
    redis = _redis()
    loop = asyncio.new_event_loop()
    regs = _Registries(url, loop)
    client = redis.Redis.from_url(url)
    aclient = redis.asyncio.Redis.from_url(url)
    try:
        sync = run_sync(sync_title, _sync_cases(regs, client), settings)
        asynchronous = run_async(
            async_title, _async_cases(regs, aclient), settings, loop
        )
    finally:
        regs.close()
        client.close()
        loop.run_until_complete(aclient.aclose())
        loop.close()
    for section in (sync, asynchronous):
        _judge(section)
        section.rows[0].note = "the reference round trip (a fresh client, same URL)"
    return [sync, asynchronous]
