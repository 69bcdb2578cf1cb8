"""The `flexmarket` command.

    flexmarket clear FILE [--json]        clear a scenario file (no chain)
    flexmarket needs --grid G --day D     DSO needs found by power flow (issue 6)
    flexmarket index --rpc URL [--db URL] [--deployment FILE] [--follow]
                                          events of the chain into SQLite/PostgreSQL
    flexmarket serve [--rpc URL] [--db URL] [--port N]
                                          the participant API (FastAPI, /docs)
    flexmarket oracle --rpc URL [--key-env VAR]      clear sessions, commit results
    flexmarket verify --rpc URL [--session ID] [--json]   re-check results (replica)
    flexmarket replay --rpc URL [--json]             every session from genesis
    flexmarket validate --rpc URL --key-env VAR      attest or dispute results

Global options (before or after COMMAND): --version, -q/--quiet (no progress),
-v/--verbose (progress and debug lines on stderr even off a terminal). Progress of long
work is logged (stdlib logging, `oracle.display.show_progress`) and shown on stderr only
when it is a terminal and --json is not given.

Exit codes: 0 done, 1 a failure of ours or of the environment, 2 unusable
input (a malformed scenario, a bad argument): nothing is cleared then.
Heavy packages are imported by the subcommand that needs them, so that
`flexmarket clear` starts fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oracle.display import EscapingWriter, HelpFormatter, printable, show_progress

if TYPE_CHECKING:
    from oracle.result import Result
    from oracle.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


def _fmt_w(w: int) -> str:
    return f"{w:,} W"


def _cents(ueur: int) -> int:
    """µEUR rounded to the nearest cent (half up), never truncated."""
    return (ueur + 5_000) // 10_000


def _fmt_ueur(ueur: int) -> str:
    """`6,565.71 EUR` (rounded to the cent), `6,150 EUR` when whole."""
    euros, cents = divmod(_cents(ueur), 100)
    return f"{euros:,}.{cents:02d} EUR" if cents else f"{euros:,} EUR"


def _fmt_ueur_col(ueur: int) -> str:
    """A column entry: always two decimals, so that amounts line up on the point."""
    euros, cents = divmod(_cents(ueur), 100)
    return f"{euros:,}.{cents:02d} EUR"


def _rounding_note(parts: Sequence[int], total: int) -> list[str]:
    """The line that says why the printed parts do not add up to the printed total, if
    they do not (each is rounded to the cent on its own; the µEUR are exact)."""
    shown = sum(_cents(p) for p in parts)
    if shown == _cents(total):
        return []
    return [f"  (each amount is rounded to the cent: the parts shown add up to "
            f"{shown // 100:,}.{shown % 100:02d} EUR; exactly {sum(parts):,} µEUR)"]  # fmt: skip


def render_result(result: object) -> str:
    """A readable table: awards, rejected bids, unmet needs, cost."""
    from oracle.result import Result

    assert isinstance(result, Result)
    lines = [f"market {printable(result.market)} ({result.pricing.replace('_', '-')})", ""]
    if result.awards:
        # amounts line up on the decimal point: two decimals for all when one has cents
        money = _fmt_ueur if all(_cents(a.payment_ueur) % 100 == 0 for a in result.awards) \
            else _fmt_ueur_col
        rows = [("bid", "seller", "awarded", "price EUR/MW", "payment")]
        rows += [
            (
                printable(a.bid),
                printable(a.seller),
                _fmt_w(a.quantity_w),
                f"{a.price_eur_per_mw:,}",
                money(a.payment_ueur),
            )
            for a in result.awards
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for j, r in enumerate(rows):
            lines.append(
                "  ".join(
                    c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]) for i, c in enumerate(r)
                ).rstrip()
            )
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
    else:
        lines.append("no awards")
    if result.rejected:
        lines += ["", "rejected bids:"]
        lines += [f"  {printable(r.bid)}: {printable(r.reason)}" for r in result.rejected]
    lines.append("")
    if result.unmet:
        lines.append("unmet needs:")
        lines += [f"  {printable(u.request)} slot {u.slot}: {_fmt_w(u.quantity_w)}"
                  for u in result.unmet]
    else:
        lines.append("every need met")
    lines.append(
        f"total cost: {_fmt_ueur(result.total_cost_ueur)} ({result.total_cost_ueur:,} µEUR)"
    )
    lines += _rounding_note([a.payment_ueur for a in result.awards], result.total_cost_ueur)
    if result.mip_gap is not None:
        lines.append(f"optimal within a relative gap of {printable(result.mip_gap)}")
    if result.grid_check is not None:
        gc = result.grid_check
        lines.append(
            f"grid check: {'ok' if gc.get('ok') else 'VIOLATIONS REMAIN'}; max loading "
            f"{gc['before']['max_loading_percent']} % -> {gc['after']['max_loading_percent']} %"
        )
    if result.coordination is not None:
        from oracle.coordination.render import coordination_lines

        lines += coordination_lines(result)
    lines += [f"input_hash  {result.input_hash}", f"result_hash {result.result_hash}"]
    return "\n".join(lines)


def clear_file(path: Path) -> object:
    """Load, clear (with the grid when the scenario names one) and return the result."""
    from oracle import load_scenario

    return clear_scenario(load_scenario(path), path.parent)


def clear_scenario(scenario: Scenario, base_dir: Path) -> Result:
    """The right clearing for a scenario: with its grid, with TSO-DSO coordination, or plain
    (`oracle.clearing.clear_scenario`, the one every node uses)."""
    from oracle.clearing import clear_scenario as clear_any

    return clear_any(scenario, base_dir)


def cmd_clear(args: argparse.Namespace) -> int:
    import logging

    from oracle import load_scenario
    from oracle.result import Result

    path = Path(args.file)
    scenario = load_scenario(path)
    log = logging.getLogger("flexmarket.clear")
    if scenario.grid is not None:  # seconds to tens of seconds: say what is going on
        grid = scenario.grid.simbench_code or scenario.grid.file
        log.info("clearing with the grid %s: loading the model and profiles, sensitivity "
                 "cuts, the MILP, then the AC check of the awards", grid)  # fmt: skip
    else:  # a plain clearing takes seconds only from a few thousand bids
        (log.info if len(scenario.bids) >= 1_000 else log.debug)(
            "clearing %d bids", len(scenario.bids)
        )
    result = clear_scenario(scenario, path.parent)
    assert isinstance(result, Result)
    print(result.to_json() if args.json else render_result(result))
    return EXIT_OK


def render_chain(chain: Mapping[str, Any]) -> str:
    """Balances and gas of a demo run."""
    lines = ["", f"chain {chain['chain_id']}, session {chain['session_id']}"]
    lines += [f"  {name:<13} {addr}" for name, addr in sorted(chain["contracts"].items())]
    lines += ["", "final token balances:"]
    lines += [
        f"  {printable(pid):<10} {_fmt_ueur_col(v):>22}"
        for pid, v in sorted(chain["balances_ueur"].items())
    ]
    if chain.get("operator_forfeits_ueur"):
        lines.append(
            f"  forfeited bonds to the operator: {_fmt_ueur(chain['operator_forfeits_ueur'])}"
        )
    if chain.get("refused_bids"):
        lines.append(f"bids refused on chain: {', '.join(map(printable, chain['refused_bids']))}")
    if chain.get("payments_ueur"):
        lines += ["", "paid by each buyer's escrow (its shares of the awards):"]
        lines += [f"  {printable(pid):<10} {_fmt_ueur_col(v):>22}  ({v:,} µEUR)"
                  for pid, v in sorted(chain["payments_ueur"].items())]  # fmt: skip
        paid = list(chain["payments_ueur"].values())
        lines.append(f"  {'total':<10} {_fmt_ueur_col(sum(paid)):>22}  ({sum(paid):,} µEUR)")
        lines += _rounding_note(paid, sum(paid))
    lines += ["", "gas, largest single call of each kind:"]
    lines += [f"  {k:<22} {v:>10,}" for k, v in chain["gas"].items()]
    lines += ["", "transactions per step:"]
    lines += [f"  {step:<22} {len(txs):>4}" for step, txs in chain["tx"].items()]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """A whole market session on a chain: registration to settlement."""
    import json

    from web3.exceptions import TimeExhausted

    from oracle import load_scenario
    from oracle.result import Result
    from python_client.demo import exit_code, run_session

    if args.chain not in ("anvil", "ganache") and not args.chain.startswith(
        ("http://", "https://", "ws://", "wss://")
    ):
        print(
            f"error: --chain: {args.chain!r} is not anvil, ganache or a JSON-RPC URL",
            file=sys.stderr,
        )
        return EXIT_INPUT
    path = Path(args.scenario)
    scenario = load_scenario(path)  # a malformed file stops here, before any chain starts
    raw = json.loads(path.read_text())
    if args.coupling is not None:  # TSO-DSO coordination: override market.coupling
        raw["market"]["coupling"] = args.coupling
        scenario = load_scenario(raw)

    def clear_on_chain(data: Mapping[str, Any]) -> Mapping[str, Any]:
        return clear_scenario(load_scenario(dict(data)), path.parent).to_json_dict()

    from nodes.validator import validate_session

    def grid_inputs(data: Mapping[str, Any]) -> Mapping[str, Any]:  # the DSO's, published
        from oracle.grid.published import grid_inputs_json

        return grid_inputs_json(data, path.parent)

    grid = grid_inputs if scenario.grid is not None else None
    try:
        out = run_session(raw, clear_on_chain, args.chain, validate=validate_session, grid=grid)
    except TimeExhausted as exc:  # a transaction of the SDK's own, never mined
        print(f"error: --chain {printable(args.chain)}: {exc}: does the node mine? "
              f"(anvil --no-mining mines nothing)", file=sys.stderr)  # fmt: skip
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(out, sort_keys=True, separators=(",", ":")))
        return exit_code(out)  # 1: the validators did not make the result final
    result = Result.model_validate(
        {k: v for k, v in out.items() if k not in ("chain", "verification")}
    )
    print(f"scenario {printable(scenario.name)}")
    print(render_result(result))
    print(render_chain(out["chain"]))
    v = out.get("verification")
    if v is not None:
        verdict = "ok" if v["ok"] else "FAILED"
        print(f"\nverification: {verdict}, {v['attestations']} of {v['validators']} validators "
              f"attested {v['result_hash']} (status {v['status']})")  # fmt: skip
        g = v.get("grid")
        if g is not None:  # a grid session (issue 19): what the validator nodes checked
            ac = g.get("ac")
            line = (f"grid: {g['published_cuts']:,} cuts published on chain, "
                    f"{g['cuts_used']:,} on bids, checked by every node")
            if ac is not None:
                line += (f"; re-derived from {g['model']} and AC-checked: max loading "
                         f"{ac['before']['max_loading_percent']} % -> "
                         f"{ac['after']['max_loading_percent']} %")
            print(line)
    return exit_code(out)  # 1: the validators did not make the result final


def cmd_needs(rest: Sequence[str]) -> int:
    from oracle.grid.needs import needs_main

    return needs_main(list(rest))


def cmd_index(rest: Sequence[str]) -> int:
    from verifier.indexer import index_main

    return index_main(list(rest))


def cmd_oracle(rest: Sequence[str]) -> int:
    from nodes.service import oracle_main

    return oracle_main(list(rest))


def cmd_verify(rest: Sequence[str]) -> int:
    from verifier.verify import verify_main

    return verify_main(list(rest))


def cmd_replay(rest: Sequence[str]) -> int:
    from verifier.verify import replay_main

    return replay_main(list(rest))


def cmd_validate(rest: Sequence[str]) -> int:
    from nodes.validator import validate_main

    return validate_main(list(rest))


def cmd_serve(rest: Sequence[str]) -> int:
    from api.main import serve

    return serve(list(rest))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flexmarket")
    except PackageNotFoundError:  # run from a checkout without installing
        return "0.1.0"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexmarket",
        description="Local electricity flexibility market: clearing, chain, verification.",
        epilog="-q/--quiet and -v/--verbose may also be given after COMMAND. Progress "
        "(phases, counts) goes to stderr when it is a terminal, never with --json or -q. "
        "Exit codes: 0 done, 1 a failure, 2 unusable input.",
    )
    parser.add_argument("--version", action="version", version=f"flexmarket {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on stderr, only errors and warnings")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="progress and debug lines on stderr, terminal or not")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("clear", help="clear a scenario file (no chain)",
                       formatter_class=HelpFormatter)  # fmt: skip
    p.set_defaults(parser=p)
    p.add_argument("file", metavar="FILE", help="a flexmarket.scenario/1 JSON file")
    p.add_argument("--json", action="store_true", help="print the result JSON")
    p.set_defaults(run=cmd_clear)
    p = sub.add_parser(
        "demo", help="run a whole market session on a local chain",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    p.set_defaults(parser=p)
    p.add_argument(
        "--scenario",
        default=str(EXAMPLES / "flech_powermax.json"),
        metavar="FILE",
        help="scenario file (default: examples/flech_powermax.json, the FLECH case)",
    )
    p.add_argument("--json", action="store_true", help="print the result JSON with a chain object")
    p.add_argument(
        "--chain",
        default="anvil",
        metavar="anvil|ganache|URL",
        help="start anvil or ganache, or use a JSON-RPC URL",
    )
    p.add_argument(
        "--coupling",
        choices=("sequential", "common"),
        help="TSO-DSO coordination: override the scenario's market.coupling (default: "
        "the scenario's)",
    )
    p.set_defaults(run=cmd_demo)
    from flexmarket import baseline

    baseline.add_parser(sub, HelpFormatter)
    sub.add_parser(
        "needs",
        help="DSO needs from a grid's forecasts (see `flexmarket needs -h`)",
        add_help=False,
    )
    sub.add_parser(
        "index",
        help="index the chain's events into a database (see `flexmarket index -h`)",
        add_help=False,
    )
    for name, what in (
        ("oracle", "clear sessions from the chain and commit results (oracle service)"),
        ("verify", "re-check committed results, payments and bytecode from the chain"),
        ("replay", "replay every session of the chain and re-check it"),
        ("validate", "attest results that verify, dispute the others (validator node)"),
    ):
        sub.add_parser(name, help=f"{what} (see `flexmarket {name} -h`)", add_help=False)
    sub.add_parser(
        "serve",
        help="the participant API (see `flexmarket serve -h`)",
        add_help=False,
    )
    return parser


# Subcommands that parse their own arguments.
PASSTHROUGH: dict[str, Callable[[Sequence[str]], int]] = {
    "needs": cmd_needs,
    "index": cmd_index,
    "oracle": cmd_oracle,
    "verify": cmd_verify,
    "replay": cmd_replay,
    "validate": cmd_validate,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Everything it prints for a person goes through
    `oracle.display.printable`: stderr always, stdout unless `--json` asks for JSON (which
    json.dumps already writes without a raw control character). `serve` is left alone: its
    output is uvicorn's log, coloured on a terminal."""
    argv, verbosity = _global_flags(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] == ["serve"]:
        return _main(argv)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stderr = EscapingWriter(stderr)
    if "--json" not in argv:
        sys.stdout = EscapingWriter(stdout)
    command = next((a for a in argv if not a.startswith("-")), "flexmarket")
    show_progress(sys.stderr, printable(command), json="--json" in argv, verbosity=verbosity)
    try:
        return _main(argv)
    except Exception:  # a bug's traceback: printed escaped too, exit 1 as Python would
        import traceback

        traceback.print_exc()
        return EXIT_FAILURE
    finally:
        sys.stdout, sys.stderr = stdout, stderr


