"""The retry budget shared through Redis: one token bucket per name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._store import BudgetBackend
from . import _lua
from ._base import RemoteBackend
from ._script import Script

if TYPE_CHECKING:
    from .._config import RetryBudgetConfig
    from ._store import RedisStore

__all__ = ["RedisBudgetBackend"]

_BUDGET = Script(_lua.BUDGET)


class RedisBudgetBackend(RemoteBackend[BudgetBackend]):
    """A bucket of ``max_retries`` retry tokens shared by every process.

    It refills ``refill_rate`` tokens per second by the server's clock. Each
    retry costs one round trip; first attempts cost nothing.

    Args:
        store: The store this backend belongs to.
        name: The policy name.
        config: The budget settings.
    """

    def __init__(self, store: RedisStore, name: str, config: RetryBudgetConfig) -> None:
        from .._budget import LocalBudgetState

        super().__init__(store, name, lambda: LocalBudgetState(config))
        self.config = config
        self.key = store._key(name, "budget")
        self._args = (self.key, str(config.max_retries), repr(config.refill_rate))

    def try_acquire(self, now: float) -> bool:
        """Take one retry token if there is one."""
        if self._usable():
            reply = self._run(_BUDGET, 1, (*self._args, "1"))
            if reply is not None:
                return bool(reply[0])
        return self._local().try_acquire(now)

    async def atry_acquire(self, now: float) -> bool:
        """Async twin of :meth:`try_acquire`."""
        if self._usable():
            reply = await self._arun(_BUDGET, 1, (*self._args, "1"))
            if reply is not None:
                return bool(reply[0])
        return self._local().try_acquire(now)

    def available(self, now: float) -> float:
        """Return the tokens currently in the bucket."""
        if self._usable():
            reply = self._run(_BUDGET, 1, (*self._args, "0"))
            if reply is not None:
                return float(reply[1])
        return self._local().available(now)
