"""What the pipeline needs to know about the callables it protects."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ._config import ResilienceConfig

__all__ = ["check_fallback_fits", "is_async_callable", "qualified_name"]


def qualified_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of ``fn``, used in events and error messages."""
    module = getattr(fn, "__module__", None)
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    return f"{module}.{name}" if module else name


def is_async_callable(fn: object) -> bool:
    """True for coroutine functions and objects with an async ``__call__``."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


def check_fallback_fits(fn: Callable[..., Any], config: ResilienceConfig) -> None:
    """Refuse an async fallback handler on a sync function, at decoration."""
    fallback = config.fallback
    if (
        fallback is not None
        and inspect.iscoroutinefunction(fallback.handler)
        and not is_async_callable(fn)
    ):
        raise TypeError(
            f"FallbackConfig.handler {fallback.handler!r} is async but "
            f"{qualified_name(fn)} is sync: a sync caller cannot await it; "
            "use a sync handler or decorate an async function"
        )
