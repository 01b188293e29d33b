"""Inbound guards under concurrent requests from many threads."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from pyresilience_flask import EXTENSION_KEY, Resilience

MakeApp = Callable[..., Flask]


def test_threads_never_exceed_the_guards_bulkhead(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Sync and async views share two slots; every other request gets 503."""
    policies = {"inbound": {"bulkhead": {"max_concurrent": 2}}}
    app = make_app(RESILIENCE_POLICIES=policies)
    release = threading.Event()
    lock = threading.Lock()
    running = peak = 0

    def enter() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)

    def leave() -> None:
        nonlocal running
        with lock:
            running -= 1

    @app.get("/sync")
    @resilience.guard("inbound")
    def sync_view() -> str:
        enter()
        release.wait(5)
        leave()
        return "ok"

    @app.get("/async")
    @resilience.guard("inbound")
    async def async_view() -> str:
        enter()
        await asyncio.to_thread(release.wait, 5)
        leave()
        return "ok"

    rejected = threading.Semaphore(0)

    def hit(path: str) -> int:
        status = app.test_client().get(path).status_code
        if status == 503:
            rejected.release()
        return status

    paths = ["/sync", "/async"] * 8
    with ThreadPoolExecutor(len(paths)) as pool:
        futures = [pool.submit(hit, path) for path in paths]
        for _ in range(len(paths) - 2):  # every request but the admitted two
            assert rejected.acquire(timeout=5)
        release.set()
        statuses = [future.result(timeout=5) for future in futures]

    bulkhead = app.extensions[EXTENSION_KEY].status()["inbound"].bulkhead
    assert Counter(statuses) == {200: 2, 503: 14}
    assert peak == 2
    assert bulkhead.in_flight == 0
