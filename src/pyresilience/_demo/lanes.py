"""Load generators: lanes of workers calling at a steady pace.

A lane is ``workers`` callers, sync threads or async tasks, each starting a
call every ``interval`` seconds for ``duration`` seconds. A worker whose call
overran its slot starts the next one at once but never tries to catch up,
so the offered load is the same for a protected lane and for the baseline
beside it; only what the calls meet differs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["CallRecord", "Lane", "classify", "run_async_lane", "run_sync_lane"]

Outcome = Literal["ok", "fallback", "error"]


@dataclass(frozen=True)
class Lane:
    """Who calls and how often.

    Args:
        name: Label in the report, also sent as the upstream client id.
        kind: ``"sync"`` (threads) or ``"async"`` (tasks on one loop).
        workers: Concurrent callers.
        interval: Seconds between one worker's call starts.
        policy: The registry name the lane calls through; ``None`` for
            the unprotected baseline.
    """

    name: str
    kind: Literal["sync", "async"]
    workers: int
    interval: float
    policy: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """One call: when it started (s into the run), how long, how it ended."""

    start: float
    latency: float
    outcome: Outcome
    error: str = ""


def classify(value: object) -> Outcome:
    """Tell a real answer from a fallback one (marked ``"stale": true``)."""
    if isinstance(value, Mapping) and value.get("stale"):
        return "fallback"
    return "ok"


def _error_record(start: float, latency: float, exc: Exception) -> CallRecord:
    return CallRecord(start, latency, "error", type(exc).__name__)


def _first_starts(lane: Lane, origin: float) -> list[float]:
    # Spread the workers over one interval instead of firing them together.
    return [origin + lane.interval * i / lane.workers for i in range(lane.workers)]


def run_sync_lane(
    lane: Lane,
    call: Callable[[], Any],
    *,
    origin: float,
    duration: float,
    stop: threading.Event | None = None,
) -> list[CallRecord]:
    """Run ``lane`` with threads until ``origin + duration`` (monotonic).

    Args:
        lane: Workers and pace.
        call: Makes one call; its return value is classified.
        origin: ``time.monotonic()`` value of second 0.
        duration: Seconds after ``origin`` when no new call starts.
        stop: When set, workers start no new call (e.g. on Ctrl-C).

    Returns:
        Every call's record, in completion order.
    """
    records: list[CallRecord] = []
    end = origin + duration
    stop = stop or threading.Event()

    def worker(next_start: float) -> None:
        while next_start < end and not stop.is_set():
            delay = next_start - time.monotonic()
            if delay > 0 and stop.wait(delay):
                return
            started = time.monotonic()
            try:
                outcome = classify(call())
            except Exception as exc:
                records.append(_error_record(started - origin, _since(started), exc))
            else:
                records.append(CallRecord(started - origin, _since(started), outcome))
            next_start = max(next_start + lane.interval, time.monotonic())

    threads = [
        threading.Thread(target=worker, args=(first,), name=f"lane-{lane.name}-{i}")
        for i, first in enumerate(_first_starts(lane, origin))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return records


async def run_async_lane(
    lane: Lane,
    call: Callable[[], Awaitable[Any]],
    *,
    origin: float,
    duration: float,
    stop: threading.Event | None = None,
) -> list[CallRecord]:
    """Run ``lane`` as tasks until ``origin + duration`` (monotonic).

    Arguments as for :func:`run_sync_lane`; ``stop`` is checked before
    each call.

    Returns:
        Every call's record, in completion order.
    """
    records: list[CallRecord] = []
    end = origin + duration
    stop = stop or threading.Event()

    async def worker(next_start: float) -> None:
        while next_start < end and not stop.is_set():
            delay = next_start - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.monotonic()
            try:
                outcome = classify(await call())
            except Exception as exc:
                records.append(_error_record(started - origin, _since(started), exc))
            else:
                records.append(CallRecord(started - origin, _since(started), outcome))
            next_start = max(next_start + lane.interval, time.monotonic())

    await asyncio.gather(*(worker(first) for first in _first_starts(lane, origin)))
    return records


def _since(started: float) -> float:
    return time.monotonic() - started
