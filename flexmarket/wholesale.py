"""`flexmarket wholesale verify RESULTS.json [--json]`: checks 1-4 of
`../shared/spec/wholesale.md` on an imported exchange results file.

Exit 0 when every check holds, 1 with the list of violations, 2 for a malformed file.

`flexmarket wholesale check ORDERS.json [--json]`: the local grid check of an order book
(zone limits, then AC power flow when the book names a grid): what would be forwarded,
curtailed and refused, the records and the book hash. Exit 0, 2 for a malformed book.

`flexmarket wholesale forward ORDERS.json [--seed N] [--out RESULTS.json] [--json]`: the
whole day-ahead round against the reference exchange started as its own process: grid
check, forwarding, gate closure and clearing, import, checks 1-5. Exit 0 when the results
hold, 1 with the violations, 2 for a malformed book.

`flexmarket wholesale mfrr BIDS.json [--seed N] [--json]`: an mFRR round against the
reference mFRR platform started as its own process: local bids checked against the zone
limits, aggregated into standard products, forwarded, the gate closed, the activations
checked and split back to the local bids. Exit 0 when they hold, 1 with the violations, 2
for a malformed book.
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
    c = actions.add_parser(
        "check", help="the local grid check of an order book (what would be forwarded)",
        description="The local grid check of an order book: zone limits, then AC power flow "
        "where the book names a grid.", formatter_class=formatter)
    c.add_argument("file", metavar="ORDERS.json", help="a flexmarket.wholesale-orders/1 file")
    c.add_argument("--json", action="store_true", help="print the decision as JSON")
    c.set_defaults(run=run_check, parser=c)
    f = actions.add_parser(
        "forward", help="check, forward to the reference exchange, import and verify",
        description="A day-ahead round against the reference exchange (its own process).",
        formatter_class=formatter)
    f.add_argument("file", metavar="ORDERS.json", help="a flexmarket.wholesale-orders/1 file")
    f.add_argument("--seed", type=int, default=1, help="the exchange's background orders")
    f.add_argument("--out", metavar="RESULTS.json", help="write the imported results file")
    f.add_argument("--json", action="store_true", help="print the verification as JSON")
    f.set_defaults(run=run_forward, parser=f)
    m = actions.add_parser(
        "mfrr", help="aggregate local balancing bids, forward them to the reference mFRR "
        "platform, split its activations", description="An mFRR round against the reference "
        "mFRR platform (its own process).", formatter_class=formatter)
    m.add_argument("file", metavar="BIDS.json", help="a flexmarket.mfrr-bids/1 file")
    m.add_argument("--seed", type=int, default=1, help="the platform's need and other bids")
    m.add_argument("--json", action="store_true", help="print products and splits as JSON")
    m.set_defaults(run=run_mfrr, parser=m)
    d = actions.add_parser(
        "demo", help="a wholesale day on a local chain: spot round recorded and attested, "
        "an mFRR round", description="A wholesale day on a local anvil chain with the "
        "reference exchange and mFRR platform as their own processes.",
        formatter_class=formatter)
    d.add_argument("--seed", type=int, default=1, help="the orders, bids and backgrounds")
    d.add_argument("--json", action="store_true", help="print one JSON document")
    d.set_defaults(run=run_demo, parser=d)
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


def _load_book(path: str, kind: str = "orders") -> Any:
    from oracle.wholesale import WholesaleFileError
    from oracle.wholesale.mfrr import load_bids
    from oracle.wholesale.orders import load_orders

    try:
        return load_orders(path) if kind == "orders" else load_bids(path)
    except WholesaleFileError as exc:
        for where, message in exc.problems:
            print(f"error: {path}: {where + ': ' if where else ''}{message}", file=sys.stderr)
        return None


def _print_decision(decision: Any) -> None:
    print(f"{len(decision.forwarded)} order(s) forwarded, {len(decision.requested_w)} "
          f"curtailed, {len(decision.refused)} refused")
    for oid, want in sorted(decision.requested_w.items()):
        got = next(o.quantity_w for o in decision.forwarded if o.id == oid)
        print(f"  curtailed {oid}: {got:,} W of {want:,} W")
    for r in decision.refused:
        print(f"  refused {r.order_id}: {r.reason}")


def run_check(args: argparse.Namespace) -> int:
    from oracle.wholesale.acgrid import decide

    book = _load_book(args.file)
    if book is None:
        return EXIT_INPUT
    decision = decide(book)  # a grid that does not hold the book: GridError, exit 2
    if args.json:
        print(json.dumps(decision.to_json(book), sort_keys=True))
    else:
        _print_decision(decision)
        print(f"book {decision.book_hash(book)}")
    return EXIT_OK


def run_forward(args: argparse.Namespace) -> int:
    from nodes.wholesale.launch import start_reference_exchange
    from nodes.wholesale.spot import SpotIntermediary

    book = _load_book(args.file)
    if book is None:
        return EXIT_INPUT
    with start_reference_exchange(
            seed=args.seed, exchange=book.exchange, delivery_start=book.delivery_start.isoformat(),
            mtus=book.mtus, mtu_minutes=book.mtu_minutes,
            floor_ct_per_mwh=book.price_floor_ct_per_mwh,
            cap_ct_per_mwh=book.price_cap_ct_per_mwh) as exchange:
        node = SpotIntermediary(book, exchange.adapter())
        decision = node.check()
        book_hash = node.forward()
        exchange.close_auction()
        results = node.import_results()
    verdict = node.verify(results)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            json.dump(results.canonical(), out, sort_keys=True, indent=1)
            out.write("\n")
    if args.json:
        print(json.dumps(verdict.to_json(), sort_keys=True))
    else:
        _print_decision(decision)
        print(f"book {book_hash} forwarded to {book.exchange} ({exchange.url})")
        print(f"results {results.results_hash()}: {len(results.orders)} of our orders, "
              f"prices {min(results.prices_ct_per_mwh)}..{max(results.prices_ct_per_mwh)} "
              "ct/MWh")
        if verdict.violations:
            print(f"{len(verdict.violations)} violation(s):")
            for v in verdict.violations:
                print(f"  check {v.check}: {v.where}: {v.message}")
        else:
            print("checks 1-5 hold")
    return EXIT_VIOLATIONS if verdict.violations else EXIT_OK


def run_mfrr(args: argparse.Namespace) -> int:
    from nodes.wholesale.launch import start_reference_mfrr
    from nodes.wholesale.mfrr import MfrrIntermediary

    book = _load_book(args.file, "bids")
    if book is None:
        return EXIT_INPUT
    with start_reference_mfrr(
            seed=args.seed, platform=book.platform, quarters=book.quarters,
            delivery_start=book.delivery_start.isoformat(),
            floor_ct_per_mwh=book.price_floor_ct_per_mwh,
            cap_ct_per_mwh=book.price_cap_ct_per_mwh) as platform:
        node = MfrrIntermediary(book, platform.adapter())
        decision = node.forward()
        platform.close_gate()
        verdict = node.verify(node.activations())
    if args.json:
        print(json.dumps({**decision.to_json(), **verdict.to_json()}, sort_keys=True))
    else:
        print(f"{len(decision.products)} product(s) forwarded from {len(decision.admitted)} "
              f"local bid(s); {len(decision.refused)} refused, {len(decision.unforwarded)} "
              "part(s) short of a product step kept local")
        for r in decision.refused:
            print(f"  refused {r.order_id}: {r.reason}")
        for sp in verdict.splits:
            if sp.activated_w:
                print(f"  {sp.bid} ({sp.participant}, {sp.zone}) {sp.direction} quarter "
                      f"{sp.quarter}: {sp.activated_w:,} W, {sp.payment_ueur / 1e6:,.2f} EUR")
        for v in verdict.violations:
            print(f"  check {v.check}: {v.where}: {v.message}")
        if verdict.ok:
            print("activations, prices, payments and the zone limits hold")
    return EXIT_VIOLATIONS if verdict.violations else EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from nodes.wholesale.demo import run_demo as demo

    doc = demo(args.seed, say=(lambda _: None) if args.json else print)
    if args.json:
        print(json.dumps(doc, sort_keys=True))
    return EXIT_OK
