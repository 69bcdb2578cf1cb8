"""`flexmarket reserve ACTION`: the reserve market (`docs/reserve.md`), no chain.

    flexmarket reserve clear FILE [--json]                 clear a tender and its offers
    flexmarket reserve check FILE RESULT.json [--json]     the independent checker
    flexmarket reserve settle FILE --result RESULT.json --activations ACT.json \\
        --meter METER.csv [--json]                         settle from meter data
    flexmarket reserve verify FILE --rpc URL --reserve ADDRESS --activations ACT.json \\
        --meter METER.csv [--json]                         a replica's check of the chain
    flexmarket reserve demo [--out DIR] [--json]          a month of SimBench meter data

Exit 0 done (a check that found nothing wrong included); 1 a check that found violations, or
the solver failed; 2 a malformed file or data the settlement cannot use (the message names
the field, the line or the asset and interval), nothing printed on stdout.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flexmarket.exits import EXIT_FAILURE, EXIT_INPUT, EXIT_OK, exit_code_of

if TYPE_CHECKING:
    from oracle.errors import DocumentError
    from oracle.metering import MeterDataError
    from oracle.reserve import ReserveResult, ReserveSettlement

_T = TypeVar("_T")


def add_parser(sub: Any, formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "reserve", help="reserve market: clear, check, settle from meter data (no chain)",
        description=__doc__.split("\n\n")[0], formatter_class=formatter)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("clear", help="clear a flexmarket.reserve/1 file",
                           formatter_class=formatter)
    c.add_argument("file", metavar="FILE", help="a flexmarket.reserve/1 JSON file")
    c.add_argument("--json", action="store_true",
                   help="print the flexmarket.reserve-result/1 JSON")
    c.set_defaults(run=run_clear, parser=c)
    k = actions.add_parser("check", help="re-check a reserve result against its file",
                           formatter_class=formatter)
    k.add_argument("file", metavar="FILE")
    k.add_argument("result", metavar="RESULT.json")
    k.add_argument("--json", action="store_true", help="print the violations as JSON")
    k.set_defaults(run=run_check, parser=k)
    s = actions.add_parser("settle", help="settle activations from meter data and baselines",
                           formatter_class=formatter)
    s.add_argument("file", metavar="FILE")
    s.add_argument("--result", required=True, metavar="RESULT.json",
                   help="the reserve result (checked first)")
    s.add_argument("--activations", required=True, metavar="ACT.json",
                   help="a flexmarket.reserve-activations/1 file")
    s.add_argument("--meter", required=True, metavar="METER.csv",
                   help="meter data (asset_id,interval_start,net_import_wh)")
    s.add_argument("--json", action="store_true",
                   help="print the flexmarket.reserve-settlement/1 JSON")
    s.set_defaults(run=run_settle, parser=s)
    v = actions.add_parser("verify", help="check a tender on chain (FlexReserve) against the "
                           "files: parameters, awards, deliveries, penalties, payments",
                           formatter_class=formatter)
    v.add_argument("file", metavar="FILE")
    v.add_argument("--rpc", required=True, metavar="URL", help="a JSON-RPC node")
    v.add_argument("--reserve", required=True, metavar="ADDRESS",
                   help="the FlexReserve contract's address")
    v.add_argument("--activations", required=True, metavar="ACT.json")
    v.add_argument("--meter", required=True, metavar="METER.csv")
    v.add_argument("--json", action="store_true", help="print the mismatches as JSON")
    v.set_defaults(run=run_verify, parser=v)
    d = actions.add_parser("demo", help="PowerCut Urgent over June 2016 with SimBench meter "
                           "data: clear, activate, settle (no chain)", formatter_class=formatter)
    d.add_argument("--out", metavar="DIR",
                   help="also write the demo's files there (reserve, activations, meter data, "
                   "result, settlement)")
    d.add_argument("--json", action="store_true",
                   help="print the result and the settlement as one JSON document")
    d.set_defaults(run=run_demo, parser=d)
    p.set_defaults(parser=p)
    return p


def _problems(path: str, problems: list[tuple[str, str]]) -> int:
    for where, message in problems:
        print(f"error: {path}: {where + ': ' if where else ''}{message}", file=sys.stderr)
    return EXIT_INPUT


class _Refused(Exception):
    """A named input could not be read; its problems are printed, `code` is the exit code."""

    def __init__(self, code: int) -> None:
        self.code = code


def _read(
    path: str, load: Callable[[str], _T], *errors: type[DocumentError | MeterDataError]
) -> _T:
    """`load(path)`, or its problems printed against `path` and `_Refused` (exit 2)."""
    try:
        return load(path)
    except errors as exc:
        raise _Refused(_problems(path, exc.problems)) from exc


def _refusing(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A command whose inputs are read with `_read`: a refused input is its exit code."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except _Refused as refused:
            return refused.code

    return wrapped


def _load_result(path: str) -> ReserveResult:
    from oracle.jsonio import parse_model, read_document
    from oracle.reserve import ReserveFileError, ReserveResult

    return parse_model(ReserveResult, read_document(path, ReserveFileError), ReserveFileError)


def run_clear(args: argparse.Namespace) -> int:
    from oracle.errors import SolverError
    from oracle.reserve import ReserveFileError, clear_reserve, load_reserve

    try:
        result = clear_reserve(load_reserve(args.file))
    except ReserveFileError as exc:
        return _problems(args.file, exc.problems)
    except SolverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(result.to_json() if args.json else render_result(result))
    return EXIT_OK


@_refusing
def run_check(args: argparse.Namespace) -> int:
    from flexmarket.cli import print_json
    from oracle.reserve import ReserveFileError, check_reserve, load_reserve

    f = _read(args.file, load_reserve, ReserveFileError)
    result = _read(args.result, _load_result, ReserveFileError)
    notes: list[str] = []
    violations = check_reserve(f, result, notes)
    if args.json:
        print_json({"ok": not violations, "notes": notes,
                    "violations": [{"where": v.where, "message": v.message}
                                   for v in violations]})
    else:
        for v in violations:
            print(f"{v.where}: {v.message}")
        for note in notes:
            print(f"note: {note}")
        print(f"{result.result_hash}: " + ("ok" if not violations
                                           else f"{len(violations)} violation(s)"))
    return EXIT_FAILURE if violations else EXIT_OK


@_refusing
def run_settle(args: argparse.Namespace) -> int:
    from oracle.metering import MeterDataError, parse_meter_data
    from oracle.reserve import (
        ReserveFileError,
        SettlementError,
        check_reserve,
        load_activations_file,
        load_reserve,
        settle_reserve,
    )

    f = _read(args.file, load_reserve, ReserveFileError)
    result = _read(args.result, _load_result, ReserveFileError)
    acts = _read(args.activations, load_activations_file, ReserveFileError)
    meter = _read(args.meter, lambda path: parse_meter_data(Path(path)), MeterDataError)
    violations = check_reserve(f, result)
    if violations:
        for v in violations:
            print(f"error: --result {args.result}: {v.where}: {v.message}", file=sys.stderr)
        return EXIT_INPUT
    try:
        settlement = settle_reserve(f, result, acts, meter)
    except SettlementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    print(settlement.to_json() if args.json else render_settlement(settlement))
    return EXIT_OK


@_refusing
def run_verify(args: argparse.Namespace) -> int:
    from flexmarket.cli import print_json
    from oracle.metering import MeterDataError, parse_meter_data
    from oracle.reserve import (
        ReserveFileError,
        SettlementError,
        load_activations_file,
        load_reserve,
    )
    from verifier.errors import VerifierError
    from verifier.reserve import check_reserve_chain, fetch_reserve_events

    f = _read(args.file, load_reserve, ReserveFileError)
    acts = _read(args.activations, load_activations_file, ReserveFileError)
    meter = _read(args.meter, lambda path: parse_meter_data(Path(path)), MeterDataError)
    try:
        events = fetch_reserve_events(args.rpc, args.reserve)
        mismatches = check_reserve_chain(events, f, acts, meter)
    except SettlementError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except VerifierError as exc:  # a bad --rpc is the user's (2), a node that fails is 1
        print(f"error: {exc}", file=sys.stderr)
        return exit_code_of(exc) or EXIT_FAILURE
    if args.json:
        print_json({"ok": not mismatches, "events": len(events),
                    "mismatches": [{"where": m.where, "message": m.message}
                                   for m in mismatches]})
    else:
        for m in mismatches:
            print(f"{m.where}: {m.message}")
        print(f"tender {f.tender.id}: {len(events)} events of {args.reserve}, "
              + ("everything follows from the files" if not mismatches
                 else f"{len(mismatches)} mismatch(es): dispute"))
    return EXIT_FAILURE if mismatches else EXIT_OK


def run_demo(args: argparse.Namespace) -> int:
    from flexmarket.cli import print_json
    from oracle.reserve.demo import demo_files, simbench_profiles

    out = demo_output(*demo_files(simbench_profiles()))
    if args.out:
        folder = Path(args.out)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in out["files"].items():
            (folder / name).write_text(text, encoding="utf-8")
    if args.json:
        print_json({k: v for k, v in out.items() if k != "files"})
        return EXIT_OK
    print(out["text"])
    return EXIT_OK


def demo_output(reserve: dict[str, Any], activations: dict[str, Any], meter_csv: str
                ) -> dict[str, Any]:
    """Clear, check, settle the demo's files; its timeline and documents."""
    import json

    from oracle.metering import parse_meter_data
    from oracle.reserve import (
        check_reserve,
        clear_reserve,
        parse_activations_file,
        parse_reserve,
        settle_reserve,
    )
    from oracle.reserve.files import unix_s

    f = parse_reserve(reserve)
    acts = parse_activations_file(activations)
    meter = parse_meter_data(meter_csv)
    result = clear_reserve(f)
    violations = check_reserve(f, result)
    settlement = settle_reserve(f, result, acts, meter)
    again = settle_reserve(f, result, acts, meter)  # a replica with the same files
    lines = [f"meter data: {len(meter.assets())} assets x {f.tender.days} days of SimBench "
             f"load profiles ({meter.hash()})", "", render_result(result), "",
             f"checker: {'ok' if not violations else f'{len(violations)} violation(s)'}", "",
             "timeline:"]
    by_id = {a.id: a for a in acts.activations}
    events: list[tuple[int, str, str]] = []  # (start in Unix seconds, id, line)
    for award in settlement.awards:
        for o in award.activations:
            a = by_id[o.activation]
            what = {"delivered": f"delivered {o.delivered_wh:,} of {o.requested_wh:,} Wh",
                    "failed": f"short: {o.delivered_wh:,} of {o.requested_wh:,} Wh",
                    "inability": f"inability signalled {a.inability_at:%H:%M}" if a.inability_at
                    else "inability", "rejected": f"refused: {o.reason}"}[o.status]
            money = (f"; utilisation {_eur(o.utilisation_ueur)}, penalty "
                     f"{_eur(o.penalty_ueur)}" if o.status != "rejected" else "")
            events.append((unix_s(a.start), o.activation,
                           f"  {a.start:%Y-%m-%d %H:%M} {o.activation} ({award.offer}, "
                           f"{a.power_w:,} W, {a.duration_minutes} min): {what}{money}"))
    timeline = [text for _, _, text in sorted(events)]
    head = lines
    tail = ["", render_settlement(settlement), "",
            f"replica: the same files settle to {again.result_hash} "
            f"({'the same' if again.result_hash == settlement.result_hash else 'DIFFERENT'})"]
    return {
        "text": "\n".join(head + timeline + tail),
        "result": json.loads(result.to_json()),
        "settlement": json.loads(settlement.to_json()),
        "checker": [{"where": v.where, "message": v.message} for v in violations],
        "files": {"reserve.json": json.dumps(reserve, indent=1),
                  "activations.json": json.dumps(activations, indent=1),
                  "meter.csv": meter_csv, "result.json": result.to_json(),
                  "settlement.json": settlement.to_json()},
    }


