"""A Flask app that calls a flaky upstream through named resilience policies.

Run it from the repository root::

    UPSTREAM_URL=http://127.0.0.1:8001 flask --app examples.flask_app run --port 8003
    # or, several worker processes sharing state through Redis:
    RESILIENCE_STORE=redis://127.0.0.1:6379/0 \\
        gunicorn -w 2 -b 127.0.0.1:8003 examples.flask_app:app

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

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import httpx
from flask import Blueprint, Flask, current_app, jsonify

from pyresilience_flask import Resilience

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

resilience = Resilience()
bp = Blueprint("quotes", __name__)

# One connection pool for the process. Its own timeout sits a little above
# the policy's 1 s so a worker abandoned by a timed-out attempt ends soon.
http = httpx.Client(timeout=1.5, headers={"X-Demo-Client": "flask"})


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides settings (tests use it)."""
    app = Flask(__name__)
    app.config["UPSTREAM_URL"] = os.environ.get(
        "UPSTREAM_URL", "http://127.0.0.1:8001"
    ).rstrip("/")
    app.config["RESILIENCE_POLICIES"] = POLICIES
    app.config["RESILIENCE_STORE"] = os.environ.get("RESILIENCE_STORE") or None
    app.config.update(config or {})

    resilience.init_app(app)
    app.register_blueprint(bp)
    return app


def fetch_quote(base_url: str) -> Any:
    """GET the upstream quote; an error status raises so it can be retried."""
    response = http.get(f"{base_url}/quote")
    response.raise_for_status()
    return response.json()


@bp.get("/health")
def health() -> Any:
    """Liveness: answers without touching the upstream."""
    return {"status": "ok"}


@bp.get("/quote")
def quote() -> Any:
    """The upstream's quote, through policy ``"upstream"``."""
    return resilience.call("upstream", fetch_quote, current_app.config["UPSTREAM_URL"])


@bp.get("/limited")
@resilience.guard("inbound")
def limited() -> Any:
    """A cheap view that policy ``"inbound"`` admits or turns away."""
    return {"ok": True}


@bp.get("/status")
def status() -> Any:
    """Breaker state, limiter and bulkhead use of every policy."""
    report = {}
    for name, policy in resilience.registry.status().items():
        breaker = policy.breaker
        report[name] = {
            "state": None if breaker is None else breaker.state.value,
            "breaker": None if breaker is None else asdict(breaker),
            "rate_limiter": _asdict(policy.rate_limiter),
            "bulkhead": _asdict(policy.bulkhead),
        }
    return jsonify(report)


@bp.errorhandler(httpx.HTTPError)
def upstream_failed(exc: httpx.HTTPError) -> Any:
    """Retries are spent and the upstream still fails: a bad gateway."""
    return {"error": "upstream_error", "message": str(exc)}, 502


def _asdict(snapshot: Any) -> dict[str, Any] | None:
    return None if snapshot is None else asdict(snapshot)


app = create_app()
