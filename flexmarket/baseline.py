"""`flexmarket baseline`: an asset's baseline and delivered power over an event window, from a
meter data file (`../shared/spec/metering.md`).

    flexmarket baseline --meter FILE.csv --asset ID --method high_x_of_y --x 4 --y 5 \\
        --window 2026-05-26T17:00:00+02:00/2026-05-26T19:00:00+02:00 \\
        [--adjust additive] [--activations FILE.csv] [--nominated FILE.csv] \\
        [--direction up|down] [--json]

Exit 0 with the baseline; 2 when a file or a parameter is wrong, or the baseline cannot be
computed from the data (the message names the file line or the parameter).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from flexmarket.exits import EXIT_INPUT, EXIT_OK


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    from oracle.metering import METHODS

    p: argparse.ArgumentParser = sub.add_parser(
        "baseline", help="an asset's baseline and delivered power from meter data",
        description=__doc__.split("\n\n")[0], formatter_class=formatter)
    p.add_argument("--meter", required=True, metavar="FILE.csv",
                   help="meter data (asset_id,interval_start,net_import_wh)")
    p.add_argument("--asset", required=True, metavar="ID")
    p.add_argument("--method", required=True, choices=METHODS)
    p.add_argument("--x", type=int, help="days averaged (high_x_of_y: 4, mid_x_of_y: 8)")
    p.add_argument("--y", type=int, help="candidate days (high_x_of_y: 5, mid_x_of_y: 10)")
    p.add_argument("--window", required=True, metavar="START/END",
                   help="the event window, ISO 8601 with offsets, END exclusive")
    p.add_argument("--adjust", choices=("additive",),
                   help="same-day additive adjustment (X-of-Y methods)")
    p.add_argument("--activations", metavar="FILE.csv",
                   help="earlier activations (asset_id,interval_start): their days are skipped")
    p.add_argument("--nominated", metavar="FILE.csv",
                   help="the nominated schedule (method nominated), meter data format")
    p.add_argument("--direction", choices=("up", "down"), default="up",
                   help="the delivered power printed (--json gives both)")
    p.add_argument("--json", action="store_true", help="print the spec's JSON document")
    p.set_defaults(run=run, parser=p)
    return p


def run(args: argparse.Namespace) -> int:
    from oracle.metering import (
        BaselineError,
        MeterDataError,
        Window,
        compute_baseline,
        parse_activations,
        parse_meter_data,
    )

    def load(option: str, path: str, parse: Any) -> Any:
        try:
            return parse(Path(path))
        except MeterDataError as exc:
            for where, message in exc.problems:
                print(f"error: {option} {path}: {where}: {message}", file=sys.stderr)
            raise

    try:
        window = Window.parse(args.window)
        meter = load("--meter", args.meter, parse_meter_data)
        activations = (load("--activations", args.activations, parse_activations)
                       if args.activations else None)
        nominated = (load("--nominated", args.nominated, parse_meter_data)
                     if args.nominated else None)
        baseline = compute_baseline(
            meter, args.asset, window, args.method, x=args.x, y=args.y,
            adjust=args.adjust == "additive", activations=activations, nominated=nominated)
    except MeterDataError:
        return EXIT_INPUT
    except BaselineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(baseline.to_json()))
        return EXIT_OK
    direction = args.direction
    print(f"asset {baseline.asset}, method {baseline.method}, meter data {baseline.meter_hash}")
    if baseline.days_used:
        print(f"days used: {', '.join(baseline.days_used)}")
    if baseline.adjustment_wh is not None:
        print(f"additive adjustment: {baseline.adjustment_wh:+d} Wh")
    print(f"{'interval_start':<26} {'baseline_wh':>12} {'metered_wh':>11} "
          f"{'delivered_' + direction + '_w':>16}")
    for iv in baseline.intervals:
        delivered = iv.delivered_up_w if direction == "up" else iv.delivered_down_w
        print(f"{iv.interval_start:<26} {iv.baseline_wh:>12,} "
              f"{'-' if iv.metered_wh is None else f'{iv.metered_wh:,}':>11} "
              f"{'-' if delivered is None else f'{delivered:,}':>16}")
    return EXIT_OK
