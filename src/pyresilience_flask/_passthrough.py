"""Keep HTTP errors raised on purpose out of retries, breakers and fallbacks.

A view or helper that calls ``abort(404)`` inside a protected function is
answering the client, not failing. Every policy of a Flask app is therefore
given a copy of its config in which Werkzeug's ``HTTPException`` is ignored
by retry and circuit breaker, and is re-raised by the fallback instead of
being replaced. The user's own config objects are never changed.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from werkzeug.exceptions import HTTPException

from pyresilience import FallbackConfig, ResilienceConfig

__all__ = ["pass_http_errors"]


def pass_http_errors(config: ResilienceConfig) -> ResilienceConfig:
    """Return ``config`` with ``HTTPException`` passing through every pattern.

    Args:
        config: The policy as configured by the user; left untouched.

    Returns:
        ``config`` itself when nothing needs changing, else a new config.
    """
    changes: dict[str, Any] = {}
    retry, breaker, fallback = config.retry, config.circuit_breaker, config.fallback
    if retry is not None and not _ignores_http(retry.ignore_on):
        changes["retry"] = replace(retry, ignore_on=(*retry.ignore_on, HTTPException))
    if breaker is not None and not _ignores_http(breaker.ignore_on):
        changes["circuit_breaker"] = replace(
            breaker, ignore_on=(*breaker.ignore_on, HTTPException)
        )
    if fallback is not None and _needs_wrapping(fallback):
        wanted = tuple(k for k in fallback.fallback_on if issubclass(k, HTTPException))
        handler = _reraise_http(fallback.handler, wanted)
        changes["fallback"] = replace(fallback, handler=handler)
    if not changes:
        return config

    # The user already saw any warning about this config when it was built;
    # rebuilding the copy must not repeat it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return replace(config, **changes)


_MARK = "_pyresilience_flask_passes_http"


def _ignores_http(types: tuple[type[BaseException], ...]) -> bool:
    return any(issubclass(HTTPException, kind) for kind in types)


def _needs_wrapping(fallback: FallbackConfig) -> bool:
    # Only a broad ``fallback_on`` (Exception, ...) catches HTTP errors by
    # accident; a handler that is already wrapped needs nothing more.
    return _ignores_http(fallback.fallback_on) and not getattr(
        fallback.handler, _MARK, False
    )


def _reraise_http(
    handler: Any, wanted: tuple[type[HTTPException], ...]
) -> Callable[[BaseException], Any]:
    """Wrap a fallback handler (value, function or coroutine function).

    HTTP errors are re-raised unchanged, except those of a type the user
    listed in ``fallback_on`` themselves (``wanted``).
    """
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def afallback(exc: BaseException) -> Any:
            if isinstance(exc, HTTPException) and not isinstance(exc, wanted):
                raise exc
            return await handler(exc)

        setattr(afallback, _MARK, True)
        return afallback

    def fallback(exc: BaseException) -> Any:
        if isinstance(exc, HTTPException) and not isinstance(exc, wanted):
            raise exc
        return handler(exc) if callable(handler) else handler

    if callable(handler):
        functools.update_wrapper(fallback, handler)
    setattr(fallback, _MARK, True)
    return fallback
