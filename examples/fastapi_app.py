"""A FastAPI app that calls a flaky upstream through named resilience policies.

Run it from the repository root::

    UPSTREAM_URL=http://127.0.0.1:8001 uvicorn examples.fastapi_app:app --port 8002
    # several worker processes sharing breaker and limiter state through Redis:
    RESILIENCE_STORE=redis://127.0.0.1:6379/0 \\
        uvicorn examples.fastapi_app:app --port 8002 --workers 2

Routes:

- ``GET /health``: always ``{"status": "ok"}``.
- ``GET /quote``: the upstream's ``/quote`` through policy ``"upstream"``
  (retry, a 1 s timeout per attempt, a circuit breaker). An open breaker
  answers 503 with ``Retry-After``, a timeout 504, an upstream that keeps
  failing 502.
- ``GET /limited``: guarded at the door by policy ``"inbound"`` (5 requests
  a second, 4 at once); over the limit it answers 429 with ``Retry-After``.
- ``GET /status``: each policy's breaker state, limiter and bulkhead use.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from pyresilience import ResilienceRegistry
from pyresilience_fastapi import (
    PolicyHandle,
    get_registry,
    guard,
    resilience,
    resilience_lifespan,
)

#: Both policies in the loader's plain-data format, durations in seconds.
POLICIES: dict[str, Any] = {
    "upstream": {
        "retry": {"max_attempts": 3, "delay": 0.05, "max_delay": 0.2},
        "timeout": {"seconds": 1.0},
        "circuit_breaker": {
            "failure_threshold": 3,
            "recovery_timeout": 2.0,
            "success_threshold": 1,
        },
    },
    "inbound": {
        "rate_limiter": {"max_calls": 5, "period": 1.0},
        "bulkhead": {"max_concurrent": 4},
    },
}

router = APIRouter()
Upstream = Annotated[PolicyHandle, Depends(resilience("upstream"))]
Registry = Annotated[ResilienceRegistry, Depends(get_registry)]


def create_app(
    *,
    upstream_url: str | None = None,
    store: str | None = None,
    registry: ResilienceRegistry | None = None,
) -> FastAPI:
    """Build the app: a fresh registry, an HTTP client, the routes.

    Args:
        upstream_url: Base URL of the upstream; default ``$UPSTREAM_URL`` or
            ``http://127.0.0.1:8001``.
        store: State store URL; default ``$RESILIENCE_STORE`` or memory.
        registry: A ready registry to use instead (tests pass one with a
            fake clock); it must define ``"upstream"`` and ``"inbound"``.
    """
    base_url = upstream_url or os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8001")
    if registry is None:
        store = store or os.environ.get("RESILIENCE_STORE") or None
        registry = ResilienceRegistry.from_mapping(
            {"policies": POLICIES, "store": store}
        )

    @asynccontextmanager
    async def upstream_client(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # Its own timeout sits above the policy's 1 s, which acts first.
        async with httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=1.5,
            headers={"X-Demo-Client": "fastapi"},
        ) as client:
            yield {"upstream_client": client}

    app = FastAPI(
        title="pyresilience FastAPI example",
        lifespan=resilience_lifespan(registry, lifespan=upstream_client),
    )
    app.include_router(router)
    app.add_exception_handler(httpx.HTTPError, upstream_failed)
    return app


async def fetch_quote(client: httpx.AsyncClient) -> Any:
    """GET the upstream quote; an error status raises so it can be retried."""
    response = await client.get("/quote")
    response.raise_for_status()
    return response.json()


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers without touching the upstream."""
    return {"status": "ok"}


@router.get("/quote")
async def quote(request: Request, upstream: Upstream) -> Any:
    """The upstream's quote, through policy ``"upstream"``."""
    return await upstream.call(fetch_quote, request.state.upstream_client)


@router.get("/limited", dependencies=[Depends(guard("inbound"))])
async def limited() -> dict[str, bool]:
    """A cheap endpoint that policy ``"inbound"`` admits or turns away."""
    return {"ok": True}


@router.get("/status")
async def status(registry: Registry) -> dict[str, Any]:
    """Breaker state, limiter and bulkhead use of every policy."""
    report = {}
    for name, policy in registry.status().items():
        breaker = policy.breaker
        report[name] = {
            "state": None if breaker is None else breaker.state.value,
            "breaker": _asdict(breaker),
            "rate_limiter": _asdict(policy.rate_limiter),
            "bulkhead": _asdict(policy.bulkhead),
        }
    return report


async def upstream_failed(request: Request, exc: Exception) -> JSONResponse:
    """Retries are spent and the upstream still fails: a bad gateway."""
    return JSONResponse(
        {"detail": f"upstream error: {exc}", "policy": "upstream"}, status_code=502
    )


def _asdict(snapshot: Any) -> dict[str, Any] | None:
    return None if snapshot is None else asdict(snapshot)


app = create_app()
