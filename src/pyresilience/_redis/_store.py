"""``RedisStore``: policy state shared by every process that uses one server."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import _clients, _lua
from ._base import STORE_ERRORS, GiveBacks
from ._breaker import RedisBreakerBackend
from ._budget import RedisBudgetBackend
from ._bulkhead import RedisBulkheadBackend
from ._health import StoreHealth
from ._leases import LeaseKeeper
from ._limiter import RedisRateLimiterBackend

if TYPE_CHECKING:
    from .._config import (
        BulkheadConfig,
        CircuitBreakerConfig,
        RateLimiterConfig,
        RetryBudgetConfig,
    )

__all__ = ["RedisStore"]

#: Every script source, loaded by open() so no call meets NOSCRIPT.
_SCRIPTS = tuple(getattr(_lua, name) for name in _lua.__all__)


def _escape(name: str) -> str:
    # Names lose their colons so that "prefix:name:kind" splits one way only:
    # two registries with different prefixes can never produce the same key.
    # Lone surrogates (names decoded with "surrogateescape") cannot be sent
    # as UTF-8, so they are escaped too; every escape starts with "%", and a
    # "%" of the name itself becomes "%25", so no two names share a key.
    escaped = name.replace("%", "%25").replace(":", "%3A")
    if not escaped.isascii():
        escaped = "".join(
            f"%u{ord(char):04X}" if 0xD800 <= ord(char) <= 0xDFFF else char
            for char in escaped
        )
    return escaped


def _positive(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"RedisStore.{field} must be a number of seconds, got {value!r} "
            f"({type(value).__name__})"
        )
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"RedisStore.{field} must be > 0 seconds, got {value!r}")
    return float(value)


def _check_url(url: object) -> None:
    if url is None:
        return
    if not isinstance(url, str):
        raise TypeError(
            f"RedisStore.url must be a string such as 'redis://127.0.0.1:6379/0', "
            f"got {url!r} ({type(url).__name__})"
        )
    # redis-py reads the URL only when it first connects; a bad port or query
    # value would then fail every call instead of failing here, at start-up.
    try:
        _clients.check_url(url)
    except ValueError as exc:
        shown = url if "@" not in url else "the URL given"
        raise ValueError(f"RedisStore.url: {shown} is not valid: {exc}") from None


def _check_prefix(prefix: object) -> None:
    if not isinstance(prefix, str) or not prefix:
        raise ValueError(
            f"RedisStore.prefix must be a non-empty string, got {prefix!r}"
        )
    try:
        prefix.encode()
    except UnicodeEncodeError:
        raise ValueError(
            f"RedisStore.prefix must be encodable as UTF-8, got {prefix!r}"
        ) from None


class RedisStore:
    """Keeps breaker, rate-limit, bulkhead and retry-budget state in Redis.

    Every process whose registry uses a store on the same server with the
    same ``prefix`` shares one state per policy name: failures from every
    worker count toward one breaker, one rate limit holds across all of
    them, and so on. Valkey works the same. Each state change is one Lua
    script run on the server with the server's clock.

    When the server is down or slower than ``timeout``, calls go on with
    in-process state (as with the default in-memory store), one WARNING is
    logged and a ``STORE_UNAVAILABLE`` event sent to ``listeners``; the
    server is tried again with back-off, and when it answers shared state
    is used again (``STORE_RECOVERED``). A call never fails because the
    store failed.

    Args:
        client: A ``redis.Redis`` client to use for sync callers. Its own
            timeouts and retry settings apply; the store never closes it.
        url: A ``redis://``, ``rediss://`` or ``unix://`` URL; the store then
            makes its own sync and async clients, lazily, with ``timeout``
            and no redis-py retries.
        prefix: Start of every key; registries with different prefixes never
            share state.
        timeout: Seconds to wait for the server before using local state.
        async_client: A ``redis.asyncio.Redis`` client for async callers.
            Without one, an async client is made for each event loop from
            ``url`` or from ``client``'s connection settings.
        listeners: Callables receiving ``STORE_UNAVAILABLE`` and
            ``STORE_RECOVERED`` events.
        lease_ttl: Seconds after which the bulkhead slot or half-open probe
            of a process that died is given back; live holders renew theirs
            every ``lease_ttl / 3`` seconds from a background thread.
        max_backoff: Longest pause, in seconds, between two reconnection
            tries during an outage.

    Raises:
        ValueError: When neither ``client``, ``url`` nor ``async_client`` is
            given, or a duration is not a positive number.
    """

    is_local = False

    def __init__(
        self,
        client: Any = None,
        *,
        url: str | None = None,
        prefix: str = "pyresilience",
        timeout: float = 0.1,
        async_client: Any = None,
        listeners: Sequence[Callable[[Any], Any]] = (),
        lease_ttl: float = 10.0,
        max_backoff: float = 2.0,
    ) -> None:
        if client is None and url is None and async_client is None:
            raise ValueError(
                "RedisStore needs a url (e.g. 'redis://127.0.0.1:6379/0'), a "
                "redis.Redis client or a redis.asyncio.Redis client; got none"
            )
        _check_url(url)
        _check_prefix(prefix)
        self.url = url
        self.prefix = prefix
        self.timeout = _positive("timeout", timeout)
        self.lease_ttl = _positive("lease_ttl", lease_ttl)
        self._given_client = client
        self._given_async = async_client
        self._client = client
        # One async client per event loop, by id(loop), with a weak reference
        # to tell a live loop from a new one that reuses a dead loop's id.
        self._async_clients: dict[int, tuple[weakref.ref[Any], Any]] = {}
        self._last_loop: asyncio.AbstractEventLoop | None = None
        self._last_async: Any = None
        self._lock = threading.Lock()
        self._health = StoreHealth(
            self._describe(),
            tuple(listeners),
            max_backoff=_positive("max_backoff", max_backoff),
        )
        self._give_backs = GiveBacks()
        self._keeper = LeaseKeeper(
            self.lease_ttl, self._sync_client, self._health.usable, self._health.failed
        )
        self._limiters: weakref.WeakValueDictionary[str, RedisRateLimiterBackend] = (
            weakref.WeakValueDictionary()
        )

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStore:
        """Return a store that connects to ``url``; see the class for ``kwargs``."""
        return cls(url=url, **kwargs)

    @property
    def is_available(self) -> bool:
        """False while the server is known to be down (local state in use)."""
        return self._health.up

    # -- backends ------------------------------------------------------------

    def breaker(self, name: str, config: CircuitBreakerConfig) -> RedisBreakerBackend:
        """Return the shared breaker of ``name``."""
        return RedisBreakerBackend(self, name, config)

    def rate_limiter(
        self, name: str, config: RateLimiterConfig
    ) -> RedisRateLimiterBackend:
        """Return the shared rate limiter of ``name``."""
        backend = RedisRateLimiterBackend(self, name, config)
        # The breaker of the same name reserves through it (one round trip).
        self._limiters[name] = backend
        return backend

    def bulkhead(self, name: str, config: BulkheadConfig) -> RedisBulkheadBackend:
        """Return the shared bulkhead of ``name``."""
        return RedisBulkheadBackend(self, name, config)

    def retry_budget(self, name: str, config: RetryBudgetConfig) -> RedisBudgetBackend:
        """Return the shared retry budget of ``name``."""
        return RedisBudgetBackend(self, name, config)

    # -- connections -----------------------------------------------------------

    def open(self) -> None:
        """Connect and load the scripts; never raises when the server is down."""
        try:
            client = self._sync_client()
            client.ping()
            pipe = client.pipeline(transaction=False)
            for source in _SCRIPTS:
                pipe.script_load(source)
            pipe.execute()
        except STORE_ERRORS as exc:
            self._health.failed(exc)
            return
        self._health.succeeded()

    async def aopen(self) -> None:
        """Async twin of :meth:`open`, connecting this event loop's client."""
        try:
            client = self._async_client()
            await client.ping()
            pipe = client.pipeline(transaction=False)
            for source in _SCRIPTS:
                pipe.script_load(source)
            await pipe.execute()
        except STORE_ERRORS as exc:
            self._health.failed(exc)
            return
        self._health.succeeded()

    def close(self) -> None:
        """Give back held leases and close the connections the store made.

        Idempotent; the store reconnects on its next use. Clients passed in
        are left open. Async clients of a still-running loop are closed by
        :meth:`aclose`.
        """
        held = self._keeper.held()
        self._keeper.stop()
        client = self._client
        pending = self._give_backs.take()
        for key, leases in held.items():
            pending.setdefault(key, []).extend(leases)
        if client is not None and pending and self._health.up:
            with contextlib.suppress(*STORE_ERRORS):
                pipe = client.pipeline(transaction=False)
                for key, members in pending.items():
                    pipe.zrem(key, *members)
                pipe.execute()
        if self._given_client is None and client is not None:
            with self._lock:
                self._client = None
            client.close()
        self._drop_dead_loops()

    async def aclose(self) -> None:
        """Close this event loop's async client, then do what :meth:`close` does."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._given_async is None and loop is not None:
            with self._lock:
                entry = self._async_clients.get(id(loop))
                if entry is not None and entry[0]() is loop:
                    del self._async_clients[id(loop)]
                if self._last_loop is loop:
                    self._last_loop = self._last_async = None
            if entry is not None and entry[0]() is loop:
                await entry[1].aclose()
        self.close()

    def _sync_client(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    if self.url is not None:
                        self._client = _clients.make_sync(self.url, self.timeout)
                    else:
                        self._client = _clients.sync_twin(
                            self._given_async, self.timeout
                        )
                client = self._client
        return client

    def _async_client(self) -> Any:
        if self._given_async is not None:
            return self._given_async
        loop = asyncio.get_running_loop()
        if loop is self._last_loop:
            return self._last_async
        with self._lock:
            entry = self._async_clients.get(id(loop))
            if entry is not None and entry[0]() is loop:
                client = entry[1]
            else:
                self._drop_dead_loops_locked()
                if self.url is not None:
                    client = _clients.make_async(self.url, self.timeout)
                else:
                    client = _clients.async_twin(self._given_client, self.timeout)
                self._async_clients[id(loop)] = (weakref.ref(loop), client)
            self._last_loop, self._last_async = loop, client
        return client

    def _drop_dead_loops(self) -> None:
        with self._lock:
            self._drop_dead_loops_locked()

    def _drop_dead_loops_locked(self) -> None:
        for key, (ref, client) in list(self._async_clients.items()):
            loop = ref()
            if loop is None or loop.is_closed():
                del self._async_clients[key]
                _clients.abandon_async(client)
                if self._last_loop is loop:
                    self._last_loop = self._last_async = None

    def _key(self, name: str, kind: str) -> str:
        return f"{self.prefix}:{_escape(name)}:{kind}"

    def _describe(self) -> str:
        if self.url is not None:
            return _clients.describe_url(self.url)
        client = self._given_client or self._given_async
        kwargs = client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix://{kwargs['path']}"
        return f"redis://{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"

    def __repr__(self) -> str:
        return f"RedisStore({self._health.describe!r}, prefix={self.prefix!r})"
