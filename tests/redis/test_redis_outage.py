"""When Redis is down or slow: local state, one warning, back-off, recovery."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest
from redis_support import RedisServer, RoundTrips

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    EventType,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceEvent,
    ResilienceRegistry,
    RetryBudgetConfig,
    RetryConfig,
)
from pyresilience.stores import RedisStore

pytestmark = pytest.mark.slow

POLICY = ResilienceConfig(
    retry=RetryConfig(max_attempts=2, delay=0, jitter=False),
    retry_budget=RetryBudgetConfig(max_retries=1000),
    circuit_breaker=CircuitBreakerConfig(failure_threshold=3, recovery_timeout=30),
    # A little max_wait: concurrent callers of the in-memory fallback may be
    # handed a start a few microseconds ahead of their own clock reading.
    rate_limiter=RateLimiterConfig(max_calls=100_000, period=1.0, max_wait=0.05),
    bulkhead=BulkheadConfig(max_concurrent=8, max_wait=1.0),
)


class Events(list[ResilienceEvent]):
    """A listener that keeps every event."""

    def __call__(self, event: ResilienceEvent) -> None:
        self.append(event)

    def of(self, kind: EventType) -> list[ResilienceEvent]:
        return [event for event in self if event.event_type is kind]


@pytest.fixture
def events() -> Events:
    """Store events seen by the test."""
    return Events()


@pytest.fixture
def outage_store(own_redis_server: RedisServer, events: Events) -> Iterator[RedisStore]:
    """A store on a server of its own, with a short timeout and back-off."""
    store = RedisStore.from_url(
        own_redis_server.url, timeout=0.2, max_backoff=0.2, listeners=[events]
    )
    yield store
    store.close()


@pytest.fixture
def registry(outage_store: RedisStore) -> Iterator[ResilienceRegistry]:
    """A registry with every stateful pattern on the outage store."""
    registry = ResilienceRegistry(store=outage_store)
    registry.register("payments", POLICY)
    registry.open()
    yield registry
    registry.shutdown(timeout=1.0)


def wait_until(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_calls_go_on_while_redis_is_down_and_shared_state_resumes(
    registry: ResilienceRegistry,
    own_redis_server: RedisServer,
    outage_store: RedisStore,
    events: Events,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Down: local state, one warning, one event. Back: recovered, shared again."""
    policy = registry.policy("payments")
    assert policy.call(lambda: "up") == "up"

    own_redis_server.stop()
    with caplog.at_level(logging.WARNING, "pyresilience"):
        down = [policy.call(lambda: "down") for _ in range(50)]
        time.sleep(0.5)  # several reconnection tries fail meanwhile
        down += [policy.call(lambda: "down") for _ in range(50)]
    own_redis_server.start()
    wait_until(lambda: policy.call(lambda: "back") and outage_store.is_available)

    assert down == ["down"] * 100
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "store_unavailable" in warnings[0].getMessage()
    assert len(events.of(EventType.STORE_UNAVAILABLE)) == 1
    assert len(events.of(EventType.STORE_RECOVERED)) == 1
    assert policy.status().rate_limiter.used >= 1  # counted on the server again


def test_down_calls_do_not_wait_on_the_network_between_tries(
    outage_store: RedisStore, own_redis_server: RedisServer
) -> None:
    """After a failure, calls use local state until the next retry time."""
    breaker = outage_store.breaker("api", CircuitBreakerConfig())
    assert breaker.acquire(0.0).allowed
    trips = RoundTrips()
    trips.watch(outage_store._sync_client())
    own_redis_server.stop()

    started = time.monotonic()
    permits = [breaker.acquire(float(i)) for i in range(200)]
    elapsed = time.monotonic() - started

    assert all(p.allowed for p in permits)
    assert len(trips) == 1  # the first call found the server gone
    assert elapsed < 0.1


