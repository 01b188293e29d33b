"""Error mapping against the app's own handlers for built-in base classes."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from pyresilience import (
    CircuitOpenError,
    DeadlineExceededError,
    ResilienceError,
    ResilienceTimeoutError,
)

MakeApp = Callable[..., Flask]


def add_timeout_view(app: Flask) -> None:
    @app.get("/slow")
    def slow() -> str:
        raise ResilienceTimeoutError("upstream too slow", policy="pay")

    @app.get("/deadline")
    def deadline() -> str:
        raise DeadlineExceededError("out of time", policy="pay")


def test_app_handler_for_builtin_timeout_error_wins(make_app: MakeApp) -> None:
    """An app handling ``TimeoutError`` app-wide gets our timeouts too."""
    app = make_app()
    add_timeout_view(app)

    @app.errorhandler(TimeoutError)
    def timed_out(error: TimeoutError) -> tuple[str, int]:
        return f"ours: {type(error).__name__}", 503

    client = app.test_client()
    slow, deadline = client.get("/slow"), client.get("/deadline")

    assert (slow.status_code, slow.text) == (503, "ours: ResilienceTimeoutError")
    assert (deadline.status_code, deadline.text) == (
        503,
        "ours: DeadlineExceededError",
    )


def test_app_handler_for_oserror_registered_before_init_app_wins(
    make_app: MakeApp,
) -> None:
    """A handler for a built-in base set up before ``init_app`` still wins."""

    def handle_os_errors(app: Flask) -> None:
        @app.errorhandler(OSError)
        def os_error(error: OSError) -> tuple[str, int]:
            return "os error page", 502

    app = make_app(before_init=handle_os_errors)
    add_timeout_view(app)

    response = app.test_client().get("/slow")

    assert (response.status_code, response.text) == (502, "os error page")


def test_catch_all_exception_handler_does_not_get_the_original_error(
    make_app: MakeApp,
) -> None:
    """A catch-all that passes HTTP errors on leaves our 503 and JSON intact."""
    app = make_app()
    seen: list[str] = []

    @app.errorhandler(Exception)
    def catch_all(error: Exception) -> object:
        seen.append(type(error).__name__)
        if isinstance(error, ResilienceError):
            return "swallowed", 500
        return error  # Flask's advice: hand HTTP errors back unchanged

    @app.get("/")
    def view() -> str:
        raise CircuitOpenError("open", policy="pay", retry_after=2.5)

    response = app.test_client().get("/")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"
    assert response.json == {
        "error": "circuit_open",
        "message": "open",
        "policy": "pay",
        "retry_after": 3,
    }
    assert seen == ["ServiceUnavailable"]
