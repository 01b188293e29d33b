"""Django's 4xx answers under attack: bad requests, huge bodies, hang-ups."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.core.handlers.wsgi import WSGIRequest
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.test import Client, RequestFactory, override_settings
from django.urls import path

from pyresilience import CircuitState, RateLimitExceededError
from pyresilience.testing import FakeClock
from pyresilience_django import get_registry, resilient

ONE_STRIKE = {"failure_threshold": 1, "recovery_timeout": 30}
SETTING = {
    "POLICIES": {
        # Inbound: a single failure would close the site to everyone.
        "inbound": {"circuit_breaker": ONE_STRIKE},
        # Outbound: two calls per 100 s reach the upstream, no more.
        "metered": {"rate_limiter": {"max_calls": 2, "period": 100}},
        "retrying": {
            "retry": {"max_attempts": 3, "delay": 0, "jitter": False},
            "circuit_breaker": ONE_STRIKE,
        },
        "fallback": {"fallback": {"handler": {"call": "builtins.str"}}},
        "fallback_404": {
            "fallback": {
                "handler": {"call": "builtins.str"},
                "fallback_on": ["django.http.Http404"],
            }
        },
    }
}


@resilient("inbound")
def upload(request: HttpRequest) -> JsonResponse:
    """Reads the form; Django raises RequestDataTooBig for a huge body."""
    if request.GET.get("bad"):
        raise BadRequest("malformed")
    return JsonResponse({"fields": len(request.POST)})


urlpatterns = [path("upload", upload)]


@pytest.fixture(autouse=True)
def setting(clock: FakeClock) -> Iterator[None]:
    """Every test here runs under SETTING, on virtual time, with this URLconf."""
    with override_settings(
        RESILIENCE=SETTING, ROOT_URLCONF=__name__, DATA_UPLOAD_MAX_MEMORY_SIZE=64
    ):
        yield


def breaker_state(name: str) -> CircuitState:
    breaker = get_registry().status()[name].breaker
    assert breaker is not None
    return breaker.state


def test_an_oversized_body_does_not_close_the_view_to_everyone() -> None:
    """RequestDataTooBig is a 400 for that client, not a failure of the view."""
    client = Client()

    attack = client.post("/upload", {"junk": "x" * 1000})
    after = client.post("/upload", {"a": "1"})

    assert attack.status_code == 400
    assert breaker_state("inbound") is CircuitState.CLOSED
    assert after.status_code == 200


def test_a_bad_request_does_not_open_the_breaker() -> None:
    """A view raising BadRequest answers 400 and leaves the breaker closed."""
    client = Client()

    statuses = [client.get("/upload?bad=1").status_code for _ in range(3)]

    assert statuses == [400, 400, 400]
    assert breaker_state("inbound") is CircuitState.CLOSED
    assert client.get("/upload").status_code == 200


@pytest.mark.parametrize(
    "error", [BadRequest("bad"), SuspiciousOperation("odd"), Http404("gone")]
)
def test_answers_from_functions_are_not_retried_nor_counted(
    error: Exception,
) -> None:
    """A function raising one of Django's answers runs once, breaker closed."""
    runs: list[int] = []

    @resilient("retrying")
    def lookup() -> None:
        runs.append(1)
        raise error

    for _ in range(2):
        with pytest.raises(type(error)):
            lookup()

    assert runs == [1, 1]
    assert breaker_state("retrying") is CircuitState.CLOSED


def test_a_404_from_a_function_still_uses_its_rate_limit_permit() -> None:
    """Calls ending in Http404 reached the upstream, so they count for the limit."""
    runs: list[int] = []

    @resilient("metered")
    def fetch() -> None:
        runs.append(1)
        raise Http404("no such item upstream")

    for _ in range(2):
        with pytest.raises(Http404):
            fetch()
    with pytest.raises(RateLimitExceededError):
        fetch()

    assert runs == [1, 1]


async def test_a_403_from_an_async_function_still_uses_its_permit() -> None:
    """Async twin: PermissionDenied does not hand its permit back."""
    runs: list[int] = []

    @resilient("metered")
    async def fetch() -> None:
        runs.append(1)
        raise PermissionDenied("not yours")

    for _ in range(2):
        with pytest.raises(PermissionDenied):
            await fetch()
    with pytest.raises(RateLimitExceededError):
        await fetch()

    assert runs == [1, 1]


async def test_a_broad_fallback_does_not_swallow_answers() -> None:
    """With ``fallback_on=Exception`` a 404 still reaches the caller, sync or async."""

    @resilient("fallback")
    def find() -> str:
        raise Http404("gone")

    @resilient("fallback")
    async def afind() -> str:
        raise BadRequest("bad")

    with pytest.raises(Http404):
        find()
    with pytest.raises(BadRequest):
        await afind()


def test_a_fallback_that_names_http404_gets_it() -> None:
    """Listing Http404 in ``fallback_on`` yourself hands it to the fallback."""

    @resilient("fallback_404")
    def find() -> str:
        raise Http404("gone")

    assert find() == "gone"


class HungUpInput(io.RawIOBase):
    """A request body whose client disconnected: every read fails."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise ConnectionResetError("client went away mid-upload")


def test_a_client_hanging_up_mid_upload_does_not_open_the_breaker() -> None:
    """UnreadablePostError reaches Django (which logs it) but counts as no failure."""
    form = RequestFactory().post("/upload", {"a": "1"})
    request = WSGIRequest({**form.META, "wsgi.input": HungUpInput()})

    with pytest.raises(UnreadablePostError):
        upload(request)

    assert breaker_state("inbound") is CircuitState.CLOSED
    assert Client().post("/upload", {"a": "1"}).status_code == 200
