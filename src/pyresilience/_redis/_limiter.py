"""The rate limiter shared through Redis: one sliding log per policy name."""

from __future__ import annotations

import contextvars
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from .._state import RateLimiterSnapshot, Reservation
from .._store import RateLimiterBackend
from . import _lua
from ._base import RemoteBackend
from ._ids import new_id
from ._script import Script

if TYPE_CHECKING:
    from .._config import RateLimiterConfig
    from ._store import RedisStore

__all__ = ["RedisRateLimiterBackend", "take_stash"]

logger = logging.getLogger("pyresilience.stores.redis")

_RESERVE = Script(_lua.LIMITER_RESERVE)
_SNAPSHOT = Script(_lua.LIMITER_SNAPSHOT)

#: Stashed tokens older than this (seconds) were never picked up.
_ORPHAN_AGE = 1.0
#: Consecutive orphans after which a limiter stops taking combined answers.
_ORPHAN_LIMIT = 3
#: Unpicked tokens a limiter tracks before it gives up on combined answers.
_OUTSTANDING_LIMIT = 64


class Stash(NamedTuple):
    """A reservation made by the breaker's script for the limiter's next call."""

    limiter: RedisRateLimiterBackend
    granted: bool
    wait: float
    token: str
    at: float
    max_wait: float


# The breaker's acquire script also reserves a rate-limit start when the same
# name has a limiter, and leaves the answer here for the limiter call that the
# pipeline makes right after it in the same task or thread: one round trip
# for both checks instead of two.
_STASH: contextvars.ContextVar[Stash | None] = contextvars.ContextVar(
    "pyresilience_redis_stash", default=None
)


def take_stash() -> Stash | None:
    """Remove and return the stash of the current context, if any."""
    stash = _STASH.get()
    if stash is not None:
        _STASH.set(None)
    return stash


class _LocalToken(NamedTuple):
    local: RateLimiterBackend
    token: object