def test_a_slow_server_counts_as_down(
    outage_store: RedisStore, own_redis_server: RedisServer, events: Events
) -> None:
    """A server slower than the timeout is skipped; the call answers in time."""
    breaker = outage_store.breaker("api", CircuitBreakerConfig())
    assert breaker.acquire(0.0).allowed
    with own_redis_server.client() as admin:
        admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")

    started = time.monotonic()
    permit = breaker.acquire(0.0)
    elapsed = time.monotonic() - started

    assert permit.allowed
    assert 0.15 < elapsed < 0.6
    assert events.of(EventType.STORE_UNAVAILABLE)[0].error is not None


def test_open_on_a_down_server_does_not_raise(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A registry can start while Redis is down, and runs on local state."""
    own_redis_server.stop()
    store = RedisStore.from_url(own_redis_server.url, timeout=0.2)
    registry = ResilienceRegistry(store=store)
    registry.register("payments", POLICY)

    with caplog.at_level(logging.WARNING, "pyresilience"):
        registry.open()
        result = registry.policy("payments").call(lambda: 42)
    registry.shutdown(timeout=1.0)

    assert result == 42
    assert not store.is_available
    assert caplog.text.count("store_unavailable") == 1


def test_local_state_from_the_outage_is_not_pushed_back(
    registry: ResilienceRegistry,
    own_redis_server: RedisServer,
    outage_store: RedisStore,
) -> None:
    """A breaker opened locally during the outage does not open the shared one."""
    policy = registry.policy("payments")
    own_redis_server.stop()

    def fail() -> None:
        raise ConnectionError("dependency down")

    with pytest.raises(ConnectionError):
        policy.call(fail)  # two attempts, two failures
    with pytest.raises(CircuitOpenError):
        policy.call(fail)  # the third failure opens it; the retry is rejected
    own_redis_server.start()
    time.sleep(0.3)  # past the longest back-off

    assert policy.call(lambda: "shared") == "shared"
    assert outage_store.is_available
    assert policy.status().breaker.state.value == "closed"


async def test_async_calls_go_on_while_redis_is_down(
    registry: ResilienceRegistry,
    own_redis_server: RedisServer,
    outage_store: RedisStore,
) -> None:
    """Async callers fall back to local state the same way."""
    policy = registry.policy("payments")

    async def work() -> str:
        return "ok"

    assert await policy.acall(work) == "ok"
    own_redis_server.stop()
    results = [await policy.acall(work) for _ in range(20)]
    own_redis_server.start()
    time.sleep(0.3)
    results.append(await policy.acall(work))
    await outage_store.aclose()

    assert results == ["ok"] * 21
    assert outage_store.is_available


def test_redis_restarted_mid_run_fails_no_call(
    registry: ResilienceRegistry,
    own_redis_server: RedisServer,
    outage_store: RedisStore,
    events: Events,
) -> None:
    """Threads calling all along see no error while Redis stops and restarts."""
    policy = registry.policy("payments")
    stop = threading.Event()
    results: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            try:
                results.append(policy.call(lambda: "ok"))
            except BaseException as error:
                errors.append(error)
            time.sleep(0.001)  # a busy service, not a tight loop

    async def async_worker() -> None:
        async def work() -> str:
            return "ok"

        while not stop.is_set():
            try:
                results.append(await policy.acall(work))
            except BaseException as error:
                errors.append(error)
            await asyncio.sleep(0.001)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    threads.append(threading.Thread(target=asyncio.run, args=(async_worker(),)))
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    own_redis_server.stop()
    time.sleep(0.5)
    own_redis_server.start()
    time.sleep(0.7)
    stop.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert len(results) > 100 and set(results) == {"ok"}
    # Connections pooled before the restart must not be taken for new outages.
    assert len(events.of(EventType.STORE_UNAVAILABLE)) == 1
    assert len(events.of(EventType.STORE_RECOVERED)) == 1
    assert outage_store.is_available
    assert policy.status().bulkhead.in_flight == 0


def test_connections_pooled_before_a_restart_are_not_a_new_outage(
    outage_store: RedisStore, own_redis_server: RedisServer, events: Events
) -> None:
    """After a restart, idle connections to the old server are dropped, not tried."""
    breaker = outage_store.breaker("api", CircuitBreakerConfig())
    pool = outage_store._sync_client().connection_pool
    idle = [pool.get_connection() for _ in range(4)]
    for connection in idle:
        connection.connect()
        pool.release(connection)
    own_redis_server.stop()
    assert breaker.acquire(0.0).allowed
    own_redis_server.start()
    time.sleep(0.25)  # past the first back-off

    permits = [breaker.acquire(0.0) for _ in range(6)]

    assert all(p.allowed for p in permits)
    assert len(events.of(EventType.STORE_UNAVAILABLE)) == 1
    assert len(events.of(EventType.STORE_RECOVERED)) == 1


async def test_async_connections_pooled_before_a_restart_are_not_a_new_outage(
    outage_store: RedisStore, own_redis_server: RedisServer, events: Events
) -> None:
    """The async client drops its idle connections to the old server too."""
    breaker = outage_store.breaker("api", CircuitBreakerConfig())
    client = outage_store._async_client()
    await asyncio.gather(*(client.ping() for _ in range(4)))
    own_redis_server.stop()
    assert (await breaker.aacquire(0.0)).allowed
    own_redis_server.start()
    await asyncio.sleep(0.25)

    permits = [await breaker.aacquire(0.0) for _ in range(6)]
    await outage_store.aclose()

    assert all(p.allowed for p in permits)
    assert len(events.of(EventType.STORE_UNAVAILABLE)) == 1
    assert len(events.of(EventType.STORE_RECOVERED)) == 1


def test_a_probe_granted_during_the_outage_reports_to_local_state(
    outage_store: RedisStore, own_redis_server: RedisServer
) -> None:
    """A local probe finishing after recovery closes the local breaker, not Redis's."""
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=0.0, success_threshold=1
    )
    breaker = outage_store.breaker("api", config)
    own_redis_server.stop()
    assert breaker.acquire(0.0).allowed
    breaker.record(0.0, success=False, slow=False, probe=0)
    probe = breaker.acquire(1.0)
    own_redis_server.start()
    time.sleep(0.25)

    transitions = breaker.record(2.0, success=True, slow=False, probe=probe.probe)

    assert probe.probe
    assert [(t.old.value, t.new.value) for t in transitions] == [
        ("half_open", "closed")
    ]
    assert breaker.snapshot(3.0).state.value == "closed"
    assert outage_store.is_available


