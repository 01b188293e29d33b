"""The example app on real uvicorn servers on 127.0.0.1, driven over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

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


def test_documented_uvicorn_command_runs_the_example(upstream: UpstreamServer) -> None:
    """``uvicorn examples.fastapi_app:app --port N`` from the repo root works."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_app:app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "UPSTREAM_URL": upstream.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            wait_for_health(client, process)
            quote = client.get("/quote")
            upstream.upstream.control({"mode": "down"})
            statuses = [client.get("/quote").status_code for _ in range(2)]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)

    assert quote.json()["symbol"] == "PYR"
    assert statuses == [502, 503]
    # uvicorn re-raises SIGTERM after a graceful stop, so judge by its log.
    log = stderr.decode()
    assert "Application shutdown complete." in log, log
    assert "Traceback" not in log, log


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
