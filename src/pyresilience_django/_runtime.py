"""The project's one registry: built once, rebuilt when the setting changes.

:func:`current` builds it from ``settings.RESILIENCE`` on first use (the app
config calls it from ``ready()``) and then always returns the same object.
``override_settings(RESILIENCE=...)`` swaps in a registry built from the
override and, when the override ends, puts the previous registry back with
its state (open breakers, used rate-limit permits) intact.
"""

from __future__ import annotations

import copy
import logging
import threading
from typing import Any

from pyresilience import Clock, Policy, ResilienceRegistry

from ._build import Build, build
from .conf import SETTING, conf

__all__ = [
    "current",
    "get_registry",
    "on_setting_changed",
    "policy",
    "pop_clock",
    "push_clock",
]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_current: Build | None = None
_clock: Clock | None = None
# Builds (and their clocks) hidden by an active override, innermost last.
_hidden: list[tuple[Build | None, Clock | None]] = []


def current() -> Build:
    """Return the active build, reading the setting on first use."""
    global _current

    active = _current
    if active is not None:
        return active
    with _lock:
        # Another thread may have built it while this one waited for the lock.
        if _current is None:
            _current = _make()
        return _current


def get_registry() -> ResilienceRegistry:
    """Return the registry built from ``settings.RESILIENCE``.

    The same object is returned on every call until the setting changes
    (``override_settings`` in tests). Policies that failed to load are not
    in it; :func:`pyresilience_django.resilient` raises their error instead.
    """
    return current().registry


def policy(name: str) -> Policy:
    """Return the policy ``name``, or raise the error that broke it.

    Raises:
        ConfigError: ``name`` (or the whole setting) is misconfigured; the
            message is the one ``manage.py check`` reports.
        UnknownPolicyError: ``name`` is not configured and there is no
            ``DEFAULT``.
    """
    active = _current or current()
    handle = active.handles.get(name)
    if handle is not None:
        return handle
    error = active.error_for(name)
    if error is not None:
        # A copy, so tracebacks of earlier calls do not pile up on one object.
        raise copy.copy(error)
    handle = active.handles[name] = active.registry.policy(name)
    return handle


def on_setting_changed(*, setting: str, enter: bool, **kwargs: Any) -> None:
    """Rebuild on ``setting_changed`` for ``RESILIENCE``; restore on exit.

    Args:
        setting: The name of the changed setting.
        enter: True when an override starts, False when it ends.
        **kwargs: The rest of the signal's arguments (unused).
    """
    if setting != SETTING:
        return
    if enter:
        _push(_clock)
    else:
        _pop()


def push_clock(clock: Clock) -> None:
    """Rebuild the registry with ``clock`` until :func:`pop_clock`."""
    _push(clock)


def pop_clock() -> None:
    """Put back the registry (and clock) that :func:`push_clock` replaced."""
    _pop()


def _push(clock: Clock | None) -> None:
    global _current, _clock

    with _lock:
        _hidden.append((_current, _clock))
        _clock = clock
        _current = _make()


def _pop() -> None:
    global _current, _clock

    with _lock:
        retired = _current
        if _hidden:
            _current, _clock = _hidden.pop()
        else:
            _current = _make()
    if retired is not None and not _shares_store(retired):
        _retire(retired)


def _make() -> Build:
    made = build(conf.RESILIENCE, clock=_clock)
    for problem in made.problems:
        log = logger.error if problem.level == "error" else logger.warning
        log(
            "pyresilience_django.bad_setting: %s (%s; run manage.py check)",
            problem.message,
            problem.id,
        )
    return made


def _shares_store(old: Build) -> bool:
    # A StateStore object given in the setting is shared by every build made
    # from it; closing it for one would close it for the one put back.
    others = [_current, *(build for build, _ in _hidden)]
    store = old.registry.store
    return any(other is not None and other.registry.store is store for other in others)


def _retire(old: Build) -> None:
    # No call should still be running through a registry whose override has
    # ended; do not wait for stragglers, just release its store.
    try:
        old.registry.shutdown(timeout=0)
    except Exception:
        logger.exception("pyresilience_django.shutdown_failed")
