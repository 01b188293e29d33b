"""``ResilienceMiddleware``: resilience errors escaping views become responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from ._responses import error_response
from .conf import conf

__all__ = ["ResilienceMiddleware"]


class ResilienceMiddleware:
    """Answer resilience errors raised by views with 503, 429 or 504.

    An open breaker, a full bulkhead or a shut-down registry gives 503, the
    rate limiter 429 (both with ``Retry-After`` when the wait is known), a
    timeout 504. The body is JSON when the client accepts it and plain text
    otherwise. Other exceptions, and every error when
    ``RESILIENCE["HTTP_ERRORS"]`` is False, are left to Django.

    Django offers exceptions to ``process_exception`` from the bottom of
    ``MIDDLEWARE`` up, so put this middleware near the top: a handler of
    your own further down sees the error first and wins.

    Works in sync (WSGI) and async (ASGI) stacks without a thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponse]
        | Callable[[HttpRequest], Awaitable[HttpResponse]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        """Async entry point, used when the next handler is async."""
        return await self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        """Return the mapped response, or ``None`` to let Django handle it."""
        if not conf.HTTP_ERRORS:
            return None
        return error_response(request, exception)
