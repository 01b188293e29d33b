"""Calls to the upstream service, each through policy ``"upstream"``."""

from typing import Any

import httpx
from django.conf import settings

from pyresilience_django import resilient

HEADERS = {"X-Demo-Client": "django"}

# One pool for the sync views. Its own timeout sits a little above the
# policy's 1 s per attempt, so a worker abandoned by a timeout ends soon.
http = httpx.Client(timeout=1.5, headers=HEADERS)


@resilient("upstream")
def fetch_quote() -> Any:
    """GET the upstream's quote; an error status raises so it is retried."""
    response = http.get(f"{settings.UPSTREAM_URL}/quote")
    response.raise_for_status()
    return response.json()


@resilient("upstream")
async def afetch_quote() -> Any:
    """Async twin of :func:`fetch_quote`, sharing its breaker."""
    # A client per call: under runserver each async view gets its own event
    # loop, and a pooled async client must not outlive its loop.
    async with httpx.AsyncClient(timeout=1.5, headers=HEADERS) as client:
        response = await client.get(f"{settings.UPSTREAM_URL}/quote")
    response.raise_for_status()
    return response.json()
