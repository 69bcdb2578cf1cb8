"""`flexmarket capacity-limits --grid CODE --day YYYY-MM-DD [--zones feeder] [--json]`: the
DSO's available capacity per zone and slot by AC power flow on a SimBench grid's day
(`oracle.capacity.limits`), as the `zones` array of a `flexmarket.capacity/1` file.

Exit 0 with the capacity; 2 for a bad argument (an unknown grid code, a bad day, named by
its option).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from flexmarket.exits import EXIT_OK


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "capacity-limits", help="available capacity per zone and slot (AC power flow)",
        description=__doc__.split("\n\n")[0], formatter_class=formatter)
    p.add_argument("--grid", required=True, metavar="CODE",
                   help="SimBench code with profiles (e.g. 1-LV-semiurb4--2-sw)")
    p.add_argument("--day", required=True, metavar="YYYY-MM-DD",
                   help="day of the profiles (96 slots of 15 min)")
    p.add_argument("--zones", choices=("feeder", "trafo"), default="feeder",
                   help="feeders (default; as `flexmarket needs`) or whole transformers")
    p.add_argument("--granularity", type=int, default=1, metavar="W",
                   help="the market's granularity_w: capacities rounded down to it")
    p.add_argument("--json", action="store_true",
                   help="print the zones array of a capacity file")
    p.set_defaults(run=run, parser=p)
    return p


def run(args: argparse.Namespace) -> int:
    from flexmarket.cli import print_json
    from oracle.capacity.limits import compute_limits, load_day, render_text
    from oracle.grid.errors import GridError

    if args.granularity < 1:
        raise GridError(f"--granularity: {args.granularity} is not a positive number of watts")
    log = logging.getLogger(__name__)
    log.info("loading the grid %s (cached under build/grid-cache after the first time)",
             args.grid)
    model, solver = load_day(args.grid, args.day)
    log.info("AC power flows: each %s alone, then all together, 96 slots", args.zones)
    limits = compute_limits(model, solver, zones=args.zones, granularity_w=args.granularity)
    if args.json:
        print_json(limits.zones_json())
    else:
        print(render_text(limits))
    return EXIT_OK
