"""Fixtures for the Redis store tests: a real redis-server the suite starts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_support import RedisServer, redis_binary

from pyresilience.stores import RedisStore

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``redis`` (``-m "not redis"`` skips them)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server on a free 127.0.0.1 port for the whole session."""
    server = RedisServer(redis_binary())
    server.start()
    yield server
    server.close()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server for one test, which may stop and restart it."""
    server = RedisServer(redis_binary())
    server.start()
    yield server
    server.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses, so tests share the server safely."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_store(
    redis_server: RedisServer, prefix: str
) -> Iterator[Callable[..., RedisStore]]:
    """Build stores on the session server (same prefix unless given); closed after."""
    stores: list[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        options.setdefault("prefix", prefix)
        options.setdefault("timeout", 1.0)
        store = RedisStore.from_url(options.pop("url", redis_server.url), **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., RedisStore]) -> RedisStore:
    """A store on the session server with this test's prefix."""
    return make_store()


@pytest.fixture
async def astore(make_store: Callable[..., RedisStore]) -> AsyncIterator[RedisStore]:
    """A store for async tests; its event-loop client is closed in the loop."""
    store = make_store()
    yield store
    await store.aclose()
