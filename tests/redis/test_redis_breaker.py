"""The shared circuit breaker against a real redis-server."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from redis_support import RedisServer, RoundTrips

from pyresilience import CircuitBreakerConfig, CircuitState
from pyresilience._breaker_state import LocalBreakerState
from pyresilience._state import Permit
from pyresilience.stores import RedisStore

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def count_config(**fields: object) -> CircuitBreakerConfig:
    fields.setdefault("failure_threshold", 3)
    fields.setdefault("recovery_timeout", 30.0)
    fields.setdefault("success_threshold", 1)
    return CircuitBreakerConfig(**fields)  # type: ignore[arg-type]


def call(backend: object, *, ok: bool, slow: bool = False) -> Permit:
    """Acquire a permit and, when allowed, record one outcome."""
    permit = backend.acquire(0.0)  # type: ignore[attr-defined]
    if permit.allowed:
        backend.record(  # type: ignore[attr-defined]
            0.0, success=ok, slow=slow, probe=permit.probe
        )
    return permit


def test_failures_from_two_stores_count_toward_one_threshold(
    make_store: Callable[..., RedisStore],
) -> None:
    """Failures recorded by two stores (two processes) open one shared breaker."""
    config = count_config(failure_threshold=4)
    first = make_store().breaker("payments", config)
    second = make_store().breaker("payments", config)

    call(first, ok=False)
    call(second, ok=False)
    call(first, ok=False)

    assert first.snapshot(0.0).consecutive_failures == 3
    assert call(second, ok=False).allowed
    assert first.snapshot(0.0).state is OPEN
    assert not first.acquire(0.0).allowed
    assert not second.acquire(0.0).allowed


def test_open_rejection_names_the_shared_time_left(store: RedisStore) -> None:
    """A rejection while open carries the seconds left on the shared open time."""
    breaker = store.breaker(
        "api", count_config(failure_threshold=1, recovery_timeout=5)
    )

    opened = call(breaker, ok=False)
    permit = breaker.acquire(0.0)

    assert opened.allowed and not permit.allowed
    assert 4.5 < permit.retry_after <= 5.0
    assert 4.5 < breaker.snapshot(0.0).retry_after <= 5.0


def test_success_resets_the_consecutive_count(store: RedisStore) -> None:
    """A success between failures starts the count again, as in memory."""
    breaker = store.breaker("api", count_config(failure_threshold=3))

    call(breaker, ok=False)
    call(breaker, ok=False)
    call(breaker, ok=True)
    call(breaker, ok=False)
    call(breaker, ok=False)

    snapshot = breaker.snapshot(0.0)
    assert snapshot.state is CLOSED
    assert snapshot.consecutive_failures == 2


def test_every_store_moves_to_half_open_together(
    make_store: Callable[..., RedisStore],
) -> None:
    """The open time is shared, so all stores see half-open after the timeout."""
    config = count_config(
        failure_threshold=1, recovery_timeout=0.3, success_threshold=2
    )
    breakers = [make_store().breaker("api", config) for _ in range(3)]

    call(breakers[0], ok=False)
    assert [b.acquire(0.0).allowed for b in breakers] == [False, False, False]
    time.sleep(0.35)

    assert all(b.snapshot(0.0).state is HALF_OPEN for b in breakers)
    first, second, third = (b.acquire(0.0) for b in breakers)
    assert first.transitions == ((OPEN, HALF_OPEN),)
    assert first.probe and second.probe
    assert not third.allowed and third.retry_after == 0.0


def test_probe_limit_holds_across_stores(make_store: Callable[..., RedisStore]) -> None:
    """At most half_open_max_calls probes run at once, whichever store asks."""
    config = count_config(
        failure_threshold=1, recovery_timeout=0.0, success_threshold=3,
        half_open_max_calls=2,
    )  # fmt: skip
    one, two = make_store().breaker("api", config), make_store().breaker("api", config)
    call(one, ok=False)

    permits = [one.acquire(0.0), two.acquire(0.0), one.acquire(0.0), two.acquire(0.0)]

    assert [p.allowed for p in permits] == [True, True, False, False]
    assert one.snapshot(0.0).half_open_in_flight == 2
    one.release_probe(0.0)
    assert two.acquire(0.0).probe


def test_probe_successes_close_and_a_failed_probe_reopens(store: RedisStore) -> None:
    """success_threshold probe successes close it; one failed probe re-opens it."""
    config = count_config(
        failure_threshold=1, recovery_timeout=0.0, success_threshold=2
    )
    breaker = store.breaker("api", config)
    call(breaker, ok=False)

    assert call(breaker, ok=True).probe
    assert breaker.snapshot(0.0).half_open_successes == 1
    permit = breaker.acquire(0.0)
    assert breaker.record(0.0, success=True, slow=False, probe=permit.probe) == (
        (HALF_OPEN, CLOSED),
    )
    call(breaker, ok=False)
    permit = breaker.acquire(0.0)
    assert breaker.record(0.0, success=False, slow=False, probe=True) == (
        (HALF_OPEN, OPEN),
    )
    assert permit.probe


def test_a_dead_probers_lease_expires(make_store: Callable[..., RedisStore]) -> None:
    """A probe whose holder stopped renewing it is dropped after lease_ttl."""
    config = count_config(
        failure_threshold=1, recovery_timeout=0.0, success_threshold=1
    )
    dead = make_store(lease_ttl=0.4)
    alive = make_store(lease_ttl=0.4).breaker("api", config)
    prober = dead.breaker("api", config)
    call(alive, ok=False)

    assert prober.acquire(0.0).probe
    dead._keeper.stop()  # the holder "dies": nobody renews its lease any more
    assert not alive.acquire(0.0).allowed
    time.sleep(0.5)

    permit = alive.acquire(0.0)
    assert permit.probe
    assert alive.record(0.0, success=True, slow=False, probe=True) == (
        (HALF_OPEN, CLOSED),
    )


def test_a_live_probers_lease_is_renewed(make_store: Callable[..., RedisStore]) -> None:
    """A probe running longer than lease_ttl keeps its lease while renewed."""
    config = count_config(failure_threshold=1, recovery_timeout=0.0)
    holder = make_store(lease_ttl=0.3).breaker("api", config)
    other = make_store(lease_ttl=0.3).breaker("api", config)
    call(holder, ok=False)

    assert holder.acquire(0.0).probe
    time.sleep(0.7)

    assert not other.acquire(0.0).allowed
    assert holder.record(0.0, success=True, slow=False, probe=True) == (
        (HALF_OPEN, CLOSED),
    )


def test_a_late_result_after_opening_is_dropped(store: RedisStore) -> None:
    """An outcome of a call admitted before the trip does not touch the new state."""
    breaker = store.breaker("api", count_config(failure_threshold=1))
    early = breaker.acquire(0.0)
    call(breaker, ok=False)

    assert early.allowed
    assert breaker.record(0.0, success=False, slow=False, probe=False) == ()
    assert breaker.snapshot(0.0).state is OPEN


def test_force_open_and_reset_act_on_every_store(
    make_store: Callable[..., RedisStore],
) -> None:
    """Manual overrides change the shared state, not one process's copy."""
    config = count_config()
    one, two = make_store().breaker("api", config), make_store().breaker("api", config)
    call(one, ok=False)

    assert one.force(OPEN, 0.0) == ((CLOSED, OPEN),)
    assert not two.acquire(0.0).allowed
    assert two.force(CLOSED, 0.0) == ((OPEN, CLOSED),)
    assert one.acquire(0.0).allowed
    assert one.snapshot(0.0).consecutive_failures == 0
    assert one.force(CLOSED, 0.0) == ()


