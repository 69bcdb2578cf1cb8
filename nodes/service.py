"""The oracle service: clear every session from the chain and commit its result.

    flexmarket oracle --rpc URL [--deployment FILE] [--key-env VAR] [--once] [--poll S]

Each pass reads the chain (verifier.rebuild: the events alone, no private database) and,
for every session between its reveal deadline and its clearing deadline (by the chain's
block time, never the wall clock) whose result is not complete on chain:

1. rebuilds the session as a scenario (with its published coordination inputs), clears it
   with `oracle.clear`, or `clear_coordinated` for a TSO-DSO session (issue 7), and turns
   the awards into award and share rows by the one rule of every committer
   (`nodes.rows.award_rows`: the payer rule of `oracle.payers`, each buyer's share charged
   to its own needs the bid may serve, a counter-activation to its payer's balancing need);
2. commits input_hash, result_hash and the rows in pages. What is on chain is read first:
   a complete result is never committed again, and a partly committed one (the service
   stopped between pages) is resumed after its last row, with the same hashes (the
   engine is deterministic), or left alone with an error if the hashes differ;
3. forfeits the bonds of the bids committed and never revealed (anyone may; the bonds go
   to the session operator): one `forfeitBonds` per seller, or `forfeitBond` per bid on a
   market without it.

Failures are isolated (issue 11 §2): each session's steps 1-2, and each forfeit, are their
own; a failure is logged (this module's `logging` logger), kept in the pass's `skipped`,
and the session is tried again next pass while the other sessions go on. A forfeit
someone else made first counts as done.

It lives in `nodes/`, above the engine it runs (`oracle/`), and reaches the chain through
`verifier` (the same rebuild every replica node runs, so the
oracle clears exactly what validators will re-clear) and the participant SDK (its own key,
signed raw transactions). Only standard `eth_*` methods: any EVM JSON-RPC node.
Transient failures (node unreachable, HTTP 5xx, time-outs) are retried with a bounded
exponential pause; a revert is not transient and is reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from nodes.errors import OracleServiceError
from nodes.rows import award_rows
from nodes.validator import key_from_env
from oracle import clear, parse_scenario
from oracle.clearing import clear_scenario
from oracle.coordination import clear_coordinated, needs_coordination
from oracle.result import Result
from oracle.scenario import Scenario
from python_client.chain import Contracts, Deployment, connect
from python_client.clients import OracleClient
from python_client.errors import TransactionReverted
from python_client.retry import PASS, Retry
from verifier.rpc import JsonRpc, check_rpc_url, is_transient
from verifier.verify import load_state

DEFAULT_KEY_ENV = "FLEXMARKET_ORACLE_KEY"
PAGE_SIZE = 200
# the reverts of a forfeit that someone else made first: nothing left to do
FORFEITED_ALREADY = ("FlexMarketBondNotForfeitable", "FlexMarketNothingToForfeit")
log = logging.getLogger(__name__)


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
        clear: Callable[[Scenario], Result] | None = None,
    ) -> None:
        self.rpc_url = check_rpc_url(rpc_url)
        self.private_key = private_key
        self.deployment = deployment
        self.page_size = page_size
        self._clear = clear
        self._client: Any = None
        self._unplaced_told: set[tuple[int, int]] = set()  # events logged already
        # (session, bid or seller) whose forfeit reverted for another reason than done
        self._unforfeitable: set[tuple[int, str]] = set()
        self.stop_after_pages: int | None = None  # tests: simulate a crash between pages

    def _oracle_client(self, addresses: Mapping[str, str], chain_id: int) -> Any:
        if self._client is None:
            deployment = Deployment(
                chain_id, addresses["FlexToken"], addresses["FlexRegistry"], addresses["FlexMarket"]
            )
            self._client = OracleClient(
                Contracts(connect(self.rpc_url), deployment), self.private_key
            )
        return self._client

    def step(self) -> Pass:
        """One pass over every session. A failure is the failing session's alone: it is
        logged and left in `skipped`, and the session is tried again next pass, while the
        other sessions go on; only a transient failure (the node did not answer) ends the
        pass, for `run` to retry it after a pause."""
        with JsonRpc(self.rpc_url) as rpc:
            state, addresses = load_state(rpc, self.deployment)
        for event in state.unplaced:
            if event.key() not in self._unplaced_told:
                self._unplaced_told.add(event.key())
                log.info("event not placed, skipped: %s", event)
        now = state.chain.head_timestamp
        done = Pass()
        for sid, rec in sorted(state.sessions.items()):
            p = rec.params
            if rec.status not in ("None", "Committing"):
                continue
            if not int(p["revealDeadline"]) <= now < int(p["clearingDeadline"]):
                continue
            client = self._oracle_client(addresses, state.chain.chain_id)
            try:
                self._commit(state, sid, client, done)
            except Exception as exc:
                self._failed(client, sid, "commit", exc, done)
            revealed = {r["bidId"] for r in rec.reveals}
            unrevealed = [
                (b, seller) for b, (seller, _) in sorted(rec.committed.items())
                if b not in revealed | rec.forfeited
                and not {(sid, b), (sid, seller)} & self._unforfeitable
            ]  # fmt: skip
            if unrevealed:
                self._forfeit(client, sid, unrevealed, done)
        return done

    def _failed(self, client: Any, sid: int, what: str, exc: Exception, done: Pass) -> None:
        """A failure of one session's step: transient ones end the pass (`run` retries);
        any other is logged and the session tried again next pass."""
        client.wallet.reset_nonce()  # whatever was signed and not sent leaves no gap
        if is_transient(exc):
            raise exc
        message = str(exc) or type(exc).__name__
        done.skipped[sid] = f"{what}: {message}"
        log.warning("session %d: %s failed, retried next pass: %s", sid, what, message)

    def _forfeit(
        self, client: Any, sid: int, bids: Sequence[tuple[str, str]], done: Pass
    ) -> None:
        """Forfeit the bonds of unrevealed bids `(bid, seller)`: one `forfeitBonds` per
        seller where the market has it (a seller's every unrevealed bond at once: the
        service's cost does not grow with the bids a spammer commits), else one
        `forfeitBond` per bid. Each transaction is its own: a forfeit someone else made
        meanwhile counts as done, another revert is logged and not tried again, and the
        other forfeits and sessions go on."""
        market = client.market
        per_seller = any(f.get("name") == "forfeitBonds" for f in market.abi)
        if per_seller:
            sellers = sorted({seller for _, seller in bids})
            calls = [(s, market.forfeitBonds(sid, Web3.to_checksum_address(s))) for s in sellers]
        else:
            calls = [(b, market.forfeitBond(bytes.fromhex(b[2:]))) for b, _ in bids]
        count = 0
        for what, call in calls:
            try:
                client.wallet.transact(call)
                count += 1
            except TransactionReverted as exc:
                client.wallet.reset_nonce()
                if exc.error not in FORFEITED_ALREADY:
                    self._unforfeitable.add((sid, what))
                    log.warning("session %d: forfeit of %s failed, not tried again: %s",
                                sid, what, exc)
            except Exception as exc:
                self._failed(client, sid, f"forfeit of {what}", exc, done)
        done.forfeited[sid] = count

    def _commit(self, state: Any, sid: int, client: Any, done: Pass) -> None:
        rec = state.sessions[sid]
        scenario = parse_scenario(state.scenario(sid))
        default: Callable[[Scenario], Result] = (
            clear_coordinated if needs_coordination(scenario) else clear
        )
        if scenario.grid is not None:  # cleared with its published grid cuts (issue 19)
            default = clear_scenario
        result = (self._clear or default)(scenario)
        rows = award_rows(scenario, rec.needs, result)
        start = 0
        if rec.status == "Committing":
            # the hashes of a partial result are in storage only (ResultCommitted comes last)
            view = client.session(sid)
            on_chain_hashes = ("0x" + view.input_hash.hex(), "0x" + view.result_hash.hex())
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
        if rec.batch_reveals:  # awarded batched bids: their terms proven into bid records
            client.load_batched_bids(
                rec.batch_reveals, {bytes.fromhex(r.bid[2:]) for r in rows[start:]})
        remaining = rows[start:]
        pages = [
            remaining[i : i + self.page_size] for i in range(0, len(remaining), self.page_size)
        ]
        pages = pages or [[]]
        ih, rh = bytes.fromhex(result.input_hash[2:]), bytes.fromhex(result.result_hash[2:])
        for n, page in enumerate(pages):
            if self.stop_after_pages is not None and n >= self.stop_after_pages:
                raise KeyboardInterrupt("stopped between pages (test)")
            client.wallet.transact(
                client.market.commitResult(
                    sid, ih, rh, [r.award_row().as_tuple() for r in page], n == len(pages) - 1
                )
            )
        done.committed[sid] = result.result_hash
        log.info("session %d: committed %d rows, result %s", sid, len(rows), result.result_hash)

    def run(self, *, once: bool = False, poll_s: float = 2.0, retry: Retry = PASS) -> Pass:
        """Passes until interrupted (or one with `once`); a pass that fails transiently
        (`verifier.rpc.is_transient`: the node did not answer) is tried again with a fresh
        connection and nonce, by the one retry policy (`python_client.retry.PASS`)."""
        while True:
            done = retry.call(self.step, is_transient, what="oracle pass",
                              on_retry=self._reconnect)  # fmt: skip
            if once:
                return done
            time.sleep(poll_s)

    def _reconnect(self, exc: Exception) -> None:
        self._client = None  # a fresh connection and nonce

def run_oracle(
    rpc_url: str,
    *,
    deployment: Path | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    once: bool = False,
    poll_s: float = 2.0,
) -> Pass:
    """`flexmarket oracle`: the service with the key read from the environment variable
    `key_env`, until interrupted (or one pass with `once`). Raises InputError (the
    command's exit 2: a bad URL, no key, no deployment), VerifierError, NodeError or
    OSError (exit 1)."""
    check_rpc_url(rpc_url)  # the arguments in their order: --rpc before the key
    service = OracleService(rpc_url, key_from_env(key_env), deployment)
    return service.run(once=once, poll_s=poll_s)

