"""The circuit breaker shared through Redis: one state machine per name."""

from __future__ import annotations

import contextvars
import itertools
import threading
from typing import TYPE_CHECKING, Any, NamedTuple

from .._state import (
    ALLOW,
    BreakerSnapshot,
    CircuitState,
    Permit,
    Transition,
)
from .._store import BreakerBackend
from . import _lua
from ._base import RemoteBackend
from ._ids import new_id
from ._limiter import take_stash
from ._script import Script

if TYPE_CHECKING:
    from .._config import CircuitBreakerConfig
    from ._limiter import RedisRateLimiterBackend
    from ._store import RedisStore

__all__ = ["RedisBreakerBackend"]

_ACQUIRE = Script(_lua.BREAKER_ACQUIRE)
_RECORD = Script(_lua.BREAKER_RECORD)
_FORCE = Script(_lua.BREAKER_FORCE)
_SNAPSHOT = Script(_lua.BREAKER_SNAPSHOT)

_LETTER = {
    CircuitState.CLOSED: "c",
    CircuitState.OPEN: "o",
    CircuitState.HALF_OPEN: "h",
}
_STATE: dict[Any, CircuitState] = {}
for _state, _letter in _LETTER.items():
    _STATE[_letter] = _STATE[_letter.encode()] = _state

_TRANSITIONS: dict[Any, tuple[Transition, ...]] = {"": (), b"": ()}

# The probe most recently granted in this thread or task, by backend. The
# pipeline gives a probe back without saying which (``release_probe(now)``);
# the call that gives it back is the one that took it, in the same context,
# so this names the right one. Any other held probe could belong to an
# earlier half-open episode, and giving back that one instead would free a
# slot still in use and later drop the vote of the call that holds it.
_LAST_PROBE: contextvars.ContextVar[tuple[RedisBreakerBackend, int] | None] = (
    contextvars.ContextVar("pyresilience_redis_last_probe", default=None)
)


class _Probe(NamedTuple):
    """Where a half-open probe came from: a server lease, or local state."""

    lease: str | None
    local: Any = None
    mark: int = 0


def _transitions(raw: Any) -> tuple[Transition, ...]:
    """Decode ``"co,oh"`` (bytes or str) into transitions, with a cache."""
    known = _TRANSITIONS.get(raw)
    if known is not None:
        return known
    text = raw.decode() if isinstance(raw, bytes) else raw
    decoded = tuple(
        Transition(_STATE[pair[0]], _STATE[pair[1]]) for pair in text.split(",")
    )
    _TRANSITIONS[raw] = decoded
    return decoded


