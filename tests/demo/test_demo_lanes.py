"""Load lanes, breaker transition log, percentiles and the report layout."""

from __future__ import annotations

import asyncio
import threading
import time

from pyresilience import CircuitState, EventType, ResilienceEvent
from pyresilience._demo.lanes import CallRecord, Lane, run_async_lane, run_sync_lane
from pyresilience._demo.metrics import BreakerChange, BreakerLog, percentile
from pyresilience._demo.report import render_core
from pyresilience._demo.scenes.core import CoreResult, LaneResult
from pyresilience._demo.schedule import build_schedule


def _outcomes(records: list[CallRecord]) -> set[str]:
    return {record.outcome for record in records}


def test_sync_lane_paces_workers_and_classifies() -> None:
    """Workers call once per interval; stale answers and errors are told apart."""
    answers = iter([{"price": 1}, {"stale": True}, ValueError("x")] * 20)

    def call() -> object:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    lane = Lane("t", "sync", workers=2, interval=0.05)
    records = run_sync_lane(lane, call, origin=time.monotonic(), duration=0.2)
    # 2 workers x 4 slots; float rounding may admit one slot at the edge.
    assert 8 <= len(records) <= 10
    assert _outcomes(records) == {"ok", "fallback", "error"}
    assert {r.error for r in records if r.outcome == "error"} == {"ValueError"}
    assert all(0 <= record.start < 0.25 for record in records)


def test_async_lane_paces_tasks() -> None:
    """Async workers keep the same pace as sync ones."""

    async def call() -> object:
        return {"price": 1}

    lane = Lane("t", "async", workers=4, interval=0.05)
    origin = time.monotonic()
    records = asyncio.run(run_async_lane(lane, call, origin=origin, duration=0.2))
    assert 16 <= len(records) <= 20
    assert _outcomes(records) == {"ok"}


def test_slow_calls_do_not_trigger_catch_up_bursts() -> None:
    """A worker whose call overran its slot does not fire the missed ones."""

    def slow() -> object:
        time.sleep(0.12)
        return {}

    lane = Lane("t", "sync", workers=1, interval=0.02)
    records = run_sync_lane(lane, slow, origin=time.monotonic(), duration=0.3)
    assert len(records) <= 3
    starts = sorted(record.start for record in records)
    assert all(b - a >= 0.11 for a, b in zip(starts, starts[1:], strict=False))


def test_percentile_is_nearest_rank() -> None:
    """p50 and p99 of 1..100 are 50 and 99; no values give None."""
    values = [float(n) for n in range(100, 0, -1)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.5) is None


def _event(kind: EventType, at: float, policy: str = "p") -> ResilienceEvent:
    return ResilienceEvent(kind, "fn", policy=policy, timestamp=at)


