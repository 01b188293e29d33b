"""Run a plain function through a named policy, Django's way.

Django's answers (``Http404``, ``PermissionDenied``, 400s) pass through
because the registry's configs ignore them (see :mod:`._answers`): they
are neither retried nor counted by a breaker, yet use their rate-limit
permit like any call that ran.

A query refused in a timeout worker (:class:`WorkerDatabaseError`) is a bug
in the caller's code, and must reach it at once: :func:`shield` lets it
leave the pipeline inside :class:`_PassThrough`, a ``BaseException``, which
the core lets through untouched (no retry, no breaker count, no fallback,
no cache entry); the original is raised again outside.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from . import _db, _runtime
from ._answers import NEUTRAL

__all__ = ["NEUTRAL", "acall", "call", "shield"]

_CALLER: contextvars.ContextVar[_db.Caller | None] = contextvars.ContextVar(
    "pyresilience_django_caller", default=None
)


class _PassThrough(BaseException):
    """Carries an exception through the pipeline without it counting."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def shield(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a sync function once, at decoration time, for :func:`call`.

    One wrapper per decorated function keeps the core's per-function cache
    keys stable.
    """

    @functools.wraps(fn)
    def shielded(*args: Any, **kwargs: Any) -> Any:
        origin = _CALLER.get()
        if origin is not None and origin.is_foreign():
            return _run_in_worker(origin, fn, args, kwargs)
        return fn(*args, **kwargs)

    return shielded


def _run_in_worker(
    origin: _db.Caller, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    try:
        with _db.refuse_queries(origin):
            return fn(*args, **kwargs)
    except _db.WorkerDatabaseError as error:
        # A refused query is a bug in the caller's code: retrying it or
        # opening a breaker over it would only hide it.
        raise _PassThrough(error) from None
    finally:
        _db.close_worker_connections()


def call(name: str, shielded: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Run a shielded sync function through the whole pipeline of ``name``."""
    policy = _runtime.policy(name)
    token = _CALLER.set(_db.caller(name))
    try:
        return policy.call(shielded, *args, **kwargs)
    except _PassThrough as passed:
        error = passed.error
    finally:
        _CALLER.reset(token)
    raise error


async def acall(
    name: str, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """Run an async function through the whole pipeline of ``name``.

    Async functions need no shield: they never run in a timeout worker.
    """
    return await _runtime.policy(name).acall(fn, *args, **kwargs)
