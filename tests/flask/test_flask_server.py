"""The example app on a real server process on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from pyresilience._demo.upstream import FlakyUpstream, UpstreamServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with code {process.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {seconds}s")


class Server:
    """A server process started with ``command``, stopped on exit."""

    def __init__(self, command: Sequence[str], port: int, env: dict[str, str]):
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def __enter__(self) -> Server:
        try:
            wait_until_up(f"{self.url}/health", self.process, 20)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture
def upstream() -> Iterator[tuple[FlakyUpstream, str]]:
    """The demo's flaky upstream, in mode "ok", on a free port."""
    flaky = FlakyUpstream()
    with UpstreamServer(flaky, port=0) as server:
        yield flaky, server.url


def test_example_app_under_the_werkzeug_server(
    upstream: tuple[FlakyUpstream, str],
) -> None:
    """flask run serves the example; outages become 502, 503 and 504 in turn."""
    flaky, upstream_url = upstream
    port = free_port()
    command = [str(BIN / "flask"), "--app", "examples.flask_app", "run"]
    command += ["--host", "127.0.0.1", "--port", str(port)]

    with (
        Server(command, port, {"UPSTREAM_URL": upstream_url}) as app,
        httpx.Client(base_url=app.url, timeout=10) as client,
    ):
        assert client.get("/health").json() == {"status": "ok"}
        assert "price" in client.get("/quote").json()

        limited = [client.get("/limited") for _ in range(8)]
        assert [r.status_code for r in limited[:5]] == [200] * 5
        rejected = [r for r in limited if r.status_code == 429]
        assert rejected, "8 requests within a second should exceed 5 per second"
        assert int(rejected[0].headers["Retry-After"]) >= 1

        flaky.control({"mode": "down"})
        assert client.get("/quote").status_code == 502
        opened = client.get("/quote")
        assert opened.status_code == 503
        assert int(opened.headers["Retry-After"]) >= 1
        assert client.get("/status").json()["upstream"]["state"] == "open"

        flaky.control({"mode": "ok"})
        time.sleep(2.1)  # the example's recovery_timeout, on the server's clock
        assert client.get("/quote").status_code == 200
        assert client.get("/status").json()["upstream"]["state"] == "closed"

        flaky.control({"mode": "slow", "latency": 1.5})
        started = time.monotonic()
        timed_out = client.get("/quote")
        assert timed_out.status_code == 504
        assert time.monotonic() - started < 5


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on a free port on 127.0.0.1."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
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
def test_gunicorn_workers_share_one_breaker_through_redis(
    upstream: tuple[FlakyUpstream, str], redis_url: str
) -> None:
    """Under gunicorn -w 2 with a Redis store, every worker sees the open breaker."""
    flaky, upstream_url = upstream
    port = free_port()
    command = [str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}"]
    command += ["examples.flask_app:app"]
    env = {"UPSTREAM_URL": upstream_url, "RESILIENCE_STORE": redis_url}

    with Server(command, port, env) as app:
        flaky.control({"mode": "down"})
        # Three failed attempts open the breaker, whichever worker made them.
        assert httpx.get(f"{app.url}/quote", timeout=10).status_code == 502

        # New connections each time, so both workers get a share of them.
        answers = [httpx.get(f"{app.url}/quote", timeout=10) for _ in range(10)]
        states = {
            httpx.get(f"{app.url}/status", timeout=10).json()["upstream"]["state"]
            for _ in range(6)
        }

    assert {r.status_code for r in answers} == {503}
    assert states == {"open"}
    # Only the three attempts that opened the shared breaker reached the
    # upstream; per-worker breakers would have let the other worker try too.
    assert flaky.stats()["total"] == 3
