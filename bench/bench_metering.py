"""Metering benchmark: baselines of 10,000 assets over 45 days of meter data (target <= 10 s),
printed per family next to the plain reference (bench/plain_baseline.py) on a sample of the
same assets in the same run, and the meter file's parse and hash throughput.

Families (seeded), none shaped to suit the rule:
- simbench_h0: SimBench 2016 household and trade load profiles (1-LV-semiurb4), each asset
  one profile from a random day of the year, scaled to 2-6 MWh a year, 10 % noise;
- simbench_prosumer: the same minus a SimBench PV profile of 4-10 kWp (negative at noon);
- ev_sessions: EV home charging (7-11 kW, 1-4 h from 17-21 h, 70 % of days), zero otherwise:
  many days with equal totals (the tie rule decides);
- gappy: households with 5 % of intervals missing and 20 % of days with an activation, so
  many candidate days are skipped and some assets have no baseline;
- flat_ties: every day the same value: every total ties.

    make bench-metering
    .venv/bin/python bench/bench_metering.py --assets 2000 --sample 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.plain_baseline import plain_x_of_y  # noqa: E402
from oracle.metering import LocalGrid, parse_meter_data, x_of_y_baselines  # noqa: E402
from oracle.metering.baseline import LOOKBACK_DAYS  # noqa: E402
from oracle.metering.meterdata import INTERVALS_PER_DAY  # noqa: E402

EVENT_DAY = (date(2026, 5, 26) - date(1970, 1, 1)).days  # a Tuesday
WINDOW_FIRST = EVENT_DAY * INTERVALS_PER_DAY + 17 * 4  # 17:00
WINDOW_INTERVALS = 8  # to 19:00
FAMILIES = ("simbench_h0", "simbench_prosumer", "ev_sessions", "gappy", "flat_ties")


def _simbench_profiles() -> tuple[np.ndarray, np.ndarray]:
    """(load profiles [35136, n] normalised to a yearly sum of 1, PV [35136])."""
    import simbench

    net = simbench.get_simbench_net("1-LV-semiurb4--0-sw")
    load = net.profiles["load"]
    cols = [c for c in load.columns if c.endswith("_pload")]
    p = load[cols].to_numpy(dtype=float)
    p = p / p.sum(axis=0, keepdims=True)
    pv = net.profiles["renewables"]["PV5"].to_numpy(dtype=float)
    return p, pv / pv.max()


def family_grid(name: str, assets: int, seed: int,
                profiles: tuple[np.ndarray, np.ndarray] | None) -> tuple[LocalGrid, np.ndarray]:
    rng = np.random.default_rng(seed)
    grid = LocalGrid.around(EVENT_DAY, 0)
    length = (LOOKBACK_DAYS + 3) * INTERVALS_PER_DAY
    present = np.ones((assets, length), dtype=np.bool_)
    acts = np.zeros((assets, LOOKBACK_DAYS + 1), dtype=np.bool_)
    if name in ("simbench_h0", "simbench_prosumer", "gappy"):
        assert profiles is not None
        load, pv = profiles
        col = rng.integers(0, load.shape[1], assets)
        start = rng.integers(0, (load.shape[0] - length) // INTERVALS_PER_DAY, assets)
        idx = start[:, None] * INTERVALS_PER_DAY + np.arange(length)[None, :]
        yearly_wh = rng.uniform(2e6, 6e6, assets)
        wh = load[idx, col[:, None]] * yearly_wh[:, None]
        wh *= rng.uniform(0.9, 1.1, wh.shape)
        if name == "simbench_prosumer":
            kwp = rng.uniform(4, 10, assets)
            wh -= pv[idx] * kwp[:, None] * 1000 / 4
        values = np.rint(wh).astype(np.int64)
        if name == "gappy":
            present = rng.random((assets, length)) >= 0.05
            acts[:, 1:] = rng.random((assets, LOOKBACK_DAYS)) < 0.2
    elif name == "ev_sessions":
        values = np.zeros((assets, length), dtype=np.int64)
        days = length // INTERVALS_PER_DAY
        for d in range(days):
            charging = rng.random(assets) < 0.7
            arrive = rng.integers(17 * 4, 21 * 4, assets)
            dur = rng.integers(4, 17, assets)
            kw = rng.choice([7, 11], assets)
            for q in range(16):
                on = charging & (q < dur)
                j = d * INTERVALS_PER_DAY + arrive + q
                ok = on & (j < length)
                values[np.flatnonzero(ok), j[ok]] = (kw[ok] * 1000) // 4
    elif name == "flat_ties":
        values = np.repeat(rng.integers(-500, 500, (assets, 1)), length, axis=1).astype(np.int64)
    else:
        raise SystemExit(f"unknown family {name}")
    values = np.where(present, values, 0)
    return LocalGrid(grid.base, values, present), acts


def _wall(grid: LocalGrid, a: int) -> dict[tuple[date, int], int]:
    out: dict[tuple[date, int], int] = {}
    for j in np.flatnonzero(grid.present[a]):
        li = grid.base + int(j)
        out[(date(1970, 1, 1) + timedelta(days=li // 96), li % 96 * 15)] = int(grid.values[a, j])
    return out


def run_family(name: str, assets: int, sample: int, seed: int,
               profiles: tuple[np.ndarray, np.ndarray] | None) -> None:
    grid, acts = family_grid(name, assets, seed, profiles)
    day0 = date(1970, 1, 1) + timedelta(days=EVENT_DAY)
    minutes = [(WINDOW_FIRST % 96 + i) * 15 for i in range(WINDOW_INTERVALS)]
    for method, x, y, mid, adjust in (("high 4/5 +adj", 4, 5, False, True),
                                      ("mid 8/10", 8, 10, True, False)):
        t0 = time.perf_counter()
        res = x_of_y_baselines(grid, WINDOW_FIRST, WINDOW_INTERVALS, x=x, y=y, mid=mid,
                               activation_days=acts, adjust=adjust)
        engine_s = time.perf_counter() - t0
        rows = np.random.default_rng(seed + 1).choice(assets, min(sample, assets), replace=False)
        walls = {int(a): _wall(grid, int(a)) for a in rows}
        t0 = time.perf_counter()
        mismatches = 0
        for a in rows:
            a = int(a)
            act_days = {day0 - timedelta(days=k) for k in range(1, 46) if acts[a, k]}
            want = plain_x_of_y(walls[a], day0, minutes, x=x, y=y, mid=mid,
                                activation_days=act_days, adjust=adjust)
            got = ([int(v) for v in res.baseline_wh[a]] if res.ok[a] else None)
            if (want[0] if want else None) != got:
                mismatches += 1
        plain_s = (time.perf_counter() - t0) * assets / len(rows)
        print(f"{name:>18} {method:>14} {assets:>7,} {engine_s:>9.2f} {plain_s:>15.1f} "
              f"{plain_s / engine_s:>7.0f}x {int((~res.ok).sum()):>9,} "
              f"{mismatches:>4}/{len(rows)}", flush=True)
        if mismatches:
            raise SystemExit(f"{name} {method}: {mismatches} baselines differ from the plain "
                             "reference")


def parse_throughput(assets: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lines = ["asset_id,interval_start,net_import_wh"]
    days = LOOKBACK_DAYS + 1
    for a in range(assets):
        vals = rng.integers(-300, 900, days * 96)
        for d in range(days):
            day = (date(2026, 4, 11) + timedelta(days=d)).isoformat()
            for q in range(96):
                lines.append(f"EV-{a:05d},{day}T{q // 4:02d}:{q % 4 * 15:02d}:00+02:00,"
                             f"{vals[d * 96 + q]}")
    text = "\n".join(lines) + "\n"
    t0 = time.perf_counter()
    data = parse_meter_data(text)
    t1 = time.perf_counter()
    data.hash()
    t2 = time.perf_counter()
    rows = len(lines) - 1
    print(f"meter file: {rows:,} rows ({len(text) / 1e6:.1f} MB): parse {t1 - t0:.2f} s "
          f"({rows / (t1 - t0):,.0f} rows/s), canonical hash {t2 - t1:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300,
                        help="assets checked against (and timed with) the plain reference")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", nargs="*", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--parse-assets", type=int, default=100)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"{LOOKBACK_DAYS}-day look-back, window 17:00-19:00 on a Tuesday")
    profiles = (_simbench_profiles() if {"simbench_h0", "simbench_prosumer", "gappy"}
                & set(args.families) else None)
    print(f"{'family':>18} {'method':>14} {'assets':>7} {'engine s':>9} "
          f"{'plain s (proj.)':>15} {'ratio':>8} {'no base':>9} {'diff':>9}")
    for name in args.families:
        run_family(name, args.assets, args.sample, args.seed, profiles)
    parse_throughput(args.parse_assets, args.seed)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
