"""Inbound protection: @resilience.guard admits or turns requests away."""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, abort

from pyresilience.testing import FakeClock
from pyresilience_flask import EXTENSION_KEY, Resilience

MakeApp = Callable[..., Flask]


def test_rate_limited_request_never_runs_the_view(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Over the limit the guard answers 429 and the view does not run."""
    policies = {"inbound": {"rate_limiter": {"max_calls": 2, "period": 1}}}
    app = make_app(RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=FakeClock())
    runs = []

    @app.get("/")
    @resilience.guard("inbound")
    def view() -> dict[str, bool]:
        runs.append(1)
        return {"ok": True}

    client = app.test_client()
    statuses = [client.get("/").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert len(runs) == 2


def test_rate_limit_frees_up_after_the_period(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Once the period has passed on the app's clock, requests get in again."""
    clock = FakeClock()
    policies = {"inbound": {"rate_limiter": {"max_calls": 1, "period": 1}}}
    app = make_app(RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=clock)

    @app.get("/")
    @resilience.guard("inbound")
    def view() -> str:
        return "in"

    client = app.test_client()
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]

    clock.advance(1.01)

    assert client.get("/").status_code == 200


def test_failing_view_opens_the_breaker_for_later_requests(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """Exceptions from a guarded view count; once open, the view is skipped."""
    policies = {"inbound": {"circuit_breaker": {"failure_threshold": 2}}}
    app = make_app(RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=FakeClock())
    runs = []

    @app.get("/")
    @resilience.guard("inbound")
    def view() -> str:
        runs.append(1)
        raise ConnectionError("database gone")

    client = app.test_client()
    statuses = [client.get("/").status_code for _ in range(3)]

    assert statuses == [500, 500, 503]
    assert len(runs) == 2


def test_abort_in_a_guarded_view_is_not_a_failure(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """abort(404) from a guarded view never counts toward opening the breaker."""
    policies = {"inbound": {"circuit_breaker": {"failure_threshold": 1}}}
    app = make_app(RESILIENCE_POLICIES=policies)

    @app.get("/<int:item>")
    @resilience.guard("inbound")
    def view(item: int) -> str:
        abort(404)

    client = app.test_client()

    assert [client.get(f"/{n}").status_code for n in range(3)] == [404] * 3
    status = app.extensions[EXTENSION_KEY].policy("inbound").status()
    assert status.breaker is not None
    assert status.breaker.state.value == "closed"


def test_guard_holds_a_bulkhead_slot_while_the_view_runs(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A second request while the only slot is in use is turned away with 503."""
    policies = {"inbound": {"bulkhead": {"max_concurrent": 1}}}
    app = make_app(RESILIENCE_POLICIES=policies)
    entered, release = threading.Event(), threading.Event()

    @app.get("/slow")
    @resilience.guard("inbound")
    def slow() -> str:
        entered.set()
        release.wait(5)
        return "slow"

    @app.get("/fast")
    @resilience.guard("inbound")
    def fast() -> str:
        return "fast"

    results: list[int] = []
    holder = threading.Thread(
        target=lambda: results.append(app.test_client().get("/slow").status_code)
    )
    holder.start()
    try:
        assert entered.wait(5)
        busy = app.test_client().get("/fast")
    finally:
        release.set()
        holder.join(5)

    assert busy.status_code == 503
    assert results == [200]
    assert app.test_client().get("/fast").status_code == 200


def test_async_and_sync_views_share_the_guard(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A guarded async view and a guarded sync view draw on one rate limit."""
    policies = {"inbound": {"rate_limiter": {"max_calls": 2, "period": 1}}}
    app = make_app(RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=FakeClock())

    @app.get("/sync")
    @resilience.guard("inbound")
    def sync_view() -> str:
        return "sync"

    @app.get("/async")
    @resilience.guard("inbound")
    async def async_view() -> str:
        return "async"

    client = app.test_client()

    assert client.get("/async").text == "async"
    assert client.get("/sync").text == "sync"
    assert client.get("/async").status_code == 429
