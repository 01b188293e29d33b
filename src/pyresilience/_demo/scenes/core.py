"""The core scene: registry policies against the flaky upstream.

Five lanes run side by side for the chosen duration while the upstream
follows the chosen scenario: the unprotected baseline and two lanes through
policy ``quotes`` / ``quotes-async`` (retry, timeout, breaker, fallback;
sync and async), then an async baseline and a lane through ``checkout``
(rate limiter and bulkhead). Each lane sends its own client id, so the
upstream gives every lane the same luck and counts what each one cost it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import EventType, MetricsCollector, ResilienceRegistry
from ..client import QuoteBook, aget_quote, get_quote
from ..lanes import CallRecord, Lane, run_async_lane, run_sync_lane
from ..metrics import BreakerChange, BreakerLog, percentile
from ..policies import POLICY_SUMMARIES, build_registry
from ..processes import start_upstream
from ..schedule import Phase, Schedule, build_schedule
from ..upstream import CLIENT_HEADER
from ._base import DemoOptions, SceneContext

__all__ = ["LANES", "CoreResult", "CoreScene", "LaneResult", "measure"]

#: The lanes, grouped as they are compared in the report.
LANES: tuple[tuple[Lane, ...], ...] = (
    (
        Lane("baseline-sync", "sync", workers=4, interval=0.1),
        Lane("quotes", "sync", workers=4, interval=0.1, policy="quotes"),
        Lane("quotes-async", "async", workers=4, interval=0.1, policy="quotes-async"),
    ),
    (
        Lane("baseline-async", "async", workers=8, interval=0.2),
        Lane("checkout", "async", workers=8, interval=0.2, policy="checkout"),
    ),
)

_COUNTED = {
    "retries": EventType.RETRY,
    "timeouts": EventType.TIMEOUT,
    "fallbacks": EventType.FALLBACK_USED,
    "breaker": EventType.CIRCUIT_REJECTED,
    "limiter": EventType.RATE_LIMITED,
    "bulkhead": EventType.BULKHEAD_REJECTED,
}


@dataclass(frozen=True)
class LaneResult:
    """What one lane did, saw, and cost the upstream."""

    lane: Lane
    records: tuple[CallRecord, ...]
    events: Mapping[str, int] = field(default_factory=dict)
    upstream: Mapping[str, Any] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        """Calls made by the lane's workers."""
        return len(self.records)

    def count(self, outcome: str) -> int:
        """Calls that ended ``"ok"``, in a ``"fallback"`` or in an ``"error"``."""
        return sum(1 for record in self.records if record.outcome == outcome)

    def errors(self) -> Counter[str]:
        """Exception class names that reached the caller, with counts."""
        return Counter(r.error for r in self.records if r.outcome == "error")

    def latency(self, share: float) -> float | None:
        """Caller-side latency percentile in seconds (``share`` in [0, 1])."""
        return percentile([record.latency for record in self.records], share)

    def started_in(self, phase: Phase) -> list[CallRecord]:
        """Return the calls that started during ``phase``."""
        return [r for r in self.records if phase.start <= r.start < phase.end]

    @property
    def upstream_requests(self) -> int:
        """Requests that reached the upstream, retries included."""
        return int(self.upstream.get("requests", 0))


@dataclass(frozen=True)
class CoreResult:
    """Everything the core scene measured."""

    url: str
    seed: int
    schedule: Schedule
    policies: tuple[tuple[str, str], ...]
    groups: tuple[tuple[LaneResult, ...], ...]
    changes: tuple[BreakerChange, ...]

    def lane(self, name: str) -> LaneResult:
        """Return the result of the lane called ``name``."""
        for group in self.groups:
            for result in group:
                if result.lane.name == name:
                    return result
        raise KeyError(f"no lane {name!r}")


class CoreScene:
    """Policies, sync and async, beside the same load with no protection."""

    name = "core"
    title = "core policies vs. no protection"

    def needed(self, options: DemoOptions) -> float:
        """Return the load's duration plus start-up and drain time."""
        return options.duration + 4.0

    def skip_reason(self, context: SceneContext) -> str | None:
        """Never skipped: the core scene needs nothing beyond httpx."""
        return None

    def run(self, context: SceneContext) -> CoreResult:
        """Start the upstream, run every lane, collect the numbers."""
        options = context.options
        schedule = build_schedule(options.scenario, options.duration)
        process, url = start_upstream(
            scenario=options.scenario, duration=options.duration, seed=options.seed
        )
        context.cleanup.callback(process.stop)
        return measure(url, schedule, options.seed)


