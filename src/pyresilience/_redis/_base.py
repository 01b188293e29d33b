"""What every Redis-backed policy backend shares: the outage fallback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from redis.exceptions import ResponseError

from ._script import Script

if TYPE_CHECKING:
    from ._store import RedisStore

__all__ = ["STORE_ERRORS", "GiveBacks", "RemoteBackend"]

#: Errors that mean "the store failed", never "the call failed". Anything the
#: client raises counts, not only ``RedisError`` and ``OSError``: a
#: ``redis.asyncio`` client handed in and used on a second event loop raises
#: ``RuntimeError``, and a call must not fail because of that.
STORE_ERRORS: tuple[type[Exception], ...] = (Exception,)

#: A member of a sorted set on the server: (key, member).
Hold = tuple[str, str]


class GiveBacks:
    """Leases and reservations to remove from the server once it answers.

    A script that timed out may still have run on the server (a slow server
    runs what was queued once it wakes up), leaving a probe lease, a
    bulkhead slot or a rate-limit start that nobody holds; and a slot given
    back during an outage cannot be sent. Such members are queued here and
    removed with the next request that gets an answer, instead of blocking
    the breaker or bulkhead of every process until their lease expires.

    Args:
        limit: Most members kept; beyond it the leases expire by themselves.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._pending: list[Hold] = []

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, holds: Iterable[Hold]) -> None:
        """Queue ``holds`` for removal."""
        with self._lock:
            room = self._limit - len(self._pending)
            self._pending.extend(list(holds)[: max(room, 0)])

    def take(self) -> dict[str, list[str]]:
        """Remove and return everything queued, grouped by key."""
        with self._lock:
            pending, self._pending = self._pending, []
        grouped: dict[str, list[str]] = {}
        for key, member in pending:
            grouped.setdefault(key, []).append(member)
        return grouped


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
        self._give_backs = store._give_backs
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
            client = self._store._sync_client()
            if self._give_backs:
                # First, so that the script already sees them gone.
                self._flush(client)
            reply = script.run(client, numkeys, args)
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
            client = self._store._async_client()
            if self._give_backs:
                await self._aflush(client)
            reply = await script.arun(client, numkeys, args)
        except STORE_ERRORS as exc:
            health.failed(exc, self.name)
            return None
        if not (was_up or health.up):
            health.succeeded(self.name)
        return reply

    # -- giving back what the server may hold for us ---------------------------

    def _forget(self, *holds: Hold) -> None:
        """Queue ``holds`` for removal with the next request that succeeds.

        For members a failed or interrupted script may have added: sending
        anything now would wait on the server that just failed.
        """
        self._give_backs.add(holds)

    def _give_back(self, *holds: Hold) -> None:
        """Remove ``holds`` from the server now, or once it answers again.

        While the store is down nothing is sent (calls do not wait on a dead
        server); the removal goes with the first request that succeeds.
        """
        if self._health.up:
            try:
                self._remove(self._store._sync_client(), _grouped(holds))
                return
            except STORE_ERRORS as exc:
                self._health.failed(exc, self.name)
        self._give_backs.add(holds)

    async def _agive_back(self, *holds: Hold) -> None:
        """Async twin of :meth:`_give_back`."""
        if self._health.up:
            try:
                await self._aremove(self._store._async_client(), _grouped(holds))
                return
            except STORE_ERRORS as exc:
                self._health.failed(exc, self.name)
        self._give_backs.add(holds)

    def _flush(self, client: Any) -> None:
        """Send the queued removals; on failure keep them and raise."""
        grouped = self._give_backs.take()
        try:
            self._remove(client, grouped)
        except BaseException:
            self._give_backs.add(_pairs(grouped))
            raise

    async def _aflush(self, client: Any) -> None:
        """Async twin of :meth:`_flush`."""
        grouped = self._give_backs.take()
        try:
            await self._aremove(client, grouped)
        except BaseException:
            self._give_backs.add(_pairs(grouped))
            raise

    @staticmethod
    def _remove(client: Any, grouped: dict[str, list[str]]) -> None:
        # An error reply (a key of another type) is the server answering:
        # nothing to retry, and retrying it would keep the store down.
        if len(grouped) == 1:
            [(key, members)] = grouped.items()
            with contextlib.suppress(ResponseError):
                client.execute_command("ZREM", key, *members)
        elif grouped:
            pipe = client.pipeline(transaction=False)
            for key, members in grouped.items():
                pipe.zrem(key, *members)
            pipe.execute(raise_on_error=False)

    @staticmethod
    async def _aremove(client: Any, grouped: dict[str, list[str]]) -> None:
        if len(grouped) == 1:
            [(key, members)] = grouped.items()
            with contextlib.suppress(ResponseError):
                await client.execute_command("ZREM", key, *members)
        elif grouped:
            pipe = client.pipeline(transaction=False)
            for key, members in grouped.items():
                pipe.zrem(key, *members)
            await pipe.execute(raise_on_error=False)


def _grouped(holds: Iterable[Hold]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, member in holds:
        grouped.setdefault(key, []).append(member)
    return grouped


def _pairs(grouped: dict[str, list[str]]) -> list[Hold]:
    return [(key, member) for key, members in grouped.items() for member in members]
