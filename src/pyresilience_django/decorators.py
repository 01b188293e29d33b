"""``@resilient("name")`` for plain functions and for views, sync and async."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest

from . import _calls, _runtime
from ._answers import NEUTRAL

__all__ = ["resilient"]

F = TypeVar("F", bound=Callable[..., Any])


def resilient(name: str) -> Callable[[F], F]:
    """Protect a function or a view with the policy ``name`` of the settings.

    The policy is looked up when the function is called, not when it is
    decorated, so decorating at import time is fine and
    ``override_settings(RESILIENCE=...)`` takes effect at once. Sync and
    async callers of one name share its breaker, rate limiter and bulkhead;
    an async function stays a coroutine function.

    **Plain functions** run through the whole policy: retry, timeout,
    breaker, rate limiter, bulkhead, fallback and cache.

    **Views** (called with an ``HttpRequest`` first, or a class-based view's
    method after ``self``) are guarded instead: the breaker, the rate
    limiter and the bulkhead decide whether the request may run at all, and
    the view's exceptions are reported to the breaker. A rejected request
    never reaches the view; ``ResilienceMiddleware`` turns the rejection
    into a 503 or 429. A view is never retried or timed out, since it may
    have side effects and has already consumed the request.

    ``Http404``, ``PermissionDenied`` and the errors Django answers with a
    400 (``BadRequest``, ``SuspiciousOperation``) are never retried and never
    count as failures.

    Args:
        name: A key of ``RESILIENCE["POLICIES"]``, or any name when
            ``RESILIENCE["DEFAULT"]`` is set.

    Raises:
        TypeError: ``name`` is not a string (for instance ``@resilient``
            without parentheses).
        ValueError: ``name`` is empty.

    Example::

        @resilient("payment-api")
        def charge(amount): ...

        @resilient("inbound")
        async def search(request): ...
    """
    if not isinstance(name, str):
        raise TypeError(
            f"resilient() takes a policy name, got {name!r}; "
            'write @resilient("payment-api")'
        )
    if not name.strip():
        raise ValueError("resilient() needs a non-empty policy name, got ''")

    def decorate(fn: F) -> F:
        if iscoroutinefunction(fn):
            return _decorate_async(name, fn)  # type: ignore[return-value]
        return _decorate_sync(name, fn)  # type: ignore[return-value]

    return decorate


def _decorate_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    shielded = _calls.shield(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and (isinstance(args[0], HttpRequest) or _is_view_call(args)):
            # Inline rather than a helper: this runs on every request.
            neutral: Exception
            with _runtime.policy(name).guard():
                try:
                    return fn(*args, **kwargs)
                except NEUTRAL as error:
                    neutral = error  # the request ran: a success, not an error
            raise neutral
        return _calls.call(name, shielded, args, kwargs)

    return wrapper


def _decorate_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args and (isinstance(args[0], HttpRequest) or _is_view_call(args)):
            neutral: Exception
            async with _runtime.policy(name).aguard():
                try:
                    return await fn(*args, **kwargs)
                except NEUTRAL as error:
                    neutral = error
            raise neutral
        return await _calls.acall(name, fn, args, kwargs)

    return wrapper


def _is_view_call(args: tuple[Any, ...]) -> bool:
    """True for ``view(request, ...)`` and ``View.method(self, request, ...)``."""
    if not args:
        return False
    if _is_request(args[0]):
        return True
    return len(args) > 1 and _is_request(args[1]) and _is_view(args[0])


def _is_request(value: object) -> bool:
    # Django REST framework's Request wraps an HttpRequest without being one.
    return isinstance(value, HttpRequest) or isinstance(
        getattr(value, "_request", None), HttpRequest
    )


def _is_view(value: object) -> bool:
    from django.views import View

    return isinstance(value, View)
