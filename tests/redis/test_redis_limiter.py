"""The shared rate limiter against a real redis-server."""

from __future__ import annotations

import time
from collections.abc import Callable

from redis_support import RedisServer, RoundTrips

from pyresilience import CircuitBreakerConfig, RateLimiterConfig
from pyresilience.stores import RedisStore


def limit(max_calls: int, period: float, max_wait: float = 0.0) -> RateLimiterConfig:
    return RateLimiterConfig(max_calls=max_calls, period=period, max_wait=max_wait)


def test_one_limit_holds_across_stores(make_store: Callable[..., RedisStore]) -> None:
    """Two stores (two processes) draw from one budget of max_calls per period."""
    config = limit(3, 5.0)
    one = make_store().rate_limiter("api", config)
    two = make_store().rate_limiter("api", config)

    granted = [
        limiter.reserve(0.0, 0.0) is not None for limiter in (one, two, one, two, one)
    ]

    assert granted == [True, True, True, False, False]
    assert one.snapshot(0.0).used == 3


def test_a_rejection_consumes_nothing(store: RedisStore) -> None:
    """Rejected calls leave the window as it was: the next window is full again."""
    limiter = store.rate_limiter("api", limit(2, 0.3))
    assert limiter.reserve(0.0, 0.0) and limiter.reserve(0.0, 0.0)

    rejected = [limiter.reserve(0.0, 0.0) for _ in range(10)]
    time.sleep(0.35)

    assert rejected == [None] * 10
    assert limiter.reserve(0.0, 0.0) is not None
    assert limiter.reserve(0.0, 0.0) is not None
    assert limiter.reserve(0.0, 0.0) is None


def test_waiters_are_served_in_order_within_max_wait(store: RedisStore) -> None:
    """With max_wait, later callers get later starts; too long a wait is refused."""
    limiter = store.rate_limiter("api", limit(2, 0.5, max_wait=1.2))
    begin = time.monotonic()

    answers = []
    for _ in range(7):
        reservation = limiter.reserve(0.0, 1.2)
        answers.append(reservation and time.monotonic() - begin + reservation.wait)

    starts = answers[:6]
    assert answers[6] is None
    assert all(b >= a - 0.002 for a, b in zip(starts, starts[1:], strict=False))
    assert starts[1] < 0.1 and 0.45 < starts[2] < 0.6 and 0.95 < starts[5] < 1.1


def test_no_window_of_one_period_holds_more_than_max_calls(
    make_store: Callable[..., RedisStore], redis_server: RedisServer
) -> None:
    """Starts granted to two stores never put max_calls + 1 into one period."""
    config = limit(4, 0.2, max_wait=5.0)
    limiters = [make_store().rate_limiter("api", config) for _ in range(2)]
    starts = []

    with redis_server.client() as admin:
        for i in range(20):
            reservation = limiters[i % 2].reserve(0.0, 5.0)
            assert reservation is not None
            # The start the server granted, by its clock: the time a busy
            # client reads the reply at would add its own delays.
            starts.append(admin.zscore(limiters[0].key, reservation.token))
            time.sleep(0.013)

    starts.sort()
    # Starts are stored with six decimals.
    assert all(b - a >= 0.2 - 2e-6 for a, b in zip(starts, starts[4:], strict=False))


def test_cancel_gives_the_start_back(store: RedisStore) -> None:
    """A cancelled reservation frees its place at once."""
    limiter = store.rate_limiter("api", limit(2, 10.0))
    first = limiter.reserve(0.0, 0.0)
    assert first is not None and limiter.reserve(0.0, 0.0) is not None
    assert limiter.reserve(0.0, 0.0) is None

    limiter.cancel(first.token)

    assert limiter.reserve(0.0, 0.0) is not None


def test_next_free_names_the_time_until_a_start(
    make_store: Callable[..., RedisStore],
) -> None:
    """next_free answers from the last rejection, else it asks the server."""
    config = limit(1, 2.0)
    mine = make_store().rate_limiter("api", config)
    other_store = make_store()
    other = other_store.rate_limiter("api", config)
    assert mine.next_free(0.0) == 0.0
    assert mine.reserve(0.0, 0.0) is not None
    assert other.reserve(0.0, 0.0) is None
    trips = RoundTrips()
    trips.watch(other_store._sync_client())

    assert 1.8 < other.next_free(0.0) <= 2.0
    assert len(trips) == 0
    assert 1.8 < make_store().rate_limiter("api", config).next_free(0.0) <= 2.0


def test_breaker_and_limiter_together_cost_one_round_trip(store: RedisStore) -> None:
    """The breaker's script reserves the start the limiter then hands out."""
    store.open()  # loads the scripts, so no NOSCRIPT round trip is counted
    trips = RoundTrips()
    trips.watch(store._sync_client())
    breaker = store.breaker("api", CircuitBreakerConfig())
    limiter = store.rate_limiter("api", limit(3, 10.0))

    answers = []
    for _ in range(4):
        assert breaker.acquire(0.0).allowed
        answers.append(limiter.reserve(0.0, 0.0))
        breaker.record(0.0, success=True, slow=False, probe=False)
    sent = list(trips.sent)
    free = limiter.next_free(0.0)

    assert [a is not None for a in answers] == [True, True, True, False]
    assert sent == ["EVALSHA"] * 4
    assert len(trips) == 4 and 9.5 < free <= 10.0
    assert limiter.snapshot(0.0).used == 3


def test_an_open_breaker_reserves_nothing(store: RedisStore) -> None:
    """A call the breaker rejects takes no rate-limit start."""
    breaker = store.breaker("api", CircuitBreakerConfig(failure_threshold=1))
    limiter = store.rate_limiter("api", limit(5, 10.0))
    assert breaker.acquire(0.0).allowed
    limiter.reserve(0.0, 0.0)
    breaker.record(0.0, success=False, slow=False, probe=False)

    for _ in range(3):
        assert not breaker.acquire(0.0).allowed

    assert limiter.snapshot(0.0).used == 1


def test_a_shorter_wait_than_configured_cancels_the_combined_start(
    store: RedisStore,
) -> None:
    """A combined reservation further away than the caller's max_wait is undone."""
    breaker = store.breaker("api", CircuitBreakerConfig())
    limiter = store.rate_limiter("api", limit(1, 10.0, max_wait=30.0))
    assert limiter.reserve(0.0, 30.0) is not None

    breaker.acquire(0.0)
    assert limiter.reserve(0.0, 1.0) is None

    assert limiter.snapshot(0.0).used == 1
    assert limiter.reserve(0.0, 30.0) is not None


def test_unpicked_combined_starts_are_given_back(store: RedisStore) -> None:
    """When nothing picks up the breaker's reservations it stops making them."""
    breaker = store.breaker("api", CircuitBreakerConfig())
    limiter = store.rate_limiter("api", limit(10, 10.0))

    for _ in range(5):
        assert breaker.acquire(0.0).allowed

    assert not limiter.combine
    assert limiter.snapshot(0.0).used == 0
    assert limiter.reserve(0.0, 0.0) is not None


def test_combined_start_waits_count_the_time_since_the_answer(
    store: RedisStore,
) -> None:
    """A start picked up later has its wait shortened by the time that passed."""
    breaker = store.breaker("api", CircuitBreakerConfig())
    limiter = store.rate_limiter("api", limit(1, 0.5, max_wait=1.0))
    assert limiter.reserve(0.0, 1.0) is not None

    breaker.acquire(0.0)
    time.sleep(0.2)
    reservation = limiter.reserve(0.0, 1.0)

    assert reservation is not None
    assert 0.2 < reservation.wait < 0.31
