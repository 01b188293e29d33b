"""The upstream's modes and scenario schedules."""

from __future__ import annotations

import math

import pytest

from pyresilience._demo.modes import MODE_NAMES, Mode
from pyresilience._demo.schedule import SCENARIOS, build_schedule


def test_mode_defaults_make_a_bare_mode_visible() -> None:
    """A mode named without parameters still misbehaves noticeably."""
    assert Mode.from_mapping({"mode": "flaky"}).error_rate == 0.3
    assert Mode.from_mapping({"mode": "slow"}).latency == 1.0


def test_mode_round_trips_through_json_form() -> None:
    """``to_mapping`` gives back what ``from_mapping`` accepts."""
    mode = Mode("ratelimit", retry_after=2.0, limit=7)
    assert Mode.from_mapping(mode.to_mapping()) == mode
    assert mode.to_mapping()["mode"] == "ratelimit"


def test_unknown_mode_lists_the_known_ones() -> None:
    """A bad mode name is rejected with every allowed name in the message."""
    with pytest.raises(ValueError, match="got 'broken'") as info:
        Mode.from_mapping({"mode": "broken"})
    assert all(name in str(info.value) for name in MODE_NAMES)


def test_unknown_key_is_rejected_by_name() -> None:
    """A typo in a parameter name is reported, not silently ignored."""
    with pytest.raises(ValueError, match="'eror_rate'"):
        Mode.from_mapping({"mode": "flaky", "eror_rate": 0.5})


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({"mode": "flaky", "error_rate": 1.5}, ValueError, r"error_rate must be in"),
        ({"mode": "slow", "latency": -1}, ValueError, r"latency must be >= 0"),
        ({"mode": "slow", "latency": math.nan}, ValueError, r"finite"),
        ({"mode": "ratelimit", "limit": 1.5}, TypeError, r"limit must be an int"),
        ({"mode": "flaky", "error_rate": "x"}, TypeError, r"must be a number"),
        ({}, ValueError, r"'mode' must be one of"),
    ],
)
def test_bad_parameters_name_field_and_value(
    data: dict[str, object], error: type[Exception], match: str
) -> None:
    """Out-of-range or mistyped values raise naming the field."""
    with pytest.raises(error, match=match):
        Mode.from_mapping(data)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_schedule_phases_cover_the_whole_run(name: str) -> None:
    """Phases are back to back from 0 and the last ends at the duration."""
    schedule = build_schedule(name, 7.5)
    assert schedule.phases[0].start == 0.0
    for before, after in zip(schedule.phases, schedule.phases[1:], strict=False):
        assert before.end == after.start
    assert schedule.duration == 7.5


def test_schedule_stretches_weights_over_the_duration() -> None:
    """Each phase lasts its weight's share of the duration."""
    schedule = build_schedule("outage", 10.0)
    spans = [(p.label, round(p.end - p.start, 6)) for p in schedule.phases]
    assert spans == [("healthy", 2.5), ("outage", 4.5), ("recovery", 3.0)]


def test_phase_at_clamps_before_and_after_the_run() -> None:
    """Before 0 the first phase holds, after the end the last one stays."""
    schedule = build_schedule("outage", 10.0)
    assert schedule.phase_at(-1.0).label == "healthy"
    assert schedule.phase_at(2.5).label == "outage"
    assert schedule.phase_at(6.99).label == "outage"
    assert schedule.phase_at(7.0).label == "recovery"
    assert schedule.phase_at(99.0).label == "recovery"


def test_standard_scenario_has_every_kind_of_failure() -> None:
    """The default scenario shows errors, spikes, 429s and an outage."""
    modes = {phase.mode.name for phase in build_schedule("standard", 12).phases}
    assert modes == {"ok", "flaky", "slow", "ratelimit", "down"}


def test_unknown_scenario_lists_the_known_ones() -> None:
    """A bad scenario name is rejected with the valid names in the message."""
    with pytest.raises(ValueError, match="choose one of standard, outage"):
        build_schedule("chaos", 10)


@pytest.mark.parametrize("duration", [0, -1, math.inf])
def test_duration_must_be_positive_and_finite(duration: float) -> None:
    """Zero, negative and infinite durations are refused."""
    with pytest.raises(ValueError, match="duration must be > 0"):
        build_schedule("standard", duration)
