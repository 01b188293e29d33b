"""Shut every app's registry down when the process exits cleanly."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref

from pyresilience import ResilienceRegistry

__all__ = ["SHUTDOWN_TIMEOUT", "shutdown_all", "shutdown_at_exit"]

logger = logging.getLogger(__name__)

#: Seconds a registry may spend draining in-flight calls at exit.
SHUTDOWN_TIMEOUT = 5.0

# Weak references: an app (and its registry) dropped by a test suite must not
# be kept alive until the interpreter exits.
_registries: weakref.WeakSet[ResilienceRegistry] = weakref.WeakSet()
_lock = threading.Lock()
_hooked = False


def shutdown_at_exit(registry: ResilienceRegistry) -> None:
    """Have ``registry`` shut down by :func:`shutdown_all` at interpreter exit."""
    global _hooked
    with _lock:
        _registries.add(registry)
        if not _hooked:
            atexit.register(shutdown_all)
            _hooked = True


def shutdown_all(timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """Shut down every registry still open; errors are logged, not raised."""
    with _lock:
        registries = list(_registries)
    for registry in registries:
        if not registry.is_open:
            continue
        try:
            drained = registry.shutdown(timeout=timeout)
        except Exception:
            # Exit must go on even if a store fails to close.
            logger.exception("pyresilience_flask.shutdown_failed")
            continue
        if not drained:
            logger.warning(
                "pyresilience_flask.shutdown_timeout: calls still running after %.1fs",
                timeout,
            )
