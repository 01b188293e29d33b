"""The object a handler receives from ``Depends(resilience(name))``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from pyresilience import Policy, PolicyStatus

__all__ = ["PolicyHandle", "is_async_callable"]

P = ParamSpec("P")
T = TypeVar("T")


def is_async_callable(fn: object) -> bool:
    """Tell whether calling ``fn`` returns a coroutine.

    Sees through :func:`functools.partial` and objects whose ``__call__`` is
    an ``async def``.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    return inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class PolicyHandle:
    """One named policy of the serving app's registry, bound for a request.

    Get it with ``Depends(resilience("payment-api"))``. Every call goes
    through the whole pipeline of that policy (retry, timeout, breaker, ...);
    the breaker, rate limiter and bulkhead are the ones every other caller of
    the same name in the same app shares, sync and async alike.
    """

    __slots__ = ("_policy",)

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    @property
    def name(self) -> str:
        """The registry name of the policy."""
        return self._policy.name

    @property
    def policy(self) -> Policy:
        """The core policy object, for ``guard()``, ``status()`` and the rest."""
        return self._policy

    def status(self) -> PolicyStatus:
        """Return a snapshot of the policy's breaker, limiter and bulkhead."""
        return self._policy.status()

    @overload
    async def call(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    @overload
    async def call(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T: ...

    async def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` through the policy without blocking the loop.

        An ``async def`` function is awaited on the event loop. A plain
        function runs, pipeline and all, in Starlette's threadpool, so its
        retries, back-off sleeps and timeouts never stall other requests.

        Args:
            fn: The function to protect, sync or async. Pass the function
                itself, not the coroutine it returns nor a lambda wrapping it.
            *args: Positional arguments for ``fn``.
            **kwargs: Keyword arguments for ``fn``.

        Returns:
            What ``fn`` returned (or the policy's fallback value).

        Raises:
            CircuitOpenError: The breaker is open.
            RateLimitExceededError: No rate-limit permit came in time.
            BulkheadFullError: No concurrency slot came in time.
            ResilienceTimeoutError: The attempt or the whole call timed out.
            TypeError: ``fn`` is a plain function that returned an awaitable.
            Exception: What the last attempt of ``fn`` raised.
        """
        if is_async_callable(fn):
            return await self._policy.acall(fn, *args, **kwargs)

        result = await run_in_threadpool(self._policy.call, fn, *args, **kwargs)
        return _reject_awaitable(fn, result)

    def call_sync(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a plain function through the policy, blocking; for sync endpoints.

        FastAPI runs ``def`` endpoints in a worker thread, where blocking is
        fine. Do not use this from ``async def`` code: use ``await call()``.

        Args:
            fn: A plain (not ``async def``) function.
            *args: Positional arguments for ``fn``.
            **kwargs: Keyword arguments for ``fn``.

        Returns:
            What ``fn`` returned (or the policy's fallback value).

        Raises:
            TypeError: ``fn`` is an ``async def`` function.
        """
        if is_async_callable(fn):
            raise TypeError(
                f"call_sync() needs a plain function, got the async function "
                f"{fn!r}; use `await handle.call(...)` from an async endpoint"
            )
        result = self._policy.call(fn, *args, **kwargs)
        return cast("T", _reject_awaitable(fn, result))

    def __repr__(self) -> str:
        return f"<PolicyHandle {self.name!r}>"


def _reject_awaitable(fn: object, result: object) -> object:
    # A sync wrapper around async work (``lambda: client.get(url)``) would
    # hand back an un-awaited coroutine after the policy judged it a success.
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if close is not None:
            close()
        raise TypeError(
            f"{fn!r} is a plain function but returned an awaitable, so the "
            "policy could not see its outcome; pass the async function itself: "
            "`await handle.call(client.get, url)`"
        )
    return result