def test_calls_during_a_stalled_server_leave_no_slot_or_probe_taken(
    own_redis_server: RedisServer, events: Events
) -> None:
    """After DEBUG SLEEP ends, slots and probes its timed-out calls took are free."""
    store = RedisStore.from_url(
        own_redis_server.url, timeout=0.1, max_backoff=0.1, listeners=[events]
    )
    registry = ResilienceRegistry(store=store)
    registry.register(
        "slots", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    )
    registry.register(
        "probe",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=0.0, success_threshold=1,
                half_open_max_calls=1,
            )
        ),
    )  # fmt: skip
    registry.open()
    with pytest.raises(ZeroDivisionError):
        registry.policy("probe").call(lambda: 1 / 0)  # opens it
    during: list[object] = []
    # Both calls are sent before either times out: the sleeping server runs
    # them when it wakes up, taking the slot and the probe for nobody.
    callers = [
        threading.Thread(
            target=lambda name=name: during.append(
                registry.policy(name).call(lambda: "local")
            )
        )
        for name in ("slots", "probe")
    ]
    asleep = own_redis_server.freeze(0.4)
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(5)
    asleep.join(5)
    time.sleep(0.15)  # past the reconnection back-off

    after = [registry.policy(n).call(lambda: "shared") for n in ("slots", "probe")]
    in_flight = registry.policy("slots").status().bulkhead.in_flight
    registry.shutdown(timeout=1.0)
    store.close()

    assert during == ["local", "local"]
    assert after == ["shared", "shared"]
    assert store.is_available and in_flight == 0
    assert len(events.of(EventType.STORE_UNAVAILABLE)) == 1
