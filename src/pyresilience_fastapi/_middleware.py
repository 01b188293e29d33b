"""``GuardMiddleware``: guard a whole ASGI app with one policy."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pyresilience import RejectedError, ResilienceRegistry

from ._dependencies import is_hang_up
from ._errors import REJECTION_STATUS_KEY, error_response
from ._provider import provide_registry_for_scope
from ._validate import policy_name

__all__ = ["GuardMiddleware"]


class _ServerErrorStatus(Exception):
    """Raised inside the guard so a 5xx response counts as a breaker failure."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the app answered with HTTP {status}")
        self.status = status


class _RejectedFurtherIn(RejectedError):
    """Raised inside the guard for a 503 the error mapping made of a rejection.

    Being a rejection, the core records no verdict for it, as it does when a
    rejection escapes ``guard()``: an open breaker further in must not open
    this one too.
    """


class GuardMiddleware:
    """Pure ASGI middleware admitting each HTTP request through a policy.

    The breaker, rate limiter and bulkhead of ``policy`` decide before the
    app sees the request; a rejected request gets the 503/429 JSON response
    of :func:`error_response` right here and never reaches the app. The
    bulkhead slot is held until the last byte of the response has been
    sent. A 5xx response, or an exception escaping the app, counts as a
    breaker failure (per the policy's ``error_types``); anything else as a
    success, including a client that hung up mid-request. A 503 that the
    error mapping made of a rejection (an open breaker further in, a
    shutdown) counts neither way, as rejections do in the core. Websocket and
    lifespan traffic passes through untouched.

    Use it for a whole app (``app.add_middleware(GuardMiddleware,
    policy="inbound")``) or a mounted sub-app; for single routes or routers
    use ``Depends(guard(name))``.

    Args:
        app: The ASGI app to guard.
        policy: The registry name of the guarding policy.
        registry: The registry to use; by default the one
            ``resilience_lifespan`` opened for the app serving the request,
            or the override of ``get_registry`` in ``app.dependency_overrides``.

    Raises:
        TypeError: ``policy`` is not a non-empty string, or ``registry`` is
            not a ``ResilienceRegistry``.
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: str,
        *,
        registry: ResilienceRegistry | None = None,
    ) -> None:
        policy_name(policy, "policy")
        if registry is not None and not isinstance(registry, ResilienceRegistry):
            raise TypeError(
                f"registry must be a ResilienceRegistry or None, got {registry!r}"
            )
        self.app = app
        self.policy = policy
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 0
        client_gone = False

        async def send_and_watch(message: Message) -> None:
            nonlocal status, client_gone
            if message["type"] == "http.response.start":
                status = message["status"]
            try:
                await send(message)
            except OSError:
                client_gone = True  # servers raise OSError once the peer left
                raise

        policy = (await self._registry_for(scope)).policy(self.policy)
        admitted = False
        hung_up: Exception | None = None
        try:
            async with policy.aguard():
                admitted = True
                try:
                    await self.app(scope, receive, send_and_watch)
                except Exception as exc:
                    if not (client_gone or is_hang_up(exc)):
                        raise
                    # A client hanging up says nothing about this service's
                    # health: leave the guard cleanly, then let it propagate.
                    hung_up = exc
                if status >= 500:
                    if status == scope.get(REJECTION_STATUS_KEY):
                        raise _RejectedFurtherIn(f"answered HTTP {status}")
                    raise _ServerErrorStatus(status)
        except (_ServerErrorStatus, _RejectedFurtherIn):
            pass  # already sent; it only had to be seen by the breaker
        except RejectedError as exc:
            if admitted:
                raise
            await error_response(exc)(scope, receive, send)
        if hung_up is not None:
            raise hung_up

    async def _registry_for(self, scope: Scope) -> ResilienceRegistry:
        if self.registry is not None:
            return self.registry
        return await provide_registry_for_scope(scope)
