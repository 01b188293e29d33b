"""Scripts whose reply never came: what they took on the server goes back.

A server slower than the store's timeout still runs what it was sent once it
wakes up. A probe lease, bulkhead slot or rate-limit start taken that way is
held by nobody; so is a lease whose give-back could not be sent during an
outage. Left alone they would block the breaker or bulkhead of every process
until they expire (``lease_ttl``, 10 s by default).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from redis_support import LostReplies, RedisServer, RoundTrips

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    RateLimiterConfig,
)
from pyresilience.stores import RedisStore

#: Longer than the store's first reconnection back-off (0.1 s).
PAST_BACKOFF = 0.12

HALF_OPEN_ONE_PROBE = CircuitBreakerConfig(
    failure_threshold=1,
    recovery_timeout=0.0,
    success_threshold=1,
    half_open_max_calls=1,
)


def opened(store: RedisStore) -> object:
    """A breaker with one probe slot whose next call turns it half-open."""
    breaker = store.breaker("api", HALF_OPEN_ONE_PROBE)
    permit = breaker.acquire(0.0)
    breaker.record(0.0, success=False, slow=False, probe=permit.probe)
    return breaker


def lose_next_reply(store: RedisStore) -> LostReplies:
    lost = LostReplies()
    lost.watch(store._sync_client())
    lost.arm()
    return lost


def probes_on_server(server: RedisServer, store: RedisStore) -> int:
    with server.client() as admin:
        return int(admin.zcard(store._key("api", "breaker:probes")))


def test_a_probe_granted_in_a_lost_reply_is_given_back(
    store: RedisStore, redis_server: RedisServer
) -> None:
    """The probe lease a timed-out acquire took does not block the next probe."""
    breaker = opened(store)
    lose_next_reply(store)

    during = breaker.acquire(0.0)  # type: ignore[attr-defined]
    assert during.allowed and not store.is_available  # served locally
    assert probes_on_server(redis_server, store) == 1  # held by nobody
    time.sleep(PAST_BACKOFF)
    after = breaker.acquire(0.0)  # type: ignore[attr-defined]

    assert after.probe and store.is_available
    assert probes_on_server(redis_server, store) == 1  # only the new one
    assert breaker.record(  # type: ignore[attr-defined]
        0.0, success=True, slow=False, probe=after.probe
    ) == ((CircuitState.HALF_OPEN, CircuitState.CLOSED),)


def test_a_slot_granted_in_a_lost_reply_is_given_back(store: RedisStore) -> None:
    """The bulkhead slot a timed-out acquire took comes back with the next call."""
    bulkhead = store.bulkhead("api", BulkheadConfig(max_concurrent=1))
    lose_next_reply(store)

    local = bulkhead.acquire(0.0)
    assert local is not None and not store.is_available
    bulkhead.release(local)
    time.sleep(PAST_BACKOFF)
    slot = bulkhead.acquire(0.0)

    assert slot is not None and store.is_available
    assert bulkhead.snapshot().in_flight == 1


def test_a_start_reserved_in_a_lost_reply_is_given_back(store: RedisStore) -> None:
    """A rate-limit start that a timed-out reservation took is freed again."""
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=1, period=30))
    lose_next_reply(store)

    assert limiter.reserve(0.0, 0.0) is not None  # granted locally
    time.sleep(PAST_BACKOFF)

    assert limiter.reserve(0.0, 0.0) is not None
    assert limiter.snapshot(0.0).used == 1


def test_a_combined_start_in_a_lost_reply_is_given_back(store: RedisStore) -> None:
    """The start the breaker's acquire reserves for the limiter goes back too."""
    breaker = store.breaker("api", CircuitBreakerConfig())
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=1, period=30))
    lose_next_reply(store)

    assert breaker.acquire(0.0).allowed
    assert limiter.reserve(0.0, 0.0) is not None  # served locally
    time.sleep(PAST_BACKOFF)

    assert breaker.acquire(0.0).allowed
    assert limiter.reserve(0.0, 0.0) is not None
    assert limiter.snapshot(0.0).used == 1


