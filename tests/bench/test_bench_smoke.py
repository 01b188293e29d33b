"""Smoke tests of the benchmark harness: it runs and judges; nothing is timed."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    # ``benchmarks`` is a top-level package of the repository, not of the
    # installed distribution; plain ``pytest`` does not put the root on the path.
    sys.path.insert(0, str(ROOT))

from benchmarks._cases import Case, run_sync  # noqa: E402
from benchmarks._cli import parse_args  # noqa: E402
from benchmarks._harness import (  # noqa: E402
    Settings,
    garbage_per_call,
    time_async_group,
    time_sync_group,
)
from benchmarks._redis_server import RedisServer  # noqa: E402
from benchmarks._report import MISS, PASS, SKIP, Row, Section, render  # noqa: E402
from benchmarks._subjects import RESULT, Unavailable, work  # noqa: E402
from benchmarks._suite_checks import SleepSpy  # noqa: E402

TINY = Settings(repeats=2, min_time=0.0005, garbage_calls=20, memory_objects=5)


def test_sync_group_reports_one_timing_per_case() -> None:
    """Each sync case gets a timing whose best run is no slower than its median."""
    calls: list[int] = []

    timings = time_sync_group([lambda: calls.append(1), lambda: None], TINY)

    assert len(timings) == 2
    assert calls, "the first case was never called"
    for timing in timings:
        assert timing.loops >= 1
        assert 0 <= timing.best_ns <= timing.median_ns


def test_case_raising_while_timed_becomes_a_skipped_row() -> None:
    """A case that starts failing mid-run is reported with its error, not fatal."""
    count = 0

    def breaks_later() -> int:
        nonlocal count
        count += 1
        if count > 3:
            raise RuntimeError("boom")
        return RESULT

    cases = [
        Case("steady", "floor", lambda: work),
        Case("breaks", "ours", lambda: breaks_later),
    ]
    section = run_sync("demo", cases, TINY)

    steady, broken = section.rows
    assert steady.value is not None and not steady.note
    assert broken.skipped
    assert "RuntimeError: boom" in broken.note


def test_async_group_awaits_each_case() -> None:
    """Async cases are awaited inside the given loop, once per counted call."""
    seen: list[int] = []

    async def case() -> None:
        seen.append(1)

    loop = asyncio.new_event_loop()
    try:
        (timing,) = time_async_group([case], TINY, loop)
    finally:
        loop.close()

    # Warm-up, calibration and the timed runs all awaited the coroutine.
    assert len(seen) >= 1 + TINY.repeats * timing.loops


def test_garbage_check_sees_cycles_and_only_cycles() -> None:
    """A call that builds a reference cycle is counted; an acyclic call is not."""

    def cyclic() -> None:
        node: list[object] = []
        node.append(node)

    def acyclic() -> None:
        [1, 2, 3].append(4)

    assert garbage_per_call(cyclic, 50) >= 1.0
    assert garbage_per_call(acyclic, 50) == 0.0
    assert gc.isenabled(), "the collector must be switched back on"


def test_sleep_spy_counts_sync_and_async_sleeps() -> None:
    """time.sleep(0) and asyncio.sleep(0) are both counted, other calls are not."""
    loop = asyncio.new_event_loop()
    try:
        with SleepSpy() as spy:
            time.sleep(0)
            time.monotonic()
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()

    assert spy.count == 2


def test_judge_uses_fastest_reference_and_inverts_rates() -> None:
    """Targets compare to the fastest reference; req/s rows compare time per request."""
    section = Section("demo")
    section.add(Row("peer a", "peer", 200.0, "ns/call"))
    section.add(Row("peer b", "peer", 100.0, "ns/call"))
    section.add(Row("ours", "ours", 150.0, "ns/call"))
    section.judge("ours", ["peer a", "peer b"], 1.0, strict=True)

    rates = Section("web")
    rates.add(Row("bare", "floor", 1000.0, "req/s"))
    rates.add(Row("adapter", "ours", 980.0, "req/s"))
    rates.judge("adapter", ["bare"], 1.05, strict=True)

    (check,) = section.find("ours").checks  # type: ignore[union-attr]
    assert (check.result, check.vs, check.ratio) == (MISS, "peer b", 1.5)
    (rate,) = rates.find("adapter").checks  # type: ignore[union-attr]
    assert rate.result == PASS
    assert rate.ratio == pytest.approx(1000 / 980)


def test_render_lists_results_and_skips() -> None:
    """The table shows each target's result and says why a row was skipped."""
    section = Section("demo")
    section.add(Row("floor", "floor", 10.0, "ns/call"))
    section.skip("ours", "ours", "library missing")
    section.judge("ours", ["floor"], 3.0)

    table = render([section])

    assert "-- demo" in table
    assert SKIP in table
    assert "ours: library missing" in table
    assert "targets: 0 PASS, 0 MISS, 1 SKIP" in table


def test_cli_rejects_an_unknown_suite(capsys: pytest.CaptureFixture[str]) -> None:
    """--only names the allowed suites when given one that does not exist."""
    with pytest.raises(SystemExit) as exited:
        parse_args(["--only", "core,nosuch"])

    assert exited.value.code == 2
    assert "choose from core, fastapi, flask, django, redis" in capsys.readouterr().err


def test_quick_run_of_one_section_prints_a_judged_table() -> None:
    """`python -m benchmarks --quick` on the open-breaker section prints its table."""
    command = [sys.executable, "-m", "benchmarks", "--quick"]
    command += ["--only", "core", "--section", "open"]

    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "-- open-circuit rejection, sync" in out
    assert "-- open-circuit rejection, async" in out
    assert "raise + catch [floor]" in out
    assert "ours circuit_breaker [ours]" in out
    # The row is judged against the floor the target names.
    assert "<= 3x" in out
    assert "targets:" in out


def test_missing_redis_binary_is_reported_not_raised() -> None:
    """Without the redis-server binary the suite gets a reason, not a crash."""
    with pytest.raises(Unavailable, match="no-such-redis-server is not on PATH"):
        RedisServer(binary="no-such-redis-server").__enter__()


@pytest.mark.redis
def test_redis_server_starts_on_loopback_and_stops() -> None:
    """The suite's own redis-server answers on 127.0.0.1 and is gone afterwards."""
    if shutil.which("redis-server") is None:
        if os.environ.get("PYRESILIENCE_REQUIRE_REDIS"):
            pytest.fail("redis-server is required but not installed")
        pytest.skip("redis-server is not installed")

    with RedisServer() as server:
        port = server.port
        assert server.url == f"redis://127.0.0.1:{port}/0"
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(16).startswith(b"+PONG")

    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
