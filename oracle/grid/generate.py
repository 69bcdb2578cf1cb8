"""A seeded generator of grid scenarios: needs from the grid, bids from its flexible assets.

    python -m oracle.grid.generate [--grid 1-LV-semiurb4--2-sw] [--day 2016-05-26]
                                   [--seed 20160526] [--out FILE]

How the scenario is built (everything derived from the grid model and the seed):

- **Needs**: `oracle.grid.needs.find_needs` on the day's forecast; its zones
  (every transformer and feeder, limits from ratings, forecast flows) and
  requests (per slot, buyer DSO1) are taken as they are.
- **Assets**: the grid's flexible elements, each at its bus and in the
  innermost zone of that bus: PV plants (sgens, curtailment), batteries
  (storages), EV charging points (loads with SimBench's HLS/APLS profiles)
  and heat pumps (Air_/Soil_ profiles). One aggregator per technology:
  AGG-SOLAR, AGG-STORAGE, AGG-EMOBILITY, AGG-HEAT.
- **Bids**: for every request, every hour (4 slots) with a need, and every
  asset (in its own zone: aggregators offer their whole portfolio, and only
  bids in a zone with a need can be awarded), one bid in the request's
  direction whose
  quantity is the flexibility the asset has in all four slots (rounded down
  to the granularity; below `min_bid_w` no bid):
  `down` = PV output it can curtail, battery discharge it can stop, EV and
  heat-pump headroom (rated power less forecast consumption; EVs only while
  charging); `up` = the reverse (battery discharge headroom, consumption it
  can shed). PV, batteries and heat pumps bid divisible, EVs all or nothing.
- **Prices** (EUR per MW for the one-hour window, i.e. EUR/MWh): drawn from
  `random.Random(seed)` uniformly in a range per technology
  (`PRICE_RANGE_EUR_PER_MW`), plus submission times in the morning before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.grid.model import GridModel, build_model
from oracle.grid.needs import find_needs
from oracle.grid.units import mw_to_w

DEFAULT_GRID = "1-LV-semiurb4--2-sw"
DEFAULT_DAY = "2016-05-26"
DEFAULT_SEED = 20160526
GRANULARITY_W = 100
MIN_BID_W = 1000
BLOCK_SLOTS = 4
PRICE_RANGE_EUR_PER_MW = {
    "PV": (90, 160),
    "BAT": (60, 140),
    "EV": (40, 110),
    "HP": (50, 120),
}
AGGREGATOR = {"PV": "AGG-SOLAR", "BAT": "AGG-STORAGE", "EV": "AGG-EMOBILITY", "HP": "AGG-HEAT"}


def _utc_offset(day: str) -> str:
    """German local time of SimBench profiles: +02:00 in summer time, +01:00 otherwise."""
    try:
        from zoneinfo import ZoneInfo  # noqa: PLC0415

        off = dt.datetime.fromisoformat(f"{day}T12:00").replace(
            tzinfo=ZoneInfo("Europe/Berlin")).utcoffset()
        hours = int(off.total_seconds() // 3600) if off is not None else 1
    except Exception:  # no tz database: EU summer time is late March .. late October
        d = dt.date.fromisoformat(day)
        hours = 2 if (4 <= d.month <= 9 or (d.month == 3 and d.day > 27)
                      or (d.month == 10 and d.day < 25)) else 1
    return f"+{hours:02d}:00"


def flexible_assets(model: GridModel) -> list[dict[str, Any]]:
    """Assets of the grid's flexible elements, with their forecast (MW, load convention)."""
    net = model.net
    out: list[dict[str, Any]] = []

    def add(kind: str, typ: str, idx: int, bus: int, p_max_mw: float, forecast: Any) -> None:
        pos = model.bus_position(bus)
        zone = model.bus_zone[pos]
        if zone is None or p_max_mw <= 0:
            return
        out.append({"id": f"{kind}-{idx}", "kind": kind, "type": typ, "bus": int(bus),
                    "zone": zone, "p_max_w": mw_to_w(p_max_mw), "forecast_mw": forecast})

    for j, (i, row) in enumerate(net.sgen.iterrows()):
        if str(row.get("type", "")).upper().startswith("PV") or "PV" in str(row.get("profile", "")):
            add("PV", "generation", int(i), int(row.bus), float(row.sn_mva),
                -model.element_p_mw["sgen"][:, j])
    for j, (i, row) in enumerate(net.storage.iterrows()):
        add("BAT", "storage", int(i), int(row.bus), float(abs(row.sn_mva or row.p_mw)),
            model.element_p_mw["storage"][:, j])
    for j, (i, row) in enumerate(net.load.iterrows()):
        profile = str(row.get("profile", ""))
        kind = ("EV" if profile.startswith(("HLS", "APLS"))
                else "HP" if profile.startswith(("Air_", "Soil_")) else None)
        if kind is not None:
            add(kind, "load", int(i), int(row.bus), float(row.p_mw),
                model.element_p_mw["load"][:, j])
    return sorted(out, key=lambda a: (a["zone"], a["kind"], a["bus"], a["id"]))


