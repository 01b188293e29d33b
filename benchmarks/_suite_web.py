"""Requests per second of a trivial endpoint, with and without the adapter.

All three frameworks are driven in process, with no sockets: FastAPI through
``httpx.AsyncClient`` on ``httpx.ASGITransport`` (the app's lifespan run by
hand, its state copied into each request's scope as ASGI servers do), Flask
through ``app.test_client()``, Django through ``django.test.Client``. The
"bare" row is an app without pyresilience at all; the adapter's rows run in
an app with the adapter fully installed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ._cases import ANY, Case, run_async, run_sync
from ._harness import Settings
from ._report import Section

__all__ = ["POLICY", "django_sections", "fastapi_sections", "flask_sections"]

#: The policy every adapter row uses: three attempts without delay, a breaker
#: and a bulkhead.
POLICY: dict[str, Any] = {
    "retry": {"max_attempts": 3, "delay": 0},
    "circuit_breaker": {"failure_threshold": 5},
    "bulkhead": {"max_concurrent": 10},
}
NAME = "bench"


def web_settings(settings: Settings) -> Settings:
    """Return longer, more repeated runs: a request is noisier than a call."""
    return dataclasses.replace(
        settings, repeats=settings.repeats * 2, min_time=settings.min_time * 2
    )


def _judge(section: Section, case: str, floor: str, informative: bool = False) -> None:
    section.judge(case, [floor], 1.05, strict=True, informative=informative)


def _as_rate(section: Section) -> Section:
    """Turn ns/request into req/s; note each adapter row's added time."""
    floor = next((r for r in section.rows if r.kind == "floor" and r.value), None)
    for row in section.rows:
        if floor and row is not floor and row.value and floor.value:
            added = (row.value - floor.value) / 1000
            row.note = f"{added:+.1f} us per request against {floor.case}"
    for row in section.rows:
        if row.value is not None:
            row.value = 1e9 / row.value if row.value else float("inf")
            row.median = 1e9 / row.median if row.median else None
        row.unit = "req/s"
    return section


def _expect_ok(response: Any) -> Any:
    status = getattr(response, "status_code", None)
    if status != 200:
        raise RuntimeError(f"expected HTTP 200, got {status}: {response!r}")
    return True


def fastapi_sections(settings: Settings, sections: Sequence[str] = ()) -> list[Section]:
    """FastAPI: ``Depends(resilience(name))`` with ``await payment.call(fn)``."""
    from . import _web_fastapi as web

    loop = asyncio.new_event_loop()
    try:
        with web.Apps(loop) as apps:

            def get(client: Any, path: str) -> Callable[[], Any]:
                async def request() -> Any:
                    return _expect_ok(await client.get(path))

                return request

            cases = [
                Case("bare endpoint", "floor", lambda: get(apps.plain(), "/bare"), ANY),
                Case(
                    "Depends(plain dependency)",
                    "floor",
                    lambda: get(apps.plain(), "/dep"),
                    ANY,
                ),
                Case(
                    "bare endpoint, hook installed",
                    "ours",
                    lambda: get(apps.resilient(), "/bare"),
                    ANY,
                ),
                Case(
                    "Depends(resilience) + call",
                    "ours",
                    lambda: get(apps.resilient(), "/call"),
                    ANY,
                ),
                Case(
                    "Depends(guard)",
                    "ours",
                    lambda: get(apps.resilient(), "/guard"),
                    ANY,
                ),
            ]
            title = "FastAPI, async endpoint, httpx ASGITransport in process"
            section = run_async(title, cases, web_settings(settings), loop)
    finally:
        loop.close()
    _as_rate(section)
    _judge(section, "Depends(resilience) + call", "bare endpoint")
    _judge(
        section,
        "Depends(resilience) + call",
        "Depends(plain dependency)",
        informative=True,
    )
    _judge(section, "Depends(guard)", "bare endpoint", informative=True)
    _judge(section, "bare endpoint, hook installed", "bare endpoint", informative=True)
    return [section]


def flask_sections(settings: Settings, sections: Sequence[str] = ()) -> list[Section]:
    """Flask: ``@resilience.protect(name)`` on a view, ``test_client()``."""
    from . import _web_flask as web

    def get(client: Any, path: str) -> Callable[[], Any]:
        return lambda: _expect_ok(client.get(path))

    cases = [
        Case("bare view", "floor", lambda: get(web.plain_client(), "/bare"), ANY),
        Case(
            "bare view, extension installed",
            "ours",
            lambda: get(web.resilient_client(), "/bare"),
            ANY,
        ),
        Case(
            "@resilience.protect view",
            "ours",
            lambda: get(web.resilient_client(), "/protect"),
            ANY,
        ),
        Case(
            "@resilience.guard view",
            "ours",
            lambda: get(web.resilient_client(), "/guard"),
            ANY,
        ),
    ]
    title = "Flask, sync view, app.test_client() in process"
    section = _as_rate(run_sync(title, cases, web_settings(settings)))
    _judge(section, "@resilience.protect view", "bare view")
    _judge(section, "@resilience.guard view", "bare view", informative=True)
    _judge(section, "bare view, extension installed", "bare view", informative=True)
    return [section]


def django_sections(settings: Settings, sections: Sequence[str] = ()) -> list[Section]:
    """Django: ``pyresilience_django.resilient(name)`` on a view, test Client."""
    from . import _web_django as web

    def get(client: Any, path: str) -> Callable[[], Any]:
        return lambda: _expect_ok(client.get(path))

    cases = [
        Case(
            "bare view, no middleware",
            "floor",
            lambda: get(web.plain_client(), "/bare"),
            ANY,
        ),
        Case(
            "bare view, middleware installed",
            "ours",
            lambda: get(web.resilient_client(), "/bare"),
            ANY,
        ),
        Case(
            "@resilient view",
            "ours",
            lambda: get(web.resilient_client(), "/protected"),
            ANY,
        ),
    ]
    title = "Django, sync view, django.test.Client in process"
    section = _as_rate(run_sync(title, cases, web_settings(settings)))
    _judge(section, "@resilient view", "bare view, no middleware")
    _judge(
        section,
        "bare view, middleware installed",
        "bare view, no middleware",
        informative=True,
    )
    return [section]
