"""Let chosen exceptions pass through a policy as answers, not failures.

Web frameworks raise exceptions on purpose to answer the client (Flask's
``abort(404)``, Django's ``Http404``). Inside a protected function such an
exception is not a failure of the dependency: it must not be retried, must
not count against the breaker, and must not be swallowed by a broad
fallback. :func:`pass_through` returns a copy of a config arranged that way,
so every adapter shares one mechanism and user config objects stay as they
were written.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ._config import FallbackConfig, ResilienceConfig

__all__ = ["pass_through"]

Kinds = tuple[type[BaseException], ...]

# Set on fallback handlers already wrapped, holding the kinds they re-raise.
_MARK = "__pyresilience_passes__"


def pass_through(config: ResilienceConfig, kinds: Kinds) -> ResilienceConfig:
    """Return ``config`` with ``kinds`` passing through every pattern.

    The copy lists ``kinds`` in ``retry.ignore_on`` and
    ``circuit_breaker.ignore_on``, and wraps a fallback whose ``fallback_on``
    would catch them so that it re-raises them, except kinds the user named
    in ``fallback_on`` themselves.

    Args:
        config: The policy as the user wrote it; left untouched.
        kinds: Exception classes that are answers, not failures.

    Returns:
        ``config`` itself when nothing needs changing, else a new config.
    """
    changes: dict[str, Any] = {}
    retry, breaker, fallback = config.retry, config.circuit_breaker, config.fallback
    if retry is not None and not _covers_all(retry.ignore_on, kinds):
        changes["retry"] = replace(retry, ignore_on=_added(retry.ignore_on, kinds))
    if breaker is not None and not _covers_all(breaker.ignore_on, kinds):
        changes["circuit_breaker"] = replace(
            breaker, ignore_on=_added(breaker.ignore_on, kinds)
        )
    if fallback is not None and _needs_wrapping(fallback, kinds):
        wanted = tuple(k for k in fallback.fallback_on if issubclass(k, kinds))
        changes["fallback"] = replace(
            fallback, handler=_reraising(fallback.handler, kinds, wanted)
        )
    if not changes:
        return config

    # Any warning about this config was shown when the user built it;
    # building the copy must not show it again.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return replace(config, **changes)


def _covered(types: Kinds, kind: type[BaseException]) -> bool:
    return any(issubclass(kind, caught) for caught in types)


def _covers_all(types: Kinds, kinds: Kinds) -> bool:
    return all(_covered(types, kind) for kind in kinds)


def _added(types: Kinds, kinds: Kinds) -> Kinds:
    return (*types, *(kind for kind in kinds if not _covered(types, kind)))


def _needs_wrapping(fallback: FallbackConfig, kinds: Kinds) -> bool:
    # Only a broad ``fallback_on`` (Exception, ...) catches answers by
    # accident; a handler already wrapped for these kinds needs nothing more.
    caught = any(_covered(fallback.fallback_on, kind) for kind in kinds)
    done = getattr(fallback.handler, _MARK, ())
    return caught and not _covers_all(done, kinds)


def _reraising(
    handler: Any, kinds: Kinds, wanted: Kinds
) -> Callable[[BaseException], Any]:
    """Wrap a fallback handler (a value, a function or a coroutine function)."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def afallback(exc: BaseException) -> Any:
            if isinstance(exc, kinds) and not isinstance(exc, wanted):
                raise exc
            return await handler(exc)

        setattr(afallback, _MARK, (*getattr(handler, _MARK, ()), *kinds))
        return afallback

    def fallback(exc: BaseException) -> Any:
        if isinstance(exc, kinds) and not isinstance(exc, wanted):
            raise exc
        return handler(exc) if callable(handler) else handler

    if callable(handler):
        functools.update_wrapper(fallback, handler)
    setattr(fallback, _MARK, (*getattr(handler, _MARK, ()), *kinds))
    return fallback
