"""What every Redis-backed policy backend shares: the outage fallback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._script import Script

if TYPE_CHECKING:
    from ._store import RedisStore

__all__ = ["STORE_ERRORS", "RemoteBackend"]

#: Errors that mean "the store failed", never "the call failed". Anything the
#: client raises counts, not only ``RedisError`` and ``OSError``: a
#: ``redis.asyncio`` client handed in and used on a second event loop raises
#: ``RuntimeError``, and a call must not fail because of that.
STORE_ERRORS: tuple[type[Exception], ...] = (Exception,)

LocalT = TypeVar("LocalT")


class RemoteBackend(Generic[LocalT]):
    """Runs scripts against the store's server, with local state as fallback.

    When a script fails (server down, slower than the store's timeout, or
    answering with an error) the store is marked down and the backend serves
    the call from an in-process backend of the same kind. That local backend
    is made fresh at the start of each outage and kept while it lasts; when
    the server answers again, shared state is read from it afresh and
    nothing local is pushed back.

    Args:
        store: The store this backend belongs to.
        name: The policy name.
        make_local: Returns a new in-process backend for the outage fallback.
    """

    def __init__(
        self, store: RedisStore, name: str, make_local: Callable[[], LocalT]
    ) -> None:
        self.name = name
        self._store = store
        self._health = store._health
        self._make_local = make_local
        self._local_state: LocalT | None = None
        self._local_outage = -1
        self._local_lock = threading.Lock()

    def _local(self) -> LocalT:
        """Return the fallback of the current outage, made on first use."""
        outage = self._health.outage
        local = self._local_state
        if local is None or self._local_outage != outage:
            # Under a lock: two threads meeting a new outage at once must
            # share one fallback, or each could fill its own bulkhead.
            with self._local_lock:
                local = self._local_state
                if local is None or self._local_outage != outage:
                    local = self._local_state = self._make_local()
                    self._local_outage = outage
                    self._on_new_local()
        return local

    def _on_new_local(self) -> None:
        """Hook: forget bookkeeping about the previous fallback."""

    def _usable(self) -> bool:
        health = self._health
        return health.up or health.usable()

    def _run(self, script: Script, numkeys: int, args: tuple[Any, ...]) -> Any:
        """Run ``script``; return its reply, or None when the store failed."""
        health = self._health
        was_up = health.up
        try:
            reply = script.run(self._store._sync_client(), numkeys, args)
        except STORE_ERRORS as exc:
            health.failed(exc, self.name)
            return None
        if not (was_up or health.up):
            # Only a try made during the outage proves the server is back; a
            # reply to a request sent before another thread saw the failure
            # proves nothing.
            health.succeeded(self.name)
        return reply

    async def _arun(self, script: Script, numkeys: int, args: tuple[Any, ...]) -> Any:
        """Async twin of :meth:`_run`."""
        health = self._health
        was_up = health.up
        try:
            reply = await script.arun(self._store._async_client(), numkeys, args)
        except STORE_ERRORS as exc:
            health.failed(exc, self.name)
            return None
        if not (was_up or health.up):
            health.succeeded(self.name)
        return reply

    def _command(self, *command: Any) -> bool:
        """Send one plain command; return False when the store failed."""
        try:
            self._store._sync_client().execute_command(*command)
        except STORE_ERRORS as exc:
            self._health.failed(exc, self.name)
            return False
        return True

    async def _acommand(self, *command: Any) -> bool:
        """Async twin of :meth:`_command`."""
        try:
            await self._store._async_client().execute_command(*command)
        except STORE_ERRORS as exc:
            self._health.failed(exc, self.name)
            return False
        return True
