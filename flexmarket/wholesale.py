"""`flexmarket wholesale verify RESULTS.json [--json]`: checks 1-4 of
`../shared/spec/wholesale.md` on an imported exchange results file.

Exit 0 when every check holds, 1 with the list of violations, 2 for a malformed file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from flexmarket.exits import EXIT_FAILURE, EXIT_INPUT, EXIT_OK

EXIT_VIOLATIONS = EXIT_FAILURE  # a check that found violations: a failure of the job


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "wholesale", help="wholesale results imported from an exchange (verify)",
        description="Wholesale integration: imported exchange results.",
        formatter_class=formatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    v = actions.add_parser(
        "verify", help="check a results file (curves, price, orders, payments)",
        description=__doc__.split("\n\n")[0], formatter_class=formatter)
    v.add_argument("file", metavar="RESULTS.json", help="a flexmarket.wholesale-results/1 file")
    v.add_argument("--json", action="store_true", help="print the verification as JSON")
    v.set_defaults(run=run_verify, parser=v)
    p.set_defaults(parser=p)
    return p


def run_verify(args: argparse.Namespace) -> int:
    from oracle.wholesale import WholesaleFileError, load_results, report, verify_results

    try:
        results = load_results(args.file)
    except WholesaleFileError as exc:
        for where, message in exc.problems:
            print(f"error: {args.file}: {where + ': ' if where else ''}{message}",
                  file=sys.stderr)
        return EXIT_INPUT
    violations = verify_results(results)
    doc = report(results, violations)
    if args.json:
        print(json.dumps(doc, sort_keys=True))
    else:
        print(f"{results.exchange} {results.auction} from {doc['delivery_start']}: "
              f"{results.mtus} MTUs of {results.mtu_minutes} min, {len(results.orders)} of "
              f"our orders, results {doc['results_hash']}")
        totals = doc["totals"]
        print(f"our sells paid {totals['sell_payment_ueur'] / 1e6:,.2f} EUR, our buys pay "
              f"{totals['buy_payment_ueur'] / 1e6:,.2f} EUR")
        if violations:
            print(f"{len(violations)} violation(s):")
            for v in violations:
                print(f"  check {v.check}: {v.where}: {v.message}")
        else:
            print("checks 1-4 hold (curves hold our orders, the price clears the curves, "
                  "orders treated by the price, payments)")
    return EXIT_VIOLATIONS if violations else EXIT_OK
