"""The demo's client calls: plain httpx, protected or not by the caller.

An answer whose status is worth retrying (429 and 5xx, as decided by
:func:`pyresilience.contrib.http.retry_on_status`) raises
:class:`UpstreamStatusError`, so retries, the breaker and the fallback see
it as a failure; a 429 raises its subclass :class:`ThrottledError`, which
the breaker is told to ignore (a service shedding load is not broken). The
last good quote is remembered and served, marked stale, as the fallback.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from ..contrib.http import retry_on_status

__all__ = [
    "QuoteBook",
    "ThrottledError",
    "UpstreamStatusError",
    "aget_quote",
    "get_quote",
]

#: Statuses that say "try again": throttling and server-side failures.
is_retryable = retry_on_status(429, 500, 502, 503, 504)


class UpstreamStatusError(httpx.HTTPStatusError):
    """The service answered with a status worth retrying.

    ``.response`` carries the answer, so ``retry_after_delay`` can read its
    ``Retry-After`` header.
    """


class ThrottledError(UpstreamStatusError):
    """The service answered 429: too many requests, come back later."""


def check_status(response: httpx.Response) -> httpx.Response:
    """Return ``response`` if it succeeded; raise for an error status.

    Raises:
        ThrottledError: For 429.
        UpstreamStatusError: For another retryable status (5xx).
        httpx.HTTPStatusError: For any other 4xx or 5xx (not retried).
    """
    if is_retryable(response):
        kind = ThrottledError if response.status_code == 429 else UpstreamStatusError
        raise kind(
            f"{response.status_code} from {response.request.url}",
            request=response.request,
            response=response,
        )
    return response.raise_for_status()


def get_quote(client: httpx.Client) -> dict[str, Any]:
    """``GET /quote`` and return its JSON.

    Raises:
        UpstreamStatusError: For 429 and 5xx (see :func:`check_status`).
        httpx.TransportError: When the service cannot be reached.
    """
    response = check_status(client.get("/quote"))
    body: dict[str, Any] = response.json()
    return body


async def aget_quote(client: httpx.AsyncClient) -> dict[str, Any]:
    """Async twin of :func:`get_quote`."""
    response = check_status(await client.get("/quote"))
    body: dict[str, Any] = response.json()
    return body


class QuoteBook:
    """Remembers the last good quote, to serve stale when the service fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, Any] = {"symbol": "PYR", "price": None}

    def remember(self, quote: dict[str, Any]) -> dict[str, Any]:
        """Keep ``quote`` as the last good one and return it unchanged."""
        with self._lock:
            self._last = quote
        return quote

    def stale(self, error: BaseException) -> dict[str, Any]:
        """Fallback handler: the last good quote, marked ``"stale": true``."""
        with self._lock:
            last = dict(self._last)
        return {**last, "stale": True, "reason": type(error).__name__}
