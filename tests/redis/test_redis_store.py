"""Building a RedisStore, and what it does with the server's quirks."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
import redis_support
from redis.credentials import UsernamePasswordCredentialProvider
from redis_support import RedisServer

import pyresilience
from pyresilience import BulkheadConfig, CircuitBreakerConfig, RateLimiterConfig
from pyresilience._redis import _clients, _lua
from pyresilience._store import StateStore
from pyresilience.config import ConfigError, load_store
from pyresilience.stores import MemoryStore, RedisStore


def test_a_store_needs_somewhere_to_connect() -> None:
    """Without url or client the error says what to pass."""
    with pytest.raises(ValueError, match="needs a url"):
        RedisStore()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"timeout": 0}, ValueError, r"RedisStore.timeout must be > 0 seconds, got 0"),
        ({"timeout": "fast"}, TypeError, r"RedisStore.timeout must be a number"),
        ({"lease_ttl": -1.0}, ValueError, r"RedisStore.lease_ttl must be > 0"),
        ({"max_backoff": float("inf")}, ValueError, r"RedisStore.max_backoff"),
        ({"prefix": ""}, ValueError, r"RedisStore.prefix must be a non-empty string"),
        ({"prefix": "app\udcff"}, ValueError, r"RedisStore.prefix must be encodable"),
        ({"url": 6379}, TypeError, r"RedisStore.url must be a string"),
        (
            {"url": "redis://127.0.0.1:web/0"},
            ValueError,
            r"RedisStore.url: redis://127.0.0.1:web/0 is not valid: Port",
        ),
        ({"url": "redis://127.0.0.1:99999/0"}, ValueError, r"out of range"),
        (
            {"url": "redis://127.0.0.1:6379/0?socket_timeout=soon"},
            ValueError,
            r"RedisStore.url: .* is not valid: .*socket_timeout",
        ),
        (
            {"url": "redis://app:s3cret@[::1/0"},
            ValueError,
            r"RedisStore.url: the URL given is not valid: Invalid IPv6 URL",
        ),
    ],
)
def test_bad_settings_name_the_field_and_value(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    """Each invalid setting raises an error naming the field and the value."""
    options.setdefault("url", "redis://127.0.0.1:1/0")
    with pytest.raises(error, match=message):
        RedisStore(**options)  # type: ignore[arg-type]


def test_from_url_takes_the_loader_options() -> None:
    """from_url(url, prefix=..., timeout=...) is what the settings loader calls."""
    store = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="app", timeout=0.05)

    assert (store.url, store.prefix, store.timeout) == (
        "redis://127.0.0.1:1/0",
        "app",
        0.05,
    )
    assert store.is_local is False
    assert isinstance(store, StateStore)


def test_settings_strings_and_mappings_make_redis_stores() -> None:
    """load_store turns redis URLs and {url, prefix, timeout} into RedisStore."""
    from_string = load_store("redis://127.0.0.1:1/2")
    from_mapping = load_store(
        {"url": "redis://127.0.0.1:1/0", "prefix": "svc", "timeout": "250ms"}
    )

    assert isinstance(from_string, RedisStore) and from_string.url.endswith("/2")
    assert isinstance(from_mapping, RedisStore)
    assert (from_mapping.prefix, from_mapping.timeout) == ("svc", 0.25)


def test_repr_hides_the_password() -> None:
    """The URL in repr and logs never shows a password."""
    store = RedisStore.from_url("redis://app:s3cret@127.0.0.1:6390/0")

    assert "s3cret" not in repr(store)
    assert (
        repr(store)
        == "RedisStore('redis://app:***@127.0.0.1:6390/0', prefix='pyresilience')"
    )


def test_stores_package_exports() -> None:
    """pyresilience.stores offers both stores; MemoryStore is the core's class."""
    assert MemoryStore is pyresilience.MemoryStore
    assert RedisStore.__module__ == "pyresilience.stores"
    assert RedisStore.__name__ in pyresilience.stores.__all__


