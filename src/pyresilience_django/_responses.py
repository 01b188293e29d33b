"""Turn a resilience error into the HTTP response a client can act on."""

from __future__ import annotations

import math
from typing import cast

from django.http import HttpRequest, HttpResponse, JsonResponse

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    ResilienceError,
    ResilienceTimeoutError,
    ShutdownError,
)

__all__ = ["error_response"]

# (error type, status, machine-readable code, human title), first match wins.
_MAPPING: tuple[tuple[type[ResilienceError], int, str, str], ...] = (
    (CircuitOpenError, 503, "circuit_open", "Service Unavailable"),
    (BulkheadFullError, 503, "bulkhead_full", "Service Unavailable"),
    (ShutdownError, 503, "shutting_down", "Service Unavailable"),
    (RateLimitExceededError, 429, "rate_limited", "Too Many Requests"),
    (ResilienceTimeoutError, 504, "timeout", "Gateway Timeout"),
)


def error_response(request: HttpRequest, error: BaseException) -> HttpResponse | None:
    """Return the response for ``error``, or ``None`` if it is not ours to map.

    503 for an open breaker, a full bulkhead or a shut-down registry, 429
    for the rate limiter (each with ``Retry-After`` when the wait is known),
    504 for a timeout. JSON when the client accepts it, plain text otherwise.
    """
    match = next((row for row in _MAPPING if isinstance(error, row[0])), None)
    if match is None:
        return None
    _, status, code, title = match

    retry_after = _retry_after(cast(ResilienceError, error)) if status != 504 else None
    if _wants_json(request):
        payload = {
            "error": code,
            "detail": str(error),
            "policy": getattr(error, "policy", None),
            "retry_after": retry_after,
        }
        response: HttpResponse = JsonResponse(payload, status=status)
    else:
        response = HttpResponse(
            f"{title}: {error}\n",
            status=status,
            content_type="text/plain; charset=utf-8",
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _retry_after(error: ResilienceError) -> int | None:
    """Whole seconds, rounded up: HTTP has no fractional ``Retry-After``."""
    seconds = error.retry_after
    if seconds is None or math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(1, math.ceil(seconds))


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    if not accept:
        return True
    if not request.accepts("application/json"):
        return False
    # Browsers accept anything through */* but ask for HTML first.
    return "json" in accept or "text/html" not in accept
