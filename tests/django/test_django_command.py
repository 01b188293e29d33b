"""manage.py resilience: each policy's state, and --reset NAME."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from pyresilience import CircuitState
from pyresilience_django import get_registry, resilient

SETTING = {
    "POLICIES": {
        "payment-api": {
            "circuit_breaker": {"failure_threshold": 1, "recovery_timeout": 30}
        },
        "inbound": {
            "rate_limiter": {"max_calls": 5, "period": 1},
            "bulkhead": {"max_concurrent": 4},
        },
        "broken": {"retry": {"max_attempts": 0}},
    }
}


@pytest.fixture(autouse=True)
def setting() -> Iterator[None]:
    """Every test here runs under SETTING."""
    with override_settings(RESILIENCE=SETTING):
        yield


def run(*args: str) -> str:
    out = StringIO()
    call_command("resilience", *args, stdout=out)
    return out.getvalue()


def open_breaker() -> None:
    with pytest.raises(RuntimeError):
        resilient("payment-api")(_boom)()


def test_prints_every_policy() -> None:
    """The table shows breaker state, limiter and bulkhead use per policy."""
    open_breaker()

    lines = run().splitlines()

    assert lines[0].split() == [
        "POLICY",
        "BREAKER",
        "RETRY",
        "IN",
        "RATE",
        "LIMIT",
        "BULKHEAD",
    ]
    assert lines[1].split() == ["inbound", "-", "-", "0/5", "per", "1s", "0/4", "busy"]
    assert lines[2].split()[:2] == ["payment-api", "open"]
    assert lines[2].split()[2].endswith("s")
    assert lines[3].startswith("broken: BROKEN: ")
    assert "max_attempts" in lines[3]
    assert "in-memory store" in lines[4]


def test_json_output() -> None:
    """--json prints the same data for scripts."""
    data = json.loads(run("--json"))

    assert data["payment-api"]["state"] == "closed"
    assert data["inbound"]["bulkhead"]["max_concurrent"] == 4
    assert data["broken"]["state"] is None
    assert "max_attempts" in data["broken"]["error"]


def test_reset_closes_a_breaker() -> None:
    """--reset NAME closes an open breaker and says so."""
    open_breaker()

    output = run("--reset", "payment-api")

    assert "Closed the breaker of 'payment-api'." in output
    assert get_registry().status()["payment-api"].breaker.state is CircuitState.CLOSED


def test_reset_unknown_name_lists_the_configured_ones() -> None:
    """Resetting a name that is not configured is an error naming the others."""
    with pytest.raises(CommandError, match="configured: inbound, payment-api"):
        run("--reset", "nope")


def test_reset_without_breaker_is_an_error() -> None:
    """A policy without a breaker cannot be reset."""
    with pytest.raises(CommandError, match="no circuit breaker"):
        run("--reset", "inbound")


def test_reset_broken_policy_shows_its_error() -> None:
    """Resetting a broken policy reports why it is broken."""
    with pytest.raises(CommandError, match="max_attempts"):
        run("--reset", "broken")


def test_no_policies() -> None:
    """With nothing configured the command says so."""
    with override_settings(RESILIENCE={}):
        assert "No policies configured" in run()


def _boom() -> None:
    raise RuntimeError("boom")
