"""Tracks whether the Redis server answers, and when to try it again."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .._events import EventType, emitter_for

__all__ = ["StoreHealth"]

logger = logging.getLogger("pyresilience.stores.redis")


class StoreHealth:
    """Up/down state of one store's server, with reconnection back-off.

    While the server is down, callers use local state and do not touch the
    network until the next retry time; then exactly one caller tries the
    server again. The back-off doubles after each failed try, up to
    ``max_backoff`` seconds. One WARNING is logged and one
    ``STORE_UNAVAILABLE`` event emitted per outage, and one
    ``STORE_RECOVERED`` when the server answers again.

    Args:
        describe: How the server is named in logs (no password).
        listeners: Callables receiving the store events.
        min_backoff: Seconds before the first retry after a failure.
        max_backoff: Cap on the seconds between retries.
        monotonic: The time source, for tests.
    """

    def __init__(
        self,
        describe: str,
        listeners: Sequence[Callable[[Any], Any]] = (),
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.describe = describe
        self.listeners = tuple(listeners)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: False from the first failure until a call succeeds again.
        self.up = True
        #: Counts outages, so local fallback state can be made fresh per outage.
        self.outage = 0
        self._retry_at = 0.0
        self._backoff = min_backoff
        self._down_since = 0.0

    def usable(self) -> bool:
        """Return True when the caller should try the server.

        Always true while it is up. While it is down, true for the one caller
        that claims the next retry time.
        """
        now = self._monotonic()
        with self._lock:
            if self.up or now >= self._retry_at:
                # Claim this try: others keep using local state meanwhile.
                self._retry_at = now + self._backoff
                return True
        return False

    def failed(self, error: BaseException, policy: str | None = None) -> None:
        """Record a failed server call; the first one of an outage is reported."""
        now = self._monotonic()
        with self._lock:
            starting = self.up
            if starting:
                self.up = False
                self.outage += 1
                self._down_since = now
                self._backoff = self.min_backoff
            else:
                self._backoff = min(self._backoff * 2, self.max_backoff)
            self._retry_at = now + self._backoff
            delay = self._backoff
        if starting:
            logger.warning(
                "pyresilience.store_unavailable: Redis store %s failed (%s: %s); "
                "policies use local in-process state until it answers again",
                self.describe,
                type(error).__name__,
                error,
            )
            self._emit(EventType.STORE_UNAVAILABLE, policy, error, str(error))
        else:
            logger.debug(
                "pyresilience.store_retry_failed: Redis store %s still down (%s); "
                "next try in %.2fs",
                self.describe,
                error,
                delay,
            )

    def succeeded(self, policy: str | None = None) -> None:
        """Record that the server answered; ends an outage if there was one."""
        with self._lock:
            if self.up:
                return
            self.up = True
            lasted = self._monotonic() - self._down_since
        logger.info(
            "pyresilience.store_recovered: Redis store %s answers again after "
            "%.1fs; policies use shared state again",
            self.describe,
            lasted,
        )
        self._emit(EventType.STORE_RECOVERED, policy, None, f"down {lasted:.1f}s")

    def _emit(
        self,
        event_type: EventType,
        policy: str | None,
        error: BaseException | None,
        detail: str,
    ) -> None:
        emit = emitter_for(self.listeners, policy)
        if emit is not None:
            detail = f"{self.describe}: {detail}"
            emit(event_type, "RedisStore", error=error, detail=detail)