def _eur(ueur: int) -> str:
    from flexmarket.cli import _fmt_ueur_col  # the one money format (cents, half up)

    return _fmt_ueur_col(ueur)


def render_result(result: ReserveResult) -> str:
    lines = [f"reserve tender {result.tender} ({result.product}, zone {result.zone}, "
             f"{result.direction})", ""]
    lines.append(f"{'offer':<8} {'aggregator':<11} {'awarded':>10} {'EUR/MW/h':>9} "
                 f"{'EUR/MWh':>8} {'availability':>16} {'budget':>16} {'collateral':>14}")
    for a in result.awards:
        lines.append(f"{a.offer:<8} {a.aggregator:<11} {a.quantity_w:>8,} W "
                     f"{a.availability_price_eur_per_mw_h:>9,} "
                     f"{a.utilisation_price_eur_per_mwh:>8,} {_eur(a.availability_ueur):>16} "
                     f"{_eur(a.budget_ueur):>16} {_eur(a.collateral_ueur):>14}")
    for r in result.rejected:
        lines.append(f"rejected {r.offer}: {r.reason}")
    lines.append("")
    lines.append(f"awarded {result.awarded_w:,} W, unmet {result.unmet_w:,} W; expected cost "
                 f"{_eur(result.expected_cost_x240 // 240)}, budget escrowed "
                 f"{_eur(result.budget_ueur)}")
    lines += [f"input_hash  {result.input_hash}", f"result_hash {result.result_hash}"]
    return "\n".join(lines)


