"""Grid verification benchmark (`make bench-grid-verify`): prints figures, never fails.

What a replica node does for a grid session beyond a plain one (issue 19), against what the
oracle does to clear it, on the SimBench LV example and on an MV grid's generated day
(1-MV-semiurb--2-sw, 2016-05-26, its loading limit lowered to 90 % so that it has needs:
`mv_scenario`):

- the oracle's clearing of a session: the grid inputs it publishes (`build_inputs`:
  sensitivities around the forecast, screened cuts) and the clearing with them
  (`clear_published`); the offline `clear_with_grid` is shown for reference;
- a replica's verification: the rebuilt scenario parsed (its published grid included), the
  re-clear with the published cuts, the check of the committed awards (`oracle.check` and
  every published cut), the re-derivation of every published input from the model, and the
  AC power flow of every slot (a DSO node's work). The model comes from the cache
  (`load_model`: in memory after the first session of a process); loading it is shown apart:
  from SimBench's CSV files (first time on a machine), from the disk cache under build/
  (a new process), from memory (the next session).

Reading the chain (fetch, decode, rebuild) is the same as for any session: `make
bench-verify`. Each figure is the median of several runs.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import oracle.grid.published as published  # noqa: E402
from oracle import check, parse_scenario  # noqa: E402
from oracle.grid.clearing import clear_with_grid  # noqa: E402
from oracle.grid.model import _simbench_net  # noqa: E402
from oracle.grid.published import (  # noqa: E402
    ac_check,
    build_inputs,
    clear_published,
    cut_violations,
    grid_json,
    model_key,
    rederive,
)

EXAMPLE = ROOT / "examples" / "simbench_lv_semiurb4_2016-05-26.json"
MV = "1-MV-semiurb--2-sw"
DAY = "2016-05-26"


def mv_scenario(limit_percent: int = 90, seed: int = 1) -> dict[str, Any]:
    """A day of the MV grid with congestion: the loading limit lowered to `limit_percent`
    (its forecast peaks at 96.9 %), needs from `find_needs`, and every flexible asset of the
    grid (`flexible_assets`) offering `down` in each hour with a need, up to 500 kW, at a
    seeded price."""
    import random

    from oracle.grid.figures import Limits
    from oracle.grid.generate import flexible_assets
    from oracle.grid.model import build_model
    from oracle.grid.needs import find_needs

    model = build_model(MV, day=DAY)
    needs = find_needs(model, limits=Limits(loading_percent=float(limit_percent)))
    slots = sorted({t for r in needs.requests for t, q in enumerate(r["quantity_w"]) if q})
    hours = sorted({t // 4 for t in slots})
    rng = random.Random(seed)
    assets = flexible_assets(model)
    bids = [
        {"id": f"{a['id']}-h{h:02d}", "seller": "AGG", "zone": a["zone"], "direction": "down",
         "quantity_w": min(500_000, a["p_max_w"]) // 100 * 100, "divisible": True,
         "price_eur_per_mw": rng.randint(50, 500), "slots": [4 * h + k for k in range(4)],
         "assets": [a["id"]]}
        for a in assets for h in hours if min(500_000, a["p_max_w"]) >= 1000
    ]
    return {
        "schema": "flexmarket.scenario/1",
        "name": f"SimBench {MV} on {DAY}, loading limit {limit_percent} %",
        "market": {"id": "MV-CM", "product": "CongestionManagement",
                   "start": f"{DAY}T00:00:00+02:00", "slot_minutes": 15, "slots": 96,
                   "granularity_w": 100},
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "AGG", "role": "aggregator"}],
        "zones": [{"id": z["id"], "limit_w": z["limit_w"]} for z in needs.zones],
        "assets": [{"id": a["id"], "manager": "AGG", "type": a["type"], "p_max_w": a["p_max_w"],
                    "zone": a["zone"], "bus": a["bus"]} for a in assets],
        "requests": needs.requests,
        "bids": bids,
        "grid": {"simbench_code": MV, "day": DAY, "loading_limit_percent": limit_percent},
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), value


def model_loading(raw: dict[str, Any]) -> dict[str, float]:
    """Seconds to load the scenario's model: from SimBench (no cache), from the disk cache,
    from memory."""
    key = model_key(parse_scenario(raw))
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        os.environ[published.CACHE_ENV] = cache
        published._MODELS.clear()
        _simbench_net.cache_clear()  # SimBench's files parsed afresh
        t = time.perf_counter()
        published.load_model(key)
        out["simbench"] = time.perf_counter() - t
        published._MODELS.clear()
        t = time.perf_counter()
        published.load_model(key)
        out["disk"] = time.perf_counter() - t
        t = time.perf_counter()
        published.load_model(key)
        out["memory"] = time.perf_counter() - t
    del os.environ[published.CACHE_ENV]
    return out


def bench(label: str, raw: dict[str, Any], repeat: int) -> None:
    scenario = parse_scenario(raw)
    published.load_model(model_key(scenario))  # warm: figures below are per session
    t_inputs, spec = timed(lambda: build_inputs(scenario), repeat)
    body = grid_json(spec)
    rebuilt = {**raw, "grid": json.loads(body)}
    s2 = parse_scenario(rebuilt)
    t_clear, (result, cuts) = timed(lambda: clear_published(s2), repeat)
    t_offline, _ = timed(lambda: clear_with_grid(scenario), repeat)
    awards = {a.bid: a.quantity_w for a in result.awards}
    # the replica
    t_parse, s3 = timed(lambda: parse_scenario(rebuilt), repeat)
    t_reclear, (own, own_cuts) = timed(lambda: clear_published(s3), repeat)
    t_check, problems = timed(lambda: check(s3, result) + cut_violations(own_cuts, awards),
                              repeat)
    t_rederive, found = timed(lambda: rederive(s3), repeat)
    t_ac, (bad, _, figs) = timed(
        lambda: ac_check(s3, found.model, found.solver, awards, found.forecast), repeat)
    clearing = t_inputs + t_clear
    verify = t_parse + t_reclear + t_check + t_rederive + t_ac
    m = found.model
    print(f"\n{label}: {m.n_bus} buses, {len(m.branch_label)} branches, "
          f"{len(scenario.assets)} assets, {len(scenario.bids)} bids, {m.n_steps} slots; "
          f"{len(spec.inputs.cuts)} cuts published ({len(body):,} bytes), "
          f"{len(cuts)} on bids; {len(result.awards)} awards")
    print(f"  oracle  grid inputs (sensitivities, cuts)     {t_inputs * 1e3:9.1f} ms")
    print(f"  oracle  clear with the published cuts          {t_clear * 1e3:9.1f} ms")
    print(f"  oracle  clearing of the session                {clearing * 1e3:9.1f} ms"
          f"   (offline clear_with_grid: {t_offline * 1e3:.1f} ms)")
    print(f"  replica parse the rebuilt scenario             {t_parse * 1e3:9.1f} ms")
    print(f"  replica re-clear with the published cuts       {t_reclear * 1e3:9.1f} ms")
    print(f"  replica check awards (oracle.check, cuts)      {t_check * 1e3:9.1f} ms")
    print(f"  replica re-derive the inputs from the model    {t_rederive * 1e3:9.1f} ms")
    print(f"  replica AC check of every slot                 {t_ac * 1e3:9.1f} ms")
    print(f"  replica verification                           {verify * 1e3:9.1f} ms"
          f" = {verify / clearing:.2f} x the clearing")
    print(f"  result: {len(problems)} problems, {len(found.violations or [])} re-derivation "
          f"violations, {len(bad)} AC violations; max loading "
          f"{figs['before']['max_loading_percent']} % -> {figs['after']['max_loading_percent']} %")


def main() -> None:
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}, median of {repeat}")
    lv = json.loads(EXAMPLE.read_text())
    t = time.perf_counter()
    mv = mv_scenario()
    print(f"MV scenario built in {time.perf_counter() - t:.1f} s")
    for label, raw in (("LV example 1-LV-semiurb4--2-sw", lv), (f"MV {MV}, limit 90 %", mv)):
        load = model_loading(raw)
        print(f"\n{label}: model loading: SimBench files {load['simbench']:.2f} s, disk cache "
              f"{load['disk']:.2f} s, memory {load['memory'] * 1e6:.0f} µs (once per process)")
        bench(label, raw, repeat)
    print(f"\nload average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
