"""Mapping resilience errors to 503 / 429 / 504 responses, and opting out."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from flask import Blueprint, Flask

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    RejectedError,
    ResilienceError,
    ResilienceTimeoutError,
)
from pyresilience.testing import FakeClock
from pyresilience_flask import Resilience

MakeApp = Callable[..., Flask]

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def boom() -> None:
    raise ConnectionError("down")


@pytest.fixture
def breaker_app(make_app: MakeApp, resilience: Resilience) -> Callable[..., Flask]:
    """An app whose breaker opens after one failure and stays open for 30 s."""

    def build(**config: object) -> Flask:
        policies = {
            "dep": {"circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 30}}
        }
        app = make_app(
            RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=FakeClock(), **config
        )

        @app.get("/")
        def view() -> str:
            return resilience.call("dep", boom)

        return app

    return build


def test_open_breaker_gives_503_json_with_retry_after(
    breaker_app: Callable[..., Flask],
) -> None:
    """An open breaker answers 503 with JSON naming the policy and Retry-After."""
    client = breaker_app().test_client()
    assert client.get("/").status_code == 500

    response = client.get("/", headers={"Accept": "application/json"})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json is not None
    assert response.json["error"] == "circuit_open"
    assert response.json["policy"] == "dep"
    assert response.json["retry_after"] == 30  # whole seconds, as in the header


def test_any_client_without_an_html_preference_gets_json(
    breaker_app: Callable[..., Flask],
) -> None:
    """Accept */* (curl, httpx) gets JSON, not an HTML page."""
    client = breaker_app().test_client()
    client.get("/")

    response = client.get("/", headers={"Accept": "*/*"})

    assert response.status_code == 503
    assert response.mimetype == "application/json"


def test_a_browser_gets_flasks_html_error_page(
    breaker_app: Callable[..., Flask],
) -> None:
    """A client that prefers HTML gets Werkzeug's usual page, with Retry-After."""
    client = breaker_app().test_client()
    client.get("/")

    response = client.get("/", headers={"Accept": BROWSER})

    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert "Service Unavailable" in response.text
    assert "dep" in response.text
    assert response.headers["Retry-After"] == "30"


def test_rate_limit_gives_429_with_retry_after(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """An exhausted rate limiter answers 429 with Retry-After in whole seconds."""
    policies = {"dep": {"rate_limiter": {"max_calls": 1, "period": 2.5}}}
    app = make_app(RESILIENCE_POLICIES=policies, RESILIENCE_CLOCK=FakeClock())

    @app.get("/")
    def view() -> str:
        return resilience.call("dep", lambda: "ok")

    client = app.test_client()
    assert client.get("/").status_code == 200

    response = client.get("/")

    assert response.status_code == 429
    assert response.json is not None
    assert response.json["error"] == "rate_limited"
    assert response.headers["Retry-After"] == "3"


def test_full_bulkhead_gives_503(make_app: MakeApp, resilience: Resilience) -> None:
    """A request finding every bulkhead slot taken answers 503 with Retry-After."""
    app = make_app(RESILIENCE_POLICIES={"dep": {"bulkhead": {"max_concurrent": 1}}})
    entered, release = threading.Event(), threading.Event()

    def hold() -> str:
        entered.set()
        release.wait(5)
        return "held"

    @app.get("/hold")
    def hold_view() -> str:
        return resilience.call("dep", hold)

    @app.get("/")
    def view() -> str:
        return resilience.call("dep", lambda: "ok")

    holder = threading.Thread(target=app.test_client().get, args=("/hold",))
    holder.start()
    try:
        assert entered.wait(5)
        response = app.test_client().get("/")
    finally:
        release.set()
        holder.join(5)

    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "bulkhead_full"
    assert "Retry-After" in response.headers


def test_timeout_gives_504_without_retry_after(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A call that runs out of time answers 504 Gateway Timeout."""
    app = make_app(RESILIENCE_POLICIES={"dep": {"timeout": {"seconds": 0.05}}})
    release = threading.Event()

    @app.get("/")
    def view() -> str:
        return resilience.call("dep", release.wait, 5)

    try:
        response = app.test_client().get("/")
    finally:
        release.set()

    assert response.status_code == 504
    assert response.json is not None
    assert response.json["error"] == "timeout"
    assert "Retry-After" not in response.headers


def test_mapping_can_be_switched_off(breaker_app: Callable[..., Flask]) -> None:
    """With RESILIENCE_HTTP_ERRORS false an open breaker is an ordinary 500."""
    client = breaker_app(RESILIENCE_HTTP_ERRORS=False).test_client()
    client.get("/")

    response = client.get("/")

    assert response.status_code == 500


@pytest.mark.parametrize(
    "error_class", [CircuitOpenError, RejectedError, ResilienceError]
)
def test_app_handler_registered_before_init_app_wins(
    breaker_app: Callable[..., Flask], error_class: type[Exception]
) -> None:
    """The app's own handler for our errors (or a base of them) is used."""

    def own(app: Flask) -> None:
        app.register_error_handler(error_class, lambda exc: ("mine", 418))

    client = breaker_app(before_init=own).test_client()
    client.get("/")

    response = client.get("/")

    assert response.status_code == 418
    assert response.text == "mine"


@pytest.mark.parametrize("error_class", [CircuitOpenError, ResilienceError])
def test_app_handler_registered_after_init_app_wins(
    breaker_app: Callable[..., Flask], error_class: type[Exception]
) -> None:
    """A handler added after init_app replaces or outranks the mapping."""
    app = breaker_app()
    app.register_error_handler(error_class, lambda exc: ("mine", 418))
    client = app.test_client()
    client.get("/")

    assert client.get("/").status_code == 418


def test_app_status_handler_renders_the_page_and_keeps_retry_after(
    breaker_app: Callable[..., Flask],
) -> None:
    """An errorhandler(503) of the app renders the response; Retry-After stays."""
    app = breaker_app()
    app.register_error_handler(503, lambda exc: ("our 503 page", 503))
    client = app.test_client()
    client.get("/")

    response = client.get("/")

    assert response.status_code == 503
    assert response.text == "our 503 page"
    assert response.headers["Retry-After"] == "30"


def test_blueprint_handler_wins_for_its_views(
    make_app: MakeApp, resilience: Resilience
) -> None:
    """A blueprint's handler for timeouts answers for that blueprint's views."""
    bp = Blueprint("bp", __name__)
    bp.register_error_handler(ResilienceTimeoutError, lambda exc: ("bp says", 599))

    @bp.get("/slow")
    def slow() -> str:
        raise ResilienceTimeoutError("too slow", policy="dep", seconds=1.0)

    app = make_app()
    app.register_blueprint(bp)

    assert app.test_client().get("/slow").status_code == 599


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (CircuitOpenError("open", policy="p", retry_after=0.2), 503),
        (BulkheadFullError("full", policy="p"), 503),
        (RateLimitExceededError("slow down", policy="p", retry_after=7), 429),
        (ResilienceTimeoutError("late", policy="p", seconds=1), 504),
    ],
)
def test_errors_raised_anywhere_in_a_view_are_mapped(
    make_app: MakeApp, error: ResilienceError, status: int
) -> None:
    """The mapping covers our errors however they reach the view."""
    app = make_app()

    @app.get("/")
    def view() -> str:
        raise error

    response = app.test_client().get("/")

    assert response.status_code == status
    if status in (429, 503):
        expected = {0.2: "1", 7: "7", None: "1"}[error.retry_after]
        assert response.headers["Retry-After"] == expected
