"""Django's answers to the client pass through every policy untouched.

``Http404``, ``PermissionDenied`` and the errors Django answers with a 400
(``BadRequest``, ``SuspiciousOperation``, ``MultiPartParserError``) are
answers, not failures, and so is ``UnreadablePostError``: the client hung
up while sending its body. The registry therefore holds, for each policy, a
copy of its config in which they are in ``retry.ignore_on`` and
``circuit_breaker.ignore_on``, and in which a broad fallback re-raises them
instead of replacing them. A call that raised one still used its rate-limit
permit: the work behind it ran.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from pyresilience import FallbackConfig, ResilienceConfig

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

_MARK = "_pyresilience_django_passes_answers"


def pass_answers(config: ResilienceConfig) -> ResilienceConfig:
    """Return ``config`` with :data:`NEUTRAL` passing through every pattern.

    Args:
        config: The policy as loaded from the setting; left untouched.

    Returns:
        ``config`` itself when nothing needs changing, else a new config.
    """
    changes: dict[str, Any] = {}
    retry, breaker, fallback = config.retry, config.circuit_breaker, config.fallback
    if retry is not None and not _ignores_all(retry.ignore_on):
        changes["retry"] = replace(retry, ignore_on=_with_neutral(retry.ignore_on))
    if breaker is not None and not _ignores_all(breaker.ignore_on):
        changes["circuit_breaker"] = replace(
            breaker, ignore_on=_with_neutral(breaker.ignore_on)
        )
    if fallback is not None and _needs_wrapping(fallback):
        wanted = tuple(k for k in fallback.fallback_on if issubclass(k, NEUTRAL))
        changes["fallback"] = replace(
            fallback, handler=_reraise_answers(fallback.handler, wanted)
        )
    if not changes:
        return config

    # Warnings about this config were reported when it was loaded (W002);
    # building the copy must not raise them again.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return replace(config, **changes)


def _catches(types: tuple[type[BaseException], ...], kind: type) -> bool:
    return any(issubclass(kind, caught) for caught in types)


def _ignores_all(types: tuple[type[BaseException], ...]) -> bool:
    return all(_catches(types, kind) for kind in NEUTRAL)


def _with_neutral(
    types: tuple[type[BaseException], ...],
) -> tuple[type[BaseException], ...]:
    return (*types, *(kind for kind in NEUTRAL if not _catches(types, kind)))


def _needs_wrapping(fallback: FallbackConfig) -> bool:
    # Only a broad ``fallback_on`` (Exception, ...) catches answers by
    # accident; a handler that is already wrapped needs nothing more.
    caught = any(_catches(fallback.fallback_on, kind) for kind in NEUTRAL)
    return caught and not getattr(fallback.handler, _MARK, False)


def _reraise_answers(
    handler: Any, wanted: tuple[type[BaseException], ...]
) -> Callable[[BaseException], Any]:
    """Wrap a fallback handler (value, function or coroutine function).

    Answers are re-raised unchanged, except those of a type the user listed
    in ``fallback_on`` themselves (``wanted``).
    """
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def afallback(exc: BaseException) -> Any:
            if isinstance(exc, NEUTRAL) and not isinstance(exc, wanted):
                raise exc
            return await handler(exc)

        setattr(afallback, _MARK, True)
        return afallback

    def fallback(exc: BaseException) -> Any:
        if isinstance(exc, NEUTRAL) and not isinstance(exc, wanted):
            raise exc
        return handler(exc) if callable(handler) else handler

    if callable(handler):
        functools.update_wrapper(fallback, handler)
    setattr(fallback, _MARK, True)
    return fallback
