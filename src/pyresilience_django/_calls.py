"""Run a plain function through a named policy, Django's way.

``Http404`` and ``PermissionDenied`` are answers, not failures: they must
never be retried nor counted by a breaker. Rather than change the user's
configs, the function is wrapped once (:func:`shield`) so those exceptions
leave the pipeline inside :class:`_PassThrough`, a ``BaseException``; the
core lets such exceptions through untouched (no retry, no breaker count, no
fallback, no cache entry) and the original is raised again outside.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from . import _db, _runtime

__all__ = ["NEUTRAL", "acall", "ashield", "call", "shield"]

NEUTRAL = (Http404, PermissionDenied)
"""Django exceptions that are answers, never failures."""

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
        try:
            return fn(*args, **kwargs)
        except NEUTRAL as error:
            raise _PassThrough(error) from None

    return shielded


def _run_in_worker(
    origin: _db.Caller, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    try:
        with _db.refuse_queries(origin):
            return fn(*args, **kwargs)
    except (*NEUTRAL, _db.WorkerDatabaseError) as error:
        # A refused query is a bug in the caller's code: retrying it or
        # opening a breaker over it would only hide it.
        raise _PassThrough(error) from None
    finally:
        _db.close_worker_connections()


def ashield(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap an async function once, at decoration time, for :func:`acall`."""

    @functools.wraps(fn)
    async def shielded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except NEUTRAL as error:
            raise _PassThrough(error) from None

    return shielded


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
    name: str, shielded: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """Run a shielded async function through the whole pipeline of ``name``."""
    policy = _runtime.policy(name)
    try:
        return await policy.acall(shielded, *args, **kwargs)
    except _PassThrough as passed:
        error = passed.error
    raise error
