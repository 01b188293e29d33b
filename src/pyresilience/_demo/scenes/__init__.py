"""The demo's scenes: the core policies, one per web adapter, then Redis.

Each scene says why it must be skipped (a missing framework, binary or
example app) or runs and returns data for :mod:`..report` to lay out.
"""

from __future__ import annotations

from ._base import Scene, SceneContext, SceneResult
from .adapters import ADAPTER_SCENES
from .core import CoreScene
from .shared import SharedBreakerScene

__all__ = ["ALL_SCENES", "Scene", "SceneContext", "SceneResult", "scene_names"]

#: Every scene in the order the demo runs them.
ALL_SCENES: tuple[Scene, ...] = (CoreScene(), *ADAPTER_SCENES, SharedBreakerScene())


def scene_names() -> list[str]:
    """Return the names accepted by ``--scenes``."""
    return [scene.name for scene in ALL_SCENES]
