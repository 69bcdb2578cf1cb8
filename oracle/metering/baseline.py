"""Baselines and delivered power (`../shared/spec/metering.md`), exact integer rules.

A baseline is what an asset would have done without the activation. Methods:

- `nominated`: the aggregator's nominated schedule (a second meter-format file);
- `high_x_of_y` (default 4 of 5) and `mid_x_of_y` (default 8 of 10): from the Y newest
  earlier days of the same kind (Monday-Friday or Saturday-Sunday) within 45 days, skipping
  days with an activation of the asset and days missing any interval of the event window;
  ranked by their total over the window (highest first, ties to the newer day); `high` keeps
  the first X, `mid` drops the first and the last (X = Y - 2); `floor(sum / X)` per interval;
- `meter_before`: the metered value of the interval just before the window, for every interval;
- the same-day additive adjustment (X-of-Y methods only) over the 4 intervals ending one hour
  before the event: `a = floor(sum(actual) / 4)`, `b = floor(sum(baseline) / 4)`,
  `lim = floor(|b| * 20 / 100)`, `adj = max(-lim, min(lim, a - b))` added to the window.

Delivered power per 15-minute interval: `up = max(0, (baseline - metered) * 4)` W,
`down = max(0, (metered - baseline) * 4)` W.

One implementation serves one asset (`compute_baseline`, the `flexmarket baseline` command)
and many (`x_of_y_baselines`, settlement of a whole session): the X-of-Y rule is written once,
on integer numpy arrays of local wall-clock intervals (`floor_divide` floors toward minus
infinity like the spec; every sum stays far inside int64, `meterdata.WH_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from oracle.errors import OracleError
from oracle.metering.meterdata import (
    DAY_S,
    INTERVAL_S,
    INTERVALS_PER_DAY,
    MeterData,
    format_instant,
    parse_instant,
)

Method = Literal["nominated", "high_x_of_y", "mid_x_of_y", "meter_before"]
METHODS: tuple[Method, ...] = ("nominated", "high_x_of_y", "mid_x_of_y", "meter_before")
DEFAULT_X_OF_Y: Mapping[str, tuple[int, int]] = {"high_x_of_y": (4, 5), "mid_x_of_y": (8, 10)}
LOOKBACK_DAYS = 45
ADJUST_INTERVALS = 4
"""The additive adjustment's window: 4 intervals ..."""
ADJUST_GAP_INTERVALS = 4
"""... ending one hour (4 intervals) before the event starts."""
ADJUST_LIMIT_PERCENT = 20
MAX_WINDOW_INTERVALS = INTERVALS_PER_DAY
"""An event window is at most one day."""
_MARGIN_DAYS = LOOKBACK_DAYS + 1
"""Local days kept before the event day: the look-back, and one more for an adjustment window
that starts before midnight of the oldest candidate day."""

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class BaselineError(OracleError):
    """A baseline cannot be computed, or its parameters are wrong. `field` names the input
    (`--window`, `--x`, `meter`, ...), the message says what is missing or wrong."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Window:
    """An event window: `start` inclusive, `end` exclusive, whole quarter hours."""

    start_unix_s: int
    end_unix_s: int
    offset_s: int  # the offset it was written with

    @classmethod
    def parse(cls, text: str) -> Window:
        """`2026-05-26T17:00:00+02:00/2026-05-26T19:00:00+02:00`."""
        parts = text.split("/")
        if len(parts) != 2:
            raise BaselineError("--window", f"{text!r} is not START/END (two ISO 8601 times "
                                "with an offset, separated by /)")
        try:
            start, offset_s = parse_instant(parts[0])
            end, _ = parse_instant(parts[1])
        except ValueError as exc:
            raise BaselineError("--window", str(exc)) from None
        if start % INTERVAL_S or end % INTERVAL_S:
            raise BaselineError("--window", f"{text!r}: start and end must be on :00, :15, "
                                ":30 or :45")
        if end <= start:
            raise BaselineError("--window", f"{text!r}: the end is not after the start")
        if (end - start) // INTERVAL_S > MAX_WINDOW_INTERVALS:
            raise BaselineError("--window", f"{text!r} is longer than one day")
        return cls(start, end, offset_s)

    @property
    def intervals(self) -> int:
        return (self.end_unix_s - self.start_unix_s) // INTERVAL_S


@dataclass(frozen=True)
class IntervalBaseline:
    interval_start: str
    baseline_wh: int
    metered_wh: int | None

    @property
    def delivered_up_w(self) -> int | None:
        return None if self.metered_wh is None else delivered_w(
            "up", self.baseline_wh, self.metered_wh)

    @property
    def delivered_down_w(self) -> int | None:
        return None if self.metered_wh is None else delivered_w(
            "down", self.baseline_wh, self.metered_wh)


@dataclass(frozen=True)
class Baseline:
    asset: str
    method: Method
    days_used: list[str]  # ISO dates, oldest first; empty for methods without past days
    intervals: list[IntervalBaseline]
    meter_hash: str
    adjustment_wh: int | None = None  # the additive adjustment applied, when asked for
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """The `flexmarket baseline --json` document of the spec."""
        return {
            "asset": self.asset,
            "method": self.method,
            "days_used": list(self.days_used),
            "intervals": [
                {
                    "interval_start": iv.interval_start,
                    "baseline_wh": iv.baseline_wh,
                    "metered_wh": iv.metered_wh,
                    "delivered_up_w": iv.delivered_up_w,
                    "delivered_down_w": iv.delivered_down_w,
                }
                for iv in self.intervals
            ],
            "meter_hash": self.meter_hash,
        }


def delivered_w(direction: str, baseline_wh: int, metered_wh: int) -> int:
    """Average power delivered in a 15-minute interval, W (the spec's rule)."""
    if direction == "up":
        return max(0, (baseline_wh - metered_wh) * 4)
    if direction == "down":
        return max(0, (metered_wh - baseline_wh) * 4)
    raise BaselineError("--direction", f"{direction!r} is not up or down")


def weekend(day: int) -> bool:
    """Day numbers count from 1970-01-01, a Thursday: Saturday and Sunday are 2 and 3 mod 7."""
    return (day + 3) % 7 >= 5


def iso_day(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


@dataclass(frozen=True)
class LocalGrid:
    """Metered values of assets on one grid of local wall-clock intervals: `values[a, j]` is
    asset a's Wh in local interval `base + j` (present where `present[a, j]`)."""

    base: int
    values: IntArray
    present: BoolArray

    @classmethod
    def around(cls, event_day: int, assets: int) -> LocalGrid:
        """An empty grid from `_MARGIN_DAYS` before `event_day` to the end of the next day."""
        length = (_MARGIN_DAYS + 2) * INTERVALS_PER_DAY
        return cls((event_day - _MARGIN_DAYS) * INTERVALS_PER_DAY,
                   np.zeros((assets, length), dtype=np.int64),
                   np.zeros((assets, length), dtype=np.bool_))

    def fill(self, row: int, series: Mapping[int, int]) -> None:
        """Put one asset's local series (local interval -> Wh) in row `row`."""
        n = self.values.shape[1]
        for local, wh in series.items():
            j = local - self.base
            if 0 <= j < n:
                self.values[row, j] = wh
                self.present[row, j] = True


@dataclass(frozen=True)
class XOfY:
    """Baselines of many assets for one event window (`x_of_y_baselines`)."""

    baseline_wh: IntArray  # [asset, interval of the window]
    days: IntArray  # [asset, X]: local day numbers used, oldest first (-1 where not ok)
    ok: BoolArray  # [asset]
    problems: dict[int, str]  # asset row -> why its baseline cannot be computed
    adjustment_wh: IntArray | None


def x_of_y_baselines(
    grid: LocalGrid,
    first_interval: int,
    intervals: int,
    *,
    x: int,
    y: int,
    mid: bool,
    activation_days: BoolArray | None = None,
    adjust: bool = False,
) -> XOfY:
    """The X-of-Y baseline of every asset of `grid` for the window of `intervals` local
    intervals from `first_interval` (on the event day D, the day of `first_interval`).

    `activation_days[a, k]`: asset a had an activation on day D - k (k = 1..45; column 0
    unused). The result says per asset whether its baseline exists and why not."""
    assets = grid.values.shape[0]
    event_day = first_interval // INTERVALS_PER_DAY
    ks = np.arange(LOOKBACK_DAYS + 1)
    window = (first_interval - grid.base) + np.arange(intervals)
    win_idx = window[None, :] - ks[:, None] * INTERVALS_PER_DAY  # [k, i]
    values = grid.values[:, win_idx]  # [a, k, i]
    present = grid.present[:, win_idx].all(axis=2)  # [a, k]
    kind = np.array([weekend(event_day - int(k)) == weekend(event_day) for k in ks])
    eligible = present & kind[None, :]
    eligible[:, 0] = False  # the event day itself is never a candidate
    if activation_days is not None:
        eligible &= ~activation_days
    newest_rank = np.cumsum(eligible, axis=1)
    selected = eligible & (newest_rank <= y)
    found = selected.sum(axis=1)
    ok = found == y
    problems = {
        int(a): f"only {int(found[a])} of the {y} days needed: earlier "
                f"{'weekend days' if weekend(event_day) else 'weekdays'} within "
                f"{LOOKBACK_DAYS} days with every interval of the window metered and no "
                "activation"
        for a in np.flatnonzero(~ok)
    }
    # the Y selected days of each asset, newest first (k ascending); rows not ok are padded
    key = np.where(selected, ks[None, :], LOOKBACK_DAYS + 1)
    sel_k = np.sort(key, axis=1)[:, :y]
    sel_k = np.where(sel_k > LOOKBACK_DAYS, 1, sel_k)  # padding, masked out by `ok` below
    totals = values.sum(axis=2)  # [a, k]
    sel_totals = np.take_along_axis(totals, sel_k, axis=1)  # [a, y]
    # highest total first, ties to the newer day (smaller k)
    ranked = np.lexsort((sel_k, -sel_totals), axis=1)
    ranked_k = np.take_along_axis(sel_k, ranked, axis=1)
    chosen = ranked_k[:, 1:y - 1] if mid else ranked_k[:, :x]  # [a, X]
    rows = np.arange(assets)[:, None]
    baseline = np.floor_divide(values[rows, chosen].sum(axis=1), x)  # [a, i]
    adjustment = None
    if adjust:
        adj_window = (first_interval - ADJUST_GAP_INTERVALS - ADJUST_INTERVALS - grid.base
                      + np.arange(ADJUST_INTERVALS))
        adj_idx = adj_window[None, :] - ks[:, None] * INTERVALS_PER_DAY  # [k, j]
        actual = grid.values[:, adj_idx[0]]  # [a, j]
        actual_ok = grid.present[:, adj_idx[0]].all(axis=1)
        past = grid.values[:, adj_idx][rows, chosen]  # [a, X, j]
        past_ok = grid.present[:, adj_idx][rows, chosen].all(axis=(1, 2))
        for a in np.flatnonzero(ok & ~actual_ok):
            problems[int(a)] = ("the adjustment window (the 4 intervals ending one hour "
                                "before the event) is not metered on the event day")
        for a in np.flatnonzero(ok & actual_ok & ~past_ok):
            problems[int(a)] = ("the adjustment window is not metered on every day the "
                                "baseline uses")
        ok = ok & actual_ok & past_ok
        b_adj = np.floor_divide(past.sum(axis=1), x)  # [a, j]
        a_mean = np.floor_divide(actual.sum(axis=1), ADJUST_INTERVALS)
        b_mean = np.floor_divide(b_adj.sum(axis=1), ADJUST_INTERVALS)
        lim = np.floor_divide(np.abs(b_mean) * ADJUST_LIMIT_PERCENT, 100)
        adjustment = np.clip(a_mean - b_mean, -lim, lim)
        baseline = baseline + adjustment[:, None]
    days = np.where(ok[:, None], np.sort(event_day - chosen, axis=1), -1)
    return XOfY(baseline, days, ok, problems, adjustment)


def _x_y(method: Method, x: int | None, y: int | None) -> tuple[int, int]:
    dx, dy = DEFAULT_X_OF_Y[method]
    if method == "mid_x_of_y":
        if y is None:
            y = dy if x is None else x + 2
        if x is None:
            x = y - 2
        if y < 3:
            raise BaselineError("--y", f"{y}: mid_x_of_y drops the highest and the lowest "
                                "day, so it needs at least 3 days")
        if x != y - 2:
            raise BaselineError("--x", f"{x}: mid_x_of_y averages the Y - 2 middle days "
                                f"(X = {y - 2} for Y = {y})")
        return x, y
    x = dx if x is None else x
    y = dy if y is None else y
    if not 1 <= x <= y:
        raise BaselineError("--x", f"{x}: must be from 1 to Y = {y}")
    if y > LOOKBACK_DAYS:
        raise BaselineError("--y", f"{y}: more days than the {LOOKBACK_DAYS}-day look-back")
    return x, y


def compute_baseline(
    meter: MeterData,
    asset: str,
    window: Window,
    method: Method,
    *,
    x: int | None = None,
    y: int | None = None,
    adjust: bool = False,
    activations: Mapping[str, set[int]] | None = None,
    nominated: MeterData | None = None,
) -> Baseline:
    """One asset's baseline over `window`, with its metered values (the spec's command)."""
    if method not in METHODS:
        raise BaselineError("--method", f"{method!r} is not one of {', '.join(METHODS)}")
    if adjust and method not in DEFAULT_X_OF_Y:
        raise BaselineError("--adjust", f"the additive adjustment is for the X-of-Y methods, "
                            f"not {method}")
    if method in DEFAULT_X_OF_Y:
        x, y = _x_y(method, x, y)
    elif x is not None or y is not None:
        raise BaselineError("--x" if x is not None else "--y", f"{method} takes no X or Y")
    if method == "nominated" and nominated is None:
        raise BaselineError("--nominated", "the nominated method needs the nominated file")
    offset_s = meter.offset_near(asset, window.start_unix_s)
    if offset_s is None:
        raise BaselineError("--asset", f"{asset!r} has no reading in the meter data")
    first = (window.start_unix_s + offset_s) // INTERVAL_S
    event_day = (window.start_unix_s + offset_s) // DAY_S
    grid = LocalGrid.around(event_day, 1)
    grid.fill(0, meter.local_series(asset))
    n = window.intervals
    j0 = first - grid.base
    metered = [int(grid.values[0, j0 + i]) if grid.present[0, j0 + i] else None
               for i in range(n)]
    days_used: list[str] = []
    adjustment = None
    if method == "meter_before":
        if not grid.present[0, j0 - 1]:
            before = format_instant((first - 1) * INTERVAL_S - offset_s, offset_s)
            raise BaselineError("meter", f"{asset}: no reading for the interval just before "
                                f"the window ({before})")
        baseline = [int(grid.values[0, j0 - 1])] * n
    elif nominated is not None:  # the nominated method (checked above that it has its file)
        nom = LocalGrid.around(event_day, 1)
        nom.fill(0, nominated.local_series(asset))
        missing = [i for i in range(n) if not nom.present[0, j0 + i]]
        if missing:
            at = format_instant((first + missing[0]) * INTERVAL_S - offset_s, offset_s)
            raise BaselineError("--nominated", f"{asset}: no nominated value for {at} "
                                f"({len(missing)} of {n} intervals missing)")
        baseline = [int(v) for v in nom.values[0, j0:j0 + n]]
    elif x is not None and y is not None:  # the X-of-Y methods (_x_y set both)
        act = np.zeros((1, LOOKBACK_DAYS + 1), dtype=np.bool_)
        for day in (activations or {}).get(asset, set()):
            k = event_day - day
            if 1 <= k <= LOOKBACK_DAYS:
                act[0, k] = True
        res = x_of_y_baselines(grid, first, n, x=x, y=y,
                               mid=method == "mid_x_of_y", activation_days=act, adjust=adjust)
        if not res.ok[0]:
            raise BaselineError("meter", f"{asset}: {res.problems[0]}")
        baseline = [int(v) for v in res.baseline_wh[0]]
        days_used = [iso_day(int(d)) for d in res.days[0]]
        if res.adjustment_wh is not None:
            adjustment = int(res.adjustment_wh[0])
    else:
        raise BaselineError("--method", f"{method!r}: no rule")  # unreachable: checked above
    intervals = [
        IntervalBaseline(format_instant((first + i) * INTERVAL_S - offset_s, offset_s),
                         baseline[i], metered[i])
        for i in range(n)
    ]
    return Baseline(asset, method, days_used, intervals, meter.hash(), adjustment)


def award_delivered_w(per_asset_w: list[list[int]], awarded_w: int,
                      intervals_per_slot: int) -> list[int]:
    """The delivered power of an award per slot, from its assets' delivered watts per
    15-minute interval (`per_asset_w[asset][interval]`, one direction): per interval the sum
    over the assets, capped at the awarded watts; a slot of several intervals takes the floor
    of the mean of its capped interval values (the spec's "Delivered power")."""
    if intervals_per_slot < 1:
        raise BaselineError("intervals_per_slot", f"{intervals_per_slot} is below 1")
    lengths = {len(a) for a in per_asset_w}
    if len(lengths) > 1:
        raise BaselineError("per_asset_w", f"assets with different interval counts {lengths}")
    n = lengths.pop() if lengths else 0
    if n % intervals_per_slot:
        raise BaselineError("per_asset_w", f"{n} intervals is not a whole number of slots of "
                            f"{intervals_per_slot}")
    capped = [min(awarded_w, sum(a[i] for a in per_asset_w)) for i in range(n)]
    return [sum(capped[s:s + intervals_per_slot]) // intervals_per_slot
            for s in range(0, n, intervals_per_slot)]