def test_a_joining_store_reads_state_and_never_resets_it(
    make_store: Callable[..., RedisStore],
) -> None:
    """A store created after the trip sees OPEN and leaves it open."""
    config = count_config(failure_threshold=1)
    call(make_store().breaker("api", config), ok=False)

    joined = make_store().breaker("api", config)

    assert joined.snapshot(0.0).state is OPEN
    assert not joined.acquire(0.0).allowed


def test_prefixes_and_names_keep_breakers_apart(
    make_store: Callable[..., RedisStore], prefix: str
) -> None:
    """Another prefix, or another name, is another breaker."""
    config = count_config(failure_threshold=1)
    call(make_store(prefix=prefix).breaker("a:b", config), ok=False)

    assert make_store(prefix=f"{prefix}:a").breaker("b", config).acquire(0.0).allowed
    assert make_store(prefix=f"{prefix}x").breaker("a:b", config).acquire(0.0).allowed
    assert make_store(prefix=prefix).breaker("a", config).acquire(0.0).allowed
    assert not make_store(prefix=prefix).breaker("a:b", config).acquire(0.0).allowed


def test_window_mode_opens_on_the_failure_rate(store: RedisStore) -> None:
    """In window mode the breaker opens when the failure share reaches the rate."""
    config = CircuitBreakerConfig(
        sliding_window_size=4, failure_rate_threshold=0.5, minimum_calls=4
    )
    breaker = store.breaker("api", config)

    for ok in (False, True, True, False):
        call(breaker, ok=ok)

    assert breaker.snapshot(0.0).state is OPEN


