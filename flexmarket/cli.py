"""The `flexmarket` command: argparse, exit codes, progress and `--json` of every command.

    flexmarket clear FILE [--json]        clear a scenario file (no chain)
    flexmarket demo [--scenario FILE] [--chain anvil|ganache|URL] [--json]
                                          a whole market session on a chain
    flexmarket needs --grid G --day D [--json]       DSO needs found by power flow
    flexmarket baseline --meter FILE ... [--json]    an asset's baseline (metering)
    flexmarket reserve clear|check|settle ...        the reserve market (no chain)
    flexmarket index --rpc URL [--db URL] [--deployment FILE] [--follow] [--json]
                                          events of the chain into SQLite/PostgreSQL
    flexmarket serve [--rpc URL] [--db URL] [--port N] [--host H] [--deployment FILE]
                                          the participant API (FastAPI, /docs)
    flexmarket oracle --rpc URL [--key-env VAR] [--once] [--json]
                                          clear sessions, commit results
    flexmarket verify --rpc URL [--session ID] [--json]   re-check results (replica)
    flexmarket replay --rpc URL [--json]             every session from genesis
    flexmarket validate --rpc URL [--key-env VAR] [--once] [--json]
                                          attest or dispute results

This module owns every command's arguments (the packages below expose typed functions and
raise typed errors), its output and its exit code (`flexmarket.exits`: 0 done, 1 a failure,
2 unusable input, mapped from the error classes in one place). `--json`: stdout is one JSON
document on one line, keys sorted, no spaces, UTF-8 (`print_json`; the result file of
`clear` and `demo` is canonical JSON already), nothing else; errors go to stderr as
`error: ...` lines whatever the format.

Global options (before or after COMMAND): --version, -q/--quiet (no progress),
-v/--verbose (progress and debug lines on stderr even off a terminal). The packages log
to their stdlib loggers (`logging.getLogger(__name__)`); `main` routes them once
(`oracle.display.show_progress`): on stderr when it is a terminal and --json is not given,
warnings always. Heavy packages are imported by the command that needs them, so that
`flexmarket clear` starts fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexmarket.exits import EXIT_FAILURE, EXIT_INPUT, EXIT_OK, exit_code_of
from oracle.display import EscapingWriter, HelpFormatter, printable, show_progress

if TYPE_CHECKING:
    from oracle.result import Result
    from oracle.scenario import Scenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
log = logging.getLogger(__name__)


def print_json(value: Any) -> None:
    """The one style of every `--json`: one line, keys sorted, no spaces, UTF-8."""
    print(json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


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


def render_result(result: Result) -> str:
    """A readable table: awards, rejected bids, unmet needs, cost."""
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


def clear_file(path: Path) -> Result:
    """Load, clear (with the grid when the scenario names one) and return the result."""
    from oracle import load_scenario

    return clear_scenario(load_scenario(path), path.parent)


def clear_scenario(scenario: Scenario, base_dir: Path) -> Result:
    """The right clearing for a scenario: with its grid, with TSO-DSO coordination, or plain
    (`oracle.clearing.clear_scenario`, the one every node uses)."""
    from oracle.clearing import clear_scenario as clear_any

    return clear_any(scenario, base_dir)


def cmd_clear(args: argparse.Namespace) -> int:
    from oracle import load_scenario

    path = Path(args.file)
    scenario = load_scenario(path)
    if scenario.grid is not None:  # seconds to tens of seconds: say what is going on
        grid = scenario.grid.simbench_code or scenario.grid.file
        log.info("clearing with the grid %s: loading the model and profiles, sensitivity "
                 "cuts, the MILP, then the AC check of the awards", grid)  # fmt: skip
    else:  # a plain clearing takes seconds only from a few thousand bids
        (log.info if len(scenario.bids) >= 1_000 else log.debug)(
            "clearing %d bids", len(scenario.bids)
        )
    result = clear_scenario(scenario, path.parent)
    print(result.to_json() if args.json else render_result(result))  # to_json: canonical
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


def demo_exit_code(out: Mapping[str, Any]) -> int:
    """1 when validator nodes ran and did not all verify the result (not final: nothing
    was settled), else 0."""
    verification = out.get("verification")
    return EXIT_FAILURE if verification is not None and not verification.get("ok") else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """A whole market session on a chain: registration to settlement."""
    from web3.exceptions import TimeExhausted

    from nodes.demo import run_session
    from nodes.validator import validate_session
    from oracle import load_scenario
    from oracle.result import Result

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
        print_json(out)
        return demo_exit_code(out)
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
    return demo_exit_code(out)


def cmd_needs(args: argparse.Namespace) -> int:
    from oracle.grid.needs import needs_for_grid, needs_json, render_text

    needs = needs_for_grid(args.grid, args.day, storage=args.storage, buyer=args.buyer)
    if args.json:
        print_json(needs_json(needs))
    else:
        print(render_text(needs))
    return EXIT_OK


def cmd_index(args: argparse.Namespace) -> int:
    from verifier.indexer import resolve_deployment, run_indexer
    from verifier.store import parse_db_url

    if args.db is not None:
        parse_db_url(args.db)  # a bad --db is named before the node is asked anything
    deployment = resolve_deployment(args.rpc, args.deployment)
    stats = run_indexer(
        args.rpc, args.db, deployment, follow=args.follow, poll_interval_s=args.poll,
        max_span=args.max_span,
    )  # fmt: skip
    number, block_hash = stats.checkpoint
    if args.json:
        print_json({
            "events": stats.events, "batches": stats.batches, "blocks": stats.blocks,
            "reorgs": stats.reorgs, "rolled_back_events": stats.rolled_back_events,
            "checkpoint": {"block": number, "hash": block_hash},
            "elapsed_ms": round(stats.seconds * 1000),
        })  # fmt: skip
        return EXIT_OK
    print(
        f"indexed {stats.events} events in {stats.batches} batches "
        f"({stats.events_per_s:,.0f} events/s); checkpoint block {number} {block_hash}; "
        f"reorgs {stats.reorgs}"
    )
    return EXIT_OK


def cmd_oracle(args: argparse.Namespace) -> int:
    from nodes.service import run_oracle

    done = run_oracle(args.rpc, deployment=args.deployment, key_env=args.key_env,
                      once=args.once, poll_s=args.poll)  # fmt: skip
    if args.json:
        print_json({"committed": done.committed, "resumed": done.resumed,
                    "forfeited": done.forfeited, "skipped": done.skipped})  # fmt: skip
    else:
        print(f"committed {len(done.committed)} results, resumed {len(done.resumed)}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """`verify` and `replay`: 0 when every check passed, 1 on a mismatch."""
    from verifier.verify import verify_chain

    session = getattr(args, "session", None)
    report = verify_chain(
        args.rpc, args.deployment, sessions=None if session is None else [session],
        strict_hash=not args.allow_other_engine,
    )  # fmt: skip
    if args.json:
        print_json(report.to_json())
    else:
        print(report.render())
    return EXIT_OK if report.ok else EXIT_FAILURE


def cmd_validate(args: argparse.Namespace) -> int:
    """0 when every session acted on verified (or none waited), 1 when one was disputed."""
    from dataclasses import asdict

    from nodes.validator import run_validator

    actions = run_validator(
        args.rpc, deployment=args.deployment, key_env=args.key_env, session=args.session,
        once=args.once, poll_s=args.poll, strict_hash=not args.allow_other_engine,
    )  # fmt: skip
    if args.json:
        print_json({"actions": [asdict(a) for a in actions]})
    elif not actions:  # a sentence, not a bare `[]`
        print("nothing to do: no result on chain waits for this validator "
              "(none committed, or each attested or disputed by it, or settled)")
    else:
        for a in actions:
            print(f"session {a.session_id}: {a.action} ({'ok' if a.ok else 'FAILED'}) "
                  f"{a.detail}")  # fmt: skip
    return EXIT_OK if all(a.ok for a in actions) else EXIT_FAILURE


SERVE_HELP = """The participant API over HTTP (OpenAPI at /docs). Without --rpc it starts a
local anvil chain (a block every second, and at once for each transaction), deploys the
contracts and relays with a development key; with --rpc it uses that node, the
deployment file and the relayer key in FLEXMARKET_API_RELAYER_KEY. Other settings:
environment variables FLEXMARKET_API_* (api/config.py). Exit 2 when the node, the
deployment or the key is unusable: nothing is served then."""


def cmd_serve(args: argparse.Namespace) -> int:
    """Prints `{"listening": URL, "docs": "/docs"}`, then serves until stopped."""
    from api.main import run, serve_settings

    settings = serve_settings(rpc=args.rpc, db=args.db, port=args.port, host=args.host,
                              deployment=args.deployment)  # fmt: skip
    print(json.dumps({"listening": f"http://{settings.host}:{settings.port}", "docs": "/docs"}),
          flush=True)  # fmt: skip
    run(settings)
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flexmarket")
    except PackageNotFoundError:  # run from a checkout without installing
        return "0.1.0"


def _at_least_1(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _chain_options(p: argparse.ArgumentParser) -> None:
    """--rpc and --deployment, as every command on a deployed chain takes them."""
    p.add_argument("--rpc", required=True, metavar="URL", help="JSON-RPC node (http/https)")
    p.add_argument("--deployment", type=Path, metavar="FILE",
                   help="deployment file (default: deployments/<chain id>.json)")  # fmt: skip


def _node_options(p: argparse.ArgumentParser, key_env: str, whose: str) -> None:
    """The options of a node that signs (oracle, validator): its key, its passes."""
    p.add_argument("--key-env", default=key_env, metavar="VAR",
                   help=f"variable holding the {whose}'s key (default {key_env})")  # fmt: skip
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--poll", type=float, default=2.0, metavar="S",
                   help="seconds between passes")  # fmt: skip


def _json_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} as one JSON line")


def _allow_other_engine(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--allow-other-engine", action="store_true", help=what)


def build_parser(wanted: str | None = None) -> argparse.ArgumentParser:
    """Every command's parser. Defaults that live in a heavy module (seconds to import: web3,
    the SDK) are read only for the command `wanted` (None: every command, as -h wants them);
    the other commands' parsers, which will not parse this time, get None there."""
    import importlib

    def default(name: str, module: str, attr: str) -> Any:
        if wanted not in (None, name):
            return None
        return getattr(importlib.import_module(module), attr)

    ORACLE_KEY_ENV = default("oracle", "nodes.service", "DEFAULT_KEY_ENV")  # noqa: N806
    VALIDATOR_KEY_ENV = default("validate", "nodes.validator", "DEFAULT_KEY_ENV")  # noqa: N806
    MAX_SPAN = default("index", "verifier.indexer", "MAX_SPAN")  # noqa: N806

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

    def command(name: str, run: Callable[[argparse.Namespace], int], what: str,
                **kwargs: Any) -> argparse.ArgumentParser:  # fmt: skip
        p = sub.add_parser(name, help=what, description=what, formatter_class=HelpFormatter,
                           **kwargs)  # fmt: skip
        p.set_defaults(parser=p, run=run, until_stopped=False)
        return p

    p = command("clear", cmd_clear, "clear a scenario file (no chain)")
    p.add_argument("file", metavar="FILE", help="a flexmarket.scenario/1 JSON file")
    p.add_argument("--json", action="store_true", help="print the result JSON")

    p = command("demo", cmd_demo, "run a whole market session on a local chain")
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

    from flexmarket import baseline

    baseline.add_parser(sub, HelpFormatter)
    from flexmarket import wholesale

    wholesale.add_parser(sub, HelpFormatter)
    from flexmarket import capacity

    capacity.add_parser(sub, HelpFormatter)
    from flexmarket import capacity_limits

    capacity_limits.add_parser(sub, HelpFormatter)
    from flexmarket import reserve

    reserve.add_parser(sub, HelpFormatter)

    p = command(
        "needs", cmd_needs,
        "flexibility needs per zone and slot from a grid's forecast (AC power flow)",
        usage="flexmarket needs [-h] --grid CODE|FILE --day YYYY-MM-DD [--storage "
        "{setpoint,profile}] [--buyer ID] [--json]",
    )  # fmt: skip
    p.add_argument("--grid", required=True, metavar="CODE|FILE",
                   help="SimBench code (e.g. 1-LV-semiurb4--2-sw) or pandapower JSON file")
    p.add_argument("--day", metavar="YYYY-MM-DD",
                   help="day of the profiles (96 slots of 15 min); required, except for a "
                   "pandapower file without profiles")
    p.add_argument("--storage", choices=("setpoint", "profile"), default="setpoint",
                   help="storage operating point (default: the model's set-point)")
    p.add_argument("--buyer", default="DSO1", metavar="ID",
                   help="participant id of the buying DSO")
    p.add_argument("--json", action="store_true", help="print JSON (zones and requests)")

    p = command("index", cmd_index,
                "index every event of the deployed contracts into SQLite or PostgreSQL")
    _chain_options(p)
    p.add_argument(
        "--db", metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST:PORT/DB "
        "(default: sqlite:///build/index/<chain id>.sqlite)",
    )  # fmt: skip
    p.add_argument("--follow", action="store_true", help="keep indexing new blocks")
    p.add_argument("--poll", type=float, default=1.0, metavar="S",
                   help="seconds between polls with --follow")  # fmt: skip
    p.add_argument("--max-span", type=_at_least_1, default=MAX_SPAN, metavar="BLOCKS",
                   help="most blocks per eth_getLogs and per transaction")  # fmt: skip
    _json_option(p, "the summary (events, batches, blocks, reorgs, checkpoint)")
    p.set_defaults(until_stopped=True)

    p = command("serve", cmd_serve, "the participant API (FastAPI, OpenAPI at /docs)")
    p.description = SERVE_HELP
    p.add_argument("--rpc", metavar="URL", help="JSON-RPC node (default: start anvil)")
    p.add_argument(
        "--db", metavar="URL",
        help="sqlite:///PATH or postgresql://... (default: build/api/<chain id>-<market>.sqlite3;"
        " with no --rpc a fresh build/api/local-<port>.sqlite3, one serve per port)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--deployment", metavar="FILE",
                   help="with --rpc: the deployment file (default: deployments/<chain id>"
                   ".json)")  # fmt: skip
    p.set_defaults(until_stopped=True)

    p = command("oracle", cmd_oracle,
                "clear sessions from the chain and commit results (oracle service)")
    _chain_options(p)
    _node_options(p, ORACLE_KEY_ENV, "oracle")
    _json_option(p, "what the last pass did (committed, resumed, forfeited, skipped)")
    p.set_defaults(until_stopped=True)

    for name, what, session in (
        ("verify", "re-check committed results, payments and bytecode from the chain", True),
        ("replay", "replay every session of the chain and re-check it", False),
    ):
        p = command(name, cmd_verify, what)
        _chain_options(p)
        if session:
            p.add_argument("--session", type=int, metavar="ID",
                           help="only this session (default: all)")  # fmt: skip
        _json_option(p, "the report")
        _allow_other_engine(p, "a result_hash other than this node's is a note, not a "
                            "mismatch")  # fmt: skip

    p = command("validate", cmd_validate,
                "attest results that verify, dispute the others (VALIDATOR_ROLE)")
    _chain_options(p)
    _node_options(p, VALIDATOR_KEY_ENV, "validator")
    p.add_argument("--session", type=int, metavar="ID",
                   help="only this session (default: every session with a result)")
    _allow_other_engine(p, "attest a result whose awards check out though its result_hash "
                        "is not this node's (another engine version); without it, a "
                        "different hash is disputed")  # fmt: skip
    _json_option(p, "the attestations and disputes sent (with --once)")
    p.set_defaults(until_stopped=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Everything it prints for a person goes through
    `oracle.display.printable`: stderr always, stdout unless `--json` asks for JSON (which
    json.dumps already writes without a raw control character). `serve` is left alone: its
    output is uvicorn's log, coloured on a terminal."""
    argv, verbosity = _global_flags(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] == ["serve"]:  # uvicorn's log, its own colours
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
    verbosity they ask for: -1 quiet, 0 default, 1 verbose."""
    rest: list[str] = []
    verbosity = 0
    for i, arg in enumerate(argv):
        if arg == "--":
            rest += argv[i:]
            break
        if arg in GLOBAL_FLAGS:
            verbosity = GLOBAL_FLAGS[arg]
            continue
        rest.append(arg)
    return rest, verbosity


def _main(argv: list[str]) -> int:
    """Parse, run, and turn the packages' typed errors into one `error: ...` line and the
    exit code `flexmarket.exits.exit_code_of` gives them."""
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # named by the subcommand's own usage, not the top-level one
            getattr(args, "parser", parser).error(
                f"unrecognized arguments: {' '.join(unknown)}"
            )
    except SystemExit as exc:  # argparse: -h (0) or a usage error (2, one line naming it)
        return EXIT_INPUT if exc.code else EXIT_OK
    try:
        code: int = args.run(args)
        return code
    except KeyboardInterrupt:
        if getattr(args, "until_stopped", False):  # a node, a --follow: stopped by Ctrl-C
            return EXIT_OK
        raise
    except Exception as exc:
        code_of = exit_code_of(exc)
        if code_of is None:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return code_of


if __name__ == "__main__":
    sys.exit(main())