def test_breaker_log_records_transitions_per_policy() -> None:
    """Only state changes are kept, each with its previous state and time."""
    log = BreakerLog(origin=100.0)
    log(_event(EventType.FAILURE, 100.5))
    log(_event(EventType.CIRCUIT_OPEN, 101.0))
    log(_event(EventType.CIRCUIT_HALF_OPEN, 102.0))
    log(_event(EventType.CIRCUIT_CLOSED, 102.5))

    moves = [(c.at, c.old, c.new) for c in log.changes("p")]
    assert moves == [
        (1.0, CircuitState.CLOSED, CircuitState.OPEN),
        (2.0, CircuitState.OPEN, CircuitState.HALF_OPEN),
        (2.5, CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_breaker_log_sorts_policies_by_time() -> None:
    """Events that arrive late from another thread still list in time order."""
    log = BreakerLog(origin=0.0)
    log(_event(EventType.CIRCUIT_OPEN, 2.0, policy="late"))
    log(_event(EventType.CIRCUIT_OPEN, 1.0, policy="early"))
    assert [c.policy for c in log.changes()] == ["early", "late"]
    assert log.changes("nobody") == ()


def _lane(name: str, policy: str | None, outcomes: str, **extra: object) -> LaneResult:
    kinds = {"o": "ok", "s": "fallback", "e": "error"}
    records = tuple(
        CallRecord(start=i * 0.5, latency=0.01 * (i + 1), outcome=kinds[c])  # type: ignore[arg-type]
        for i, c in enumerate(outcomes)
    )
    lane = Lane(name, "sync", workers=1, interval=0.5, policy=policy)
    return LaneResult(lane, records, **extra)  # type: ignore[arg-type]


def test_report_lays_out_a_known_result() -> None:
    """The report shows shares, per-phase cells and folds failed probes."""
    schedule = build_schedule("outage", 4.0)
    events = {"retries": 4, "timeouts": 0, "fallbacks": 2, "breaker": 1}
    events |= {"limiter": 0, "bulkhead": 0}
    upstream = {"requests": 6, "peak_in_flight": 2, "phases": {"outage": 2}}
    changes = (
        BreakerChange(1.2, "quotes", CircuitState.CLOSED, CircuitState.OPEN),
        BreakerChange(1.7, "quotes", CircuitState.OPEN, CircuitState.HALF_OPEN),
        BreakerChange(1.7, "quotes", CircuitState.HALF_OPEN, CircuitState.OPEN),
        BreakerChange(3.1, "quotes", CircuitState.OPEN, CircuitState.HALF_OPEN),
        BreakerChange(3.1, "quotes", CircuitState.HALF_OPEN, CircuitState.CLOSED),
    )
    result = CoreResult(
        url="http://127.0.0.1:1",
        seed=1,
        schedule=schedule,
        policies=(("quotes", "retry and more"),),
        groups=(
            (
                _lane("baseline", None, "ooeeeeoo", upstream={"phases": {"outage": 4}}),
                _lane("quotes", "quotes", "oossssoo", events=events, upstream=upstream),
            ),
            (
                _lane(
                    "baseline-async", None, "oooooooo", upstream={"peak_in_flight": 5}
                ),
                _lane(
                    "checkout", "checkout", "ooeeeeoo", events=events, upstream=upstream
                ),
            ),
        ),
        changes=changes,
    )
    text = "\n".join(render_core(result))

    rows = [line.split() for line in text.splitlines()]
    assert ["unprotected", "sync", "8", "4", "50%", "0", "0%", "4", "50%"] in [
        row[:9] for row in rows
    ]
    assert ["quotes", "sync", "8", "4", "50%", "4", "50%", "0", "0%"] in [
        row[:9] for row in rows
    ]
    assert ["quotes", "sync", "100%", "0%", "+100%", "100%"] in rows
    assert "probe failed: half_open -> open" in text
    assert "probe passed: half_open -> closed" in text
    prose = " ".join(text.split())  # the summary lines are wrapped
    assert "upstream requests during the outage: unprotected 4" in prose
    assert "quotes: 0 errors reached the callers (50% answered by" in prose
    assert "at most 2 requests were in flight at once vs 5 unprotected" in prose


def test_stop_event_ends_a_lane_early() -> None:
    """Setting ``stop`` ends the lane long before its duration."""
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    lane = Lane("t", "sync", workers=2, interval=0.02)
    started = time.monotonic()
    records = run_sync_lane(lane, dict, origin=started, duration=30.0, stop=stop)
    assert time.monotonic() - started < 1.0
    assert 4 <= len(records) <= 16


def test_stop_event_ends_an_async_lane_early() -> None:
    """Async workers also check ``stop`` before each call."""
    stop = threading.Event()

    async def call() -> object:
        if time.monotonic() - started > 0.1:
            stop.set()
        return {}

    lane = Lane("t", "async", workers=2, interval=0.02)
    started = time.monotonic()
    coroutine = run_async_lane(lane, call, origin=started, duration=30.0, stop=stop)
    records = asyncio.run(coroutine)
    assert time.monotonic() - started < 1.0
    assert records
