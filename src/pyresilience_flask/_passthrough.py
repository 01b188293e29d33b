"""Keep HTTP errors raised on purpose out of retries, breakers and fallbacks.

A view or helper that calls ``abort(404)`` inside a protected function is
answering the client, not failing. Every policy of a Flask app is therefore
given a copy of its config in which Werkzeug's ``HTTPException`` is ignored
by retry and circuit breaker, and is re-raised by the fallback instead of
being replaced (the core's :func:`pyresilience.config.pass_through`). The
user's own config objects are never changed.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from pyresilience import ResilienceConfig
from pyresilience.config import pass_through

__all__ = ["pass_http_errors"]


def pass_http_errors(config: ResilienceConfig) -> ResilienceConfig:
    """Return ``config`` with ``HTTPException`` passing through every pattern.

    Args:
        config: The policy as configured by the user; left untouched.

    Returns:
        ``config`` itself when nothing needs changing, else a new config.
    """
    return pass_through(config, (HTTPException,))