def test_the_stores_package_imports_without_redis() -> None:
    """Without the redis package, only using RedisStore fails, with a clear hint."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None  # as if redis were not installed
        import pyresilience.stores as stores
        print(stores.MemoryStore.__name__)
        try:
            stores.RedisStore
        except ImportError as error:
            print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "MemoryStore"
    assert 'pip install "pyresilience[redis]"' in lines[1]


def test_scripts_are_loaded_again_after_a_flush(
    store: RedisStore, redis_server: RedisServer
) -> None:
    """A server that forgot its scripts (restart, SCRIPT FLUSH) gets them again."""
    breaker = store.breaker("api", CircuitBreakerConfig(failure_threshold=1))
    assert breaker.acquire(0.0).allowed
    with redis_server.client() as admin:
        admin.script_flush()

    assert breaker.record(0.0, success=False, slow=False, probe=False)
    assert not breaker.acquire(0.0).allowed


def test_a_server_error_falls_back_to_local_state(
    store: RedisStore, redis_server: RedisServer, prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A key of the wrong type makes the script fail; the call still gets an answer."""
    with redis_server.client() as admin:
        admin.set(f"{prefix}:api:breaker", "not a hash")
    breaker = store.breaker("api", CircuitBreakerConfig(failure_threshold=1))

    with caplog.at_level(logging.WARNING, "pyresilience"):
        permit = breaker.acquire(0.0)

    assert permit.allowed
    assert not store.is_available
    assert "WRONGTYPE" in caplog.text


def test_names_with_colons_get_their_own_keys(
    store: RedisStore, redis_server: RedisServer, prefix: str
) -> None:
    """Colons and percent signs in names are escaped in the key."""
    store.rate_limiter("a:b", RateLimiterConfig()).reserve(0.0, 0.0)
    store.rate_limiter("a%3Ab", RateLimiterConfig()).reserve(0.0, 0.0)

    with redis_server.client() as admin:
        keys = sorted(k.decode() for k in admin.scan_iter(f"{prefix}:*"))

    assert keys == [f"{prefix}:a%253Ab:limiter", f"{prefix}:a%3Ab:limiter"]


def test_a_sync_client_alone_serves_async_callers_too(
    redis_server: RedisServer, prefix: str
) -> None:
    """Given only redis.Redis, the store builds the async twin from its settings."""
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    store = RedisStore(client, prefix=prefix)
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=1, period=10))

    async def reserve_async() -> object:
        try:
            return await limiter.areserve(0.0, 0.0)
        finally:
            await store.aclose()

    assert asyncio.run(reserve_async()) is not None
    assert limiter.reserve(0.0, 0.0) is None
    store.close()
    assert client.ping()  # a client that was passed in is left open
    client.close()


async def test_an_async_client_alone_serves_sync_callers_too(
    redis_server: RedisServer, prefix: str
) -> None:
    """Given only redis.asyncio.Redis, the store builds a sync twin for sync calls."""
    client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port)
    store = RedisStore(async_client=client, prefix=prefix)
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=1, period=10))

    assert limiter.reserve(0.0, 0.0) is not None
    assert await limiter.areserve(0.0, 0.0) is None
    await store.aclose()
    await client.aclose()


def test_open_loads_the_scripts(
    make_store: Callable[..., RedisStore], redis_server: RedisServer
) -> None:
    """open() connects and loads every script, so no call meets NOSCRIPT."""
    with redis_server.client() as admin:
        admin.script_flush()

    make_store().open()

    shas = [hashlib.sha1(getattr(_lua, n).encode()).hexdigest() for n in _lua.__all__]
    with redis_server.client() as admin:
        assert all(admin.script_exists(*shas))


def test_a_missing_server_binary_skips_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without redis-server the tests skip and say how to install it."""
    monkeypatch.setattr(redis_support.shutil, "which", lambda name: None)
    monkeypatch.delenv(redis_support.REQUIRE_ENV, raising=False)

    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        redis_support.redis_binary()


def test_a_missing_server_binary_fails_when_redis_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With PYRESILIENCE_REQUIRE_REDIS=1 (as in CI) a missing binary is a failure."""
    monkeypatch.setattr(redis_support.shutil, "which", lambda name: None)
    monkeypatch.setenv(redis_support.REQUIRE_ENV, "1")

    with pytest.raises(pytest.fail.Exception, match="PYRESILIENCE_REQUIRE_REDIS=1"):
        redis_support.redis_binary()


