"""The policy runtime: one policy's state plus its sync and async pipelines.

See ``_sync_pipeline`` for the order of the patterns and ``_runtime`` for
the state they share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ._async_pipeline import AsyncPipeline
from ._clock import Clock
from ._config import ResilienceConfig
from ._gate import Gate
from ._store import StateStore
from ._sync_pipeline import SyncPipeline

__all__ = ["PolicyRuntime"]


class PolicyRuntime(SyncPipeline, AsyncPipeline):
    """One policy's configuration, live state and call pipelines.

    ``call(fn, fname, args, kwargs, cache)`` runs a sync function and
    ``acall(...)`` an async one through every pattern of the policy.

    Args:
        name: Registry name (``None`` for a standalone decorator).
        config: The policy.
        store: Where breaker, limiter, bulkhead and budget state live.
        clock: Time source for back-off, windows and cool-downs.
        gate: Admission and in-flight tracking.
        state_key: Key under which the store keeps this policy's state.
    """

    __slots__ = ("acall", "call")

    def __init__(
        self,
        name: str | None,
        config: ResilienceConfig,
        *,
        store: StateStore,
        clock: Clock,
        gate: Gate,
        state_key: str,
    ) -> None:
        super().__init__(
            name, config, store=store, clock=clock, gate=gate, state_key=state_key
        )
        # Without a fallback there is no outer layer to pay for on every
        # failure, so the entry points are chosen once, here.
        self.call: Callable[..., Any] = (
            self._call_with_fallback if config.fallback else self._call
        )
        self.acall: Callable[..., Awaitable[Any]] = (
            self._acall_with_fallback if config.fallback else self._acall
        )
