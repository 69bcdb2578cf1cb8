"""The oracle service: clear every session from the chain and commit its result.

    flexmarket oracle --rpc URL [--deployment FILE] [--key-env VAR] [--once] [--poll S]

Each pass reads the chain (verifier.rebuild: the events alone, no private database) and,
for every session between its reveal deadline and its clearing deadline (by the chain's
block time, never the wall clock) whose result is not complete on chain:

1. forfeits the bond of every bid committed and never revealed (anyone may; the bond goes
   to the session operator);
2. rebuilds the session as a scenario (with its published coordination inputs), clears it
   with `oracle.clear`, or `clear_coordinated` for a TSO-DSO session (issue 7), and turns
   the awards into award rows: each bid's payment is charged to the needs it may serve, in
   need order, within what is left of each need's escrowed budget; a coordinated result's
   `shares` are charged buyer by buyer, each to its own needs (award and share rows,
   python_client.shares), a counter-activation (`balance_dso`: an award no request
   counted) wholly to its payer's balancing need (a DSO's need posted with no quantities);
3. commits input_hash, result_hash and the rows in pages. What is on chain is read first:
   a complete result is never committed again, and a partly committed one (the service
   stopped between pages) is resumed after its last row, with the same hashes (the
   engine is deterministic), or left alone with an error if the hashes differ.

It lives in `oracle/` (the market operator's side, next to the engine it runs) and
reaches the chain through `verifier` (the same rebuild every replica node runs, so the
oracle clears exactly what validators will re-clear) and the participant SDK (its own key,
signed raw transactions). Only standard `eth_*` methods: any EVM JSON-RPC node.
Transient failures (node unreachable, HTTP 5xx, time-outs) are retried with a bounded
exponential pause; a revert is not transient and is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracle.result import Result
from oracle.scenario import Scenario

DEFAULT_KEY_ENV = "FLEXMARKET_ORACLE_KEY"
PAGE_SIZE = 200
EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


class OracleServiceError(Exception):
    """The service cannot commit a session's result."""


@dataclass(frozen=True)
class Row:
    bid: str
    need: int
    quantity_w: int  # 0: a share row of the award before it
    price_eur_per_mw: int
    charged_ueur: int | None = None  # None: quantity x price

    def key(self) -> tuple[int, int]:
        return (int(self.bid, 16), self.need)