def test_names_that_are_not_utf8_get_their_own_keys(
    store: RedisStore, redis_server: RedisServer, prefix: str
) -> None:
    """A name with a lone surrogate works, and never meets its escaped spelling."""
    config = RateLimiterConfig(max_calls=1, period=10)
    odd = store.rate_limiter("disk\udcff", config)
    spelled = store.rate_limiter("disk%uDCFF", config)

    assert odd.reserve(0.0, 0.0) is not None
    assert spelled.reserve(0.0, 0.0) is not None
    with redis_server.client() as admin:
        keys = sorted(k.decode() for k in admin.scan_iter(f"{prefix}:*"))

    assert store.is_available
    assert keys == [f"{prefix}:disk%25uDCFF:limiter", f"{prefix}:disk%uDCFF:limiter"]


def test_an_async_client_used_on_another_event_loop_fails_no_call(
    redis_server: RedisServer, prefix: str
) -> None:
    """A given client's "Event loop is closed" on a second loop fails no call."""
    client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port)
    store = RedisStore(async_client=client, prefix=prefix, timeout=1.0)
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=100, period=10))

    async def reserve() -> bool:
        return await limiter.areserve(0.0, 0.0) is not None

    results = [asyncio.run(reserve())]
    # The first loop's connection cannot be closed once that loop is gone;
    # keep its transport to close the socket underneath at the end.
    pool = client.connection_pool
    stranded = [c._writer.transport for c in pool._available_connections]
    results += [asyncio.run(reserve()) for _ in range(2)]

    async def close() -> None:
        await store.aclose()
        await client.aclose()

    asyncio.run(close())
    for transport in stranded:
        _clients._close_transport(transport)
    assert results == [True, True, True]


def test_two_threads_meeting_an_outage_share_one_fallback(store: RedisStore) -> None:
    """The in-process fallback is made once per outage, even when threads race."""
    bulkhead = store.bulkhead("api", BulkheadConfig(max_concurrent=1))
    make_local = bulkhead._make_local
    inside = threading.Event()

    def slow_make_local() -> object:
        inside.set()
        time.sleep(0.05)  # the other thread asks meanwhile
        return make_local()

    bulkhead._make_local = slow_make_local  # type: ignore[method-assign]
    made: list[object] = []
    first = threading.Thread(target=lambda: made.append(bulkhead._local()))
    first.start()
    inside.wait(5)
    made.append(bulkhead._local())
    first.join(5)

    assert len(made) == 2 and made[0] is made[1]


@pytest.mark.parametrize(
    "value",
    [
        {"url": "redis://127.0.0.1:6379/0", "prefix": ""},
        {"url": "redis://127.0.0.1:6379/0", "timeout": 0},
        "redis://127.0.0.1:web/0",
    ],
    ids=["empty-prefix", "zero-timeout", "bad-port"],
)
def test_bad_store_settings_raise_a_config_error_naming_the_path(
    value: object,
) -> None:
    """Store settings that RedisStore refuses surface as ConfigError with the path."""
    with pytest.raises(ConfigError, match=r"^RESILIENCE\['STORE'\]"):
        load_store(value, path="RESILIENCE['STORE']")


@pytest.mark.parametrize("given", ["sync", "async"])
async def test_a_credential_provider_also_serves_the_twin_client(
    given: str, prefix: str
) -> None:
    """With one client given, the store's other client authenticates the same way."""
    server = RedisServer(redis_support.redis_binary(), password="s3cret")
    server.start()
    provider = UsernamePasswordCredentialProvider(password="s3cret")
    try:
        where = {"host": "127.0.0.1", "port": server.port}
        if given == "sync":
            sync = redis.Redis(**where, credential_provider=provider)
            store = RedisStore(sync, prefix=prefix, timeout=1.0)
        else:
            client = redis.asyncio.Redis(**where, credential_provider=provider)
            store = RedisStore(async_client=client, prefix=prefix, timeout=1.0)
        breaker = store.breaker("api", CircuitBreakerConfig())

        permits = [breaker.acquire(0.0), await breaker.aacquire(0.0)]
        available = store.is_available
        await store.aclose()
        if given == "sync":
            sync.close()
        else:
            await client.aclose()
    finally:
        server.close()

    assert [p.allowed for p in permits] == [True, True]
    assert available
