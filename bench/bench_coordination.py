"""TSO-DSO coordination benchmark: prints figures, never fails on a slow machine.

A synthetic session (oracle.synthetic.random_session: DSO congestion needs per
zone, TSO reserve system-wide) cleared with sequential and common coupling,
each result re-checked by the independent checker. Target: 2,000 bids in at
most 10 s.

    make bench-coordination            # 2,000 bids
    .venv/bin/python bench/bench_coordination.py 500 2000 --seed 3
"""

from __future__ import annotations

import argparse
import time

from oracle import parse_scenario
from oracle.coordination import check_coordinated, clear_coordinated
from oracle.synthetic import random_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{'bids':>6} {'coupling':>10} {'clear s':>8} {'check s':>8} {'cost EUR':>14} "
          f"{'unmet W':>10} {'conflicts':>9} {'gap':>6}")
    for n in args.sizes:
        scenario = parse_scenario(random_session(n, seed=args.seed))
        roles = sorted({r.buyer for r in scenario.requests})
        for coupling in ("sequential", "common"):
            t0 = time.perf_counter()
            result = clear_coordinated(scenario, coupling=coupling)
            t1 = time.perf_counter()
            violations = check_coordinated(scenario, result)
            t2 = time.perf_counter()
            assert not violations, violations[:3]
            unmet = sum(u.quantity_w for u in result.unmet)
            print(f"{n:>6} {coupling:>10} {t1 - t0:>8.2f} {t2 - t1:>8.2f} "
                  f"{result.total_cost_ueur / 1e6:>14,.0f} {unmet:>10,} "
                  f"{len(result.conflicts or []):>9} {result.mip_gap or 'exact':>6}", flush=True)
        print(f"       buyers {', '.join(roles)}; {len(scenario.requests)} requests, "
              f"{scenario.market.slots} slots")


if __name__ == "__main__":
    main()
