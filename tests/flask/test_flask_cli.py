"""The ``flask resilience`` command group."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from flask import Flask

from pyresilience import CircuitState
from pyresilience.testing import FakeClock
from pyresilience_flask import EXTENSION_KEY, Resilience

MakeApp = Callable[..., Flask]

POLICIES = {
    "payment-api": {"circuit_breaker": {"failure_threshold": 1}},
    "inbound": {
        "rate_limiter": {"max_calls": 5, "period": 1},
        "bulkhead": {"max_concurrent": 4},
    },
}


@pytest.fixture
def app(make_app: MakeApp, resilience: Resilience) -> Flask:
    """An app with an opened payment-api breaker and one inbound request."""
    app = make_app(RESILIENCE_POLICIES=POLICIES, RESILIENCE_CLOCK=FakeClock())

    def fail() -> None:
        raise ConnectionError("down")

    with app.app_context():
        with pytest.raises(ConnectionError):
            resilience.call("payment-api", fail)
        resilience.call("inbound", lambda: None)
    return app


def test_status_prints_each_policy(app: Flask) -> None:
    """status shows breaker state, limiter use and bulkhead use per policy."""
    result = app.test_cli_runner().invoke(args=["resilience", "status"])

    assert result.exit_code == 0, result.output
    lines = dict(line.split(maxsplit=1) for line in result.output.splitlines())
    assert lines["payment-api"].startswith("breaker=open")
    assert "limiter=1/5 per 1s" in lines["inbound"]
    assert "bulkhead=0/4 in flight, 0 waiting" in lines["inbound"]
    assert "breaker=-" in lines["inbound"]


def test_status_json_is_machine_readable(app: Flask) -> None:
    """status --json prints one JSON object keyed by policy name."""
    result = app.test_cli_runner().invoke(args=["resilience", "status", "--json"])

    data = json.loads(result.output)
    assert data["payment-api"]["state"] == "open"
    assert data["inbound"]["state"] is None
    assert data["inbound"]["rate_limiter"] == {
        "used": 1,
        "max_calls": 5,
        "period": 1.0,
    }
    assert data["inbound"]["bulkhead"]["max_concurrent"] == 4


def test_status_without_policies_says_so(make_app: MakeApp) -> None:
    """An app with no policies gets a hint instead of empty output."""
    result = make_app().test_cli_runner().invoke(args=["resilience", "status"])

    assert result.exit_code == 0
    assert "no policies registered" in result.output


def test_reset_closes_an_open_breaker(app: Flask) -> None:
    """reset NAME closes that policy's breaker."""
    result = app.test_cli_runner().invoke(args=["resilience", "reset", "payment-api"])

    assert result.exit_code == 0, result.output
    assert "payment-api: circuit breaker closed" in result.output
    breaker = app.extensions[EXTENSION_KEY].policy("payment-api").status().breaker
    assert breaker.state is CircuitState.CLOSED


def test_reset_of_an_unknown_name_lists_the_known_ones(app: Flask) -> None:
    """reset with a wrong name fails with a usage error naming valid policies."""
    result = app.test_cli_runner().invoke(args=["resilience", "reset", "nope"])

    assert result.exit_code == 2
    assert "'nope'" in result.output
    assert "inbound, payment-api" in result.output


def test_reset_of_a_policy_without_a_breaker_explains(app: Flask) -> None:
    """reset on a policy that has no breaker fails with the core's reason."""
    result = app.test_cli_runner().invoke(args=["resilience", "reset", "inbound"])

    assert result.exit_code == 1
    assert "no circuit breaker" in result.output
