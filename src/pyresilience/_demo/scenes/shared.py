"""The Redis scene: several worker processes share one circuit breaker.

The demo starts its own ``redis-server`` on a free port of 127.0.0.1 and
three processes of one example app, each on its own port so each can be
addressed in turn, all with ``RESILIENCE_STORE`` pointing at that Redis.
When the upstream goes down, the first worker to call it opens the breaker;
the other two then answer 503 at once without calling the upstream at all.
After the cool-down one worker's probe closes the breaker for all three.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ..processes import HOST, ManagedProcess, free_port, redis_ping
from ._base import DemoOptions, SceneContext
from ._http import Answer, Upstream, get
from .adapters import (
    ADAPTER_SCENES,
    AdapterScene,
    Check,
    Step,
    breaker_state,
    cooldown,
    start_app,
)

__all__ = ["SharedBreakerScene", "SharedRun"]

WORKERS = 3


@dataclass(frozen=True)
class SharedRun:
    """What the workers did while sharing one breaker."""

    app: str
    redis_url: str
    startup: float
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)


class SharedBreakerScene:
    """Three workers of one example app, one breaker in Redis."""

    name = "redis"
    title = f"one breaker shared by {WORKERS} worker processes through Redis"

    def needed(self, options: DemoOptions) -> float:
        """Redis and three app processes, the script and the cool-down."""
        return 10.0

    def skip_reason(self, context: SceneContext) -> str | None:
        """Say what is missing: the store, the client, the server or an app."""
        if importlib.util.find_spec("redis") is None:
            return (
                "the redis package is not installed (pip install 'pyresilience[redis]')"
            )
        try:
            from ...stores import RedisStore  # noqa: F401
        except ImportError:
            return "pyresilience.stores.RedisStore is not available"
        if shutil.which("redis-server") is None:
            return "redis-server is not on PATH (`make redis-server` installs it)"
        if self._app(context) is None:
            return "no example app (fastapi or flask) can run here"
        return None

    def _app(self, context: SceneContext) -> AdapterScene | None:
        for scene in ADAPTER_SCENES:
            if scene.name in ("fastapi", "flask") and not scene.skip_reason(context):
                return scene
        return None

    def run(self, context: SceneContext) -> SharedRun:
        """Start Redis and the workers, then take the upstream down and up."""
        app = self._app(context)
        assert app is not None and context.root is not None
        upstream = context.control_upstream()
        redis_url = _start_redis(context)

        started = time.monotonic()
        ports = [free_port() for _ in range(WORKERS)]
        workers = []
        for index, port in enumerate(ports, start=1):
            worker = start_app(
                f"{app.name} worker {index}",
                app.command(port),
                context.root,
                upstream.url,
                store=redis_url,
            )
            context.cleanup.callback(worker.stop)
            workers.append(worker)
        timeout = min(20.0, context.time_left())
        for worker, port in zip(workers, ports, strict=True):
            worker.wait_http(f"http://{HOST}:{port}/health", timeout=timeout)
        startup = time.monotonic() - started

        urls = [f"http://{HOST}:{port}" for port in ports]
        steps, checks = _drive_workers(urls, upstream)
        return SharedRun(app.name, redis_url, startup, tuple(steps), tuple(checks))


def _start_redis(context: SceneContext) -> str:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="pyresilience-demo-redis-")
    context.cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
    argv = ["redis-server", "--port", str(port), "--bind", HOST]
    # A throwaway server: no snapshots, no append-only file, files in a temp dir.
    argv += ["--save", "", "--appendonly", "no", "--dir", workdir]
    process = ManagedProcess("redis-server", argv).start()
    context.cleanup.callback(process.stop)
    process.wait_until(lambda: redis_ping(port), timeout=5.0, what="PONG")
    return f"redis://{HOST}:{port}/0"


def _drive_workers(
    urls: list[str], upstream: Upstream
) -> tuple[list[Step], list[Check]]:
    clients = [httpx.Client(base_url=url, timeout=10.0) for url in urls]
    try:
        upstream.set_mode("ok", reset=True)
        healthy = tuple(get(client, "/quote") for client in clients)

        upstream.set_mode("down")
        before = upstream.requests()
        first = (get(clients[0], "/quote"),)
        first_cost = upstream.requests() - before
        others = tuple(get(client, "/quote") for client in clients[1:])
        others_cost = upstream.requests() - before - first_cost
        opened = _statuses(clients)

        upstream.set_mode("ok")
        wait = cooldown(others)
        time.sleep(wait)
        probe = (get(clients[-1], "/quote"),)
        closed = _statuses(clients)
        after = tuple(get(client, "/quote") for client in clients)
    finally:
        for client in clients:
            client.close()

    steps = [
        Step("healthy", "GET /quote on workers 1, 2, 3", healthy),
        Step(
            "outage",
            "GET /quote on worker 1",
            first,
            f"upstream received {first_cost}; worker 1 opened the breaker",
        ),
        Step(
            "outage",
            "GET /quote on workers 2, 3",
            others,
            f"upstream received {others_cost}",
        ),
        Step("status", "GET /status on workers 1, 2, 3", (), _states(opened)),
        Step("recovery", f"{wait:g}s later: GET /quote on worker 3", probe),
        Step("status", "GET /status on workers 1, 2, 3", (), _states(closed)),
        Step("after", "GET /quote on workers 1, 2, 3", after),
    ]
    checks = [
        Check("every worker answers 200 while healthy", _all_ok(healthy)),
        Check("worker 1 meets the outage itself", first_cost > 0),
        Check(
            "workers 2, 3: 503 + Retry-After, no upstream call",
            others_cost == 0 and all(a.status == 503 and a.retry_after for a in others),
        ),
        Check("all workers report the breaker open", _all_in(opened, "open")),
        Check(
            "one probe closes it for every worker",
            probe[0].status == 200 and _all_in(closed, "closed") and _all_ok(after),
        ),
    ]
    return steps, checks


def _statuses(clients: list[httpx.Client]) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        answers = list(pool.map(lambda c: get(c, "/status"), clients))
    return [breaker_state(answer) for answer in answers]


def _states(states: list[str | None]) -> str:
    return "breaker: " + ", ".join(str(state) for state in states)


def _all_ok(answers: tuple[Answer, ...]) -> bool:
    return all(answer.status == 200 for answer in answers)


def _all_in(states: list[str | None], state: str) -> bool:
    return all(value == state for value in states)