def award_rows(scenario: Scenario, needs: Sequence[Mapping[str, Any]], result: Result) -> list[Row]:
    """The result's awards as rows (bid, need), sorted as the contract wants them.

    A bid's payment goes to the needs it may serve (direction, zone or system-wide, price
    within the need's maximum), in need order, each up to its remaining budget; the rows
    of a bid add up to its award."""
    from verifier.rebuild import need_index

    bids = {b.id: b for b in scenario.bids}
    budget = {int(n["needIndex"]): int(n["budgetUeur"]) for n in needs}
    requests = sorted(scenario.requests, key=lambda r: need_index(r.id))
    if result.shares is not None:
        return _share_rows(scenario, requests, needs, result, budget)
    rows: list[Row] = []
    for a in sorted(result.awards, key=lambda a: int(a.bid, 16)):
        b = bids[a.bid]
        left = a.quantity_w
        for r in requests:
            if left == 0:
                break
            cap = r.max_price_eur_per_mw
            if r.direction != b.direction or r.zone not in (None, b.zone):
                continue
            if cap is not None and a.price_eur_per_mw > cap:
                continue
            n = need_index(r.id)
            take = left if a.price_eur_per_mw == 0 else min(left, budget[n] // a.price_eur_per_mw)
            if take > 0:
                rows.append(Row(a.bid, n, take, a.price_eur_per_mw))
                budget[n] -= take * a.price_eur_per_mw
                left -= take
        if left:
            raise OracleServiceError(f"bid {a.bid}: the needs it serves lack budget for {left} W")
    return sorted(rows, key=Row.key)


def _share_rows(
    scenario: Scenario,
    requests: Sequence[Any],
    posted: Sequence[Mapping[str, Any]],
    result: Result,
    budget: dict[int, int],
) -> list[Row]:
    from python_client.errors import ClientError
    from python_client.shares import NeedInfo, counter_activations, share_rows, shares_by_award
    from verifier.rebuild import DIRECTIONS, NO_LIMIT, is_balancing, need_index

    bids = {b.id: b for b in scenario.bids}
    needs = [NeedInfo(need_index(r.id), r.buyer, r.zone, r.direction, r.max_price_eur_per_mw)
             for r in requests]  # fmt: skip
    for n in posted:  # balancing needs: not requests of the scenario, they pay counter-activations
        if is_balancing(n):
            cap = int(n["maxPriceEurPerMw"])
            needs.append(NeedInfo(int(n["needIndex"]), n["buyer"], None,
                                  DIRECTIONS[int(n["direction"])],
                                  None if cap == NO_LIMIT else cap, balancing=True))  # fmt: skip
    shares = shares_by_award(result.shares or [])
    counters = counter_activations(result.shares or [])
    rows: list[Row] = []
    for a in sorted(result.awards, key=lambda a: int(a.bid, 16)):
        b = bids[a.bid]
        try:
            parts = share_rows(a.bid, b.zone, b.direction, a.quantity_w, a.price_eur_per_mw,
                               shares.get(a.bid, []), needs, budget,
                               counter=a.bid in counters)  # fmt: skip
        except ClientError as exc:
            raise OracleServiceError(str(exc)) from exc
        rows += [Row(a.bid, n, w, a.price_eur_per_mw, c) for n, w, c in parts]
    return sorted(rows, key=Row.key)


@dataclass
class Pass:
    """What one pass did, per session."""

    committed: dict[int, str] = field(default_factory=dict)  # session -> result hash
    resumed: dict[int, int] = field(default_factory=dict)  # session -> rows found on chain
    forfeited: dict[int, int] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


class OracleService:
    """The market operator's clearing loop (see the module docstring)."""

    def __init__(
        self,
        rpc_url: str,
        private_key: str,
        deployment: Any = None,
        *,
        page_size: int = PAGE_SIZE,
        log: Callable[[str], None] = lambda _: None,
        clear: Callable[[Scenario], Result] | None = None,
    ) -> None:
        from verifier.rpc import check_rpc_url

        self.rpc_url = check_rpc_url(rpc_url)
        self.private_key = private_key
        self.deployment = deployment
        self.page_size = page_size
        self.log = log
        self._clear = clear
        self._client: Any = None
        self.stop_after_pages: int | None = None  # tests: simulate a crash between pages

    def _oracle_client(self, addresses: Mapping[str, str], chain_id: int) -> Any:
        if self._client is None:
            from python_client.chain import Contracts, Deployment, connect
            from python_client.clients import OracleClient

            deployment = Deployment(
                chain_id, addresses["FlexToken"], addresses["FlexRegistry"], addresses["FlexMarket"]
            )
            self._client = OracleClient(
                Contracts(connect(self.rpc_url), deployment), self.private_key
            )
        return self._client

    def step(self) -> Pass:
        """One pass over every session."""
        from verifier.rpc import JsonRpc
        from verifier.verify import load_state

        with JsonRpc(self.rpc_url) as rpc:
            state, addresses = load_state(rpc, self.deployment)
        now = state.chain.head_timestamp
        done = Pass()
        for sid, rec in sorted(state.sessions.items()):
            p = rec.params
            if rec.status not in ("None", "Committing"):
                continue
            if not int(p["revealDeadline"]) <= now < int(p["clearingDeadline"]):
                continue
            client = self._oracle_client(addresses, state.chain.chain_id)
            revealed = {r["bidId"] for r in rec.reveals}
            unrevealed = sorted(b for b in rec.committed if b not in revealed | rec.forfeited)
            if unrevealed:
                calls = [client.market.forfeitBond(bytes.fromhex(b[2:])) for b in unrevealed]
                client.wallet.send_batch(calls)
                done.forfeited[sid] = len(unrevealed)
            try:
                self._commit(state, sid, client, done)
            except OracleServiceError as exc:
                done.skipped[sid] = str(exc)
                self.log(f"session {sid}: {exc}")
        return done

    def _commit(self, state: Any, sid: int, client: Any, done: Pass) -> None:
        from oracle import clear, parse_scenario
        from oracle.coordination import clear_coordinated, needs_coordination
        from python_client.records import AwardRow

        rec = state.sessions[sid]
        scenario = parse_scenario(state.scenario(sid))
        default = clear_coordinated if needs_coordination(scenario) else clear
        result = (self._clear or default)(scenario)
        rows = award_rows(scenario, rec.needs, result)
        start = 0
        if rec.status == "Committing":
            # the hashes of a partial result are in storage only (ResultCommitted comes last)
            view = client.session(sid)
            on_chain_hashes = ("0x" + bytes(view[4]).hex(), "0x" + bytes(view[5]).hex())
            if on_chain_hashes != (result.input_hash, result.result_hash):
                raise OracleServiceError(
                    "a partial result with other hashes is on chain: not resumed"
                )
            # rows on chain: each award, then its share rows (charged amounts aside: the
            # award's own part is known once all its shares are in)
            on_chain = [
                (a.bid, n, a.quantity_w if i == 0 else 0, a.price_eur_per_mw)
                for a in rec.awards
                for i, n in enumerate([a.need] + [need for need, _, _ in a.shares])
            ]
            mine = [(r.bid, r.need, r.quantity_w, r.price_eur_per_mw) for r in rows]
            if on_chain != mine[: len(on_chain)]:
                raise OracleServiceError("the rows on chain are not this result's: not resumed")
            start = len(on_chain)
            done.resumed[sid] = start
        remaining = rows[start:]
        pages = [
            remaining[i : i + self.page_size] for i in range(0, len(remaining), self.page_size)
        ]
        pages = pages or [[]]
        ih, rh = bytes.fromhex(result.input_hash[2:]), bytes.fromhex(result.result_hash[2:])
        for n, page in enumerate(pages):
            if self.stop_after_pages is not None and n >= self.stop_after_pages:
                raise KeyboardInterrupt("stopped between pages (test)")
            award = [
                AwardRow(bytes.fromhex(r.bid[2:]), r.need, r.quantity_w, r.price_eur_per_mw,
                         r.charged_ueur)
                for r in page
            ]  # fmt: skip
            client.wallet.transact(
                client.market.commitResult(
                    sid, ih, rh, [a.as_tuple() for a in award], n == len(pages) - 1
                )
            )
        done.committed[sid] = result.result_hash
        self.log(f"session {sid}: committed {len(rows)} rows, result {result.result_hash}")

    def run(
        self,
        *,
        once: bool = False,
        poll_s: float = 2.0,
        max_failures: int = 8,
        max_pause_s: float = 30.0,
    ) -> Pass:
        """Passes until interrupted (or one with `once`); transient failures retried with
        a pause doubling from 0.5 s up to `max_pause_s`, at most `max_failures` in a row."""
        failures = 0
        while True:
            try:
                done = self.step()
                failures = 0
            except Exception as exc:
                if not is_transient(exc) or failures >= max_failures:
                    raise
                failures += 1
                self._client = None  # a fresh connection and nonce
                pause = min(max_pause_s, 0.5 * 2 ** (failures - 1))
                self.log(f"transient failure ({exc}); retrying in {pause:.1f} s")
                time.sleep(pause)
                continue
            if once:
                return done
            time.sleep(poll_s)


def is_transient(exc: BaseException) -> bool:
    """Failures worth retrying: the node did not answer (not: it answered an error)."""
    import httpx
    import requests

    from verifier.errors import RpcError

    if isinstance(exc, RpcError):
        return exc.code is None  # no JSON-RPC error object: transport or HTTP status
    if isinstance(exc, (httpx.TransportError, requests.ConnectionError, requests.Timeout)):
        return True
    from python_client.errors import ClientError, TransactionReverted

    if isinstance(exc, TransactionReverted):
        return False
    return isinstance(exc, (ClientError, ConnectionError, TimeoutError))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flexmarket oracle", description="clear sessions from the chain and commit results"
    )
    parser.add_argument("--rpc", required=True, metavar="URL")
    parser.add_argument("--deployment", metavar="FILE")
    parser.add_argument(
        "--key-env",
        default=DEFAULT_KEY_ENV,
        metavar="VAR",
        help=f"variable holding the oracle's key (default {DEFAULT_KEY_ENV})",
    )
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--poll", type=float, default=2.0, metavar="S")
    return parser


def oracle_main(argv: Sequence[str]) -> int:
    from verifier.errors import InputError, VerifierError
    from verifier.validator import key_from_env

    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return EXIT_INPUT if exc.code else EXIT_OK
    try:
        key = key_from_env(args.key_env)
        service = OracleService(
            args.rpc, key, Path(args.deployment) if args.deployment else None, log=print
        )
        done = service.run(once=args.once, poll_s=args.poll)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except (VerifierError, OracleServiceError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK
    print(f"committed {len(done.committed)} results, resumed {len(done.resumed)}")
    return EXIT_OK