def measure(url: str, schedule: Schedule, seed: int) -> CoreResult:
    """Run every lane against the upstream at ``url`` and collect results.

    The upstream must have been started with ``schedule``; it is restarted
    here so that second 0 is the same for every lane.
    """
    metrics, breakers, book = MetricsCollector(), BreakerLog(), QuoteBook()
    registry = build_registry((metrics, breakers), book)
    httpx.post(f"{url}/_control", json={"mode": "schedule"}, timeout=2.0)
    breakers.origin = time.time()
    load = _Load(registry, book, url, time.monotonic(), schedule.duration)
    try:
        records = _run_lanes(load)
    finally:
        registry.shutdown(timeout=5.0)

    stats = httpx.get(f"{url}/_stats", timeout=2.0).json()["clients"]
    groups = tuple(
        tuple(_lane_result(lane, records[lane.name], metrics, stats) for lane in group)
        for group in LANES
    )
    changes = breakers.changes()
    return CoreResult(url, seed, schedule, POLICY_SUMMARIES, groups, changes)


@dataclass(frozen=True)
class _Load:
    """What every lane of one run shares."""

    registry: ResilienceRegistry
    book: QuoteBook
    url: str
    origin: float
    duration: float
    stop: threading.Event = field(default_factory=threading.Event)


def _run_lanes(load: _Load) -> dict[str, list[CallRecord]]:
    records: dict[str, list[CallRecord]] = {}
    failures: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # re-raised after join, not lost
                failures.append(exc)

        return run

    def sync_side() -> None:
        records.update(_run_sync_lanes(load))

    def async_side() -> None:
        records.update(asyncio.run(_run_async_lanes(load)))

    threads = [
        threading.Thread(target=guarded(sync_side), name="lanes-sync"),
        threading.Thread(target=guarded(async_side), name="lanes-async"),
    ]
    for thread in threads:
        thread.start()
    _join(threads, load.stop)
    if failures:
        raise failures[0]
    return records


def _join(threads: list[threading.Thread], stop: threading.Event) -> None:
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        # Ctrl-C: workers finish the call in hand and start no other.
        stop.set()
        for thread in threads:
            thread.join()
        raise


def _run_sync_lanes(load: _Load) -> dict[str, list[CallRecord]]:
    baseline = _sync_client(load.url, "baseline-sync")
    protected = _sync_client(load.url, "quotes")
    quotes = load.registry.policy("quotes")
    fetch = _remembering(load.book, get_quote)
    calls: dict[str, Callable[[], Any]] = {
        "baseline-sync": lambda: get_quote(baseline),
        "quotes": lambda: quotes.call(fetch, protected),
    }
    lanes = [lane for group in LANES for lane in group if lane.kind == "sync"]
    records: dict[str, list[CallRecord]] = {}

    def run(lane: Lane) -> None:
        records[lane.name] = run_sync_lane(
            lane,
            calls[lane.name],
            origin=load.origin,
            duration=load.duration,
            stop=load.stop,
        )

    threads = [threading.Thread(target=run, args=(lane,)) for lane in lanes]
    try:
        for thread in threads:
            thread.start()
        _join(threads, load.stop)
    finally:
        baseline.close()
        protected.close()
    return records


async def _run_async_lanes(load: _Load) -> dict[str, list[CallRecord]]:
    lanes = [lane for group in LANES for lane in group if lane.kind == "async"]
    clients = {lane.name: _async_client(load.url, lane.name) for lane in lanes}
    quotes = load.registry.policy("quotes-async")
    # The decorator resolves "checkout" lazily, on the first call.
    checkout = load.registry.decorator("checkout")(aget_quote)

    async def fetch_and_remember(client: httpx.AsyncClient) -> dict[str, Any]:
        return load.book.remember(await aget_quote(client))

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "baseline-async": lambda: aget_quote(clients["baseline-async"]),
        "quotes-async": lambda: quotes.acall(
            fetch_and_remember, clients["quotes-async"]
        ),
        "checkout": lambda: checkout(clients["checkout"]),
    }
    runs = (
        run_async_lane(
            lane,
            calls[lane.name],
            origin=load.origin,
            duration=load.duration,
            stop=load.stop,
        )
        for lane in lanes
    )
    try:
        results = await asyncio.gather(*runs)
    finally:
        for client in clients.values():
            await client.aclose()
    return {lane.name: result for lane, result in zip(lanes, results, strict=True)}


def _remembering(
    book: QuoteBook, fetch: Callable[[httpx.Client], dict[str, Any]]
) -> Callable[[httpx.Client], dict[str, Any]]:
    def fetch_and_remember(client: httpx.Client) -> dict[str, Any]:
        return book.remember(fetch(client))

    return fetch_and_remember


def _sync_client(url: str, client_id: str) -> httpx.Client:
    # httpx's own 5 s timeout stays as the baseline's only guard; the
    # policies' timeouts are shorter and fire first.
    return httpx.Client(base_url=url, headers={CLIENT_HEADER: client_id})


def _async_client(url: str, client_id: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={CLIENT_HEADER: client_id})


def _lane_result(
    lane: Lane,
    records: list[CallRecord],
    metrics: MetricsCollector,
    stats: Mapping[str, Any],
) -> LaneResult:
    events = {}
    if lane.policy is not None:
        events = {
            key: metrics.count(kind, lane.policy) for key, kind in _COUNTED.items()
        }
    return LaneResult(lane, tuple(records), events, stats.get(lane.name, {}))