def test_window_mode_forgets_calls_older_than_the_window(store: RedisStore) -> None:
    """Only the last sliding_window_size outcomes are judged."""
    config = CircuitBreakerConfig(
        sliding_window_size=4, failure_rate_threshold=0.75, minimum_calls=4
    )
    breaker = store.breaker("api", config)

    for ok in (False, False, True, True, True, False, False):
        call(breaker, ok=ok)

    snapshot = breaker.snapshot(0.0)
    assert snapshot.state is CLOSED
    assert (snapshot.window_calls, snapshot.window_failures) == (4, 2)


def test_window_mode_opens_on_the_slow_call_rate(store: RedisStore) -> None:
    """Slow successes count toward slow_call_rate_threshold."""
    config = CircuitBreakerConfig(
        sliding_window_size=3, slow_call_duration=0.1, slow_call_rate_threshold=0.6
    )
    breaker = store.breaker("api", config)

    call(breaker, ok=True, slow=True)
    call(breaker, ok=True)
    assert breaker.snapshot(0.0).state is CLOSED
    call(breaker, ok=True, slow=True)

    assert breaker.snapshot(0.0).state is OPEN


def test_slow_flags_are_ignored_without_a_slow_duration(store: RedisStore) -> None:
    """With slow_call_duration=0 slow calls are not tracked at all."""
    config = CircuitBreakerConfig(sliding_window_size=2, slow_call_rate_threshold=0.5)
    breaker = store.breaker("api", config)

    call(breaker, ok=True, slow=True)
    call(breaker, ok=True, slow=True)

    snapshot = breaker.snapshot(0.0)
    assert (snapshot.state, snapshot.window_slow_calls) == (CLOSED, 0)


def test_closed_happy_path_costs_one_round_trip(store: RedisStore) -> None:
    """A closed breaker's acquire plus success record is one script call."""
    store.open()
    trips = RoundTrips()
    trips.watch(store._sync_client())
    count = store.breaker("count", count_config())
    window = store.breaker("window", CircuitBreakerConfig(sliding_window_size=10))
    call(count, ok=True)
    call(window, ok=True)
    trips.clear()

    for _ in range(5):
        call(count, ok=True)
        call(window, ok=True)

    assert trips.sent == ["EVALSHA"] * 10


def test_deferred_window_successes_reach_the_server(
    make_store: Callable[..., RedisStore],
) -> None:
    """Successes held back in window mode are counted with the next script call."""
    config = CircuitBreakerConfig(sliding_window_size=10, minimum_calls=10)
    mine = make_store().breaker("api", config)
    other = make_store().breaker("api", config)

    for _ in range(3):
        call(mine, ok=True)
    mine.acquire(0.0)

    assert other.snapshot(0.0).window_calls == 3
    mine.record(0.0, success=True, slow=False, probe=False)
    assert mine.snapshot(0.0).window_calls == 4


