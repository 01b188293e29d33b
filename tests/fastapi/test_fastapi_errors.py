"""Error mapping: resilience errors become 503, 429 and 504 responses."""

from __future__ import annotations

from typing import Annotated

import pytest
from _fastapi_support import MakeApp
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from pyresilience import (
    BulkheadFullError,
    CircuitOpenError,
    RateLimitExceededError,
    ResilienceError,
    ResilienceRegistry,
    ResilienceTimeoutError,
    ShutdownError,
)
from pyresilience_fastapi import (
    PolicyHandle,
    error_response,
    install_error_handlers,
    resilience,
    resilience_exception_handler,
)
from pyresilience_fastapi._errors import retry_after_header


def app_raising(make_app: MakeApp, exc: Exception, **options: bool) -> FastAPI:
    app = make_app(**options)

    @app.get("/")
    async def endpoint() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "status", "retry_after"),
    [
        (CircuitOpenError("open", policy="pay", retry_after=2.2), 503, "3"),
        (BulkheadFullError("full", policy="pay", retry_after=None), 503, None),
        (RateLimitExceededError("slow down", policy="pay", retry_after=0.01), 429, "1"),
        (RateLimitExceededError("slow down", policy="pay", retry_after=4.0), 429, "4"),
        (ShutdownError("closing", policy="pay"), 503, None),
        (ResilienceTimeoutError("too slow", policy="pay", seconds=1.0), 504, None),
    ],
)
def test_errors_map_to_status_body_and_retry_after(
    make_app: MakeApp, exc: ResilienceError, status: int, retry_after: str | None
) -> None:
    """Each error gets its status, a FastAPI-style body and a rounded-up wait."""
    app = app_raising(make_app, exc)

    with TestClient(app) as client:
        response = client.get("/")

    assert response.status_code == status
    assert response.json() == {"detail": str(exc), "policy": "pay"}
    assert response.headers.get("Retry-After") == retry_after


def test_app_handler_for_the_same_error_wins(make_app: MakeApp) -> None:
    """An exception handler the app registered itself is left in place."""
    app = app_raising(make_app, CircuitOpenError("open", policy="pay"))

    @app.exception_handler(CircuitOpenError)
    async def own(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"mine": True}, status_code=418)

    with TestClient(app) as client:
        response = client.get("/")
    assert (response.status_code, response.json()) == (418, {"mine": True})


def test_app_handler_for_a_base_class_wins(make_app: MakeApp) -> None:
    """A handler for ``ResilienceError`` covers every subclass we would map."""
    app = app_raising(make_app, RateLimitExceededError("x", policy="pay"))

    @app.exception_handler(ResilienceError)
    async def own(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"mine": type(exc).__name__}, status_code=400)

    with TestClient(app) as client:
        response = client.get("/")
    assert response.json() == {"mine": "RateLimitExceededError"}


def test_http_errors_false_installs_nothing(make_app: MakeApp) -> None:
    """With the mapping switched off a rejection is an ordinary server error."""
    app = app_raising(
        make_app, CircuitOpenError("open", policy="pay"), http_errors=False
    )

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500
    assert CircuitOpenError not in app.exception_handlers


def test_handlers_installed_before_start_need_no_rebuild(make_app: MakeApp) -> None:
    """Installing at construction time keeps the first middleware stack."""
    app = app_raising(make_app, BulkheadFullError("full", policy="pay"))

    assert install_error_handlers(app) is True
    assert install_error_handlers(app) is False  # already there
    with TestClient(app) as client:
        stack = app.middleware_stack
        assert client.get("/").status_code == 503
    with TestClient(app) as client:
        assert client.get("/").status_code == 503
    assert app.middleware_stack is stack


def test_lifespan_rebuilds_the_stack_only_once(make_app: MakeApp) -> None:
    """Handlers added at the first startup persist; a restart changes nothing."""
    app = app_raising(make_app, BulkheadFullError("full", policy="pay"))

    with TestClient(app) as client:
        assert client.get("/").status_code == 503
        stack = app.middleware_stack
    with TestClient(app) as client:
        assert client.get("/").status_code == 503
    assert app.middleware_stack is stack


def test_install_error_handlers_needs_an_app() -> None:
    """Anything without exception handlers is refused with a clear message."""
    with pytest.raises(TypeError, match="needs a Starlette or FastAPI app"):
        install_error_handlers(object())


def test_websocket_rejection_closes_with_try_again_later(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """On a websocket the mapping closes the socket with code 1013."""
    app = make_app()

    @app.websocket("/ws")
    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        raise CircuitOpenError("open", policy="pay", retry_after=1.0)

    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert info.value.code == 1013
    assert info.value.reason == "open"


async def test_handler_re_raises_foreign_errors() -> None:
    """The handler only answers for resilience errors."""
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(KeyError):
        await resilience_exception_handler(request, KeyError("x"))


def test_error_response_of_an_unmapped_resilience_error_is_500() -> None:
    """A resilience error outside the table falls back to a plain 500."""
    response = error_response(ResilienceError("odd", policy="pay"))
    assert response.status_code == 500


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        (None, None),
        (float("nan"), None),
        (0.0, "0"),
        (0.2, "1"),
        (1.0, "1"),
        (59.01, "60"),
    ],
)
def test_retry_after_is_whole_seconds_rounded_up(
    seconds: float | None, header: str | None
) -> None:
    """Retry-After never promises a shorter wait than the policy reported."""
    assert retry_after_header(seconds) == header


def test_handle_calls_map_rejections_end_to_end(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A real open breaker behind a handle yields 503 with Retry-After."""
    from pyresilience import CircuitBreakerConfig, ResilienceConfig

    registry.register(
        "pay",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=7.5
            )
        ),
    )
    app = make_app()

    async def fail() -> None:
        raise ConnectionError("down")

    @app.get("/")
    async def endpoint(
        pay: Annotated[PolicyHandle, Depends(resilience("pay"))],
    ) -> None:
        await pay.call(fail)

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").status_code == 500
        response = client.get("/")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "8"
    assert response.json()["policy"] == "pay"
