"""Admission control: stop accepting calls and count the ones in flight.

Each registry has a :class:`Gate`; standalone ``@resilient`` functions share
the process gate. In-flight calls are counted by appending to and popping
from a list, which is atomic in CPython and cheaper than a lock.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["PROCESS_GATE", "Gate"]


class Gate:
    """Whether new calls are accepted, and how many are running."""

    __slots__ = ("accepting", "calls", "tracking")

    def __init__(self, *, tracking: bool = True) -> None:
        self.accepting = True
        self.tracking = tracking
        self.calls: list[None] = []

    @property
    def in_flight(self) -> int:
        """Calls that entered and have not returned yet."""
        return len(self.calls)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for in-flight calls to finish."""
        deadline = time.monotonic() + timeout
        pause = 0.001
        while self.calls:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        return True

    async def adrain(self, timeout: float) -> bool:
        """Async twin of :meth:`drain`; never blocks the event loop."""
        deadline = time.monotonic() + timeout
        pause = 0.001
        while self.calls:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.05)
        return True


#: The gate every call checks; :func:`pyresilience.shutdown` closes it.
#: Standalone decorated functions are counted here once tracking is enabled.
PROCESS_GATE = Gate(tracking=False)
