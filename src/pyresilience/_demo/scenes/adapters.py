"""One scene per web adapter: its example app as a real server process.

Each scene starts ``examples/<framework>`` on 127.0.0.1 with
``UPSTREAM_URL`` pointing at the demo's flaky upstream, then drives it over
HTTP: healthy answers, an outage (502 while retries are spent, then 503
with ``Retry-After`` once the breaker opens), a burst against the inbound
rate limit (429 with ``Retry-After``), and recovery once the breaker's
cool-down has passed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..processes import HOST, ManagedProcess, free_port
from ._base import DemoOptions, SceneContext
from ._http import Answer, Upstream, burst, get

__all__ = ["ADAPTER_SCENES", "AdapterScene", "AppRun", "Check", "Step", "drive_app"]

#: Shortest and longest wait for a breaker's cool-down before recovery.
_MIN_WAIT, _MAX_WAIT = 0.5, 3.0


@dataclass(frozen=True)
class Step:
    """Requests sent in one stage of a scene and what came back."""

    label: str
    request: str
    answers: tuple[Answer, ...]
    note: str = ""


@dataclass(frozen=True)
class Check:
    """One expectation of the example-app contract, met or not."""

    text: str
    passed: bool


@dataclass(frozen=True)
class AppRun:
    """What one example app did under the demo's script."""

    command: str
    startup: float
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.passed for check in self.checks)


def breaker_state(answer: Answer, policy: str = "upstream") -> str | None:
    """Read ``policy``'s breaker state from a ``GET /status`` answer."""
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get(policy), dict):
        state = body[policy].get("state")
        return str(state) if state is not None else None
    return None


def cooldown(answers: Sequence[Answer]) -> float:
    """Seconds to wait for the breaker, from the last ``Retry-After`` seen."""
    for answer in reversed(answers):
        if answer.status == 503 and answer.retry_after:
            try:
                seconds = float(answer.retry_after)
            except ValueError:
                continue
            return min(max(seconds, _MIN_WAIT), _MAX_WAIT)
    return _MAX_WAIT


def drive_app(app_url: str, upstream: Upstream) -> tuple[list[Step], list[Check]]:
    """Run the outage script against the app at ``app_url``.

    Returns:
        The steps in order, and the contract checks they support.
    """
    with httpx.Client(base_url=app_url, timeout=10.0) as app:
        upstream.set_mode("ok", reset=True)
        healthy = tuple(get(app, "/quote") for _ in range(3))

        upstream.set_mode("down")
        before = upstream.requests()
        outage = tuple(get(app, "/quote") for _ in range(5))
        spent = upstream.requests() - before
        opened = get(app, "/status")
        limited = tuple(sorted(burst(app_url, "/limited", 8), key=_by_status))

        upstream.set_mode("ok")
        wait = cooldown(outage)
        time.sleep(wait)
        recovered = tuple(get(app, "/quote") for _ in range(3))
        closed = get(app, "/status")

    steps = [
        Step("healthy", "GET /quote x3", healthy),
        Step(
            "outage",
            "GET /quote x5",
            outage,
            f"upstream received {spent} of them (retries included)",
        ),
        Step("status", "GET /status", (opened,), f"breaker: {breaker_state(opened)}"),
        Step("burst", "GET /limited x8 at once", limited),
        Step(
            "recovery",
            f"{wait:g}s later: GET /quote x3",
            recovered,
            f"breaker: {breaker_state(closed)}",
        ),
    ]
    checks = [
        Check("200 while the upstream is healthy", _all(healthy, 200)),
        Check("503 + Retry-After once the breaker is open", _any(outage, 503)),
        # Without the breaker, 5 calls x 3 attempts would reach the upstream.
        Check("the open breaker spares the upstream", 0 < spent < 15),
        Check("429 + Retry-After over the inbound limit", _any(limited, 429)),
        Check("200 and a closed breaker after recovery", _recovered(recovered, closed)),
    ]
    return steps, checks


def _by_status(answer: Answer) -> int:
    return answer.status


def _all(answers: Sequence[Answer], status: int) -> bool:
    return all(answer.status == status for answer in answers)


def _any(answers: Sequence[Answer], status: int) -> bool:
    return any(a.status == status and a.retry_after for a in answers)


def _recovered(answers: Sequence[Answer], status: Answer) -> bool:
    return answers[-1].status == 200 and breaker_state(status) == "closed"


