"""Code run in separate OS processes by the multi-process Redis store tests.

Each function is a process target: it builds its own registry on a
RedisStore (as a gunicorn or uvicorn worker would) and reports through a
queue. Spawned processes import this module by name, so it stays small and
free of test fixtures.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    EventType,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceEvent,
    ResilienceRegistry,
)
from pyresilience.stores import RedisStore


class Boom(Exception):
    """The dependency failed."""


def boom() -> None:
    raise Boom("down")


def _registry(url: str, prefix: str, config: ResilienceConfig, **store: Any) -> Any:
    # Outage warnings are expected in some scenarios; keep stderr quiet.
    logging.getLogger("pyresilience").setLevel(logging.ERROR)
    registry = ResilienceRegistry(
        store=RedisStore.from_url(url, prefix=prefix, **store)
    )
    registry.register("payments", config)
    registry.open()
    return registry


def fail_then_check(
    url: str, prefix: str, failures: int, barrier: Any, results: Any
) -> None:
    """Record ``failures`` failures, wait for the others, then try one call."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=6, recovery_timeout=30)
    )
    registry = _registry(url, prefix, config)
    policy = registry.policy("payments")
    for _ in range(failures):
        try:
            policy.call(boom)
        except Boom:
            pass
    barrier.wait(30)
    called = []
    try:
        policy.call(called.append, 1)
        results.put(("allowed", called))
    except CircuitOpenError:
        results.put(("rejected", called))
    registry.shutdown(timeout=1)


def call_at_full_speed(
    url: str, prefix: str, start: Any, seconds: float, results: Any
) -> None:
    """Call as fast as possible for ``seconds``; report when each call ran."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(),
        rate_limiter=RateLimiterConfig(max_calls=10, period=0.5),
    )
    registry = _registry(url, prefix, config)
    policy = registry.policy("payments")
    ran: list[float] = []
    rejected = 0
    start.wait(30)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            policy.call(lambda: ran.append(time.time()))
        except RateLimitExceededError:
            rejected += 1
    results.put((ran, rejected))
    registry.shutdown(timeout=1)


def hold_slots(url: str, prefix: str, start: Any, calls: int, results: Any) -> None:
    """Make ``calls`` calls through a bulkhead, noting how many ran at once."""
    config = ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=2, max_wait=10))
    registry = _registry(url, prefix, config)
    counter = redis.Redis.from_url(url)
    key = f"{prefix}:running"
    seen: list[int] = []

    def occupy() -> None:
        seen.append(counter.incr(key))
        time.sleep(0.15)
        counter.decr(key)

    start.wait(30)
    for _ in range(calls):
        registry.policy("payments").call(occupy)
    results.put(seen)
    counter.close()
    registry.shutdown(timeout=1)


def probe_and_hang(url: str, prefix: str, probing: Any) -> None:
    """Take the half-open probe and never finish (the test kills us)."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=0.3, success_threshold=1,
            half_open_max_calls=1,
        )
    )  # fmt: skip
    registry = _registry(url, prefix, config, lease_ttl=1.0)

    def hang() -> None:
        probing.set()
        time.sleep(600)

    registry.policy("payments").call(hang)


def call_through_an_outage(
    url: str, prefix: str, start: Any, stop: Any, results: Any
) -> None:
    """Call until told to stop; count outcomes and store events."""
    events: list[EventType] = []

    def listen(event: ResilienceEvent) -> None:
        events.append(event.event_type)

    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
        rate_limiter=RateLimiterConfig(max_calls=100_000, period=1.0, max_wait=0.05),
        bulkhead=BulkheadConfig(max_concurrent=5),
    )
    registry = _registry(
        url, prefix, config, timeout=0.2, max_backoff=0.2, listeners=[listen]
    )
    policy = registry.policy("payments")
    ok, errors = 0, []
    start.wait(30)
    while not stop.is_set():
        try:
            policy.call(lambda: None)
            ok += 1
        except Exception as error:
            errors.append(repr(error))
        time.sleep(0.002)
    available = registry.store.is_available
    results.put((ok, errors, [e.value for e in events], available))
    registry.shutdown(timeout=1)


def take_slot_and_hang(url: str, prefix: str, holding: Any) -> None:
    """Take the only bulkhead slot and never give it back (the test kills us)."""
    config = ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    registry = _registry(url, prefix, config, lease_ttl=1.0)

    def hang() -> None:
        holding.set()
        time.sleep(600)

    registry.policy("payments").call(hang)