GLOBAL_FLAGS = {"-q": -1, "--quiet": -1, "-v": 1, "--verbose": 1}


def _global_flags(argv: list[str]) -> tuple[list[str], int]:
    """argv without -q/--quiet/-v/--verbose (wherever they stand, before a `--`), and the
    verbosity they ask for: -1 quiet, 0 default, 1 verbose. `index --quiet` keeps its own
    meaning (summary only) as well."""
    rest: list[str] = []
    verbosity = 0
    for i, arg in enumerate(argv):
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_FLAGS:
            verbosity = GLOBAL_FLAGS[arg]
            if arg in ("-q", "--quiet") and rest[:1] == ["index"]:  # its lines too
                arg = "--quiet"
                rest.append(arg)
            continue
        rest.append(arg)
    return rest, verbosity


def _main(argv: list[str]) -> int:
    from oracle.errors import OracleError, ScenarioError
    from python_client.errors import ClientError

    try:
        if argv and argv[0] in PASSTHROUGH:
            return PASSTHROUGH[argv[0]](argv[1:])
        parser = build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # named by the subcommand's own usage, not the top-level one
            getattr(args, "parser", parser).error(
                f"unrecognized arguments: {' '.join(unknown)}"
            )
        code: int = args.run(args)
        return code
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OracleError as exc:
        # grid input errors are OracleErrors too; anything the user can fix is exit 2
        from oracle.grid.errors import GridError

        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT if isinstance(exc, GridError) else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
