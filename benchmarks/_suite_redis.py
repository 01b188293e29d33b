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
from ._report import MISS, PASS, Check, Section
from ._subjects import Unavailable, awork, work

__all__ = ["redis_sections"]

BREAKER = "ours breaker"
BOTH = "ours breaker + limiter"
PING = "PING round trip"
GET = "GET round trip"
EVAL = "EVALSHA of 'return 1'"

_names = itertools.count()


def _redis() -> Any:
    try:
        import redis
        import redis.asyncio
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
    """Registries on the memory store and on the Redis store, opened lazily.

    Redis registries use the very clients the round-trip rows time, so the
    bare round trip and the store's calls share one connection pool.
    """

    def __init__(self, client: Any, aclient: Any, loop: asyncio.AbstractEventLoop):
        self.client = client
        self.aclient = aclient
        self.loop = loop
        self._open: list[Any] = []

    def _store(self, store: str) -> Any:
        if store == "memory":
            return None
        from pyresilience.stores import RedisStore

        # A fresh key prefix per registry: no row sees another row's state.
        return RedisStore(
            client=self.client,
            async_client=self.aclient,
            prefix=f"bench{next(_names)}",
        )

    def registry(self, store: str, *, is_async: bool) -> Any:
        """Return a fresh open registry on ``store`` ("memory" or "redis")."""
        pr = ours.core()
        registry = pr.ResilienceRegistry(store=self._store(store))
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


def _trivial_script(client: Any) -> Callable[[], Any]:
    # Separates the price of running any Lua script from the store's own work.
    script = client.register_script("return 1")
    return lambda: script(keys=[], args=[])


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
        Case(EVAL, "floor", lambda: _trivial_script(client), 1),
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


def _server_counts(admin: Any) -> tuple[int, int]:
    stats = admin.info("stats")
    return int(stats["total_commands_processed"]), int(stats["total_reads_processed"])


def _count_traffic(
    section: Section,
    cases: Sequence[Case],
    admin: Any,
    run: Callable[[Any], Any] | None,
    calls: int = 200,
) -> None:
    """Note, per row, the commands and socket reads the server saw per call.

    A socket read on the server is one request arriving, so reads per call
    count round trips (a pipeline arrives in one read) while commands count
    the work. The two ``INFO`` calls bracketing the run are subtracted.
    """
    for case in cases:
        row = section.find(case.label)
        if row is None or row.skipped:
            continue
        fn = case.build()
        for _ in range(2):
            result = fn()
            if run is not None:
                run(result)
        before = _server_counts(admin)
        for _ in range(calls):
            result = fn()
            if run is not None:
                run(result)
        after = _server_counts(admin)
        commands = (after[0] - before[0] - 1) / calls
        reads = (after[1] - before[1] - 1) / calls
        traffic = f"{commands:.2f} commands in {reads:.2f} round trips per call"
        row.note = f"{row.note}; {traffic}" if row.note else traffic
        if case.label.endswith("redis store"):
            # The count behind "costs at most one round trip", free of noise.
            result = PASS if reads <= 1.0 else MISS
            row.checks.insert(
                0, Check("<= 1 round trip", result, vs=f"{reads:.2f} counted")
            )


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
    client = redis.Redis.from_url(url)
    aclient = redis.asyncio.Redis.from_url(url)
    admin = redis.Redis.from_url(url)
    regs = _Registries(client, aclient, loop)
    try:
        cases = _sync_cases(regs, client)
        sync = run_sync(sync_title, cases, settings)
        _count_traffic(sync, cases, admin, None)
        acases = _async_cases(regs, aclient)
        asynchronous = run_async(async_title, acases, settings, loop)
        _count_traffic(asynchronous, acases, admin, loop.run_until_complete)
    finally:
        regs.close()
        client.close()
        admin.close()
        loop.run_until_complete(aclient.aclose())
        loop.close()
    for section in (sync, asynchronous):
        _judge(section)
        reference = section.rows[0]
        reference.note = f"the reference, on the store's client; {reference.note}"
    return [sync, asynchronous]
