"""`flexmarket capacity FILE [--json]`: clear a capacity market file
(`flexmarket.capacity/1`, `../shared/spec/capacity.md`).

Exit 0 with the allocation; 2 for a malformed file (every problem named by its field).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from flexmarket.exits import EXIT_FAILURE, EXIT_INPUT, EXIT_OK


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "capacity", help="clear a capacity market file (no chain)",
        description=__doc__.split("\n\n")[0], formatter_class=formatter)
    p.add_argument("file", metavar="FILE", help="a flexmarket.capacity/1 JSON file")
    p.add_argument("--json", action="store_true",
                   help="print the flexmarket.capacity-result/1 JSON")
    p.set_defaults(run=run, parser=p)
    return p


def run(args: argparse.Namespace) -> int:
    from oracle.capacity import CapacityFileError, clear_capacity, load_capacity
    from oracle.errors import SolverError

    try:
        result = clear_capacity(load_capacity(args.file))
    except CapacityFileError as exc:
        for where, message in exc.problems:
            print(f"error: {args.file}: {where + ': ' if where else ''}{message}",
                  file=sys.stderr)
        return EXIT_INPUT
    except SolverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(result.to_json())
        return EXIT_OK
    print(f"capacity market {result.market}: {result.phase}, {result.mechanism}")
    print(f"{'request':<14} {'participant':<12} {'zone':<8} {'slots':>6} {'peak W':>10} "
          f"{'payment EUR':>14}")
    for a in result.allocations:
        slots = sum(1 for w in a.allocated_w if w)
        print(f"{a.request:<14} {a.participant:<12} {a.zone:<8} {slots:>6} "
              f"{max(a.allocated_w):>10,} {a.payment_ueur / 1e6:>14,.2f}")
    for x in result.rejected:
        print(f"rejected {x.request}: {x.reason}")
    print(f"payments {result.total_payment_ueur / 1e6:,.2f} EUR, welfare "
          f"{result.welfare_ueur / 1e6:,.2f} EUR; remaining capacity (min over slots): "
          + ", ".join(f"{z} {min(v):,} W" for z, v in result.remaining_w.items()))
    print(f"result {result.result_hash}")
    return EXIT_OK