class AdapterScene:
    """Start one framework's example app and drive it through an outage.

    Args:
        name: Scene name for ``--scenes``, e.g. ``"fastapi"``.
        title: Headline in the report.
        example: Path of the file that must exist, relative to the root.
        requires: Modules that must be importable, with the extra to install.
        command: Builds the server command line for a port.
    """

    def __init__(
        self,
        name: str,
        title: str,
        example: str,
        requires: Sequence[tuple[str, str]],
        command: Callable[[int], list[str]],
    ) -> None:
        self.name = name
        self.title = title
        self.example = example
        self.requires = tuple(requires)
        self.command = command

    def needed(self, options: DemoOptions) -> float:
        """Start-up, the script and the breaker's cool-down."""
        return 8.0

    def skip_reason(self, context: SceneContext) -> str | None:
        """Say what is missing: a framework, the examples, or the app."""
        for module, extra in self.requires:
            if importlib.util.find_spec(module) is None:
                return (
                    f"{module} is not installed (pip install 'pyresilience[{extra}]')"
                )
        if context.root is None:
            return "examples/ not found: run the demo from the repository root"
        if not (context.root / self.example).is_file():
            return f"{self.example} not found"
        return None

    def run(self, context: SceneContext) -> AppRun:
        """Start the app against the shared upstream and drive it."""
        assert context.root is not None
        upstream = context.control_upstream()
        port = free_port()
        process = start_app(self.name, self.command(port), context.root, upstream.url)
        context.cleanup.callback(process.stop)
        try:
            startup = process.wait_http(
                f"http://{HOST}:{port}/health", timeout=min(15.0, context.time_left())
            )
            steps, checks = drive_app(f"http://{HOST}:{port}", upstream)
        finally:
            process.stop()
        return AppRun(_shown(process.argv), startup, tuple(steps), tuple(checks))


def start_app(
    name: str,
    argv: list[str],
    root: Path,
    upstream_url: str,
    store: str | None = None,
) -> ManagedProcess:
    """Start an example app server with the contract's environment.

    Args:
        name: Shown in errors.
        argv: The server command line.
        root: Repository root, the working directory.
        upstream_url: Passed as ``UPSTREAM_URL``.
        store: Passed as ``RESILIENCE_STORE``; never inherited otherwise.
    """
    path = os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
    )
    env = {"UPSTREAM_URL": upstream_url, "PYTHONPATH": path}
    if store is not None:
        env["RESILIENCE_STORE"] = store
    process = ManagedProcess(name, argv, env=env, unset=("RESILIENCE_STORE",), cwd=root)
    return process.start()


def _shown(argv: list[str]) -> str:
    shown = ["python" if arg == sys.executable else arg for arg in argv]
    return " ".join(shown)


def _uvicorn(target: str) -> Callable[[int], list[str]]:
    def command(port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            target,
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]

    return command


def _flask(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "flask",
        "--app",
        "examples.flask_app",
        "run",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-reload",
        "--no-debugger",
    ]


def _django(port: int) -> list[str]:
    manage = str(Path("examples", "django_project", "manage.py"))
    return [sys.executable, manage, "runserver", f"{HOST}:{port}", "--noreload"]


#: The three adapter scenes, in report order.
ADAPTER_SCENES: tuple[AdapterScene, ...] = (
    AdapterScene(
        "fastapi",
        "FastAPI example app under uvicorn",
        "examples/fastapi_app.py",
        (("fastapi", "fastapi"), ("uvicorn", "test")),
        _uvicorn("examples.fastapi_app:app"),
    ),
    AdapterScene(
        "flask",
        "Flask example app under the werkzeug server",
        "examples/flask_app.py",
        (("flask", "flask"),),
        _flask,
    ),
    AdapterScene(
        "django",
        "Django example project under runserver",
        "examples/django_project/manage.py",
        (("django", "django"),),
        _django,
    ),
)


def describe_answers(answers: Sequence[Answer]) -> str:
    """Return statuses in order, runs folded, e.g. ``"502, 503 x4"``.

    The first ``Retry-After`` seen is added, e.g. ``"(Retry-After: 2)"``;
    status ``---`` means no answer at all.
    """
    runs: list[list[Any]] = []
    for answer in answers:
        code = str(answer.status or "---")
        if runs and runs[-1][0] == code:
            runs[-1][1] += 1
        else:
            runs.append([code, 1])
    codes = ", ".join(code if n == 1 else f"{code} x{n}" for code, n in runs)
    after = next((a.retry_after for a in answers if a.retry_after), None)
    return f"{codes} (Retry-After: {after})" if after else codes


def first_error(answers: Sequence[Answer]) -> Any:
    """Return the body of the first non-200 answer, for diagnostics."""
    return next((a.body or a.error for a in answers if a.status != 200), None)
