"""Guarded views under concurrent requests: threads and asyncio tasks."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.http import HttpRequest, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path

from pyresilience.testing import FakeClock
from pyresilience_django import get_registry, resilient

SETTING = {"POLICIES": {"inbound": {"bulkhead": {"max_concurrent": 2}}}}

#: Set by each test: what the views wait for before they answer.
gate: dict[str, threading.Event] = {}
lock = threading.Lock()
counts = {"running": 0, "peak": 0}


def _enter() -> None:
    with lock:
        counts["running"] += 1
        counts["peak"] = max(counts["peak"], counts["running"])


def _leave() -> None:
    with lock:
        counts["running"] -= 1


@resilient("inbound")
def sync_view(request: HttpRequest) -> JsonResponse:
    """Holds its slot until the test opens the gate."""
    _enter()
    gate["release"].wait(5)
    _leave()
    return JsonResponse({"ok": True})


@resilient("inbound")
async def async_view(request: HttpRequest) -> JsonResponse:
    """Async twin of :func:`sync_view`, on the same policy."""
    _enter()
    await asyncio.to_thread(gate["release"].wait, 5)
    _leave()
    return JsonResponse({"ok": True})


urlpatterns = [path("sync", sync_view), path("async", async_view)]


@pytest.fixture(autouse=True)
def setting(clock: FakeClock) -> Iterator[None]:
    """SETTING, this URLconf, a closed gate and fresh counts for every test."""
    gate["release"] = threading.Event()
    counts.update(running=0, peak=0)
    with override_settings(RESILIENCE=SETTING, ROOT_URLCONF=__name__):
        yield
    gate["release"].set()


def in_flight() -> int:
    bulkhead = get_registry().status()["inbound"].bulkhead
    assert bulkhead is not None
    return bulkhead.in_flight


def test_threads_never_exceed_the_bulkhead() -> None:
    """Sixteen threads on sync and async views: two run, fourteen get 503."""
    rejected = threading.Semaphore(0)

    def hit(url: str) -> int:
        status = Client().get(url).status_code
        if status == 503:
            rejected.release()
        return status

    urls = ["/sync", "/async"] * 8
    with ThreadPoolExecutor(len(urls)) as pool:
        futures = [pool.submit(hit, url) for url in urls]
        for _ in range(len(urls) - 2):
            assert rejected.acquire(timeout=5)
        gate["release"].set()
        statuses = Counter(future.result(timeout=5) for future in futures)

    assert statuses == {200: 2, 503: 14}
    assert counts["peak"] == 2
    assert in_flight() == 0


async def test_tasks_never_exceed_the_bulkhead() -> None:
    """Twelve async requests at once: two run, ten get 503, slots come back."""
    client = AsyncClient()
    requests = [asyncio.create_task(client.get("/async")) for _ in range(12)]
    early = []
    for done in asyncio.as_completed(requests, timeout=5):
        early.append((await done).status_code)
        if len(early) == 10:
            break
    gate["release"].set()
    responses = await asyncio.wait_for(asyncio.gather(*requests), 5)

    assert early == [503] * 10
    assert Counter(r.status_code for r in responses) == {200: 2, 503: 10}
    assert counts["peak"] == 2
    assert in_flight() == 0
