"""Rows, targets and the text table they are printed as."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "INFO",
    "MISS",
    "PASS",
    "SKIP",
    "Check",
    "Row",
    "Section",
    "render",
    "summarise",
]

PASS = "PASS"
MISS = "MISS"
SKIP = "SKIP"
INFO = "info"


@dataclass
class Check:
    """One target applied to a row.

    Attributes:
        target: The target in words, e.g. ``"<= 3x"``.
        result: :data:`PASS`, :data:`MISS`, :data:`SKIP` or :data:`INFO`.
        ratio: The row's value over the reference's, for ratio targets.
        vs: The reference the ratio is taken against.
    """

    target: str
    result: str
    ratio: float | None = None
    vs: str = ""


@dataclass
class Row:
    """One measured case, and the targets it is judged by, if any.

    Attributes:
        case: What was measured, e.g. ``"tenacity @retry"``.
        kind: ``"floor"``, ``"peer"`` or ``"ours"``.
        value: The headline number (best run), ``None`` when skipped.
        unit: Unit of ``value`` and ``median``, e.g. ``"ns/call"``.
        median: The median run, when there were several.
        note: Why a row was skipped, or a remark on how to read it.
        checks: The targets applied to this row, in order.
    """

    case: str
    kind: str
    value: float | None
    unit: str
    median: float | None = None
    note: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        """True when the case could not be measured."""
        return self.value is None


@dataclass
class Section:
    """A titled group of rows measured together in one run."""

    title: str
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        """Append ``row`` and return it."""
        self.rows.append(row)
        return row

    def skip(self, case: str, kind: str, reason: str, unit: str = "ns/call") -> Row:
        """Append a row that could not be measured, with the reason."""
        return self.add(Row(case, kind, None, unit, note=reason))

    def find(self, case: str) -> Row | None:
        """Return the row named ``case``, or ``None``."""
        for row in self.rows:
            if row.case == case:
                return row
        return None

    def judge(
        self,
        case: str,
        against: Sequence[str],
        limit: float,
        *,
        strict: bool = False,
        informative: bool = False,
    ) -> None:
        """Judge row ``case`` by its ratio to the fastest of ``against``.

        Args:
            case: The judged row.
            against: Reference rows; the one with the smallest value is used
                (the fastest peer, when several peers do the same job).
            limit: The largest allowed ratio.
            strict: The ratio must be below ``limit`` rather than at most it.
            informative: Show the ratio but judge nothing (no peer does the
                same job, so a stand-in is shown for scale).
        """
        row = self.find(case)
        if row is None:
            return
        target = f"{'<' if strict else '<='} {limit:g}x"
        refs = [r for name in against if (r := self.find(name)) and not r.skipped]
        if row.skipped or not refs:
            if informative:
                return
            row.checks.append(Check(target, SKIP, vs=" / ".join(against)))
            if not row.skipped:
                row.note = row.note or "no reference could be measured"
            return

        # For rates (req/s) the fastest reference is the largest and the cost
        # ratio is inverted, so "1.03x" always reads "3% more time per call".
        rate = row.unit.endswith("/s")
        pick = max if rate else min
        ref = pick(refs, key=lambda r: r.value or 0.0)
        assert ref.value is not None and row.value is not None
        cost, base = (ref.value, row.value) if rate else (row.value, ref.value)
        ratio = cost / base if base > 0 else math.inf
        if informative:
            row.checks.append(Check("", INFO, ratio, ref.case))
            return

        ok = ratio < limit if strict else ratio <= limit
        row.checks.append(Check(target, PASS if ok else MISS, ratio, ref.case))

    def require_at_most(self, case: str, limit: float) -> None:
        """Judge row ``case`` by its own value: it must not exceed ``limit``."""
        row = self.find(case)
        if row is None:
            return
        target = f"<= {limit:g} {row.unit}"
        if row.skipped:
            row.checks.append(Check(target, SKIP))
            return

        assert row.value is not None
        row.checks.append(Check(target, PASS if row.value <= limit else MISS))


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1 or value == 0:
        return f"{value:.1f}"
    return f"{value:.3f}"


_HEADERS = ("case", "best", "median", "unit", "ratio", "vs", "target", "result")


def _check_cells(check: Check | None) -> tuple[str, ...]:
    if check is None:
        return ("", "", "", "")
    ratio = "" if check.ratio is None else f"{check.ratio:.2f}x"
    return (ratio, check.vs, check.target, check.result)


def _lines(row: Row) -> list[tuple[str, ...]]:
    first = (
        f"{row.case} [{row.kind}]",
        _number(row.value),
        _number(row.median) if row.median is not None else "",
        row.unit,
    )
    checks: list[Check | None] = list(row.checks) or [None]
    lines = [first + _check_cells(checks[0])]
    for check in checks[1:]:
        lines.append(("", "", "", "") + _check_cells(check))
    return lines


def render(sections: Iterable[Section], header: str = "") -> str:
    """Return every section as one aligned text table, notes below each."""
    sections = list(sections)
    cells = [line for s in sections for row in s.rows for line in _lines(row)]
    widths = [
        max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(_HEADERS)
    ]
    numeric = {1, 2, 4}

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [header] if header else []
    out.append(line(_HEADERS))
    out.append("  ".join("-" * w for w in widths))
    for section in sections:
        out.append(f"-- {section.title}")
        notes: dict[str, list[str]] = {}
        for row in section.rows:
            out.extend(line(cells) for cells in _lines(row))
            if row.note:
                notes.setdefault(row.note, []).append(row.case)
        # One line per distinct note, so a shared skip reason is said once.
        out.extend(
            f"     * {', '.join(cases)}: {note}" for note, cases in notes.items()
        )
    out.append("")
    out.append(summarise(sections))
    return "\n".join(out)


def summarise(sections: Iterable[Section]) -> str:
    """Return a count of target results and a line per missed target."""
    judged = [
        (section, row, check)
        for section in sections
        for row in section.rows
        for check in row.checks
        if check.result in (PASS, MISS, SKIP)
    ]
    counts = {
        key: sum(1 for *_, check in judged if check.result == key)
        for key in (PASS, MISS, SKIP)
    }
    lines = [f"targets: {counts[PASS]} PASS, {counts[MISS]} MISS, {counts[SKIP]} SKIP"]
    for section, row, check in judged:
        if check.result != PASS:
            if check.ratio is not None:
                shown = f"{check.ratio:.2f}x {check.vs}"
            else:
                shown = f"{_number(row.value)} {row.unit}"
            lines.append(
                f"  {check.result}  {section.title} / {row.case}: {shown}"
                f" (target {check.target})"
            )
    return "\n".join(lines)
