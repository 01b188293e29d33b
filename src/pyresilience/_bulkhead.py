"""An in-process bulkhead: a counting semaphore shared by threads and tasks.

Sync and async callers under one policy name share the same slots, so a
dependency sees at most ``max_concurrent`` calls from this process whichever
way they were made. Waiters form one first-come, first-served queue; a
released slot is handed straight to the oldest waiter, so a newcomer can
never overtake someone already waiting.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from ._config import BulkheadConfig
from ._state import BulkheadSnapshot

__all__ = ["LocalBulkheadState"]

#: The token of an in-process slot; slots are interchangeable.
SLOT = object()


class _Waiter:
    """One queued caller. ``granted`` is only changed under the bulkhead lock."""

    __slots__ = ("event", "future", "granted", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.granted = False
        self.loop = loop
        self.future = future
        self.event = None if future is not None else threading.Event()

    def wake(self) -> bool:
        """Tell the waiter it holds a slot; False if it can no longer hear."""
        if self.event is not None:
            self.event.set()
            return True
        assert self.loop is not None and self.future is not None
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # its event loop is closed
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LocalBulkheadState:
    """Slots and the waiter queue of one bulkhead."""

    def __init__(self, config: BulkheadConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._in_flight = 0
        self._waiters: deque[_Waiter] = deque()

    def acquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds (real time)."""
        with self._lock:
            if self._in_flight < self.config.max_concurrent and not self._waiters:
                self._in_flight += 1
                return SLOT
            if timeout <= 0:
                return None
            waiter = _Waiter()
            self._waiters.append(waiter)
        assert waiter.event is not None
        try:
            waiter.event.wait(timeout)
        except BaseException:
            # Interrupted while queued: a slot handed over meanwhile goes back.
            if self._leave(waiter):
                self.release(SLOT)
            raise
        return SLOT if self._leave(waiter) else None

    async def aacquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds without blocking."""
        with self._lock:
            if self._in_flight < self.config.max_concurrent and not self._waiters:
                self._in_flight += 1
                return SLOT
            if timeout <= 0:
                return None
            loop = asyncio.get_running_loop()
            waiter = _Waiter(loop, loop.create_future())
            self._waiters.append(waiter)
        assert waiter.future is not None
        try:
            await asyncio.wait((waiter.future,), timeout=timeout)
        except BaseException:
            # Cancelled while queued: a slot handed over meanwhile goes back.
            if self._leave(waiter):
                self.release(SLOT)
            raise
        return SLOT if self._leave(waiter) else None

    def release(self, token: object) -> None:
        """Hand the slot to the oldest waiter, or free it."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.granted = True
                if waiter.wake():
                    return
                waiter.granted = False
            self._in_flight -= 1

    async def arelease(self, token: object) -> None:
        """Async twin of :meth:`release`."""
        self.release(token)

    def snapshot(self) -> BulkheadSnapshot:
        """Slots in use and callers queued."""
        with self._lock:
            return BulkheadSnapshot(
                in_flight=self._in_flight,
                waiting=len(self._waiters),
                max_concurrent=self.config.max_concurrent,
            )

    def _leave(self, waiter: _Waiter) -> bool:
        """Leave the queue; return whether a slot had been handed over."""
        with self._lock:
            if waiter.granted:
                return True
            try:
                self._waiters.remove(waiter)
            except ValueError:
                pass
            return False
