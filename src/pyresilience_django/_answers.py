"""Django's answers to the client pass through every policy untouched.

``Http404``, ``PermissionDenied`` and the errors Django answers with a 400
(``BadRequest``, ``SuspiciousOperation``, ``MultiPartParserError``) are
answers, not failures, and so is ``UnreadablePostError``: the client hung
up while sending its body. The registry therefore holds, for each policy, a
copy of its config in which they are in ``retry.ignore_on`` and
``circuit_breaker.ignore_on``, and in which a broad fallback re-raises them
instead of replacing them (the core's
:func:`pyresilience.config.pass_through`). A call that raised one still
used its rate-limit permit: the work behind it ran.
"""

from __future__ import annotations

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from pyresilience import ResilienceConfig
from pyresilience.config import pass_through

__all__ = ["NEUTRAL", "pass_answers"]

NEUTRAL: tuple[type[Exception], ...] = (
    Http404,
    PermissionDenied,
    BadRequest,
    SuspiciousOperation,
    MultiPartParserError,
    UnreadablePostError,
)
"""Django exceptions that are answers (4xx) or the client's doing, never failures."""


def pass_answers(config: ResilienceConfig) -> ResilienceConfig:
    """Return ``config`` with :data:`NEUTRAL` passing through every pattern.

    Args:
        config: The policy as loaded from the setting; left untouched.

    Returns:
        ``config`` itself when nothing needs changing, else a new config.
    """
    return pass_through(config, NEUTRAL)
