"""Named scenarios: how the upstream's mode changes over a run.

A scenario is a list of phases with relative weights; :func:`build_schedule`
stretches it over the run's duration. The upstream looks up the phase for
the seconds elapsed since its schedule (re)started, so every client sees the
same phase at the same moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .modes import Mode

__all__ = ["SCENARIOS", "Phase", "Scenario", "Schedule", "build_schedule"]


@dataclass(frozen=True)
class Phase:
    """One stretch of the run: ``mode`` holds from ``start`` to ``end`` s."""

    label: str
    start: float
    end: float
    mode: Mode


@dataclass(frozen=True)
class Scenario:
    """A named sequence of ``(label, weight, mode)`` steps."""

    name: str
    summary: str
    steps: tuple[tuple[str, float, Mode], ...]


_HEALTHY = Mode("ok")
_ERRORS = Mode("flaky", error_rate=0.3)
_SPIKES = Mode("slow", latency=1.2, spike_rate=0.3)
_THROTTLED = Mode("ratelimit", limit=20, retry_after=1.0)
_OUTAGE = Mode("down")

#: Every scenario the demo and the standalone upstream accept.
SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "standard",
            "errors, latency spikes, 429s, then an outage",
            (
                ("healthy", 0.12, _HEALTHY),
                ("errors", 0.18, _ERRORS),
                ("spikes", 0.16, _SPIKES),
                ("throttled", 0.12, _THROTTLED),
                ("outage", 0.22, _OUTAGE),
                ("recovery", 0.20, _HEALTHY),
            ),
        ),
        Scenario(
            "outage",
            "a long full outage between two healthy stretches",
            (
                ("healthy", 0.25, _HEALTHY),
                ("outage", 0.45, _OUTAGE),
                ("recovery", 0.30, _HEALTHY),
            ),
        ),
        Scenario(
            "flaky",
            "half of all answers are errors",
            (
                ("healthy", 0.2, _HEALTHY),
                ("errors", 0.6, Mode("flaky", error_rate=0.5)),
                ("recovery", 0.2, _HEALTHY),
            ),
        ),
        Scenario(
            "latency",
            "latency spikes longer than the policies' timeouts",
            (
                ("healthy", 0.2, _HEALTHY),
                ("spikes", 0.6, Mode("slow", latency=1.5, spike_rate=0.4)),
                ("recovery", 0.2, _HEALTHY),
            ),
        ),
        Scenario(
            "ratelimit",
            "the upstream sheds load with 429 and Retry-After",
            (
                ("healthy", 0.2, _HEALTHY),
                ("throttled", 0.6, _THROTTLED),
                ("recovery", 0.2, _HEALTHY),
            ),
        ),
        Scenario("healthy", "no faults at all", (("healthy", 1.0, _HEALTHY),)),
    )
}


@dataclass(frozen=True)
class Schedule:
    """Phases back to back from 0 to ``duration`` seconds."""

    scenario: str
    phases: tuple[Phase, ...]

    @property
    def duration(self) -> float:
        """Seconds until the last phase ends."""
        return self.phases[-1].end

    def phase_at(self, elapsed: float) -> Phase:
        """Return the phase holding ``elapsed`` seconds into the run.

        Before 0 the first phase holds; after the end the last one stays.
        """
        for phase in self.phases:
            if elapsed < phase.end:
                return phase
        return self.phases[-1]


def build_schedule(scenario: str, duration: float) -> Schedule:
    """Stretch the scenario named ``scenario`` over ``duration`` seconds.

    Raises:
        ValueError: For an unknown scenario (the message lists the known
            ones) or a duration that is not a positive finite number.
    """
    if scenario not in SCENARIOS:
        raise ValueError(
            f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
        )
    if not 0 < duration < math.inf:
        raise ValueError(f"duration must be > 0 seconds, got {duration!r}")

    steps = SCENARIOS[scenario].steps
    total = sum(weight for _, weight, _ in steps)
    phases = []
    start = 0.0
    for index, (label, weight, mode) in enumerate(steps):
        # The last phase ends exactly at ``duration``, free of rounding drift.
        last = index == len(steps) - 1
        end = float(duration) if last else start + duration * weight / total
        phases.append(Phase(label, start, end, mode))
        start = end
    return Schedule(scenario, tuple(phases))
