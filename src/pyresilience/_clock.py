"""The one seam through which pyresilience reads time and sleeps.

Every time-based policy (retry back-off, breaker cool-down, rate-limit
windows, cache TTLs, deadlines) asks a :class:`Clock`. Production code uses
:data:`SYSTEM_CLOCK`; tests inject :class:`pyresilience.testing.FakeClock` so
nothing ever really sleeps.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of time for every policy.

    ``monotonic`` drives all intervals; ``wall`` is only used for event
    timestamps and HTTP dates.
    """

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.sleep`, asyncio."""

    # Bound builtins: calling them costs no extra Python frame on hot paths.
    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)
    sleep = staticmethod(time.sleep)

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
