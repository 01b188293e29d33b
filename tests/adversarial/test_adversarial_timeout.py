"""Adversarial tests of sync timeouts: worker pool, context, deadlines."""

from __future__ import annotations

import contextvars
import threading
import time

import pytest

from pyresilience import (
    ResilienceTimeoutError,
    RetryConfig,
    TimeoutConfig,
    resilient,
    timeout_worker_stats,
)

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar(
    "REQUEST_ID", default="none"
)

# Each test that needs a pool of its own uses a size no other test uses,
# because pools are shared per size across the process.
_FRESH_POOL_SIZES = iter(range(731, 800))


def _burst_round(pool_size: int, callers: int) -> list[BaseException]:
    """Warm one idle worker, then start ``callers`` timed calls at once."""

    @resilient(timeout=TimeoutConfig(seconds=0.15, pool_size=pool_size))
    def work(pause: float) -> None:
        time.sleep(pause)

    work(0.0)  # one worker now waits idle in this pool
    time.sleep(0.01)
    start = threading.Barrier(callers)
    errors: list[BaseException] = []

    def caller() -> None:
        start.wait()
        try:
            work(0.1)
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    return errors


def test_burst_of_calls_each_gets_a_worker_when_pool_has_room() -> None:
    """Eight concurrent 0.1 s calls with 0.15 s limits all succeed in a pool of 20+."""
    for _ in range(8):
        errors = _burst_round(next(_FRESH_POOL_SIZES), callers=8)
        assert errors == [], f"{len(errors)} of 8 calls failed: {errors[0]!r}"


def test_context_reaches_worker_and_worker_changes_do_not_leak_back() -> None:
    """The worker sees the caller's contextvars; its own changes stay in the worker."""

    @resilient(timeout=TimeoutConfig(seconds=1.0))
    def read_and_change() -> tuple[str, str]:
        seen = REQUEST_ID.get()
        REQUEST_ID.set("changed-in-worker")
        return seen, threading.current_thread().name

    token = REQUEST_ID.set("req-42")
    try:
        seen, thread_name = read_and_change()
        assert (seen, thread_name) == ("req-42", "pyresilience-timeout")
        assert REQUEST_ID.get() == "req-42"
        assert read_and_change()[0] == "req-42"
    finally:
        REQUEST_ID.reset(token)


def test_abandoned_count_returns_to_baseline_when_calls_finish() -> None:
    """A timed-out call is counted abandoned until it really returns."""
    release = threading.Event()
    finished = threading.Event()

    @resilient(
        timeout=TimeoutConfig(seconds=0.03, pool_size=next(_FRESH_POOL_SIZES)),
        retry=RetryConfig(max_attempts=1),
    )
    def stuck() -> None:
        release.wait(5.0)
        finished.set()

    before = timeout_worker_stats().abandoned
    with pytest.raises(ResilienceTimeoutError):
        stuck()
    assert timeout_worker_stats().abandoned == before + 1
    release.set()
    assert finished.wait(2.0)
    for _ in range(200):
        if timeout_worker_stats().abandoned == before:
            break
        time.sleep(0.005)
    assert timeout_worker_stats().abandoned == before


def test_total_deadline_bounds_retried_sync_timeouts() -> None:
    """Five attempts of a hanging call under one 0.2 s deadline end near 0.2 s."""
    attempts = 0

    @resilient(
        timeout=TimeoutConfig(seconds=0.2, per_attempt=False),
        retry=RetryConfig(max_attempts=5, delay=0.0),
    )
    def hang() -> None:
        nonlocal attempts
        attempts += 1
        time.sleep(0.5)

    started = time.monotonic()
    with pytest.raises(ResilienceTimeoutError) as caught:
        hang()
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 0.4
    assert attempts == 1
    assert caught.value.seconds is not None


def test_each_attempt_gets_its_full_limit() -> None:
    """With per-attempt limits, three slow attempts each time out on their own."""
    attempts = 0

    @resilient(
        timeout=TimeoutConfig(seconds=0.05),
        retry=RetryConfig(max_attempts=3, delay=0.0),
    )
    def slow() -> None:
        nonlocal attempts
        attempts += 1
        time.sleep(0.2)

    started = time.monotonic()
    with pytest.raises(ResilienceTimeoutError):
        slow()
    elapsed = time.monotonic() - started
    assert attempts == 3
    assert 0.14 <= elapsed < 0.4


def test_very_long_sync_timeout_is_refused_up_front_or_works() -> None:
    """A huge timeout either fails validation with ValueError or simply works."""
    try:
        config = TimeoutConfig(seconds=1e10)
    except ValueError:
        return

    @resilient(timeout=config)
    def fn() -> str:
        return "ok"

    assert fn() == "ok"
