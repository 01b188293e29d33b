"""Flask apps for the web suite, served in process by ``test_client()``."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from ._subjects import Unavailable
from ._suite_web import NAME, POLICY

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["plain_client", "resilient_client"]


def _flask() -> Any:
    try:
        import flask
    except ImportError as exc:
        raise Unavailable(f"flask is not installed ({exc})") from None
    return flask


@functools.cache
def plain_client() -> Any:
    """Return a test client of an app without pyresilience."""
    app: Flask = _flask().Flask("bench_plain")

    @app.get("/bare")
    def bare() -> str:
        return "ok"

    return app.test_client()


@functools.cache
def resilient_client() -> Any:
    """Return a test client of an app with the ``Resilience`` extension."""
    app: Flask = _flask().Flask("bench_resilient")
    try:
        from pyresilience_flask import Resilience
    except ImportError as exc:
        raise Unavailable(f"Flask adapter not importable ({exc})") from None

    app.config["RESILIENCE_POLICIES"] = {NAME: POLICY}
    resilience = Resilience(app)

    @app.get("/bare")
    def bare() -> str:
        return "ok"

    @app.get("/protect")
    @resilience.protect(NAME)
    def protected() -> str:
        return "ok"

    @app.get("/guard")
    @resilience.guard(NAME)
    def guarded() -> str:
        return "ok"

    return app.test_client()
