"""The example's views, sync and async.

Resilience errors are not handled here: ``ResilienceMiddleware`` turns an
open breaker into 503, the rate limiter into 429 and a timeout into 504.
"""

import asyncio
import time

import httpx
from django.http import HttpRequest, JsonResponse

from pyresilience_django import resilient

from .upstream import afetch_quote, fetch_quote

MAX_HOLD = 5.0


def health(request: HttpRequest) -> JsonResponse:
    """Liveness: answers without touching the upstream."""
    return JsonResponse({"status": "ok"})


def quote(request: HttpRequest) -> JsonResponse:
    """The upstream's quote through policy ``"upstream"``; 502 once retries fail."""
    try:
        return JsonResponse(fetch_quote())
    except httpx.HTTPError as exc:
        return _bad_gateway(exc)


async def aquote(request: HttpRequest) -> JsonResponse:
    """Async twin of :func:`quote`."""
    try:
        return JsonResponse(await afetch_quote())
    except httpx.HTTPError as exc:
        return _bad_gateway(exc)


@resilient("inbound")
def limited(request: HttpRequest) -> JsonResponse:
    """Admitted by policy ``"inbound"``; ``?hold=0.5`` keeps its slot a while."""
    time.sleep(_hold(request))
    return JsonResponse({"ok": True})


@resilient("inbound")
async def alimited(request: HttpRequest) -> JsonResponse:
    """Async twin of :func:`limited`."""
    await asyncio.sleep(_hold(request))
    return JsonResponse({"ok": True})


def _hold(request: HttpRequest) -> float:
    try:
        seconds = float(request.GET.get("hold", 0))
    except ValueError:
        return 0.0
    return min(max(seconds, 0.0), MAX_HOLD)


def _bad_gateway(exc: httpx.HTTPError) -> JsonResponse:
    return JsonResponse({"error": "upstream_error", "detail": str(exc)}, status=502)
