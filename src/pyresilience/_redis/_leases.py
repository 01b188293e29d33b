"""Keeps the leases this process holds alive while their calls run."""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from . import _lua
from ._base import STORE_ERRORS
from ._script import Script

__all__ = ["LeaseKeeper"]

logger = logging.getLogger("pyresilience.stores.redis")

_RENEW = Script(_lua.RENEW)
_keepers: weakref.WeakSet[LeaseKeeper] = weakref.WeakSet()


class LeaseKeeper:
    """Renews held bulkhead slots and half-open probe leases in the background.

    A lease expires ``ttl`` seconds after it was last renewed, so the slot of
    a process that died comes back by itself; a daemon thread renews every
    live lease every ``ttl / 3`` seconds, so a long call keeps its slot. The
    thread starts with the first lease and stops with :meth:`stop`.

    Args:
        ttl: Lease lifetime in seconds.
        client: Returns the sync client to renew through.
        usable: Returns False while the server is known to be down.
        failed: Called with the error when a renewal fails.
    """

    def __init__(
        self,
        ttl: float,
        client: Callable[[], Any],
        usable: Callable[[], bool],
        failed: Callable[[BaseException], None],
    ) -> None:
        self.ttl = ttl
        self._client = client
        self._usable = usable
        self._failed = failed
        self._held: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        _keepers.add(self)

    def hold(self, key: str, lease: str) -> None:
        """Start renewing ``lease`` in the sorted set ``key``."""
        with self._lock:
            self._held.setdefault(key, set()).add(lease)
            if self._thread is None:
                self._start()

    def drop(self, key: str, lease: str) -> None:
        """Stop renewing ``lease``."""
        with self._lock:
            leases = self._held.get(key)
            if leases is not None:
                leases.discard(lease)
                if not leases:
                    del self._held[key]

    def held(self) -> dict[str, set[str]]:
        """Return a copy of the leases held, by key."""
        with self._lock:
            return {key: set(leases) for key, leases in self._held.items()}

    def stop(self) -> None:
        """Stop the renewal thread; held leases are forgotten."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._held.clear()
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def renew(self) -> None:
        """Extend every held lease now (one script call per key)."""
        held = self.held()
        if not held or not self._usable():
            return
        client = self._client()
        try:
            for key, leases in held.items():
                _RENEW.run(client, 1, (key, self.ttl, *leases))
        except STORE_ERRORS as exc:
            self._failed(exc)

    def _start(self) -> None:
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._loop,
            args=(self._wake,),
            name="pyresilience-redis-leases",
            daemon=True,
        )
        self._thread.start()

    def _loop(self, wake: threading.Event) -> None:
        while not wake.wait(self.ttl / 3):
            try:
                self.renew()
            except Exception:
                # The thread must outlive any surprise; the next tick retries.
                logger.exception("pyresilience.lease_renewal_failed")

    def _forget_after_fork(self) -> None:
        # The child holds none of the parent's leases and has no thread.
        self._lock = threading.Lock()
        self._held = {}
        self._thread = None
        self._wake = threading.Event()


def _after_fork_in_child() -> None:
    for keeper in list(_keepers):
        keeper._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
