"""What every scene shares: options, context, result, and the protocol."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from ..processes import start_upstream
from ._http import Upstream

__all__ = ["DemoOptions", "Scene", "SceneContext", "SceneResult", "find_root"]


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for on the command line.

    Args:
        scenario: Name of the upstream schedule for the core scene.
        duration: Seconds of load in the core scene.
        seed: Seeds the upstream's luck, so a run can be repeated.
        scenes: Names of the scenes to run; empty for all.
    """

    scenario: str = "standard"
    duration: float = 12.0
    seed: int = 7
    scenes: tuple[str, ...] = ()


@dataclass
class SceneContext:
    """What a scene may use while it runs.

    Attributes:
        options: The command-line options.
        root: The directory holding ``examples/``, or ``None`` if not found.
        deadline: ``time.monotonic()`` value by which the whole demo must end.
        cleanup: Stops every process a scene started, even on errors.
    """

    options: DemoOptions
    root: Path | None
    deadline: float
    cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    _upstream: Upstream | None = None

    def time_left(self) -> float:
        """Return the seconds left before the demo's deadline."""
        return self.deadline - time.monotonic()

    def control_upstream(self) -> Upstream:
        """Return the upstream the app scenes share, starting it once.

        It follows no schedule: scenes switch it with ``POST /_control``.
        """
        if self._upstream is None:
            process, url = start_upstream(seed=self.options.seed)
            self.cleanup.callback(process.stop)
            self._upstream = Upstream(url)
            self.cleanup.callback(self._upstream.close)
        return self._upstream


@dataclass
class SceneResult:
    """How a scene went: ``data`` for ``ok``, ``reason`` otherwise."""

    name: str
    title: str
    status: Literal["ok", "skipped", "failed"]
    reason: str = ""
    seconds: float = 0.0
    data: Any = None


class Scene(Protocol):
    """One part of the demo."""

    #: Short name used by ``--scenes``.
    name: str
    #: Headline in the report.
    title: str

    def needed(self, options: DemoOptions) -> float:
        """Return the seconds the scene takes at most (skipped if less is left)."""
        ...

    def skip_reason(self, context: SceneContext) -> str | None:
        """Return why the scene cannot run here, or ``None``."""
        ...

    def run(self, context: SceneContext) -> Any:
        """Run the scene and return its data for the report."""
        ...


def find_root() -> Path | None:
    """Find the repository root, the directory holding ``examples/``.

    The current directory wins; otherwise the checkout this package was
    installed from in editable mode.
    """
    here = Path(__file__).resolve()
    for candidate in (Path.cwd(), *here.parents):
        if (candidate / "examples").is_dir() and (
            candidate / "pyproject.toml"
        ).is_file():
            return candidate
    return None
