"""The example project on real server processes on 127.0.0.1, over HTTP.

runserver serves the sync views, uvicorn the async ones (through the
project's ASGI entry point); both call the demo's flaky upstream, which runs
in this process and is switched between modes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pyresilience._demo.upstream import FlakyUpstream, UpstreamServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "examples" / "django_project"
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A server process, up once /health answers; stopped on exit."""

    def __init__(self, command: Sequence[str], port: int, env: dict[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def __enter__(self) -> Served:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode()  # type: ignore[union-attr]
                raise RuntimeError(f"server exited early:\n{stderr}")
            try:
                if httpx.get(f"{self.url}/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"{self.url} did not come up within 30s")

    def __exit__(self, *exc_info: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process.stderr.close()  # type: ignore[union-attr]


@pytest.fixture
def upstream() -> Iterator[tuple[FlakyUpstream, str]]:
    """The demo's flaky upstream on a free port, in mode "ok"."""
    flaky = FlakyUpstream()
    with UpstreamServer(flaky, port=0) as server:  # entering starts it
        yield flaky, server.url


def drive(url: str, flaky: FlakyUpstream) -> None:
    """Walk the example through ok, rate limit, outage, recovery and timeout."""
    with httpx.Client(base_url=url, timeout=15) as client:
        _drive(client, flaky)


def _drive(client: httpx.Client, flaky: FlakyUpstream) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert "price" in client.get("/quote").json()

    answers = [client.get("/limited") for _ in range(8)]
    assert [r.status_code for r in answers[:5]] == [200] * 5
    rejected = [r for r in answers if r.status_code == 429]
    assert rejected, "8 requests within a second must exceed 5 per second"
    assert int(rejected[0].headers["Retry-After"]) >= 1
    assert rejected[0].json()["error"] == "rate_limited"

    flaky.control({"mode": "down"})
    assert client.get("/quote").status_code == 502  # 3 failed attempts
    opened = client.get("/quote")
    assert opened.status_code == 503
    assert int(opened.headers["Retry-After"]) >= 1
    assert client.get("/status").json()["upstream"]["state"] == "open"

    flaky.control({"mode": "ok"})
    time.sleep(2.1)  # recovery_timeout, on the server's own clock
    assert client.get("/quote").status_code == 200
    assert client.get("/status").json()["upstream"]["state"] == "closed"

    flaky.control({"mode": "slow", "latency": 1.5})
    started = time.monotonic()
    timed_out = client.get("/quote")
    assert timed_out.status_code == 504
    assert timed_out.json()["error"] == "timeout"
    assert time.monotonic() - started < 6

    # Five at once, each holding its slot for 0.5 s: the bulkhead takes four.
    with ThreadPoolExecutor(5) as pool:
        held = list(pool.map(lambda _: client.get("/limited?hold=0.5"), range(5)))
    assert sorted(r.status_code for r in held) == [200, 200, 200, 200, 503]
    full = next(r for r in held if r.status_code == 503)
    assert full.json()["error"] == "bulkhead_full"


def test_runserver_serves_the_sync_views(upstream: tuple[FlakyUpstream, str]) -> None:
    """manage.py runserver: outages become 502, 503 and 504, limits 429."""
    flaky, upstream_url = upstream
    port = free_port()
    command = [PYTHON, str(PROJECT / "manage.py"), "runserver"]
    command += [f"127.0.0.1:{port}", "--noreload"]

    with Served(command, port, {"UPSTREAM_URL": upstream_url}) as server:
        drive(server.url, flaky)


def test_uvicorn_serves_the_async_views(upstream: tuple[FlakyUpstream, str]) -> None:
    """uvicorn on the ASGI entry point: the same behaviour from async views."""
    flaky, upstream_url = upstream
    port = free_port()
    command = [PYTHON, "-m", "uvicorn", "--app-dir", str(PROJECT)]
    command += ["demo_project.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning"]

    with Served(command, port, {"UPSTREAM_URL": upstream_url}) as server:
        drive(server.url, flaky)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free port on 127.0.0.1."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        if os.environ.get("PYRESILIENCE_REQUIRE_REDIS"):
            pytest.fail("redis-server is missing and PYRESILIENCE_REQUIRE_REDIS=1")
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.redis
def test_gunicorn_workers_share_the_breaker_through_redis(
    upstream: tuple[FlakyUpstream, str], redis_url: str
) -> None:
    """With STORE on Redis, every gunicorn worker sees the breaker one opened."""
    flaky, upstream_url = upstream
    port = free_port()
    command = [PYTHON, "-m", "gunicorn", "--chdir", str(PROJECT), "-w", "2"]
    command += ["-b", f"127.0.0.1:{port}", "demo_project.wsgi:application"]
    env = {"UPSTREAM_URL": upstream_url, "RESILIENCE_STORE": redis_url}

    with Served(command, port, env) as server:
        flaky.control({"mode": "down"})
        assert httpx.get(f"{server.url}/quote", timeout=10).status_code == 502
        # A new connection per request spreads them over both workers.
        answers = {
            httpx.get(f"{server.url}/quote", timeout=10).status_code for _ in range(10)
        }
        states = {
            httpx.get(f"{server.url}/status", timeout=10).json()["upstream"]["state"]
            for _ in range(6)
        }

    assert answers == {503}
    assert states == {"open"}
