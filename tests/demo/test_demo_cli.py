"""The ``demo`` command: arguments, exit status, skips, and real scenes."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyresilience.__main__ import main
from pyresilience._demo import runner
from pyresilience._demo.processes import ManagedProcess, StartError
from pyresilience._demo.scenes import SceneResult
from pyresilience._demo.scenes import adapters as adapter_scenes
from pyresilience._demo.scenes._base import DemoOptions, SceneContext

REPO = Path(__file__).resolve().parents[2]


def run(options: DemoOptions) -> tuple[list[SceneResult], str]:
    """Run the demo in-process; return the results and the report text."""
    lines: list[str] = []
    results = runner.run_demo(options, lines.append)
    return results, "\n".join(lines)


class FailingScene:
    """A scene that always raises, to check the demo carries on."""

    name = "broken"
    title = "a scene that raises"

    def needed(self, options: DemoOptions) -> float:
        """Needs no time."""
        return 0.0

    def skip_reason(self, context: SceneContext) -> str | None:
        """Never skipped."""
        return None

    def run(self, context: SceneContext) -> Any:
        """Raise at once."""
        raise RuntimeError("the scene fell over")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--duration", "0.5"], "between 1 and 40 seconds"),
        (["demo", "--duration", "soon"], "must be a number of seconds"),
        (["demo", "--scenario", "chaos"], "invalid choice: 'chaos'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid options are usage errors (exit 2) that say what is allowed."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_scene_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """``--scenes`` with a typo exits 2 and names every valid scene."""
    assert main(["demo", "--scenes", "core,fastapy"]) == 2
    err = capsys.readouterr().err
    assert "unknown scene(s) 'fastapy'" in err
    assert "core, fastapi, flask, django, redis" in err


def test_missing_examples_skip_the_app_scenes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an examples/ directory each app scene says why it is skipped."""
    monkeypatch.setattr(runner, "find_root", lambda: None)
    results, text = run(DemoOptions(scenes=("fastapi", "flask", "django")))
    assert [r.status for r in results] == ["skipped"] * 3
    assert "skipped: examples/ not found: run the demo from the repository root" in text
    assert "no scene failed" in text


def test_missing_example_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A missing example app is reported by its path."""
    (tmp_path / "examples").mkdir()
    monkeypatch.setattr(runner, "find_root", lambda: tmp_path)
    results, _ = run(DemoOptions(scenes=("django",)))
    assert results[0].reason == "examples/django_project/manage.py not found"


def test_missing_framework_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A framework that is not installed is named with the extra to install."""
    real = adapter_scenes.importlib.util.find_spec
    monkeypatch.setattr(
        adapter_scenes.importlib.util,
        "find_spec",
        lambda name: None if name == "flask" else real(name),
    )
    results, _ = run(DemoOptions(scenes=("flask",)))
    assert results[0].status == "skipped"
    assert results[0].reason == (
        "flask is not installed (pip install 'pyresilience[flask]')"
    )


def test_scene_over_budget_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scene that would overrun the time budget is skipped, not started."""
    monkeypatch.setattr(runner, "BUDGET", 2.0)
    results, _ = run(DemoOptions(duration=5.0, scenes=("core",)))
    assert results[0].status == "skipped"
    assert results[0].reason.startswith("needs ~9s, ")


def test_a_failing_scene_fails_the_run_but_not_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One scene raising is reported; later scenes still run; exit is 1."""
    monkeypatch.setattr(runner, "find_root", lambda: None)
    scenes = (FailingScene(), *adapter_scenes.ADAPTER_SCENES[:1])
    monkeypatch.setattr(runner, "ALL_SCENES", scenes)
    assert main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: RuntimeError: the scene fell over" in out
    assert "fastapi  skipped" in out
    assert "1 scene(s) failed" in out


def test_start_error_carries_the_childs_output() -> None:
    """A child that dies on start-up is reported with its last output."""
    code = "print('cannot bind'); raise SystemExit(3)"
    process = ManagedProcess("broken app", [sys.executable, "-c", code]).start()
    try:
        with pytest.raises(StartError, match="exited with code 3") as info:
            process.wait_http("http://127.0.0.1:9/health", timeout=10)
    finally:
        process.stop()
    assert "cannot bind" in str(info.value)


@pytest.mark.slow
def test_cli_core_run_exits_0_with_a_report() -> None:
    """``python -m pyresilience demo --duration 3`` prints a report and exits 0."""
    argv = [sys.executable, "-m", "pyresilience", "demo", "--duration", "3"]
    argv += ["--scenes", "core", "--scenario", "outage"]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "[1/1] core policies vs. no protection" in out
    assert "quotes: 0 errors reached the callers" in " ".join(out.split())
    assert "  core     ok" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert result.stderr == ""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fastapi", "flask", "django"])
def test_example_app_scene_meets_the_contract(name: str) -> None:
    """Each example app, run as a real server, passes the outage script."""
    results, text = run(DemoOptions(scenes=(name,)))
    result = results[0]
    assert result.status == "ok", text
    assert result.data.passed
    assert "502, 503 x4 (Retry-After: 2)" in text
    assert "200 x5, 429 x3 (Retry-After: 1)" in text


def _redis_available() -> bool:
    return shutil.which("redis-server") is not None


@pytest.mark.slow
@pytest.mark.redis
def test_redis_scene_shares_one_breaker() -> None:
    """Three workers on one Redis: the first opens the breaker for all."""
    if not _redis_available():
        if os.environ.get("PYRESILIENCE_REQUIRE_REDIS"):
            pytest.fail("redis-server is required but not on PATH")
        pytest.skip("redis-server is not installed")
    results, text = run(DemoOptions(scenes=("redis",)))
    assert results[0].status == "ok", text
    assert "workers 2, 3: 503 + Retry-After, no upstream call" in text
    assert "breaker: open, open, open" in text
    assert "breaker: closed, closed, closed" in text


def test_without_httpx_the_demo_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The core has no dependencies, so a missing httpx is a clear usage error."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "httpx" else real(name, *args),
    )
    assert main(["demo", "--scenes", "core"]) == 2
    assert "the demo needs httpx: pip install httpx" in capsys.readouterr().err


def test_version_flag_prints_the_installed_version(capsys) -> None:
    """`pyresilience --version` prints the package version and exits 0."""
    import pytest

    import pyresilience
    from pyresilience.__main__ import main

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyresilience {pyresilience.__version__}"
