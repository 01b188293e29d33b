"""How resilience errors become HTTP responses."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    RejectedError,
    ResilienceError,
    ResilienceTimeoutError,
    ShutdownError,
)

__all__ = [
    "REJECTION_STATUS_KEY",
    "STATUS_CODES",
    "error_response",
    "install_error_handlers",
    "resilience_exception_handler",
    "retry_after_header",
]

#: The HTTP status each mapped error becomes. Subclasses map like their base.
STATUS_CODES: dict[type[ResilienceError], int] = {
    CircuitOpenError: 503,
    BulkheadFullError: 503,
    ShutdownError: 503,
    RateLimitExceededError: 429,
    ResilienceTimeoutError: 504,
}

#: Scope key under which the handler notes the status it answered a
#: rejection with, so ``GuardMiddleware`` does not count that 503 as a
#: failure: a rejection turns work away, it is not a failure of it.
REJECTION_STATUS_KEY = "pyresilience.rejection_status"

# 1013 "Try Again Later": the websocket twin of 503/429.
_WS_TRY_AGAIN_LATER = 1013

# Handlers for these base classes are too broad to count as the app's own
# handling of our errors (FastAPI routes ``Exception`` to its 500 page).
_TOO_BROAD = frozenset({Exception, BaseException, object})


def retry_after_header(seconds: float | None) -> str | None:
    """Format a wait as a ``Retry-After`` value: whole seconds, rounded up.

    Args:
        seconds: The wait, or ``None`` when it is not known.

    Returns:
        The header value, or ``None`` when no header should be sent (also
        for an infinite wait, which no header can express).
    """
    if seconds is None or not math.isfinite(seconds):
        return None
    return str(max(0, math.ceil(seconds)))


def _status_for(exc: ResilienceError) -> int:
    for cls in type(exc).__mro__:
        status = STATUS_CODES.get(cls)
        if status is not None:
            return status
    return 500


def error_response(exc: ResilienceError) -> Response:
    """Build the response FastAPI users expect for a resilience error.

    The body is ``{"detail": <message>, "policy": <name>}``; rejections whose
    wait is known carry ``Retry-After``.

    Args:
        exc: A rejection (503 or 429) or a timeout (504).
    """
    headers: dict[str, str] = {}
    retry_after = retry_after_header(exc.retry_after)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return JSONResponse(
        {"detail": str(exc), "policy": exc.policy},
        status_code=_status_for(exc),
        headers=headers,
    )


async def resilience_exception_handler(
    connection: HTTPConnection, exc: Exception
) -> Response | None:
    """Starlette exception handler mapping resilience errors to HTTP.

    Over HTTP it returns :func:`error_response`. On a websocket it closes the
    connection with code 1013 (try again later) instead.

    Args:
        connection: The request or websocket the error was raised in.
        exc: The error; anything but a :class:`ResilienceError` is re-raised.
    """
    if not isinstance(exc, ResilienceError):
        raise exc
    if isinstance(connection, WebSocket):
        # A close reason may hold at most 123 bytes of UTF-8.
        reason = str(exc).encode()[:123].decode(errors="ignore")
        await connection.close(code=_WS_TRY_AGAIN_LATER, reason=reason)
        return None
    response = error_response(exc)
    if isinstance(exc, RejectedError):
        connection.scope[REJECTION_STATUS_KEY] = response.status_code
    return response


def install_error_handlers(app: Any) -> bool:
    """Register :func:`resilience_exception_handler` on ``app`` where it is free.

    An error type is skipped when the app already has a handler for it or
    for one of its bases (``ResilienceError``, ``TimeoutError``, ...): the
    app's own handler wins. ``resilience_lifespan`` calls this at startup;
    call it yourself right after creating the app to have the handlers in
    place before the app first builds its middleware stack.

    Args:
        app: A FastAPI or Starlette application.

    Returns:
        Whether any handler was added.

    Raises:
        TypeError: ``app`` has no ``exception_handlers`` mapping.
    """
    handlers = getattr(app, "exception_handlers", None)
    if not isinstance(handlers, dict):
        raise TypeError(
            f"install_error_handlers() needs a Starlette or FastAPI app, got {app!r}"
        )

    added = False
    for exc_type in STATUS_CODES:
        if not _is_handled(handlers, exc_type):
            handlers[exc_type] = resilience_exception_handler
            added = True
    return added


def _is_handled(handlers: dict[Any, Any], exc_type: type[Exception]) -> bool:
    return any(cls in handlers for cls in exc_type.__mro__ if cls not in _TOO_BROAD)
