"""ResilienceMiddleware: resilience errors escaping views become 503/429/504."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    ResilienceTimeoutError,
    ShutdownError,
    UnknownPolicyError,
)
from pyresilience_django.middleware import ResilienceMiddleware

MIDDLEWARE = "pyresilience_django.middleware.ResilienceMiddleware"


class OwnHandler:
    """A project's own middleware that answers circuit-open errors itself."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> Any:
        if isinstance(exc, CircuitOpenError):
            return HttpResponse("handled by the project", status=418)
        return None


def map_error(error: Exception, accept: str | None = "application/json") -> Any:
    headers = {"HTTP_ACCEPT": accept} if accept is not None else {}
    request = RequestFactory().get("/", **headers)
    middleware = ResilienceMiddleware(lambda request: HttpResponse())
    return middleware.process_exception(request, error)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (CircuitOpenError("open", policy="p", retry_after=2.2), 503, "circuit_open"),
        (BulkheadFullError("full", policy="p", retry_after=1.0), 503, "bulkhead_full"),
        (ShutdownError("closing", policy="p"), 503, "shutting_down"),
        (
            RateLimitExceededError("slow", policy="p", retry_after=0.1),
            429,
            "rate_limited",
        ),
        (ResilienceTimeoutError("late", policy="p", seconds=1.0), 504, "timeout"),
    ],
)
def test_each_error_maps_to_its_status(
    error: Exception, status: int, code: str
) -> None:
    """Each resilience error gets its status and a JSON body naming it."""
    response = map_error(error)

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"] == code
    assert json.loads(response.content)["policy"] == "p"


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    """Retry-After is an integer, never less than the real wait."""
    assert map_error(CircuitOpenError("x", retry_after=2.2))["Retry-After"] == "3"
    assert (
        map_error(RateLimitExceededError("x", retry_after=0.01))["Retry-After"] == "1"
    )


def test_no_retry_after_when_the_wait_is_unknown() -> None:
    """Without a known wait there is no Retry-After header, and none on 504."""
    assert not map_error(BulkheadFullError("x")).has_header("Retry-After")
    timeout = ResilienceTimeoutError("x", seconds=1.0)
    assert not map_error(timeout).has_header("Retry-After")


@pytest.mark.parametrize(
    ("accept", "wants_json"),
    [
        (None, True),
        ("*/*", True),
        ("application/json", True),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("text/plain", False),
        ("text/html, application/json;q=0.9", True),
    ],
)
def test_json_only_when_the_client_accepts_it(
    accept: str | None, wants_json: bool
) -> None:
    """API clients get JSON; browsers and plain-text clients get text."""
    response = map_error(CircuitOpenError("breaker open", retry_after=1), accept)

    content_type = response["Content-Type"]
    assert content_type.startswith("application/json" if wants_json else "text/plain")
    if not wants_json:
        assert response.content.decode() == "Service Unavailable: breaker open\n"


def test_other_errors_are_left_to_django() -> None:
    """Non-resilience errors and unknown-policy errors are not mapped."""
    assert map_error(ValueError("bug")) is None
    assert map_error(UnknownPolicyError("no such policy")) is None


def test_view_error_becomes_a_response_through_the_stack() -> None:
    """A CircuitOpenError raised in a view reaches the client as 503."""
    response = Client().get("/open", HTTP_ACCEPT="application/json")

    assert response.status_code == 503
    assert response["Retry-After"] == "3"
    assert response.json()["detail"] == "breaker 'payment-api' is open"


async def test_async_view_error_becomes_a_response() -> None:
    """In an async stack the rate-limit error of an async view becomes 429."""
    response = await AsyncClient().get("/alimited")

    assert response.status_code == 429
    assert response["Retry-After"] == "1"


def test_http_errors_false_turns_the_mapping_off() -> None:
    """With HTTP_ERRORS False the error reaches Django's 500 handling."""
    client = Client(raise_request_exception=False)

    with override_settings(RESILIENCE={"HTTP_ERRORS": False}):
        response = client.get("/open")

    assert response.status_code == 500


def test_plain_errors_still_reach_django() -> None:
    """A bug in a view is still a 500."""
    assert Client(raise_request_exception=False).get("/crash").status_code == 500


def test_projects_own_handler_wins() -> None:
    """A project's handler further down MIDDLEWARE answers first."""
    own = f"{__name__}.OwnHandler"

    with override_settings(MIDDLEWARE=[MIDDLEWARE, own]):
        response = Client().get("/open")

    assert response.status_code == 418


async def test_middleware_is_async_capable() -> None:
    """Given an async next handler, the middleware marks itself a coroutine function."""

    async def get_response(request: HttpRequest) -> HttpResponse:
        return HttpResponse("async")

    middleware = ResilienceMiddleware(get_response)
    response = await middleware(RequestFactory().get("/"))

    assert iscoroutinefunction(middleware)
    assert response.content == b"async"


def test_middleware_adds_little_to_a_request() -> None:
    """Passing a request through costs well under a tenth of a millisecond."""
    middleware = ResilienceMiddleware(lambda request: HttpResponse())
    request = RequestFactory().get("/")
    started = time.perf_counter()
    for _ in range(1000):
        middleware(request)
    per_call = (time.perf_counter() - started) / 1000

    assert per_call < 1e-4
