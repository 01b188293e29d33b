"""Several OS processes sharing one breaker, one limit and one bulkhead."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis_workers
from redis_support import RedisServer

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.stores import RedisStore

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def processes() -> Iterator[Callable[..., Any]]:
    """Start spawned processes; any still alive at the end are killed."""
    started: list[Any] = []

    def start(target: Callable[..., None], *args: Any) -> Any:
        process = SPAWN.Process(target=target, args=args, daemon=True)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.is_alive():
            process.kill()
        process.join(10)


def collect(results: Any, count: int) -> list[Any]:
    return [results.get(timeout=60) for _ in range(count)]


def test_failures_in_three_processes_open_one_breaker(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """Two failures in each of three processes reach a threshold of six."""
    barrier, results = SPAWN.Barrier(3), SPAWN.Queue()
    for _ in range(3):
        processes(
            redis_workers.fail_then_check, redis_server.url, prefix, 2, barrier, results
        )

    answers = collect(results, 3)

    assert answers == [("rejected", [])] * 3


def test_the_first_process_to_trip_opens_it_for_every_process(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """One process sees six failures; the others reject their very next call."""
    barrier, results = SPAWN.Barrier(3), SPAWN.Queue()
    for failures in (6, 0, 0):
        processes(
            redis_workers.fail_then_check,
            redis_server.url, prefix, failures, barrier, results,
        )  # fmt: skip

    answers = collect(results, 3)

    assert answers == [("rejected", [])] * 3


def test_one_rate_limit_holds_across_processes(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """Three processes calling flat out get 10 calls per 0.5 s between them."""
    start, results, seconds = SPAWN.Event(), SPAWN.Queue(), 1.6
    for _ in range(3):
        processes(
            redis_workers.call_at_full_speed,
            redis_server.url, prefix, start, seconds, results,
        )  # fmt: skip
    time.sleep(0.3)  # let them connect
    start.set()

    reports = collect(results, 3)

    ran = sorted(t for times, _ in reports for t in times)
    assert all(rejected > 0 for _, rejected in reports)
    assert 30 <= len(ran) <= 10 * (seconds / 0.5 + 1)
    # Eleven starts never fit in one period; times are taken after the
    # answer, so allow for a little scheduling delay between processes.
    assert min(b - a for a, b in zip(ran, ran[10:], strict=False)) > 0.5 - 0.06


def test_a_bulkhead_of_two_holds_across_four_processes(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """Four processes never run more than two calls at once, and all are served."""
    start, results = SPAWN.Event(), SPAWN.Queue()
    for _ in range(4):
        processes(redis_workers.hold_slots, redis_server.url, prefix, start, 3, results)
    time.sleep(0.3)
    start.set()

    seen = [level for report in collect(results, 4) for level in report]

    assert len(seen) == 12
    assert max(seen) == 2


def test_a_killed_half_open_prober_does_not_wedge_the_breaker(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """After SIGKILL mid-probe the lease expires and another process closes it."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=0.3, success_threshold=1,
            half_open_max_calls=1,
        )
    )  # fmt: skip
    registry = ResilienceRegistry(
        store=RedisStore.from_url(redis_server.url, prefix=prefix, lease_ttl=1.0)
    )
    registry.register("payments", config)
    policy = registry.policy("payments")
    with pytest.raises(redis_workers.Boom):
        policy.call(redis_workers.boom)
    time.sleep(0.35)
    probing = SPAWN.Event()
    prober = processes(redis_workers.probe_and_hang, redis_server.url, prefix, probing)
    assert probing.wait(30)

    os.kill(prober.pid, signal.SIGKILL)
    prober.join(10)
    killed = time.monotonic()
    with pytest.raises(CircuitOpenError):
        policy.call(lambda: None)
    while True:
        try:
            policy.call(lambda: None)
            break
        except CircuitOpenError:
            assert time.monotonic() - killed < 5, "the dead probe was never dropped"
            time.sleep(0.05)
    recovered_after = time.monotonic() - killed
    state = policy.status().breaker.state
    registry.shutdown(timeout=1)

    assert state is CircuitState.CLOSED
    assert recovered_after <= 1.2


def test_a_killed_processs_bulkhead_slot_comes_back(
    redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """The slot of a process killed mid-call is free again after lease_ttl."""
    holding = SPAWN.Event()
    holder = processes(
        redis_workers.take_slot_and_hang, redis_server.url, prefix, holding
    )
    assert holding.wait(30)
    store = RedisStore.from_url(redis_server.url, prefix=prefix)
    bulkhead = store.bulkhead("payments", BulkheadConfig(max_concurrent=1))
    time.sleep(0.5)  # the holder renews its lease meanwhile
    taken_while_alive = bulkhead.acquire(0.0)

    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    killed = time.monotonic()
    slot = bulkhead.acquire(3.0)
    waited = time.monotonic() - killed
    store.close()

    assert taken_while_alive is None
    assert slot is not None
    assert waited <= 1.2


def test_processes_call_through_a_redis_restart_without_failing(
    own_redis_server: RedisServer, prefix: str, processes: Callable[..., Any]
) -> None:
    """Redis stops and restarts mid-run; no call in any process fails."""
    start, stop, results = SPAWN.Event(), SPAWN.Event(), SPAWN.Queue()
    for _ in range(3):
        processes(
            redis_workers.call_through_an_outage,
            own_redis_server.url, prefix, start, stop, results,
        )  # fmt: skip
    time.sleep(0.3)
    start.set()
    time.sleep(0.4)
    own_redis_server.stop()
    time.sleep(0.5)
    own_redis_server.start()
    time.sleep(0.8)
    stop.set()

    reports = collect(results, 3)

    for ok, errors, events, available in reports:
        assert errors == []
        assert ok > 50
        assert events == ["store_unavailable", "store_recovered"]
        assert available
