"""``Depends(resilience(name))``: the handle, its calls, and per-app registries."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from _fastapi_support import MakeApp
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from pyresilience import (
    CircuitBreakerConfig,
    CircuitState,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    UnknownPolicyError,
)
from pyresilience_fastapi import (
    PolicyDependency,
    PolicyHandle,
    get_registry,
    guard,
    resilience,
    resilience_lifespan,
)

Api = Annotated[PolicyHandle, Depends(resilience("api"))]


def breaker_config(threshold: int = 2) -> ResilienceConfig:
    return ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=threshold, recovery_timeout=30.0
        )
    )


def test_same_name_gives_the_same_dependency_object() -> None:
    """``resilience(name)`` is cached per name, so FastAPI resolves it once."""
    assert resilience("a") is resilience("a")
    assert resilience("a") is not resilience("b")
    assert isinstance(resilience("a"), PolicyDependency)
    assert repr(resilience("a")) == "resilience('a')"


@pytest.mark.parametrize("name", ["", None, 3])
def test_bad_names_are_rejected(name: Any) -> None:
    """A name that is not a non-empty string fails at once."""
    with pytest.raises(TypeError, match="non-empty string"):
        resilience(name)


def test_handle_is_bound_to_the_name(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """The endpoint receives a handle of the named policy of its app."""
    registry.register("api", ResilienceConfig())
    app = make_app()

    @app.get("/")
    async def endpoint(api: Api) -> dict[str, Any]:
        return {"name": api.name, "repr": repr(api), "status": api.status().name}

    with TestClient(app) as client:
        assert client.get("/").json() == {
            "name": "api",
            "repr": "<PolicyHandle 'api'>",
            "status": "api",
        }


def test_async_functions_run_on_the_loop_sync_ones_in_the_threadpool(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """``await handle.call`` awaits async functions and offloads sync ones."""
    registry.register("api", ResilienceConfig(retry=RetryConfig(max_attempts=1)))
    app = make_app()
    threads: dict[str, int] = {}

    async def async_work(x: int, *, y: int) -> int:
        threads["async"] = threading.get_ident()
        return x + y

    def sync_work(x: int, *, y: int) -> int:
        threads["sync"] = threading.get_ident()
        return x * y

    @app.get("/")
    async def endpoint(api: Api) -> list[int]:
        threads["loop"] = threading.get_ident()
        return [
            await api.call(async_work, 2, y=3),
            await api.call(sync_work, 2, y=3),
            await api.call(functools.partial(async_work, 1), y=1),
        ]

    with TestClient(app) as client:
        assert client.get("/").json() == [5, 6, 2]

    assert threads["async"] == threads["loop"]
    assert threads["sync"] != threads["loop"]


def test_sync_endpoint_uses_the_blocking_form(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """``call_sync`` runs a plain function through the policy in a def endpoint."""
    registry.register(
        "api", ResilienceConfig(retry=RetryConfig(max_attempts=3, delay=0))
    )
    app = make_app()
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    @app.get("/")
    def endpoint(api: Api) -> str:
        return api.call_sync(flaky)

    with TestClient(app) as client:
        assert client.get("/").json() == "ok"
    assert len(attempts) == 3


def test_call_sync_refuses_async_functions(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Passing an async function to the blocking form says what to use instead."""
    registry.register("api", ResilienceConfig())
    app = make_app()

    async def work() -> None:  # pragma: no cover - never called
        pass

    @app.get("/")
    def endpoint(api: Api) -> None:
        api.call_sync(work)

    with TestClient(app) as client, pytest.raises(TypeError, match="await handle.call"):
        client.get("/")