def test_a_probe_whose_outcome_was_not_sent_is_given_back(
    store: RedisStore, redis_server: RedisServer
) -> None:
    """A probe finishing during an outage frees its lease when the server returns."""
    breaker = opened(store)
    probe = breaker.acquire(0.0)  # type: ignore[attr-defined]
    assert probe.probe
    lose_next_reply(store)
    breaker.snapshot(0.0)  # type: ignore[attr-defined]  # the store is now down

    breaker.record(  # type: ignore[attr-defined]
        0.0, success=True, slow=False, probe=probe.probe
    )
    time.sleep(PAST_BACKOFF)

    assert breaker.acquire(0.0).probe  # type: ignore[attr-defined]
    assert probes_on_server(redis_server, store) == 1


def test_releases_during_an_outage_wait_for_the_server(
    make_store: Callable[..., RedisStore],
) -> None:
    """A slot given back while the store is down costs no round trip, then returns."""
    store = make_store()
    config = BulkheadConfig(max_concurrent=1)
    bulkhead = store.bulkhead("api", config)
    slot = bulkhead.acquire(0.0)
    assert slot is not None
    lose_next_reply(store)
    bulkhead.snapshot()  # the store is now down
    trips = RoundTrips()
    trips.watch(store._sync_client())

    bulkhead.release(slot)
    sent_while_down = list(trips.sent)
    time.sleep(PAST_BACKOFF)
    store.breaker("other", CircuitBreakerConfig()).acquire(0.0)  # any call

    assert sent_while_down == []
    assert store.is_available
    assert make_store().bulkhead("api", config).acquire(0.0) is not None


async def test_a_probe_granted_to_a_cancelled_task_is_given_back(
    astore: RedisStore, redis_server: RedisServer
) -> None:
    """Cancelled after the server granted the probe, aacquire leaves no lease."""
    breaker = opened(astore)
    lost = LostReplies(asyncio.CancelledError)
    lost.watch(astore._async_client())
    lost.arm()

    with pytest.raises(asyncio.CancelledError):
        await breaker.aacquire(0.0)  # type: ignore[attr-defined]

    assert probes_on_server(redis_server, astore) == 0
    assert (await breaker.aacquire(0.0)).probe  # type: ignore[attr-defined]


async def test_a_probe_outcome_cancelled_before_sending_gives_the_lease_back(
    astore: RedisStore, redis_server: RedisServer
) -> None:
    """A probe whose arecord was cancelled does not hold the slot until it expires."""
    breaker = opened(astore)
    probe = await breaker.aacquire(0.0)  # type: ignore[attr-defined]
    lost = LostReplies(asyncio.CancelledError, before=True)
    lost.watch(astore._async_client())
    lost.arm()

    with pytest.raises(asyncio.CancelledError):
        await breaker.arecord(  # type: ignore[attr-defined]
            0.0, success=True, slow=False, probe=probe.probe
        )

    assert (await breaker.aacquire(0.0)).probe  # type: ignore[attr-defined]
    assert probes_on_server(redis_server, astore) == 1


def test_a_give_back_the_server_refuses_does_not_keep_the_store_down(
    store: RedisStore, redis_server: RedisServer, prefix: str
) -> None:
    """A queued removal failing with an error reply is dropped, not retried."""
    bulkhead = store.bulkhead("api", BulkheadConfig(max_concurrent=1))
    slot = bulkhead.acquire(0.0)
    lose_next_reply(store)
    bulkhead.snapshot()  # the store is now down
    bulkhead.release(slot)  # queued
    with redis_server.client() as admin:
        admin.delete(f"{prefix}:api:bulkhead")
        admin.set(f"{prefix}:api:bulkhead", "not a sorted set")
    time.sleep(PAST_BACKOFF)

    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=5))
    limiter.reserve(0.0, 0.0)  # flushes the removal first: WRONGTYPE

    assert store.is_available
    assert limiter.snapshot(0.0).used == 1