def render_settlement(s: ReserveSettlement) -> str:
    lines = [f"reserve settlement {s.tender}, meter data {s.meter_hash}", ""]
    for a in s.awards:
        if a.offer:
            ended = f", terminated by {a.terminated_by}" if a.terminated_by else ""
            lines.append(f"{a.offer} ({a.aggregator}): {a.days_paid} days available, "
                         f"{a.failures} failure(s){ended}")
        else:
            lines.append("activations of offers without an award:")
        for o in a.activations:
            detail = (f"{o.delivered_wh:,} of {o.requested_wh:,} Wh, utilisation "
                      f"{_eur(o.utilisation_ueur)}, penalty {_eur(o.penalty_ueur)}"
                      if o.status != "rejected" else "")
            reason = f" ({o.reason})" if o.reason else ""
            lines.append(f"  {o.activation:<6} {o.status:<10} {detail}{reason}")
        if a.offer:
            lines.append(f"  availability {_eur(a.availability_ueur)}, utilisation "
                         f"{_eur(a.utilisation_ueur)}, penalties {_eur(a.penalty_ueur)}; paid "
                         f"{_eur(a.paid_ueur)}, refund to the buyer {_eur(a.refund_ueur)}")
    lines += ["", f"paid {_eur(s.paid_ueur)}, penalties {_eur(s.penalty_ueur)}, refunded "
              f"{_eur(s.refund_ueur)}", f"input_hash  {s.input_hash}",
              f"result_hash {s.result_hash}"]
    return "\n".join(lines)
