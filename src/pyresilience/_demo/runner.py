"""Runs the chosen scenes in order within the demo's time budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from .report import render_header, render_scene, render_summary, scene_heading
from .scenes import ALL_SCENES, Scene, SceneContext, SceneResult
from .scenes._base import DemoOptions, find_root

__all__ = ["BUDGET", "run_demo", "select_scenes"]

logger = logging.getLogger(__name__)

#: Seconds the whole demo may take; the issue asks for under a minute.
BUDGET = 55.0


def select_scenes(names: Sequence[str]) -> list[Scene]:
    """Return the scenes named in ``names`` in demo order; all when empty.

    Raises:
        ValueError: For an unknown name; the message lists the known ones.
    """
    known = {scene.name: scene for scene in ALL_SCENES}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(
            f"unknown scene(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(known)}"
        )
    return [scene for scene in ALL_SCENES if not names or scene.name in names]


def run_demo(options: DemoOptions, write: Callable[[str], None]) -> list[SceneResult]:
    """Run the selected scenes, writing the report as each one ends.

    Args:
        options: What to run and how.
        write: Receives the report, one line at a time.

    Returns:
        One result per selected scene, in order.
    """
    started = time.monotonic()
    scenes = select_scenes(options.scenes)
    context = SceneContext(options, find_root(), deadline=started + BUDGET)
    results: list[SceneResult] = []
    _emit(write, render_header(options, [scene.name for scene in scenes]))
    with context.cleanup:
        for index, scene in enumerate(scenes, start=1):
            _emit(write, scene_heading(index, len(scenes), scene.title))
            result = _run_scene(scene, context)
            results.append(result)
            _emit(write, render_scene(result))
    _emit(write, render_summary(results, time.monotonic() - started))
    return results


def _run_scene(scene: Scene, context: SceneContext) -> SceneResult:
    reason = scene.skip_reason(context)
    needed = scene.needed(context.options)
    if reason is None and needed > context.time_left():
        left = max(context.time_left(), 0.0)
        reason = f"needs ~{needed:.0f}s, {left:.0f}s left of the {BUDGET:.0f}s budget"
    if reason is not None:
        return SceneResult(scene.name, scene.title, "skipped", reason)

    started = time.monotonic()
    try:
        data = scene.run(context)
    except Exception as exc:
        # One broken scene must not hide the others; the report says why.
        logger.debug("scene %s failed", scene.name, exc_info=True)
        return SceneResult(
            scene.name,
            scene.title,
            "failed",
            f"{type(exc).__name__}: {exc}",
            time.monotonic() - started,
        )

    seconds = time.monotonic() - started
    if getattr(data, "passed", True):
        return SceneResult(scene.name, scene.title, "ok", "", seconds, data)
    failed = [check.text for check in data.checks if not check.passed]
    reason = "contract not met: " + "; ".join(failed)
    return SceneResult(scene.name, scene.title, "failed", reason, seconds, data)


def _emit(write: Callable[[str], None], lines: Sequence[str]) -> None:
    for line in lines:
        write(line)