class RedisRateLimiterBackend(RemoteBackend[RateLimiterBackend]):
    """``max_calls`` starts per ``period`` across every process of a store.

    A sorted set of reservation tokens scored by start time (server clock);
    each reservation is one script: purge starts older than ``period``, find
    the earliest start that keeps every window at ``max_calls``, and record
    it if it is no more than ``max_wait`` away. Rejections consume nothing.

    Args:
        store: The store this backend belongs to.
        name: The policy name.
        config: The limiter settings.
    """

    def __init__(self, store: RedisStore, name: str, config: RateLimiterConfig) -> None:
        from .._ratelimit import LocalRateLimiterState

        super().__init__(store, name, lambda: LocalRateLimiterState(config))
        self.config = config
        self.key = store._key(name, "limiter")
        self._limits = (str(config.max_calls).encode(), repr(config.period).encode())
        #: The settings the breaker's script reserves with, as one argument.
        self.limits = (
            f"{config.max_calls} {config.period!r} {config.max_wait!r}".encode()
        )
        #: False once combined answers were found to go unused.
        self.combine = True
        self._outstanding: dict[str, float] = {}
        self._orphans = 0
        # The wait the server named in its last rejection, and when: lets
        # next_free() answer right after a rejection without a round trip.
        self._rejected = (0.0, 0.0)

    # -- combined reservations (made by the breaker's acquire script) -------

    def stash(self, granted: bool, wait: float, token: str) -> None:
        """Leave a combined answer for this context's next :meth:`reserve`."""
        at = time.monotonic()
        if granted:
            if len(self._outstanding) >= _OUTSTANDING_LIMIT:
                self._stop_combining("too many reservations were never picked up")
            self._outstanding[token] = at
        _STASH.set(Stash(self, granted, wait, token, at, self.config.max_wait))

    def orphaned(self, stash: Stash) -> None:
        """Give back a combined reservation no limiter call picked up."""
        self._outstanding.pop(stash.token, None)
        if stash.granted:
            self._give_back((self.key, stash.token))
        self._orphans += 1
        if self._orphans >= _ORPHAN_LIMIT:
            self._stop_combining("its reservations were not picked up")

    def _stop_combining(self, why: str) -> None:
        if not self.combine:
            return
        self.combine = False
        logger.info(
            "pyresilience.redis_combine_off: policy %r: the breaker no longer "
            "reserves rate-limit starts for it, because %s",
            self.name,
            why,
        )
        stale, self._outstanding = list(self._outstanding), {}
        if stale:
            self._give_back(*((self.key, token) for token in stale))

    def _check_orphans(self) -> None:
        if not self._outstanding:
            return
        cutoff = time.monotonic() - _ORPHAN_AGE
        for token, at in list(self._outstanding.items()):
            if at < cutoff:
                self.orphaned(Stash(self, True, 0.0, token, at, 0.0))

    def _picked(self, stash: Stash, max_wait: float) -> Reservation | None | bool:
        """Answer from ``stash``; False when a fresh reservation is needed."""
        self._outstanding.pop(stash.token, None)
        self._orphans = 0
        if stash.granted:
            if stash.wait <= max_wait:
                left = stash.wait - (time.monotonic() - stash.at)
                return Reservation(left if left > 0.0 else 0.0, stash.token)
            self.cancel(stash.token)
            return None
        if max_wait <= stash.max_wait:
            self._rejected = (stash.at, stash.wait)
            return None
        return False

    def _own_stash(self) -> Stash | None:
        stash = take_stash()
        if stash is None or stash.limiter is self:
            return stash
        stash.limiter.orphaned(stash)
        return None

    # -- the backend protocol ----------------------------------------------

    def reserve(self, now: float, max_wait: float) -> Reservation | None:
        """Reserve the earliest start within ``max_wait``; None consumes nothing."""
        stash = self._own_stash()
        if stash is not None:
            picked = self._picked(stash, max_wait)
            if picked is not False:
                return picked  # type: ignore[return-value]
        self._check_orphans()
        if self._usable():
            token = new_id()
            reply = self._run(_RESERVE, 1, self._reserve_args(max_wait, token))
            if reply is not None:
                return self._reservation(reply, token)
            # A script that timed out may still reserve the start later.
            self._forget((self.key, token))
        return self._local_reserve(now, max_wait)

    async def areserve(self, now: float, max_wait: float) -> Reservation | None:
        """Async twin of :meth:`reserve`."""
        stash = self._own_stash()
        if stash is not None:
            picked = self._picked(stash, max_wait)
            if picked is not False:
                return picked  # type: ignore[return-value]
        self._check_orphans()
        if self._usable():
            token = new_id()
            try:
                reply = await self._arun(
                    _RESERVE, 1, self._reserve_args(max_wait, token)
                )
            except BaseException:
                # Cancelled mid-call: the server may have granted it anyway.
                self._give_back((self.key, token))
                raise
            if reply is not None:
                return self._reservation(reply, token)
            self._forget((self.key, token))
        return self._local_reserve(now, max_wait)

    def cancel(self, token: object) -> None:
        """Give back a reservation that will not be used."""
        if isinstance(token, _LocalToken):
            token.local.cancel(token.token)
        else:
            self._give_back((self.key, token))  # type: ignore[arg-type]

    async def acancel(self, token: object) -> None:
        """Async twin of :meth:`cancel`."""
        if isinstance(token, _LocalToken):
            token.local.cancel(token.token)
        else:
            await self._agive_back((self.key, token))  # type: ignore[arg-type]

    def next_free(self, now: float) -> float:
        """Seconds until a start would need no wait (for ``Retry-After``)."""
        at, wait = self._rejected
        age = time.monotonic() - at
        if age < _ORPHAN_AGE:
            return max(0.0, wait - age)
        if self._usable():
            reply = self._run(_RESERVE, 1, self._reserve_args(-1.0, ""))
            if reply is not None:
                return max(0.0, float(reply[1]))
        return self._local().next_free(now)

    def snapshot(self, now: float) -> RateLimiterSnapshot:
        """Return the starts in the current window (reserved ones included)."""
        if self._usable():
            reply = self._run(_SNAPSHOT, 1, (self.key, self._limits[1]))
            if reply is not None:
                return RateLimiterSnapshot(
                    int(reply), self.config.max_calls, self.config.period
                )
        return self._local().snapshot(now)

    def _reservation(self, reply: Any, token: str) -> Reservation | None:
        if reply.__class__ is int:  # granted, no wait
            return Reservation(0.0, token)
        if reply[0] == 1:
            return Reservation(float(reply[1]), token)
        self._rejected = (time.monotonic(), float(reply[1]))
        return None

    def _reserve_args(self, max_wait: float, token: str) -> tuple[Any, ...]:
        return (self.key, *self._limits, repr(max_wait), token)

    def _local_reserve(self, now: float, max_wait: float) -> Reservation | None:
        local = self._local()
        reservation = local.reserve(now, max_wait)
        if reservation is None:
            return None
        return Reservation(reservation.wait, _LocalToken(local, reservation.token))
