"""The config keys the extension reads, kept in one place."""

from __future__ import annotations

from typing import Final

__all__ = ["EXTENSION_KEY", "ConfigKeys", "config_path"]

#: Where each app's registry lives: ``app.extensions[EXTENSION_KEY]``.
EXTENSION_KEY: Final = "pyresilience"


class ConfigKeys:
    """Names of the ``app.config`` keys read by :meth:`Resilience.init_app`.

    Attributes:
        POLICIES: Mapping of policy name to policy mapping (or
            ``ResilienceConfig``), in the core loader's format.
        DEFAULT: Policy mapping every policy inherits, and the config used
            for names that are not registered. Unset: unknown names fail.
        STORE: Where breaker, limiter and bulkhead state lives: ``None``
            (this process), a URL such as ``"redis://127.0.0.1:6379/0"``, a
            mapping or a ``StateStore``.
        HTTP_ERRORS: ``False`` turns off the mapping of resilience errors
            to 503 / 429 / 504 responses. Default ``True``.
        CLOCK: A :class:`pyresilience.Clock` for every policy of the app;
            meant for tests (``pyresilience.testing.FakeClock``).
    """

    POLICIES: Final = "RESILIENCE_POLICIES"
    DEFAULT: Final = "RESILIENCE_DEFAULT"
    STORE: Final = "RESILIENCE_STORE"
    HTTP_ERRORS: Final = "RESILIENCE_HTTP_ERRORS"
    CLOCK: Final = "RESILIENCE_CLOCK"


def config_path(key: str) -> str:
    """Return how error messages spell the config entry ``key``."""
    return f'app.config["{key}"]'