def test_a_success_after_failures_resets_the_shared_count(
    make_store: Callable[..., RedisStore],
) -> None:
    """When the last answer showed failures, a success is sent to reset them."""
    config = count_config(failure_threshold=3)
    one, two = make_store().breaker("api", config), make_store().breaker("api", config)
    call(two, ok=False)
    call(two, ok=False)

    call(one, ok=True)
    call(two, ok=False)

    assert two.snapshot(0.0).state is CLOSED


@pytest.mark.parametrize(
    "config",
    [
        count_config(failure_threshold=3, recovery_timeout=0.0, success_threshold=2),
        CircuitBreakerConfig(
            sliding_window_size=5, minimum_calls=3, failure_rate_threshold=0.5,
            recovery_timeout=0.0, success_threshold=2, half_open_max_calls=2,
        ),
        CircuitBreakerConfig(
            sliding_window_size=4, slow_call_duration=1.0,
            slow_call_rate_threshold=0.5, failure_rate_threshold=1.0,
            recovery_timeout=0.0, success_threshold=1, half_open_max_calls=3,
        ),
    ],
    ids=["count", "failure-rate", "slow-rate"],
)  # fmt: skip
def test_same_answers_as_the_in_memory_breaker(
    store: RedisStore, config: CircuitBreakerConfig
) -> None:
    """Random call sequences get the same permits, transitions and counters."""
    rng = random.Random(7)
    shared, local = store.breaker("parity", config), LocalBreakerState(config)

    for step in range(150):
        now = float(step)
        batch = [
            (shared.acquire(now), local.acquire(now)) for _ in range(rng.randint(1, 3))
        ]
        for remote, expected in batch:
            # Each store numbers its probes its own way; only the mark matters.
            assert remote._replace(probe=bool(remote.probe)) == expected._replace(
                probe=bool(expected.probe)
            )
            if not remote.allowed:
                continue
            if rng.random() < 0.1:
                if remote.probe:  # cancelled: the probe is handed back unused
                    shared.release_probe(now)
                    local.release_probe(now)
                continue
            # The pipeline only flags slow calls when a slow duration is set.
            slow = bool(config.slow_call_duration) and rng.random() < 0.3
            outcome = {"success": rng.random() < 0.55, "slow": slow}
            assert shared.record(now, probe=remote.probe, **outcome) == local.record(
                now, probe=expected.probe, **outcome
            )
        mine, theirs = shared.snapshot(now), local.snapshot(now)
        assert (mine.state, mine.consecutive_failures, mine.window_calls) == (
            theirs.state, theirs.consecutive_failures, theirs.window_calls,
        )  # fmt: skip
        assert (mine.window_failures, mine.window_slow_calls) == (
            theirs.window_failures, theirs.window_slow_calls,
        )  # fmt: skip
        assert mine.half_open_successes == theirs.half_open_successes


def test_a_probe_result_from_an_ended_episode_is_dropped(store: RedisStore) -> None:
    """A probe finishing after its half-open episode ended changes nothing."""
    breaker = store.breaker(
        "api", count_config(failure_threshold=1, recovery_timeout=0)
    )
    call(breaker, ok=False)
    assert breaker.acquire(0.0).probe

    breaker.force(CLOSED, 0.0)

    assert breaker.record(0.0, success=False, slow=False, probe=True) == ()
    assert breaker.snapshot(0.0).consecutive_failures == 0


def test_a_foreign_state_value_reads_as_closed(
    store: RedisStore, redis_server: RedisServer, prefix: str
) -> None:
    """A breaker hash holding an unknown state letter never breaks the call."""
    with redis_server.client() as admin:
        admin.hset(f"{prefix}:api:breaker", mapping={"s": "x", "f": "1"})
    breaker = store.breaker("api", count_config(failure_threshold=3))

    permit = call(breaker, ok=False)
    snapshot = breaker.snapshot(0.0)

    assert permit.allowed and store.is_available
    assert (snapshot.state, snapshot.consecutive_failures) == (CLOSED, 2)
