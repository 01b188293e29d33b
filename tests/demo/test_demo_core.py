"""The core scene's numbers on a short real run, and how they are reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyresilience import CircuitState
from pyresilience._demo.processes import start_upstream
from pyresilience._demo.report import render_core
from pyresilience._demo.scenes.core import CoreResult, measure
from pyresilience._demo.schedule import build_schedule

DURATION = 3.0


@pytest.fixture(scope="module")
def result() -> Iterator[CoreResult]:
    """One 3 s run of every lane through an outage (shared by the tests)."""
    schedule = build_schedule("outage", DURATION)
    process, url = start_upstream(scenario="outage", duration=DURATION, seed=5)
    try:
        yield measure(url, schedule, seed=5)
    finally:
        process.stop()


def test_every_call_is_counted_once(result: CoreResult) -> None:
    """Each lane's calls split exactly into ok, stale and error."""
    for group in result.groups:
        for lane in group:
            assert lane.calls > 0
            parts = lane.count("ok") + lane.count("fallback") + lane.count("error")
            assert parts == lane.calls


def test_baseline_feels_the_whole_outage(result: CoreResult) -> None:
    """Unprotected calls fail in the outage; each made exactly one request."""
    baseline = result.lane("baseline-sync")
    outage = result.schedule.phases[1]
    during = baseline.started_in(outage)
    assert during and all(record.outcome == "error" for record in during)
    assert baseline.errors().keys() == {"UpstreamStatusError"}
    assert baseline.upstream_requests == baseline.calls
    assert baseline.events == {}


@pytest.mark.parametrize("name", ["quotes", "quotes-async"])
def test_protected_callers_never_see_an_error(result: CoreResult, name: str) -> None:
    """Through the policy, the outage turns into stale answers, not errors."""
    lane = result.lane(name)
    assert lane.count("error") == 0
    assert lane.count("fallback") > 0
    assert lane.events["fallbacks"] == lane.count("fallback")
    assert lane.events["retries"] > 0
    assert lane.events["breaker"] > 0


@pytest.mark.parametrize("name", ["quotes", "quotes-async"])
def test_breaker_opens_in_the_outage_and_closes_after(
    result: CoreResult, name: str
) -> None:
    """The breaker opens during the outage and a probe closes it after."""
    changes = [c for c in result.changes if c.policy == name]
    outage = result.schedule.phases[1]
    first = changes[0]
    assert (first.old, first.new) == (CircuitState.CLOSED, CircuitState.OPEN)
    assert outage.start <= first.at < outage.end
    assert changes[-1].new is CircuitState.CLOSED
    assert changes[-1].at >= outage.end


def test_open_breaker_spares_the_upstream(result: CoreResult) -> None:
    """During the outage the protected lane sends far fewer requests."""
    label = result.schedule.phases[1].label
    baseline = result.lane("baseline-sync").upstream["phases"][label]
    protected = result.lane("quotes").upstream["phases"][label]
    assert protected < baseline / 2


def test_checkout_limits_rate_and_concurrency(result: CoreResult) -> None:
    """The limiter's rejections reach the caller; at most 3 are in flight."""
    checkout = result.lane("checkout")
    assert checkout.events["limiter"] > 0
    assert checkout.errors()["RateLimitExceededError"] == checkout.events["limiter"]
    assert checkout.upstream["peak_in_flight"] <= 3
    admitted = checkout.calls - checkout.events["limiter"] - checkout.events["bulkhead"]
    assert checkout.upstream_requests == admitted


def test_report_shows_the_numbers(result: CoreResult) -> None:
    """The text report carries the measured counts and the breaker's moves."""
    text = "\n".join(render_core(result))
    baseline = result.lane("baseline-sync")
    assert f"{baseline.calls}" in text
    assert "quotes: 0 errors reached the callers" in text
    assert "closed -> open" in text
    assert "probe passed: half_open -> closed" in text
    assert (
        f"the limiter turned away {result.lane('checkout').events['limiter']}" in text
    )
    assert max(len(line) for line in text.splitlines()) <= 80
