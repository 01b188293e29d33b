"""The example app on real uvicorn servers on 127.0.0.1, driven over HTTP."""

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
from _fastapi_support import ROOT, ServerThread, load_example

from pyresilience import ResilienceRegistry
from pyresilience._demo.upstream import FlakyUpstream, UpstreamServer
from pyresilience.testing import FakeClock

pytestmark = pytest.mark.slow


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    """The demo upstream in mode "ok", served on a free port of 127.0.0.1."""
    with UpstreamServer(FlakyUpstream(), port=0) as server:
        yield server


def test_uvicorn_serves_the_example_through_an_outage(
    upstream: UpstreamServer,
) -> None:
    """Over real HTTP: 200, then 502 and 503 with Retry-After, then recovery."""
    clock = FakeClock()
    example = load_example()
    registry = ResilienceRegistry.from_mapping(
        {"policies": example.POLICIES}, clock=clock
    )
    app = example.create_app(upstream_url=upstream.url, registry=registry)

    with ServerThread(app) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/quote").status_code == 200

        limited = [client.get("/limited") for _ in range(6)]
        upstream.upstream.control({"mode": "down"})
        failed = client.get("/quote")
        rejected = client.get("/quote")
        upstream.upstream.control({"mode": "ok"})
        clock.advance(2.0)
        recovered = client.get("/quote")

    assert [r.status_code for r in limited] == [200] * 5 + [429]
    assert limited[-1].headers["Retry-After"] == "1"
    assert failed.status_code == 502
    assert rejected.status_code == 503
    assert rejected.headers["Retry-After"] == "2"
    assert recovered.status_code == 200
    assert not registry.is_open  # the server's shutdown ran the lifespan exit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_example(
    extra_args: Sequence[str], env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """Start ``uvicorn examples.fastapi_app:app`` from the repo root."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), *extra_args]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)


def stop(process: subprocess.Popen[bytes]) -> str:
    """Stop the server gracefully and return what it logged."""
    process.terminate()
    try:
        _, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate(timeout=5)
    return stderr.decode()


def test_documented_uvicorn_command_runs_the_example(upstream: UpstreamServer) -> None:
    """``uvicorn examples.fastapi_app:app --port N`` from the repo root works."""
    process, client = start_example(
        ["--log-level", "info"], {"UPSTREAM_URL": upstream.url}
    )
    try:
        with client:
            wait_for_health(client, process)
            quote = client.get("/quote")
            upstream.upstream.control({"mode": "down"})
            statuses = [client.get("/quote").status_code for _ in range(2)]
    finally:
        log = stop(process)

    assert quote.json()["symbol"] == "PYR"
    assert statuses == [502, 503]
    # uvicorn re-raises SIGTERM after a graceful stop, so judge by its log.
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log, log


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port of 127.0.0.1."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
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
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.redis
def test_uvicorn_workers_share_one_breaker_through_redis(
    upstream: UpstreamServer, redis_url: str
) -> None:
    """With ``--workers 2`` and a Redis store, one outage opens every breaker."""
    env = {"UPSTREAM_URL": upstream.url, "RESILIENCE_STORE": redis_url}
    process, client = start_example(["--workers", "2"], env)
    try:
        with client:
            wait_for_health(client, process)
            upstream.upstream.control({"mode": "down", "reset": True})
            failed = client.get("/quote")
            # A fresh connection per request spreads them over both workers.
            later = [
                httpx.get(f"{client.base_url}/quote", timeout=10) for _ in range(10)
            ]
    finally:
        stop(process)

    assert failed.status_code == 502
    assert {response.status_code for response in later} == {503}
    # Only the three attempts that opened the shared breaker reached the
    # upstream: a worker with a breaker of its own would have tried again.
    assert upstream.upstream.stats()["total"] == 3


def wait_for_health(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited early with code {process.returncode}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the example app did not answer /health within 20 s")
