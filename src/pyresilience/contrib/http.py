"""Retry helpers for HTTP clients (httpx, requests, aiohttp, ...).

Both work on any object shaped like a response (``status_code`` or
``status``, and ``headers``) and on exceptions that carry one (``response``)
or a ``retry_after`` attribute.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from typing import Any

__all__ = ["parse_retry_after", "retry_after_delay", "retry_on_status"]


def retry_on_status(*codes: int) -> Callable[[Any], bool]:
    """A ``retry_on_result`` predicate: retry responses with these status codes.

    Example: ``RetryConfig(retry_on_result=retry_on_status(429, 502, 503))``.
    """
    if not codes:
        raise ValueError("retry_on_status() needs at least one status code")
    for code in codes:
        valid: object = type(code) is int and 100 <= code <= 599
        if not valid:
            raise ValueError(f"HTTP status codes are integers 100-599, got {code!r}")
    wanted = frozenset(codes)

    def should_retry(response: Any) -> bool:
        return _status_of(response) in wanted

    should_retry.__qualname__ = f"retry_on_status{tuple(sorted(wanted))}"
    return should_retry


def retry_after_delay(
    max_wait: float = 60.0, *, now: Callable[[], float] = time.time
) -> Callable[[int, Any], float | None]:
    """A ``delay_func`` that sleeps as long as the server's ``Retry-After`` asks.

    Reads the header from a response (when retrying on results) or from an
    exception's ``response``, or an exception's numeric ``retry_after``.
    Accepts delta-seconds and HTTP dates. Waits longer than ``max_wait`` are
    cut to ``max_wait``; with no usable hint it returns ``None`` so the
    normal back-off applies.
    """
    if not max_wait >= 0:
        raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait!r}")

    def delay(attempt: int, trigger: Any) -> float | None:
        seconds = _hint_of(trigger, now)
        if seconds is None:
            return None
        return min(max(seconds, 0.0), max_wait)

    return delay


def parse_retry_after(
    value: object, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds from a ``Retry-After`` value (delta-seconds or HTTP date)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        return moment.timestamp() - now()
    return seconds if math.isfinite(seconds) else None


def _status_of(response: Any) -> int | None:
    status = getattr(response, "status_code", None)
    if status is None:
        status = getattr(response, "status", None)
    return status if isinstance(status, int) else None


def _hint_of(trigger: Any, now: Callable[[], float]) -> float | None:
    direct = getattr(trigger, "retry_after", None)
    if direct is not None:
        return parse_retry_after(direct, now)
    response = (
        getattr(trigger, "response", None)
        if isinstance(trigger, BaseException)
        else trigger
    )
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        value = headers.get("Retry-After")
    except Exception:
        return None
    return parse_retry_after(value, now)
