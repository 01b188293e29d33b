"""Helpers for testing code that uses pyresilience, without real waiting.

``FakeClock`` is a virtual clock: ``sleep`` and ``asleep`` move time forward
at once instead of waiting, and ``advance`` moves it by hand. Inject it with
``ResilienceRegistry(clock=...)`` or ``@resilient(..., clock=...)``. Two
things wait in real time because they wait for real work: timeouts, and a
caller queued for a bulkhead slot (``max_wait``), which waits for another
thread or task to finish.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ._gate import PROCESS_GATE
from ._lifecycle import resume

__all__ = ["FakeClock", "isolated_process_gate", "resume"]


class FakeClock:
    """Virtual time for sync and async code.

    Args:
        start: Initial monotonic reading, in seconds.
        wall_start: Wall-clock reading at ``start`` (seconds since the epoch).

    Attributes:
        sleeps: Every sleep requested, in order, for assertions.
    """

    def __init__(self, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The current virtual time."""
        return self._now

    def wall(self) -> float:
        """Virtual seconds since the epoch."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"time cannot go backwards (advance by {seconds!r})")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the sleep and jump time forward; never blocks."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))

    async def asleep(self, seconds: float) -> None:
        """Record the sleep, jump time forward and yield to the event loop once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r})"


@contextmanager
def isolated_process_gate() -> Iterator[None]:
    """Run a block with a fresh process gate state, restored afterwards.

    For tests of :func:`pyresilience.shutdown`, which otherwise leaves the
    whole process refusing calls.
    """
    accepting, tracking = PROCESS_GATE.accepting, PROCESS_GATE.tracking
    try:
        yield
    finally:
        PROCESS_GATE.accepting, PROCESS_GATE.tracking = accepting, tracking
