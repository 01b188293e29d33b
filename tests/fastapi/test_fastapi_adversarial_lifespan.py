"""Startup checks that catch a misspelt policy before the first request."""

from __future__ import annotations

import logging

import pytest
from _fastapi_support import MakeApp
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount

from pyresilience import ResilienceConfig, ResilienceRegistry
from pyresilience_fastapi import GuardMiddleware


def unknown_policy_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if "pyresilience.unknown_policy" in record.getMessage()
    ]


def test_startup_warns_about_a_misspelt_guard_middleware_policy(
    make_app: MakeApp, registry: ResilienceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """``add_middleware(GuardMiddleware, policy=typo)`` is reported at startup."""
    registry.register("inbound", ResilienceConfig())
    app = make_app()
    app.add_middleware(GuardMiddleware, policy="inbuond")

    with caplog.at_level(logging.WARNING), TestClient(app):
        pass

    warnings = unknown_policy_warnings(caplog)
    assert len(warnings) == 1
    assert "GuardMiddleware uses policy 'inbuond'" in warnings[0]
    assert "registered: ['inbound']" in warnings[0]


def test_startup_warns_about_a_mounted_guard_middleware(
    make_app: MakeApp, registry: ResilienceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """A sub-app mounted behind ``GuardMiddleware`` has its name checked too."""
    app = make_app()
    app.router.routes.append(
        Mount("/v2", app=GuardMiddleware(Starlette(), policy="missing"))
    )

    with caplog.at_level(logging.WARNING), TestClient(app):
        pass

    warnings = unknown_policy_warnings(caplog)
    assert len(warnings) == 1
    assert "GuardMiddleware at /v2 uses policy 'missing'" in warnings[0]


def test_guard_middleware_with_its_own_registry_is_checked_against_it(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    """A middleware given ``registry=`` is judged by that registry's names."""
    own = ResilienceRegistry()
    own.register("inbound", ResilienceConfig())
    app = make_app()
    app.add_middleware(GuardMiddleware, policy="inbound", registry=own)

    with caplog.at_level(logging.WARNING), TestClient(app):
        pass

    assert unknown_policy_warnings(caplog) == []


def test_a_default_silences_the_middleware_check(
    make_app: MakeApp, registry: ResilienceRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """With a default every name is servable, so nothing is reported."""
    registry.set_default(ResilienceConfig())
    app = make_app()
    app.add_middleware(GuardMiddleware, policy="anything")

    with caplog.at_level(logging.WARNING), TestClient(app):
        pass

    assert unknown_policy_warnings(caplog) == []