def flexibility_w(asset: dict[str, Any], direction: str, slot: int) -> int:
    """What an asset can shift in one slot, in W (see the module docstring)."""
    p = float(asset["forecast_mw"][slot])  # load convention: consumption > 0
    p_max = asset["p_max_w"] / 1e6
    kind = asset["kind"]
    if kind == "PV":  # p = -output
        mw = -p if direction == "down" else 0.0
    elif kind == "BAT":  # p < 0 discharging
        mw = max(0.0, -p) if direction == "down" else max(0.0, p_max + p)
    elif kind == "EV":
        charging = p > 1e-6
        mw = (p_max - p if charging else 0.0) if direction == "down" else max(0.0, p)
    else:  # heat pump
        mw = max(0.0, p_max - p) if direction == "down" else max(0.0, p)
    return max(0, mw_to_w(mw))


def generate(grid: str = DEFAULT_GRID, day: str = DEFAULT_DAY, seed: int = DEFAULT_SEED,
             storage: str = "setpoint") -> dict[str, Any]:
    """The scenario (a JSON-ready dict) of one grid day; the same arguments give the same file."""
    rng = random.Random(seed)
    model = build_model(grid, day=day, storage="profile" if storage == "profile" else "setpoint")
    needs = find_needs(model, buyer="DSO1")
    assets = flexible_assets(model)
    offset = _utc_offset(day)
    eve = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()

    bids: list[dict[str, Any]] = []
    used: set[tuple[str, int]] = set()  # (asset, block): one bid per asset and hour
    for req in needs.requests:
        q = req["quantity_w"]
        for start in range(0, len(q), BLOCK_SLOTS):
            block = list(range(start, min(start + BLOCK_SLOTS, len(q))))
            if not any(q[t] > 0 for t in block):
                continue
            for a in assets:
                if (a["id"], start) in used:
                    continue
                w = min(flexibility_w(a, req["direction"], t) for t in block)
                w -= w % GRANULARITY_W
                if w < MIN_BID_W:
                    continue
                used.add((a["id"], start))
                lo, hi = PRICE_RANGE_EUR_PER_MW[a["kind"]]
                minute = rng.randrange(8 * 60, 12 * 60)
                bids.append({
                    "id": f"{a['id']}-h{start // BLOCK_SLOTS:02d}",
                    "seller": AGGREGATOR[a["kind"]],
                    "zone": a["zone"],
                    "direction": req["direction"],
                    "quantity_w": w,
                    "divisible": a["kind"] != "EV",
                    "price_eur_per_mw": rng.randint(lo, hi),
                    "slots": block,
                    "assets": [a["id"]],
                    "submitted_at": f"{eve}T{minute // 60:02d}:{minute % 60:02d}:00{offset}",
                })
    bids.sort(key=lambda b: b["id"])
    used_assets = sorted({x for b in bids for x in b["assets"]})
    by_id = {a["id"]: a for a in assets}
    sellers = sorted({b["seller"] for b in bids})
    worst = needs.figures
    return {
        "schema": "flexmarket.scenario/1",
        "name": (f"SimBench {grid} on {day}: congestion management, forecast max loading "
                 f"{worst['max_loading_percent']} % ({worst['element']})"),
        "market": {
            "id": f"{grid}-CM-{day}",
            "product": "CongestionManagement",
            "pricing": "pay_as_bid",
            "start": f"{day}T00:00:00{offset}",
            "slot_minutes": 15,
            "slots": model.n_steps,
            "min_bid_w": MIN_BID_W,
            "granularity_w": GRANULARITY_W,
        },
        "participants": [{"id": "DSO1", "role": "DSO"}]
        + [{"id": s, "role": "aggregator"} for s in sellers],
        "zones": needs.zones,
        "assets": [
            {"id": x, "manager": AGGREGATOR[by_id[x]["kind"]], "type": by_id[x]["type"],
             "p_max_w": by_id[x]["p_max_w"], "p_min_w": 0, "zone": by_id[x]["zone"],
             "bus": by_id[x]["bus"]}
            for x in used_assets
        ],
        "requests": needs.requests,
        "bids": bids,
        "grid": {"simbench_code": grid, "day": day, "storage": storage},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oracle.grid.generate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", default=DEFAULT_GRID)
    p.add_argument("--day", default=DEFAULT_DAY)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--storage", choices=("setpoint", "profile"), default="setpoint")
    p.add_argument("--out", type=Path, help="write here instead of stdout")
    args = p.parse_args(argv)
    scenario = generate(args.grid, args.day, args.seed, args.storage)
    text = json.dumps(scenario, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
