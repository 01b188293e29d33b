"""Find the registry of an app, or say exactly why there is none."""

from __future__ import annotations

from flask import Flask, current_app, has_app_context

from pyresilience import ResilienceRegistry

from ._constants import EXTENSION_KEY

__all__ = ["current_registry", "registry_of"]


def registry_of(app: Flask) -> ResilienceRegistry:
    """Return the registry ``init_app`` built for ``app``.

    Raises:
        RuntimeError: ``init_app`` never ran on ``app``.
    """
    try:
        registry: ResilienceRegistry = app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            f"the Flask app {app.name!r} has no pyresilience registry: call "
            "resilience.init_app(app) in the app factory (or pass the app to "
            "Resilience(app)) before handling requests"
        ) from None
    return registry


def current_registry() -> ResilienceRegistry:
    """Return the registry of ``current_app``.

    Raises:
        RuntimeError: There is no application context, or its app never ran
            ``init_app``.
    """
    if not has_app_context():
        raise RuntimeError(
            "pyresilience_flask found no Flask application context, so it "
            "cannot tell which app's policies to use: call it while handling "
            "a request or a CLI command, inside 'with app.app_context():', "
            "or use resilience.get_registry(app) with an explicit app"
        )
    return registry_of(current_app._get_current_object())  # type: ignore[attr-defined]