class RedisBreakerBackend(RemoteBackend[BreakerBackend]):
    """One circuit breaker shared by every process using the store.

    The state, the counters, the open time and the half-open probe leases
    live on the server and change only inside scripts that read the server's
    clock, so all processes see one state and move to half-open together.

    Round trips: :meth:`acquire` is one script call (it also reserves the
    rate-limit start when the policy has a limiter). Recording a fast
    success costs nothing while the breaker is closed and the last answer
    showed nothing a success could change (no consecutive failures in count
    mode, no failed or slow call in the window otherwise): in count mode
    there is nothing to reset, and in window mode the success is counted
    here and sent with this process's next script call. Everything else
    (failures, slow calls, probe outcomes, successes after failures) is sent
    at once.

    Args:
        store: The store this backend belongs to.
        name: The policy name.
        config: The breaker settings.
    """

    def __init__(
        self, store: RedisStore, name: str, config: CircuitBreakerConfig
    ) -> None:
        from .._breaker_state import LocalBreakerState

        super().__init__(store, name, lambda: LocalBreakerState(config))
        self.config = config
        self.keys = (
            store._key(name, "breaker"),
            store._key(name, "breaker:window"),
            store._key(name, "breaker:probes"),
        )
        slow_rate = config.slow_call_rate_threshold if config.slow_call_duration else 0
        # Sent with every script call as one argument, encoded once here.
        settings = (
            config.sliding_window_size,
            config.failure_threshold,
            repr(config.failure_rate_threshold),
            repr(float(slow_rate)),
            config.window_minimum,
            repr(config.recovery_timeout),
            config.success_threshold,
            config.probe_limit,
            repr(store.lease_ttl),
        )
        self._settings = " ".join(str(value) for value in settings).encode()
        self._head = (*(key.encode() for key in self.keys), self._settings)
        self._window = config.sliding_window_size > 0
        self._slow_counts = config.slow_call_duration > 0
        self._lock = threading.Lock()
        self._pending = 0
        # What the last reply showed: lets fast successes skip the server.
        self._seen_state = CircuitState.CLOSED
        self._seen_bad = 0
        # Probes this process holds, by the number their permit carries; the
        # pipeline hands that number back with the outcome. Numbers start at
        # 2 so that ``True`` (from callers that do not keep the permit) is
        # never mistaken for one.
        self._probes: dict[int, _Probe] = {}
        self._probe_numbers = itertools.count(2)

    # -- acquire -------------------------------------------------------------

    def acquire(self, now: float) -> Permit:
        """Decide whether a call may run; may move OPEN to HALF_OPEN."""
        self._drop_stale_stash()
        if self._usable():
            limiter = self._limiter()
            lease = new_id()
            args, numkeys = self._acquire_args(lease, limiter)
            reply = self._run(_ACQUIRE, numkeys, args)
            if reply is not None:
                return self._permit(reply, lease, limiter)
            # A script that timed out may still run once the server wakes
            # up, taking a probe lease (and a start) that nobody holds.
            self._forget(*self._taken_by(lease, limiter))
        return self._local_acquire(now)

    async def aacquire(self, now: float) -> Permit:
        """Async twin of :meth:`acquire`; cancellation leaves no probe taken."""
        self._drop_stale_stash()
        if self._usable():
            limiter = self._limiter()
            lease = new_id()
            args, numkeys = self._acquire_args(lease, limiter)
            try:
                reply = await self._arun(_ACQUIRE, numkeys, args)
            except BaseException:
                # Cancelled mid-call: the server may have granted a probe
                # that no caller will ever report or give back.
                self._give_back(*self._taken_by(lease, limiter))
                raise
            if reply is not None:
                return self._permit(reply, lease, limiter)
            self._forget(*self._taken_by(lease, limiter))
        return self._local_acquire(now)

    def _taken_by(
        self, lease: str, limiter: RedisRateLimiterBackend | None
    ) -> tuple[tuple[str, str], ...]:
        """What an acquire script run with ``lease`` may have left on the server."""
        if limiter is None:
            return ((self.keys[2], lease),)
        return (self.keys[2], lease), (limiter.key, lease)

    def _drop_stale_stash(self) -> None:
        # A combined reservation still here was never used by a limiter call.
        stash = take_stash()
        if stash is not None:
            stash.limiter.orphaned(stash)

    def _limiter(self) -> RedisRateLimiterBackend | None:
        limiter = self._store._limiters.get(self.name)
        if limiter is not None and limiter.combine:
            return limiter
        return None

    def _acquire_args(
        self, lease: str, limiter: RedisRateLimiterBackend | None
    ) -> tuple[tuple[Any, ...], int]:
        pending = self._take_pending()
        if limiter is None:
            return (*self._head, pending, lease), 3
        h, w, p, settings = self._head
        return (h, w, p, limiter.key, settings, pending, lease, limiter.limits), 4

    def _permit(
        self, reply: Any, lease: str, limiter: RedisRateLimiterBackend | None
    ) -> Permit:
        if reply.__class__ is int:
            # Closed, nothing to report; 1: the limiter granted a start now.
            self._seen_state = CircuitState.CLOSED
            self._seen_bad = 0
            if reply == 1 and limiter is not None:
                limiter.stash(True, 0.0, lease)
            return ALLOW
        allowed, probe, wait, raw, state, bad, granted, limiter_wait = reply
        self._seen_state = _STATE[state]
        self._seen_bad = bad
        if granted != -1 and limiter is not None:
            limiter.stash(granted == 1, float(limiter_wait), lease)
        transitions = _transitions(raw)
        if not allowed:
            return Permit(False, retry_after=float(wait), transitions=transitions)
        if probe:
            self._store._keeper.hold(self.keys[2], lease)
            return Permit(True, self._hold(_Probe(lease)), transitions=transitions)
        return Permit(True, transitions=transitions) if transitions else ALLOW

    def _local_acquire(self, now: float) -> Permit:
        local = self._local()
        permit = local.acquire(now)
        if not permit.probe:
            return permit
        number = self._hold(_Probe(None, local, permit.probe))
        return permit._replace(probe=number)

    def _hold(self, probe: _Probe) -> int:
        number = next(self._probe_numbers)
        self._probes[number] = probe
        _LAST_PROBE.set((self, number))
        return number

    # -- record ----------------------------------------------------------------

    def record(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Record the outcome of a permitted call; return state changes."""
        slow = slow and self._slow_counts
        lease = None
        if probe:
            origin = self._take_probe(probe)
            if origin is None:
                return ()  # no probe held here: nothing left to report
            if origin.local is not None:
                return origin.local.record(  # type: ignore[no-any-return]
                    now, success=success, slow=slow, probe=origin.mark
                )
            lease = origin.lease
        elif self._skip(success, slow):
            return ()
        if self._usable():
            reply = self._run(_RECORD, 3, self._record_args(success, slow, lease))
            if reply is not None:
                return self._recorded(reply)
        self._lost_probe(lease)
        return self._local().record(now, success=success, slow=slow, probe=False)

    async def arecord(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Async twin of :meth:`record`."""
        slow = slow and self._slow_counts
        lease = None
        if probe:
            origin = self._take_probe(probe)
            if origin is None:
                return ()  # no probe held here: nothing left to report
            if origin.local is not None:
                return origin.local.record(  # type: ignore[no-any-return]
                    now, success=success, slow=slow, probe=origin.mark
                )
            lease = origin.lease
        elif self._skip(success, slow):
            return ()
        if self._usable():
            try:
                reply = await self._arun(
                    _RECORD, 3, self._record_args(success, slow, lease)
                )
            except BaseException:
                self._lost_probe(lease)
                raise
            if reply is not None:
                return self._recorded(reply)
        self._lost_probe(lease)
        return self._local().record(now, success=success, slow=slow, probe=False)

    def _lost_probe(self, lease: str | None) -> None:
        # A probe whose outcome never reached the server: its lease is no
        # longer renewed, and is given back once the server answers rather
        # than blocking the half-open breaker of every process until it
        # expires. Harmless if the script did run: it removed the lease.
        if lease is not None:
            self._forget((self.keys[2], lease))

    def _take_probe(self, probe: int) -> _Probe | None:
        """Forget and return the probe a permit's number names.

        When that number is not held (``True`` from a caller that did not
        keep the permit), the probe last granted in this thread or task is
        meant; failing that, any held probe stands in for it, and the server
        (or the local state) still drops one whose half-open episode is over.
        """
        origin = self._probes.pop(probe, None)
        if origin is None:
            last = _LAST_PROBE.get()
            if last is not None and last[0] is self:
                origin = self._probes.pop(last[1], None)
        if origin is None:
            try:
                origin = self._probes.popitem()[1]
            except KeyError:
                return None
        if origin.lease is not None:
            self._store._keeper.drop(self.keys[2], origin.lease)
        return origin

    def _skip(self, success: bool, slow: bool) -> bool:
        """True when a non-probe outcome need not reach the server now."""
        if not success or slow:
            return False
        if self._seen_state is not CircuitState.CLOSED:
            # The server drops outcomes of calls permitted before a trip.
            return True
        if self._seen_bad:
            return False
        if self._window:
            with self._lock:
                self._pending += 1
        return True

    def _take_pending(self) -> int:
        if not self._pending:
            return 0
        with self._lock:
            pending, self._pending = self._pending, 0
        return pending

    def _record_args(
        self, success: bool, slow: bool, lease: str | None
    ) -> tuple[Any, ...]:
        code = (0 if success else 1) + (2 if slow else 0)
        return (*self._head, code, lease or "", self._take_pending())

    def _recorded(self, reply: Any) -> tuple[Transition, ...]:
        if reply.__class__ is int:
            # Still closed, no transition: the reply is what a success could change.
            self._seen_state = CircuitState.CLOSED
            self._seen_bad = reply
            return ()
        raw, state, bad = reply
        self._seen_state = _STATE[state]
        self._seen_bad = bad
        return _transitions(raw)

    # -- probes, overrides and status -------------------------------------------

    def release_probe(self, now: float, probe: int = 0) -> None:
        """Give back a half-open probe whose call never finished (cancelled).

        ``probe`` is the permit's probe number; without it, the probe last
        granted in this thread or task is given back.
        """
        origin = self._take_probe(probe or True)
        if origin is None:
            return
        if origin.lease is not None:
            self._give_back((self.keys[2], origin.lease))
        else:
            origin.local.release_probe(now, origin.mark)

    async def arelease_probe(self, now: float, probe: int = 0) -> None:
        """Async twin of :meth:`release_probe`."""
        origin = self._take_probe(probe or True)
        if origin is None:
            return
        if origin.lease is not None:
            await self._agive_back((self.keys[2], origin.lease))
        else:
            origin.local.release_probe(now, origin.mark)

    def force(self, state: CircuitState, now: float) -> tuple[Transition, ...]:
        """Move every process's breaker to ``state`` and clear the counters."""
        with self._lock:
            self._pending = 0
        if self._usable():
            reply = self._run(_FORCE, 3, (*self._head, _LETTER[state]))
            if reply is not None:
                self._seen_state = state
                self._seen_bad = 0
                return _transitions(reply)
        return self._local().force(state, now)

    def snapshot(self, now: float) -> BreakerSnapshot:
        """Return the shared state and counters (local ones during an outage)."""
        if self._usable():
            reply = self._run(_SNAPSHOT, 3, (*self._head, self._take_pending()))
            if reply is not None:
                state, failures, calls, failed, slow, probes, successes, wait = reply
                return BreakerSnapshot(
                    state=_STATE[state],
                    consecutive_failures=failures,
                    window_calls=calls,
                    window_failures=failed,
                    window_slow_calls=slow,
                    half_open_in_flight=probes,
                    half_open_successes=successes,
                    retry_after=float(wait),
                )
        return self._local().snapshot(now)
