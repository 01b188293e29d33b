"""Fixtures for the Flask extension tests: fresh apps built from config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from pyresilience_flask import EXTENSION_KEY, Resilience

MakeApp = Callable[..., Flask]


@pytest.fixture
def resilience() -> Resilience:
    """One extension object, shared by every app a test builds."""
    return Resilience()


@pytest.fixture
def make_app(resilience: Resilience) -> Iterator[MakeApp]:
    """Build apps from ``app.config`` keys; their registries are shut down."""
    apps: list[Flask] = []

    def make(
        name: str = "app",
        before_init: Callable[[Flask], None] | None = None,
        **config: Any,
    ) -> Flask:
        app = Flask(name)
        app.config.update(config)
        if before_init is not None:
            before_init(app)
        resilience.init_app(app)
        apps.append(app)
        return app

    yield make

    for app in apps:
        registry = app.extensions.get(EXTENSION_KEY)
        if registry is not None and registry.is_open:
            registry.shutdown(timeout=1.0)
