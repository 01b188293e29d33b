"""An in-process bulkhead: a counting semaphore shared by threads and tasks.

Sync and async callers under one policy name share the same slots, so a
dependency sees at most ``max_concurrent`` calls from this process whichever
way they were made. Waiters form one first-come, first-served queue; a
released slot is handed straight to the oldest waiter, so a newcomer can
never overtake someone already waiting.
"""

from __future__ import annotations

import asyncio
import queue
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
    """Slots and the waiter queue of one bulkhead.

    Free slots are tokens in a ``queue.SimpleQueue``, whose C-level
    ``get_nowait``/``put`` are thread-safe without a Python lock: the
    uncontended path costs two C calls. Waiters queue under a lock; both
    sides re-check the other after changing state, so no wake-up is lost.
    """

    def __init__(self, config: BulkheadConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._free: queue.SimpleQueue[object] = queue.SimpleQueue()
        for _ in range(config.max_concurrent):
            self._free.put(SLOT)
        self._waiters: deque[_Waiter] = deque()

    def acquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds (real time)."""
        if not self._waiters:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                pass
        if timeout <= 0:
            return None
        waiter = self._enqueue(_Waiter())
        if waiter is None:
            return SLOT
        assert waiter.event is not None
        try:
            # Event.wait refuses timeouts above TIMEOUT_MAX (about 292 years).
            waiter.event.wait(min(timeout, threading.TIMEOUT_MAX))
        except BaseException:
            # Interrupted while queued: a slot handed over meanwhile goes back.
            if self._leave(waiter):
                self.release(SLOT)
            raise
        return SLOT if self._leave(waiter) else None

    async def aacquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds without blocking."""
        if not self._waiters:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                pass
        if timeout <= 0:
            return None
        loop = asyncio.get_running_loop()
        waiter = self._enqueue(_Waiter(loop, loop.create_future()))
        if waiter is None:
            return SLOT
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
        """Free the slot, then hand free slots to the oldest waiters."""
        self._free.put(SLOT)
        if self._waiters:
            self._hand_over()

    async def arelease(self, token: object) -> None:
        """Async twin of :meth:`release`."""
        self.release(token)

    def snapshot(self) -> BulkheadSnapshot:
        """Slots in use and callers queued."""
        return BulkheadSnapshot(
            in_flight=self.config.max_concurrent - self._free.qsize(),
            waiting=len(self._waiters),
            max_concurrent=self.config.max_concurrent,
        )

    def _enqueue(self, waiter: _Waiter) -> _Waiter | None:
        """Join the queue, or return None if a slot came free meanwhile."""
        with self._lock:
            if not self._waiters:
                try:
                    self._free.get_nowait()
                    return None
                except queue.Empty:
                    pass
            self._waiters.append(waiter)
        # A release may have run between our failed take and the append.
        self._hand_over()
        return waiter

    def _hand_over(self) -> None:
        with self._lock:
            while self._waiters:
                try:
                    self._free.get_nowait()
                except queue.Empty:
                    return
                waiter = self._waiters.popleft()
                waiter.granted = True
                if not waiter.wake():
                    waiter.granted = False
                    self._free.put(SLOT)

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
