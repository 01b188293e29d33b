"""@resilient(name) on views: inbound protection through the test clients."""

from __future__ import annotations

from collections.abc import Iterator

import djapp_views
import pytest
from django.test import AsyncClient, Client, override_settings

from pyresilience import CircuitState
from pyresilience.testing import FakeClock
from pyresilience_django import get_registry

INBOUND = {
    "POLICIES": {
        "inbound": {
            "rate_limiter": {"max_calls": 3, "period": 1},
            "circuit_breaker": {
                "failure_threshold": 2,
                "recovery_timeout": 10,
                "success_threshold": 1,
            },
        }
    }
}


@pytest.fixture(autouse=True)
def inbound(clock: FakeClock) -> Iterator[FakeClock]:
    """Every test here runs under INBOUND on virtual time, with fresh counts."""
    djapp_views.RUNS.clear()
    with override_settings(RESILIENCE=INBOUND):
        yield clock


def test_admitted_request_runs_the_view() -> None:
    """Under the limit the view runs and answers normally."""
    response = Client().get("/guarded")

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert djapp_views.RUNS == {"guarded": 1}


def test_rate_limited_request_never_runs_the_view() -> None:
    """Over the limit the client gets 429 with Retry-After; the view did not run."""
    client = Client()
    statuses = [client.get("/guarded").status_code for _ in range(4)]

    response = client.get("/guarded")

    assert statuses == [200, 200, 200, 429]
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert response.json()["error"] == "rate_limited"
    assert djapp_views.RUNS == {"guarded": 3}


def test_rate_limit_window_passes_on_the_clock(inbound: FakeClock) -> None:
    """Once the period has passed on the clock, requests are admitted again."""
    client = Client()
    for _ in range(3):
        client.get("/guarded")
    assert client.get("/guarded").status_code == 429

    inbound.advance(1)

    assert client.get("/guarded").status_code == 200


def test_failing_view_opens_the_breaker() -> None:
    """View exceptions count as failures; then requests get 503 untouched."""
    client = Client(raise_request_exception=False)
    for _ in range(2):
        assert client.get("/guarded?fail=1").status_code == 500

    response = client.get("/guarded")

    assert response.status_code == 503
    assert response.json()["error"] == "circuit_open"
    assert response.json()["policy"] == "inbound"
    assert response["Retry-After"] == "10"
    assert djapp_views.RUNS == {"guarded": 2}


@pytest.mark.parametrize("query", ["missing=1", "forbidden=1"])
def test_404_and_403_never_open_the_breaker(query: str) -> None:
    """Http404 and PermissionDenied keep their status and count as successes."""
    client = Client()
    statuses = {client.get(f"/guarded?{query}").status_code for _ in range(3)}

    assert statuses in ({404}, {403})
    breaker = get_registry().status()["inbound"].breaker
    assert breaker.state is CircuitState.CLOSED


def test_404_keeps_its_rate_limit_permit() -> None:
    """A request that ran and raised Http404 still used a permit."""
    client = Client()
    for _ in range(3):
        assert client.get("/guarded?missing=1").status_code == 404

    assert client.get("/guarded").status_code == 429


def test_class_based_view_with_method_decorator() -> None:
    """method_decorator(resilient(...)) guards a class-based view."""
    client = Client()
    statuses = [client.get("/cbv").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert djapp_views.RUNS == {"GuardedView": 3}


def test_class_based_view_method_decorated_directly() -> None:
    """@resilient straight on a View method is treated as a view, not retried."""
    client = Client()
    statuses = [client.get("/cbv-method").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


async def test_async_view_through_the_async_client() -> None:
    """An async view is guarded too, and stays async."""
    client = AsyncClient()
    statuses = [(await client.get("/aguarded")).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    assert djapp_views.RUNS == {"aguarded": 3}


async def test_async_and_sync_views_share_the_policy() -> None:
    """Sync and async views under one name draw on one rate limit."""
    await AsyncClient().get("/aguarded")
    await AsyncClient().get("/aguarded")
    Client().get("/guarded")

    assert Client().get("/guarded").status_code == 429


async def test_failing_async_view_opens_the_breaker() -> None:
    """Async view failures count, and the next request gets 503."""
    client = AsyncClient(raise_request_exception=False)
    for _ in range(2):
        assert (await client.get("/aguarded?fail=1")).status_code == 500

    response = await client.get("/aguarded")

    assert response.status_code == 503
    assert djapp_views.RUNS == {"aguarded": 2}


async def test_async_404_is_not_a_failure() -> None:
    """Http404 from an async view keeps the breaker closed."""
    client = AsyncClient()
    for _ in range(3):
        assert (await client.get("/aguarded?missing=1")).status_code == 404

    breaker = get_registry().status()["inbound"].breaker
    assert breaker.state is CircuitState.CLOSED


def test_status_view_reports_every_policy() -> None:
    """The status view answers the breaker state and limiter use as JSON."""
    Client().get("/guarded")

    body = Client().get("/status").json()

    assert body["inbound"]["state"] == "closed"
    assert body["inbound"]["rate_limiter"] == {"used": 1, "max_calls": 3, "period": 1.0}


def test_status_view_refuses_writes() -> None:
    """POST to the status view is 405."""
    assert Client().post("/status").status_code == 405
