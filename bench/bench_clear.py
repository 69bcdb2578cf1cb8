"""Clearing benchmark (`make bench-clear`): figures, not a test (issue 13).

Seeded sessions of several families, three sizes, each cleared by the engine
(`oracle.clear`: validation, model, solve on the machine's cores, allocation, hashes) and,
in the same run, by the plain textbook MILP (bench/plain_milp.py: one integer award per
bid, continuous split and unmet parts per request and slot, the penalty in the objective,
HiGHS single-threaded, exact), so that the ratio is measured side by side on a noisy
machine. Families: `synthetic` (oracle.synthetic.random_session, the sessions the
engine was developed on: 20 / 25 / 50 zones, TSO needs over every zone of a direction)
and the independent ones of bench/families.py (`unseen`, `knapsack`, `ties`, `scarce`,
`coupled`), written apart from oracle.synthetic on purpose.

Per family, size and seed it prints: the engine's wall time; how it decided (parts that
are one knapsack by DP, relaxed MILP then rounding, or the integer MILP for some parts);
the proven relative gap (objective against the dual bound, summed over parts); exact or
the guaranteed gap; the plain MILP's time (">" when it hit --plain-limit: the ratio is
then a floor) and its own proven gap; the ratio plain / engine; whether both objectives
(awards at bid prices + penalty * unmet, recomputed as integers) agree ("cheaper": the
plain MILP stopped with no answer or a dearer one), else the engine's relative excess; the
checker's verdict. The machine's load is printed on every row.

    .venv/bin/python bench/bench_clear.py            # 1,000 and 2,500 bids (make bench-clear)
    .venv/bin/python bench/bench_clear.py --full     # and 10,000 (make bench-clear-full)
    .venv/bin/python bench/bench_clear.py --quick    # 1,000 bids only
    .venv/bin/python bench/bench_clear.py --families unseen --sizes 2500 --seeds 1 2 3
    .venv/bin/python bench/bench_clear.py --no-plain          # the engine alone
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from families import FAMILIES, zones_for  # noqa: E402
from plain_milp import objective_ueur, solve_plain  # noqa: E402

from oracle import check, clear, parse_scenario  # noqa: E402
from oracle.engine import build_session  # noqa: E402
from oracle.errors import ScenarioError  # noqa: E402
from oracle.parallel import start_workers  # noqa: E402
from oracle.scenario import Scenario  # noqa: E402
from oracle.synthetic import random_session  # noqa: E402

SYNTHETIC_ZONES = {1000: 20, 2000: 20, 2500: 25, 10000: 50}


def session(family: str, n: int, seed: int) -> tuple[dict[str, Any], int]:
    if family == "synthetic":
        zones = SYNTHETIC_ZONES.get(n, 50 if n > 2500 else 20)
        return random_session(n, n_zones=zones, n_slots=96, seed=seed), zones
    return FAMILIES[family](n, seed), zones_for(n)


def load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--families", nargs="+", default=["synthetic", *FAMILIES],
                    choices=["synthetic", *FAMILIES])
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--full", action="store_true", help="sizes 1,000, 2,500 and 10,000")
    ap.add_argument("--quick", action="store_true", help="size 1,000 only")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--no-plain", action="store_true", help="skip the plain MILP")
    ap.add_argument("--plain-limit", type=float, default=900.0,
                    help="seconds the plain MILP may take per session (default 900)")
    args = ap.parse_args()
    sizes = args.sizes or ([1000] if args.quick else [1000, 2500, 10000] if args.full
                           else [1000, 2500])
    # the worker processes of oracle.parallel started before the first session is timed,
    # as in a running oracle service (else the first family's first session pays for them)
    start_workers()
    started = time.perf_counter()
    print(f"clearing benchmark: {os.cpu_count()} cores, load {load():.2f}")
    print(f"{'family':>9} {'bids':>6} {'zones':>5} {'seed':>4} {'clear':>7} {'decided':>9} "
          f"{'proven':>8} {'result':>10} {'plain':>8} {'p.gap':>7} {'ratio':>6} "
          f"{'objective':>18} {'agree':>9} {'load':>5}  check")
    failures = 0
    for family in args.families:
        for n in sizes:
            for seed in args.seeds:
                data, zones = session(family, n, seed)
                note = ""
                try:
                    scenario = parse_scenario(data)
                except ScenarioError as exc:
                    # a file rule refuses it (e.g. the penalty bound): cleared anyway, marked
                    scenario = Scenario.model_validate_json(json.dumps(data))
                    note = f" (parse_scenario refuses it: {str(exc).splitlines()[0][:90]})"
                stats: dict[str, object] = {}
                t0 = time.perf_counter()
                result = clear(scenario, stats=stats)
                clear_s = time.perf_counter() - t0
                violations = [v for v in check(scenario, result)
                              if not v.where.startswith("scenario")]
                failures += bool(violations)
                engine_session, _ = build_session(scenario)
                objective = objective_ueur(
                    engine_session, {a.bid: a.quantity_w for a in result.awards})
                kind = "exact" if result.mip_gap is None else f"gap<={result.mip_gap}"
                how = "rounded" if stats.get("integer_milp_parts") == 0 else \
                    f"{stats.get('integer_milp_parts')} integer"
                if stats.get("knapsack_dp_parts"):
                    how = f"{stats['knapsack_dp_parts']} dp+{how[:3]}"
                gap = stats.get("proven_gap", float("nan"))
                assert isinstance(gap, float)
                plain_s, plain_gap, ratio, agree = "-", "-", "-", "-"
                if not args.no_plain:
                    # a copy: the plain MILP validates the bids itself, as before the
                    # engine kept one Session per scenario object (engine.build_session)
                    p = solve_plain(scenario.model_copy(), time_limit_s=args.plain_limit)
                    floor = "" if p.optimal else ">"
                    plain_s = f"{floor}{p.seconds:.2f}s"
                    pg = (p.objective_ueur - p.dual_bound_ueur) / max(abs(p.objective_ueur), 1)
                    plain_gap = f"{max(pg, 0.0):.1e}"
                    ratio = f"{floor}{p.seconds / clear_s:.1f}"
                    if objective == p.objective_ueur:
                        agree = "equal"
                    elif not p.optimal and p.dual_bound_ueur <= objective < p.objective_ueur:
                        agree = "cheaper"  # the plain MILP stopped above the engine's answer
                    elif not p.optimal:
                        agree = "n/a"
                    else:
                        agree = f"{(objective - p.objective_ueur) / max(p.objective_ueur, 1):+.1e}"
                verdict = "ok" if not violations else \
                    f"{len(violations)} violations: {[str(v) for v in violations[:3]]}"
                print(f"{family:>9} {n:>6} {zones:>5} {seed:>4} {clear_s:6.2f}s {how:>9} "
                      f"{gap:>8.1e} {kind:>10} {plain_s:>8} {plain_gap:>7} {ratio:>6} "
                      f"{objective:>18} {agree:>9} {load():5.2f}  {verdict}{note}", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s, load {load():.2f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
