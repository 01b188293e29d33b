"""Fixtures for the demo's tests: a fake clock and in-process upstreams."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pyresilience._demo.schedule import Schedule
from pyresilience._demo.upstream import FlakyUpstream, UpstreamServer
from pyresilience.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    """A virtual clock starting at 0."""
    return FakeClock()


@pytest.fixture
def serve() -> Iterator[Callable[..., UpstreamServer]]:
    """Start in-process upstream servers on free ports; stop them after."""
    servers: list[UpstreamServer] = []

    def start(schedule: Schedule | None = None, seed: int = 0) -> UpstreamServer:
        server = UpstreamServer(FlakyUpstream(schedule, seed=seed)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
