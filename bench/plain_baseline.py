"""A plain reference of the X-of-Y baseline, written line by line from
`../shared/spec/metering.md` with dates and dictionaries (no numpy, no shared code with
`oracle.metering.baseline`): the benchmark times it next to the engine's vectorised rule, and
the tests compare the two on random data. Deliberately independent, like the checker.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta


def plain_x_of_y(
    wall: Mapping[tuple[date, int], int],
    event_day: date,
    window_minutes: list[int],
    *,
    x: int,
    y: int,
    mid: bool,
    activation_days: set[date] = frozenset(),  # type: ignore[assignment]
    adjust: bool = False,
) -> tuple[list[int], list[date]] | None:
    """`wall[(day, minute of day)]` = Wh of the interval starting then (local wall clock);
    `window_minutes`: the event window's interval starts on the event day, minutes after
    midnight (may go past 1440 for a window crossing midnight). Returns (baseline per
    interval, days used oldest first), or None when fewer than Y days qualify."""

    def value(day: date, minute: int) -> int | None:
        d, m = day + timedelta(days=minute // 1440), minute % 1440
        return wall.get((d, m))

    is_weekend = event_day.weekday() >= 5
    candidates: list[date] = []
    for back in range(1, 46):
        day = event_day - timedelta(days=back)
        if (day.weekday() >= 5) != is_weekend or day in activation_days:
            continue
        if any(value(day, m) is None for m in window_minutes):
            continue
        candidates.append(day)
        if len(candidates) == y:
            break
    if len(candidates) < y:
        return None

    def total(day: date) -> int:
        return sum(value(day, m) or 0 for m in window_minutes)

    ranked = sorted(candidates, key=lambda d: (-total(d), -d.toordinal()))
    used = ranked[1:-1] if mid else ranked[:x]
    divisor = len(used)

    def mean_floor(minute: int, days: list[date]) -> int:
        return sum(value(d, minute) or 0 for d in days) // divisor

    baseline = [mean_floor(m, used) for m in window_minutes]
    if adjust:
        start = window_minutes[0]
        adj_minutes = [start - 120 + 15 * j for j in range(4)]
        actual = [value(event_day, m) for m in adj_minutes]
        past = [value(d, m) for d in used for m in adj_minutes]
        if any(v is None for v in actual) or any(v is None for v in past):
            return None
        a = sum(v or 0 for v in actual) // 4
        b = sum(mean_floor(m, used) for m in adj_minutes) // 4
        lim = abs(b) * 20 // 100
        adj = max(-lim, min(lim, a - b))
        baseline = [v + adj for v in baseline]
    return baseline, sorted(used)


def wall_clock(rows: Mapping[int, tuple[int, int]]) -> dict[tuple[date, int], int]:
    """unix seconds -> (offset seconds, Wh) into (local day, minute of day) -> Wh; the
    earlier reading when a local quarter hour occurs twice."""
    wall: dict[tuple[date, int], int] = {}
    for unix_s in sorted(rows):
        offset_s, wh = rows[unix_s]
        local = datetime(1970, 1, 1) + timedelta(seconds=unix_s + offset_s)
        wall.setdefault((local.date(), local.hour * 60 + local.minute), wh)
    return wall
