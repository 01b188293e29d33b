"""The flaky upstream: decisions, schedule, control endpoint and HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from pyresilience._demo.modes import Mode
from pyresilience._demo.processes import free_port
from pyresilience._demo.schedule import build_schedule
from pyresilience._demo.upstream import CLIENT_HEADER, FlakyUpstream, UpstreamServer
from pyresilience.testing import FakeClock


def statuses(upstream: FlakyUpstream, client: str, count: int) -> list[int]:
    """Return the statuses of ``count`` answers to ``client``."""
    return [upstream.answer(client).status for _ in range(count)]


def test_follows_the_schedule_as_time_passes(clock: FakeClock) -> None:
    """The mode in force is the scheduled phase's, by elapsed time."""
    upstream = FlakyUpstream(build_schedule("outage", 10.0), clock=clock)
    assert upstream.current()[:2] == (Mode("ok"), "healthy")

    clock.advance(3.0)
    assert upstream.answer().status == 503
    assert upstream.state()["phase"] == "outage"

    clock.advance(5.0)
    assert upstream.answer().status == 200
    assert upstream.state()["phase"] == "recovery"


def test_without_schedule_starts_healthy(clock: FakeClock) -> None:
    """With no schedule the upstream answers 200 until told otherwise."""
    upstream = FlakyUpstream(clock=clock)
    clock.advance(100.0)
    assert statuses(upstream, "a", 5) == [200] * 5
    assert upstream.state()["following_schedule"] is False


def test_every_client_meets_the_same_luck(clock: FakeClock) -> None:
    """The n-th request of each client gets the same answer, run after run."""
    upstream = FlakyUpstream(seed=3, clock=clock)
    upstream.control({"mode": "flaky", "error_rate": 0.5})
    first = statuses(upstream, "baseline", 40)
    assert statuses(upstream, "protected", 40) == first

    again = FlakyUpstream(seed=3, clock=clock)
    again.control({"mode": "flaky", "error_rate": 0.5})
    assert statuses(again, "other", 40) == first

    reseeded = FlakyUpstream(seed=4, clock=clock)
    reseeded.control({"mode": "flaky", "error_rate": 0.5})
    assert statuses(reseeded, "baseline", 40) != first


def test_flaky_error_share_follows_the_rate(clock: FakeClock) -> None:
    """About ``error_rate`` of the answers are 500s."""
    upstream = FlakyUpstream(seed=1, clock=clock)
    upstream.control({"mode": "flaky", "error_rate": 0.3})
    answers = statuses(upstream, "a", 2000)
    assert set(answers) == {200, 500}
    assert 0.25 < answers.count(500) / len(answers) < 0.35


def test_slow_mode_delays_the_spike_share(clock: FakeClock) -> None:
    """In slow mode about ``spike_rate`` of answers carry the latency."""
    upstream = FlakyUpstream(seed=1, clock=clock)
    upstream.control({"mode": "slow", "latency": 1.5, "spike_rate": 0.5})
    delays = {upstream.answer().delay for _ in range(400)}
    assert delays == {0.0, 1.5}


def test_ratelimit_allows_limit_per_second_then_429(clock: FakeClock) -> None:
    """Over ``limit`` requests a second, answers are 429 with Retry-After."""
    upstream = FlakyUpstream(clock=clock)
    upstream.control({"mode": "ratelimit", "limit": 3, "retry_after": 2})
    assert statuses(upstream, "a", 3) == [200, 200, 200]

    throttled = upstream.answer("a")
    assert throttled.status == 429
    assert dict(throttled.headers) == {"Retry-After": "2"}
    assert upstream.answer("b").status == 200  # the quota is per client

    clock.advance(1.0)
    assert upstream.answer("a").status == 200


def test_schedule_control_restarts_and_clears_counters(clock: FakeClock) -> None:
    """``{"mode": "schedule"}`` starts the schedule over with zero counts."""
    upstream = FlakyUpstream(build_schedule("outage", 10.0), clock=clock)
    clock.advance(4.0)
    upstream.control({"mode": "ok"})
    statuses(upstream, "a", 3)
    assert upstream.stats()["total"] == 3

    state = upstream.control({"mode": "schedule"})
    assert state["phase"] == "healthy"
    assert state["elapsed"] == 0.0
    assert upstream.stats() == {"total": 0, "clients": {}}


