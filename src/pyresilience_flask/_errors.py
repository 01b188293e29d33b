"""Turn resilience errors into HTTP responses, in Flask's usual style.

=========================  ======  ===============
error                      status  ``Retry-After``
=========================  ======  ===============
``CircuitOpenError``       503     yes
``BulkheadFullError``      503     yes
``ShutdownError``          503     yes
``RateLimitExceededError`` 429     yes
``ResilienceTimeoutError`` 504     no
=========================  ======  ===============

The app's own handlers win: a handler the app registered for one of these
classes (before or after ``init_app``) or for one of their bases
(``RejectedError``, ``ResilienceError``, ``TimeoutError``, but not
``Exception``) is used instead, and so is an ``errorhandler(503)``-style
handler for the status code. Otherwise the
client gets JSON when it prefers JSON or states no preference, and
Werkzeug's HTML error page when it prefers HTML (a browser).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import (
    GatewayTimeout,
    HTTPException,
    ServiceUnavailable,
    TooManyRequests,
)

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    ResilienceError,
    ResilienceTimeoutError,
    ShutdownError,
)

__all__ = ["handle_resilience_error", "install_error_handlers", "status_for"]

#: error class -> (HTTP exception class, short machine-readable code).
_MAPPING: dict[type[Exception], tuple[type[HTTPException], str]] = {
    CircuitOpenError: (ServiceUnavailable, "circuit_open"),
    BulkheadFullError: (ServiceUnavailable, "bulkhead_full"),
    ShutdownError: (ServiceUnavailable, "shutting_down"),
    RateLimitExceededError: (TooManyRequests, "rate_limited"),
    ResilienceTimeoutError: (GatewayTimeout, "timeout"),
}

#: Statuses that tell the client to come back later.
_RETRYABLE = frozenset({429, 503})

# Bases whose handlers do not count as the app's own handling of our errors.
_TOO_BROAD = frozenset({Exception, BaseException, object})


def install_error_handlers(app: Flask) -> None:
    """Register the mapping on ``app``, leaving the app's own handlers alone."""
    handlers = app.error_handler_spec[None][None]
    for error_class in _MAPPING:
        if error_class not in handlers:
            app.register_error_handler(error_class, handle_resilience_error)


def status_for(exc: ResilienceError) -> tuple[type[HTTPException], str]:
    """Return the HTTP exception class and error code that stand for ``exc``."""
    for kind in type(exc).__mro__:
        found = _MAPPING.get(kind)
        if found is not None:
            return found
    raise LookupError(f"no HTTP status for {type(exc).__name__}")


def handle_resilience_error(exc: ResilienceError) -> Any:
    """Flask error handler: answer ``exc`` with 503, 429 or 504."""
    user_handler = _user_handler(current_app, exc)
    if user_handler is not None:
        return current_app.ensure_sync(user_handler)(exc)

    http_class, code = status_for(exc)
    http_error = http_class(description=str(exc))
    rendered = current_app.handle_http_exception(http_error)
    if rendered is http_error and _prefers_json():
        rendered = jsonify(
            error=code,
            message=str(exc),
            policy=exc.policy,
            # Whole seconds, like the header; None when the wait is unknown.
            retry_after=(
                None
                if exc.retry_after is None
                else int(retry_after_header(exc.retry_after))
            ),
        )
        rendered.status_code = http_error.code or 500

    response = current_app.make_response(rendered)
    if response.status_code in _RETRYABLE and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = retry_after_header(exc.retry_after)
    return response


def retry_after_header(seconds: float | None) -> str:
    """Return whole seconds for ``Retry-After``: rounded up, at least 1.

    An unknown wait (``None``) is sent as 1 second: soon enough for a slot or
    token to free up, late enough not to invite a tight retry loop.
    """
    if seconds is None or not math.isfinite(seconds):
        return "1"
    return str(max(1, math.ceil(seconds)))


def _prefers_json() -> bool:
    accept = request.accept_mimetypes
    if not accept:
        return True
    # On a tie (``*/*``) the first candidate wins, so only a client that
    # ranks HTML higher, like a browser, gets the HTML page.
    return accept.best_match(["application/json", "text/html"]) != "text/html"


def _user_handler(
    app: Flask, exc: ResilienceError
) -> Callable[[ResilienceError], Any] | None:
    """Find an app-level handler of the app's own for a base class of ours.

    Flask prefers our handler on the exact class to the app's handler on a
    base class such as ``ResilienceError`` or, for timeouts, the built-in
    ``TimeoutError``; the app's choice should win. A catch-all for
    ``Exception`` is left out: like for ``abort()``, it sees the HTTP error
    Flask renders instead.
    """
    handlers = app.error_handler_spec[None][None]
    for kind in type(exc).__mro__:
        if kind in _TOO_BROAD:
            break
        handler = handlers.get(kind)
        if handler is not None and handler is not handle_resilience_error:
            return handler
    return None
