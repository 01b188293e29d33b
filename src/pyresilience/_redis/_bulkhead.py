"""The bulkhead shared through Redis: leased slots in a sorted set."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from .._state import BulkheadSnapshot
from .._store import BulkheadBackend
from . import _lua
from ._base import RemoteBackend
from ._ids import new_id
from ._script import Script

if TYPE_CHECKING:
    from .._config import BulkheadConfig
    from ._store import RedisStore

__all__ = ["RedisBulkheadBackend"]

_ACQUIRE = Script(_lua.BULKHEAD_ACQUIRE)
_SNAPSHOT = Script(_lua.BULKHEAD_SNAPSHOT)

#: First and longest pause between two tries of a waiting caller (seconds).
_FIRST_POLL = 0.002
_LONGEST_POLL = 0.05
#: A waiter that stops polling for this long leaves the queue.
_WAITER_TTL = 2.0


class _LocalSlot(NamedTuple):
    local: BulkheadBackend
    token: object


class RedisBulkheadBackend(RemoteBackend[BulkheadBackend]):
    """At most ``max_concurrent`` calls in flight across every process.

    Each slot is a lease (a unique id scored by its expiry) in a sorted set;
    the store renews the leases its process holds, so a long call keeps its
    slot, and the slots of a process that died expire after the store's
    ``lease_ttl``. Waiters queue on the server and poll, so they are served
    first come, first served across processes.

    Round trips: one to take a slot, one to give it back, and one per poll
    while waiting.

    Args:
        store: The store this backend belongs to.
        name: The policy name.
        config: The bulkhead settings.
    """

    def __init__(self, store: RedisStore, name: str, config: BulkheadConfig) -> None:
        from .._bulkhead import LocalBulkheadState

        super().__init__(store, name, lambda: LocalBulkheadState(config))
        self.config = config
        self.keys = (
            store._key(name, "bulkhead"),
            store._key(name, "bulkhead:queue"),
            store._key(name, "bulkhead:waiters"),
        )
        self._limit = str(config.max_concurrent)
        self._ttl = repr(store.lease_ttl)

    def _args(self, lease: str, wait: bool) -> tuple[Any, ...]:
        return (
            *self.keys,
            self._limit,
            lease,
            self._ttl,
            "1" if wait else "0",
            _WAITER_TTL,
        )

    def acquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds; ``None`` if none."""
        deadline = time.monotonic() + timeout
        if self._usable():
            lease = new_id()
            wait = timeout > 0
            pause = _FIRST_POLL
            try:
                while True:
                    reply = self._run(_ACQUIRE, 3, self._args(lease, wait))
                    if reply is None:
                        # A script that timed out may still take the slot
                        # once the server wakes up.
                        self._forget(*self._holds(lease))
                        break
                    if reply == 1:
                        return self._held(lease)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if wait:
                            self._give_up(lease)
                        return None
                    time.sleep(min(pause, left))
                    pause = min(pause * 2, _LONGEST_POLL)
            except BaseException:
                # Interrupted while asking or waiting: leave no slot or place
                # in the queue behind; sent with the next request.
                self._forget(*self._holds(lease))
                raise
        return self._local_acquire(max(0.0, deadline - time.monotonic()))

    async def aacquire(self, timeout: float) -> object | None:
        """Async twin of :meth:`acquire`; cancellation leaves no slot taken."""
        deadline = time.monotonic() + timeout
        if self._usable():
            lease = new_id()
            wait = timeout > 0
            pause = _FIRST_POLL
            try:
                while True:
                    reply = await self._arun(_ACQUIRE, 3, self._args(lease, wait))
                    if reply is None:
                        self._forget(*self._holds(lease))
                        break
                    if reply == 1:
                        return self._held(lease)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        if wait:
                            await self._agive_back(*self._holds(lease))
                        return None
                    await asyncio.sleep(min(pause, left))
                    pause = min(pause * 2, _LONGEST_POLL)
            except BaseException:
                # Cancelled while asking or waiting: the server may have
                # granted the slot or queued us; take both back.
                self._give_up(lease)
                raise
        return await self._local_aacquire(max(0.0, deadline - time.monotonic()))

    def release(self, token: object) -> None:
        """Give a slot back."""
        if isinstance(token, _LocalSlot):
            token.local.release(token.token)
            return
        self._store._keeper.drop(self.keys[0], token)  # type: ignore[arg-type]
        self._give_back((self.keys[0], token))  # type: ignore[arg-type]

    async def arelease(self, token: object) -> None:
        """Async twin of :meth:`release`."""
        if isinstance(token, _LocalSlot):
            await token.local.arelease(token.token)
            return
        self._store._keeper.drop(self.keys[0], token)  # type: ignore[arg-type]
        await self._agive_back((self.keys[0], token))  # type: ignore[arg-type]

    def snapshot(self) -> BulkheadSnapshot:
        """Return slots in use and waiters across every process."""
        if self._usable():
            reply = self._run(_SNAPSHOT, 3, self.keys)
            if reply is not None:
                return BulkheadSnapshot(reply[0], reply[1], self.config.max_concurrent)
        return self._local().snapshot()

    def _held(self, lease: str) -> str:
        self._store._keeper.hold(self.keys[0], lease)
        return lease

    def _give_up(self, lease: str) -> None:
        self._give_back(*self._holds(lease))

    def _holds(self, lease: str) -> tuple[tuple[str, str], ...]:
        """Where a waiter or holder ``lease`` may be on the server."""
        return tuple((key, lease) for key in self.keys)

    def _local_acquire(self, timeout: float) -> object | None:
        local = self._local()
        token = local.acquire(timeout)
        return None if token is None else _LocalSlot(local, token)

    async def _local_aacquire(self, timeout: float) -> object | None:
        local = self._local()
        token = await local.aacquire(timeout)
        return None if token is None else _LocalSlot(local, token)