def test_stats_count_statuses_phases_and_peak(clock: FakeClock) -> None:
    """Stats hold answers by status and by phase, and the peak in flight."""
    upstream = FlakyUpstream(build_schedule("outage", 10.0), clock=clock)
    upstream.answer("a")
    upstream.answer("a")
    upstream.done("a")
    upstream.done("a")
    clock.advance(3.0)
    upstream.answer("a")

    entry = upstream.stats()["clients"]["a"]
    assert entry["statuses"] == {"200": 2, "503": 1}
    assert entry["phases"] == {"healthy": 2, "outage": 1}
    assert entry["peak_in_flight"] == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"mode": "schedule"}, "needs a schedule"),
        ({"mode": "ok", "reset": "yes"}, "reset must be true or false"),
        ({"mode": "sideways"}, "mode must be one of"),
    ],
)
def test_control_rejects_bad_requests(body: dict[str, object], message: str) -> None:
    """Invalid control bodies raise with a message saying what is wrong."""
    with pytest.raises((ValueError, TypeError), match=message):
        FlakyUpstream().control(body)


def test_http_quote_control_and_stats(serve: Callable[..., UpstreamServer]) -> None:
    """Over HTTP: quotes, switching modes, and per-client counters."""
    server = serve()
    with httpx.Client(base_url=server.url, headers={CLIENT_HEADER: "t"}) as client:
        ok = client.get("/quote")
        assert ok.status_code == 200
        assert set(ok.json()) == {"symbol", "price"}

        control = client.post("/_control", json={"mode": "down"})
        assert control.json()["mode"]["mode"] == "down"
        assert client.get("/quote").status_code == 503

        client.post("/_control", json={"mode": "ratelimit", "retry_after": 1})
        throttled = client.get("/quote")
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"

        stats = client.get("/_stats").json()
    assert stats["clients"]["t"]["statuses"] == {"200": 1, "429": 1, "503": 1}


def test_http_errors_say_what_is_wrong(serve: Callable[..., UpstreamServer]) -> None:
    """Bad control bodies get 400 with the reason; unknown paths get 404."""
    server = serve()
    with httpx.Client(base_url=server.url) as client:
        bad_json = client.post("/_control", content=b"{nope")
        assert bad_json.status_code == 400
        bad_mode = client.post("/_control", json={"mode": "sideways"})
        assert bad_mode.status_code == 400
        assert "mode must be one of" in bad_mode.json()["error"]
        not_object = client.post("/_control", json=["down"])
        assert "JSON object" in not_object.json()["error"]
        assert client.get("/nowhere").status_code == 404
        assert client.post("/quote").status_code == 404
        assert client.get("/health").json() == {"status": "ok"}


def test_http_slow_mode_really_waits(serve: Callable[..., UpstreamServer]) -> None:
    """A slow answer arrives only after the configured latency."""
    server = serve()
    with httpx.Client(base_url=server.url) as client:
        client.post("/_control", json={"mode": "slow", "latency": 0.2})
        started = time.monotonic()
        assert client.get("/quote").status_code == 200
        assert time.monotonic() - started >= 0.2


def test_stopping_ends_a_slow_reply_early(serve: Callable[..., UpstreamServer]) -> None:
    """``stop()`` does not wait for a long delayed reply to finish."""
    server = serve()
    httpx.post(f"{server.url}/_control", json={"mode": "slow", "latency": 30})
    with httpx.Client(base_url=server.url, timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get("/quote")
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0


@pytest.mark.slow
def test_runs_standalone_with_a_scenario() -> None:
    """``python -m pyresilience._demo.upstream`` serves and stops on SIGTERM."""
    port = free_port()
    argv = [sys.executable, "-m", "pyresilience._demo.upstream", "--port", str(port)]
    argv += ["--scenario", "outage", "--duration", "5", "--seed", "2"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip() == f"upstream listening on http://127.0.0.1:{port}"
        state = httpx.get(f"http://127.0.0.1:{port}/_control").json()
        assert state["scenario"] == "outage"
        assert state["phase"] == "healthy"
    finally:
        process.terminate()
        assert process.wait(5) == 0
        process.stdout.close()


def test_standalone_rejects_a_bad_duration() -> None:
    """An invalid schedule is a usage error with exit status 2."""
    argv = [sys.executable, "-m", "pyresilience._demo.upstream", "--port", "0"]
    argv += ["--scenario", "outage", "--duration", "-1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert "duration must be > 0" in result.stderr


def test_starting_twice_serves_once_and_stops_cleanly() -> None:
    """``start()`` then ``with`` does not leave a second thread to hang stop()."""
    with UpstreamServer(FlakyUpstream()).start() as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        assert server.start() is server
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health", timeout=1.0)
