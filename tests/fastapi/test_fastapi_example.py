"""The example app, in process, against the demo's flaky upstream on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from _fastapi_support import load_example
from fastapi.testclient import TestClient

from pyresilience import ResilienceRegistry
from pyresilience._demo.upstream import FlakyUpstream, UpstreamServer
from pyresilience.testing import FakeClock


@pytest.fixture(scope="module")
def example() -> ModuleType:
    """The ``examples/fastapi_app.py`` module."""
    return load_example()


@pytest.fixture
def upstream() -> Iterator[UpstreamServer]:
    """The demo upstream in mode "ok", served on a free port of 127.0.0.1."""
    with UpstreamServer(FlakyUpstream(), port=0) as server:
        yield server


@pytest.fixture
def client(
    example: ModuleType, upstream: UpstreamServer, clock: FakeClock
) -> Iterator[TestClient]:
    """The example app on the fake clock, started, calling ``upstream``."""
    registry = ResilienceRegistry.from_mapping(
        {"policies": example.POLICIES}, clock=clock
    )
    app = example.create_app(upstream_url=upstream.url, registry=registry)
    with TestClient(app) as client:
        yield client


def test_module_level_app_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``UPSTREAM_URL`` and ``RESILIENCE_STORE`` configure the app at import."""
    monkeypatch.setenv("UPSTREAM_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RESILIENCE_STORE", "memory://")
    module = load_example()

    with TestClient(module.app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        upstream_client = client.app_state["upstream_client"]
        assert str(upstream_client.base_url) == "http://127.0.0.1:9"
        assert sorted(client.get("/status").json()) == ["inbound", "upstream"]


def test_quote_passes_the_upstream_answer_through(client: TestClient) -> None:
    """With the upstream healthy, ``/quote`` returns its JSON."""
    quote = client.get("/quote")
    assert quote.status_code == 200
    assert quote.json()["symbol"] == "PYR"


def test_outage_gives_502_then_503_and_recovery_after(
    client: TestClient, upstream: UpstreamServer, clock: FakeClock
) -> None:
    """A down upstream spends the retries (502), opens the breaker (503), heals."""
    upstream.upstream.control({"mode": "down"})
    failed = client.get("/quote")
    rejected = client.get("/quote")
    status_open = client.get("/status").json()["upstream"]

    upstream.upstream.control({"mode": "ok"})
    clock.advance(2.0)
    recovered = client.get("/quote")

    assert failed.status_code == 502
    assert failed.json()["policy"] == "upstream"
    assert rejected.status_code == 503
    assert rejected.headers["Retry-After"] == "2"
    assert rejected.json()["policy"] == "upstream"
    assert status_open["state"] == "open"
    assert recovered.status_code == 200
    assert client.get("/status").json()["upstream"]["state"] == "closed"


def test_limited_answers_429_over_five_a_second(
    client: TestClient, clock: FakeClock
) -> None:
    """The sixth request within a second is refused with Retry-After."""
    statuses = [client.get("/limited").status_code for _ in range(5)]
    rejected = client.get("/limited")
    clock.advance(1.0)

    assert statuses == [200] * 5
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == "1"
    assert client.get("/limited").json() == {"ok": True}


def test_status_reports_every_policy(client: TestClient) -> None:
    """``/status`` shows breaker state, limiter and bulkhead per policy."""
    status = client.get("/status").json()

    assert status["upstream"]["state"] == "closed"
    assert status["upstream"]["bulkhead"] is None
    assert status["inbound"]["state"] is None
    assert status["inbound"]["rate_limiter"]["max_calls"] == 5
    assert status["inbound"]["bulkhead"]["max_concurrent"] == 4


def test_slow_upstream_times_out_with_504(
    client: TestClient, upstream: UpstreamServer
) -> None:
    """Attempts slower than the 1 s limit end in 504 once retries are spent."""
    upstream.upstream.control({"mode": "slow", "latency": 1.5})

    response = client.get("/quote")

    assert response.status_code == 504
    assert response.json()["policy"] == "upstream"
