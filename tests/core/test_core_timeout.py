"""Timeouts: sync worker threads and async cancel scopes."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from pyresilience import (
    ResilienceTimeoutError,
    TimeoutConfig,
    resilient,
    timeout_worker_stats,
)
from pyresilience._timeout import call_with_timeout

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


def test_sync_timeout_raises_our_timeout_error() -> None:
    """A slow sync call raises ResilienceTimeoutError, also a TimeoutError."""

    @resilient(timeout=TimeoutConfig(seconds=0.02))
    def slow() -> None:
        time.sleep(0.3)

    with pytest.raises(TimeoutError) as caught:
        slow()
    assert isinstance(caught.value, ResilienceTimeoutError)
    assert caught.value.seconds == 0.02


def test_worker_sees_callers_context_variables() -> None:
    """The worker thread runs in a copy of the caller's contextvars."""

    @resilient(timeout=TimeoutConfig(seconds=1.0))
    def read() -> str:
        return request_id.get()

    request_id.set("req-42")
    assert read() == "req-42"


def test_function_errors_propagate_from_the_worker() -> None:
    """An exception raised in the worker reaches the caller unchanged."""

    @resilient(timeout=TimeoutConfig(seconds=1.0))
    def broken() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        broken()


def test_waiting_for_a_worker_does_not_count_against_the_timeout() -> None:
    """Time queued for a busy pool is not charged to the call's limit."""
    hold = threading.Event()
    blocker = threading.Thread(
        target=call_with_timeout,
        args=(hold.wait, (2.0,), {}, 5.0),
        kwargs={"pool_size": 1},
    )
    blocker.start()
    time.sleep(0.05)  # the only worker of this pool is now busy
    started = time.monotonic()
    threading.Timer(0.07, hold.set).start()
    # Queued ~0.07 s behind the blocker, then runs 0.05 s: 0.12 s in all, more
    # than the 0.1 s limit, yet only the 0.05 s run is charged to it.
    assert call_with_timeout(time.sleep, (0.05,), {}, 0.1, pool_size=1) is None
    assert time.monotonic() - started >= 0.1
    blocker.join(5)


def test_abandoned_workers_are_bounded_and_counted() -> None:
    """Timed-out calls keep running but never exceed the pool size."""
    release = threading.Event()
    before = timeout_worker_stats().abandoned
    for _ in range(2):
        with pytest.raises(ResilienceTimeoutError):
            call_with_timeout(release.wait, (5.0,), {}, 0.01, pool_size=2)
    assert timeout_worker_stats().abandoned == before + 2
    with pytest.raises(ResilienceTimeoutError, match="no timeout worker"):
        call_with_timeout(lambda: None, (), {}, 0.05, pool_size=2)
    release.set()
    deadline = time.monotonic() + 5
    while timeout_worker_stats().abandoned > before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert timeout_worker_stats().abandoned == before


async def test_async_timeout_cancels_the_call() -> None:
    """An async call past its limit is cancelled and raises our timeout."""
    cancelled = asyncio.Event()

    @resilient(timeout=TimeoutConfig(seconds=0.02))
    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ResilienceTimeoutError):
        await slow()
    assert cancelled.is_set()


async def test_functions_own_timeout_error_is_not_relabelled() -> None:
    """A TimeoutError raised by the function itself passes through as is."""

    class UpstreamTimeout(TimeoutError):
        pass

    @resilient(timeout=TimeoutConfig(seconds=5))
    async def upstream() -> None:
        raise UpstreamTimeout

    with pytest.raises(UpstreamTimeout):
        await upstream()


async def test_outer_cancellation_is_not_a_timeout() -> None:
    """Cancelling the caller propagates CancelledError, not a timeout error."""
    started = asyncio.Event()

    @resilient(timeout=TimeoutConfig(seconds=10))
    async def slow() -> None:
        started.set()
        await asyncio.sleep(5)

    task = asyncio.ensure_future(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