def test_plain_function_returning_a_coroutine_is_an_error(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """A lambda wrapping async work is refused instead of leaking a coroutine."""
    registry.register("api", ResilienceConfig())
    app = make_app()

    async def work() -> str:  # pragma: no cover - closed unawaited
        return "never"

    @app.get("/")
    async def endpoint(api: Api) -> None:
        await api.call(lambda: work())

    with TestClient(app) as client, pytest.raises(TypeError, match="awaitable"):
        client.get("/")


def test_unknown_name_lists_registered_ones(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """An unregistered name with no default fails naming the known names."""
    registry.register("known-a", ResilienceConfig())
    registry.register("known-b", ResilienceConfig())
    app = make_app()

    @app.get("/")
    async def endpoint(
        api: Annotated[PolicyHandle, Depends(resilience("missing"))],
    ) -> None:  # pragma: no cover - never reached
        pass

    with TestClient(app) as client, pytest.raises(UnknownPolicyError) as info:
        client.get("/")
    message = str(info.value)
    assert "missing" in message
    assert "known-a" in message and "known-b" in message


def test_unknown_name_uses_the_registry_default(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """With a default config set, an unknown name gets a working policy."""
    registry.set_default(ResilienceConfig(retry=RetryConfig(max_attempts=2, delay=0)))
    app = make_app()
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("once")
        return "ok"

    @app.get("/")
    async def endpoint(
        api: Annotated[PolicyHandle, Depends(resilience("unlisted"))],
    ) -> str:
        return await api.call(flaky)

    with TestClient(app) as client:
        assert client.get("/").json() == "ok"
    assert len(attempts) == 2


def test_dependency_overrides_swap_the_registry(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Overriding ``get_registry`` reroutes every resilience dependency."""
    registry.register("api", ResilienceConfig())
    other = ResilienceRegistry()
    other.register("api", ResilienceConfig())
    other.register("only-in-other", ResilienceConfig())
    app = make_app()

    @app.get("/")
    async def endpoint(api: Api) -> bool:
        return api.policy.registry is other

    app.dependency_overrides[get_registry] = lambda: other
    with TestClient(app) as client:
        assert client.get("/").json() is True


def test_sync_and_async_endpoints_share_one_breaker(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """Failures seen by a def endpoint open the breaker for an async one."""
    registry.register("api", breaker_config(threshold=2))
    app = make_app()

    def fail() -> None:
        raise ConnectionError("down")

    async def ok() -> str:  # pragma: no cover - rejected by the open breaker
        return "ok"

    @app.get("/sync")
    def sync_endpoint(api: Api) -> None:
        api.call_sync(fail)

    @app.get("/async")
    async def async_endpoint(api: Api) -> str:
        return await api.call(ok)

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/sync").status_code == 500
        assert client.get("/sync").status_code == 500
        response = client.get("/async")

    assert response.status_code == 503
    assert response.json()["policy"] == "api"
    assert registry.status()["api"].breaker.state is CircuitState.OPEN


def build_app(threshold: int) -> tuple[FastAPI, ResilienceRegistry]:
    """An app factory: a fresh registry per app."""
    registry = ResilienceRegistry()
    registry.register("api", breaker_config(threshold))
    app = FastAPI(lifespan=resilience_lifespan(registry))

    def fail() -> None:
        raise ConnectionError("down")

    @app.get("/fail")
    async def endpoint(api: Api) -> None:
        await api.call(fail)

    return app, registry


def test_two_apps_in_one_process_never_share_state() -> None:
    """Opening one app's breaker leaves another app's breaker closed."""
    first, first_registry = build_app(threshold=2)
    second, second_registry = build_app(threshold=2)

    with (
        TestClient(first, raise_server_exceptions=False) as a,
        TestClient(second, raise_server_exceptions=False) as b,
    ):
        assert [a.get("/fail").status_code for _ in range(3)] == [500, 500, 503]
        assert b.get("/fail").status_code == 500

    assert first_registry.status()["api"].breaker.state is CircuitState.OPEN
    assert second_registry.status()["api"].breaker.state is CircuitState.CLOSED


def test_override_may_take_the_request_and_be_async(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """An async override receiving the request also reroutes the dependency."""
    registry.register("api", ResilienceConfig())
    other = ResilienceRegistry()
    other.register("api", ResilienceConfig())
    app = make_app()
    seen: list[str] = []

    async def override(request: Request) -> ResilienceRegistry:
        seen.append(request.url.path)
        return other

    @app.get("/here")
    async def endpoint(api: Api) -> bool:
        return api.policy.registry is other

    app.dependency_overrides[get_registry] = override
    with TestClient(app) as client:
        assert client.get("/here").json() is True
    assert seen == ["/here"]


def many_arguments(a: object, b: object) -> ResilienceRegistry:  # pragma: no cover
    raise AssertionError("never called")


def yields_registry() -> Iterator[ResilienceRegistry]:  # pragma: no cover
    yield ResilienceRegistry()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (many_arguments, "may take no argument or the request, not 2"),
        (yields_registry, "dependencies with yield are not supported"),
        (lambda: "registry", "must be a ResilienceRegistry, got 'registry'"),
    ],
)
def test_unusable_overrides_fail_with_a_clear_error(
    make_app: MakeApp, override: Any, message: str
) -> None:
    """Overrides the adapter cannot call say what shape is expected."""
    app = make_app()

    @app.get("/")
    async def endpoint(api: Api) -> None:  # pragma: no cover - never reached
        pass

    app.dependency_overrides[get_registry] = override
    with TestClient(app) as client, pytest.raises(TypeError, match=message):
        client.get("/")


def test_overriding_a_guard_switches_it_off(
    make_app: MakeApp, registry: ResilienceRegistry
) -> None:
    """``dependency_overrides[guard(name)]`` lets tests bypass inbound limits."""
    registry.register(
        "inbound", ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=1))
    )
    app = make_app()

    @app.get("/", dependencies=[Depends(guard("inbound"))])
    async def endpoint() -> str:
        return "ok"

    app.dependency_overrides[guard("inbound")] = lambda: None
    with TestClient(app) as client:
        assert [client.get("/").status_code for _ in range(3)] == [200] * 3
