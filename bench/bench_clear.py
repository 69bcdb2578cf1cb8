"""Clearing benchmark (`make bench-clear`): figures, not a test.

Random sessions from `oracle.synthetic.random_session` (96 quarter-hour slots, half
the bids indivisible, system-wide TSO needs coupling the zones of a direction):
1,000 and 2,000 bids over 20 zones (solved exactly), 10,000 bids over 50 zones
(solved within the guaranteed gap, stated in `mip_gap`). For each size and seed it
prints the parse time, the clearing time (`oracle.clear`, everything included:
validation, model, solve on the machine's cores, allocation, hashes), exact or the
guaranteed gap, the cost, the number of awards and unmet needs, the relative gap
HiGHS proved (objective vs dual bound, summed over independent parts), the parts'
sizes, how they were decided (relaxed MILP then rounding, or the integer MILP for
some part: oracle.engine.relax_and_round), and the independent checker's verdict
(`oracle.check`).

    .venv/bin/python bench/bench_clear.py                # the three sizes, seed 1
    .venv/bin/python bench/bench_clear.py --seeds 1 2 3 --sizes 2000
    .venv/bin/python bench/bench_clear.py --repeat 2     # each clearing twice (best, typical)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from oracle import check, clear, parse_scenario  # noqa: E402
from oracle.synthetic import random_session  # noqa: E402

ZONES = {1000: 20, 2000: 20, 10000: 50}
TARGET_S = {2000: 5.0, 10000: 15.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 10000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--repeat", type=int, default=1, help="clear each session this many times")
    args = ap.parse_args()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"clearing benchmark: {os.cpu_count()} cores, load {load:.2f}")
    print(f"{'bids':>6} {'zones':>5} {'seed':>4} {'parse':>6} {'clear':>7} {'result':>10} "
          f"{'cost_ueur':>16} {'awards':>6} {'unmet':>5} {'proven_gap':>10}  parts  decided  check")
    failures = 0
    for n in args.sizes:
        zones = ZONES.get(n, 50 if n > 2000 else 20)
        for seed in args.seeds:
            data = random_session(n, n_zones=zones, n_slots=96, seed=seed)
            t0 = time.perf_counter()
            scenario = parse_scenario(data)
            parse_s = time.perf_counter() - t0
            times: list[float] = []
            result = None
            stats: dict[str, object] = {}
            for _ in range(args.repeat):
                stats = {}
                t0 = time.perf_counter()
                result = clear(scenario, stats=stats)
                times.append(time.perf_counter() - t0)
            assert result is not None
            violations = check(scenario, result)
            failures += bool(violations)
            kind = "exact" if result.mip_gap is None else f"gap<={result.mip_gap}"
            shown = f"{min(times):6.2f}s" if len(times) == 1 else \
                f"{min(times):.2f}/{sorted(times)[len(times) // 2]:.2f}s"
            gap = stats.get("proven_gap", float("nan"))
            assert isinstance(gap, float)
            part_sizes = stats.get("parts", [])
            assert isinstance(part_sizes, list)
            parts = "+".join(str(c) for c, _ in sorted(part_sizes, reverse=True)[:3])
            verdict = "ok" if not violations else f"{len(violations)} violations: {violations[:3]}"
            how = "rounded" if stats.get("integer_milp_parts") == 0 else \
                f"{stats.get('integer_milp_parts')} integer"
            target = TARGET_S.get(n)
            flag = "" if target is None else (" (target met)" if min(times) <= target
                                              else f" (target {target:.0f}s missed)")
            print(f"{n:>6} {zones:>5} {seed:>4} {parse_s:5.2f}s {shown:>7} {kind:>10} "
                  f"{result.total_cost_ueur:>16} {len(result.awards):>6} {len(result.unmet):>5} "
                  f"{gap:>10.2e}  {parts} {how:>9}  {verdict}{flag}",
                  flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
