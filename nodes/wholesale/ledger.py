"""The wholesale record on chain (`contracts/FlexWholesale.sol`) as the intermediary writes
it and as a replica checks it.

The intermediary (`WholesaleLedger` with its own wallet) opens the auction with its terms,
records the grid check's rows (zone, MTU, the sell and buy watts allowed) and fixes the
forwarded book's hash before gate closure; after the exchange's clearing it records the
results' hash and our payment totals. A replica (`replica_check`) needs the published book
and results files and the chain alone: it recomputes the grid decision from the book (the
rules are deterministic), compares the book hash and every grid row with the chain's, the
results hash too, runs checks 1-4 on the results and check 5 against the rows **on chain**,
and attests (`attest`): agreeing when nothing was found. Each of our orders' acceptance
and payment goes on chain as a row after the results (the contract holds the rows to the
committed totals), and the replica compares them with the file's. Only standard `eth_*` methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from nodes.wholesale.spot import IntermediaryError
from oracle.canonical import canonical_json, keccak256
from oracle.grid.model import GridModel
from oracle.grid.powerflow import AcSolver
from oracle.wholesale import Violation, WholesaleResults, verify_results
from oracle.wholesale.acgrid import decide
from oracle.wholesale.orders import GridDecision, GridRecord, OrderBook, check_forwarded
from oracle.wholesale.results import AuctionTerms
from python_client.artifacts import load_artifact
from python_client.chain import ErrorDecoder, Wallet

CONTRACT = "FlexWholesale"
ROWS_PER_PAGE = 200


def auction_id(book: AuctionTerms) -> bytes:
    """The key of an auction's record on chain: keccak256 of `exchange/auction/delivery
    start` (ISO 8601)."""
    return keccak256(f"{book.exchange}/{book.auction}/{book.delivery_start.isoformat()}"
                     .encode())


def terms_hash(book: AuctionTerms) -> bytes:
    """keccak256 of the auction's terms as canonical JSON."""
    return keccak256(canonical_json(book.model_dump(mode="json",
                                                    include=set(AuctionTerms.model_fields))))


def zone_bytes32(zone: str) -> bytes:
    data = zone.encode("utf-8")
    if len(data) > 32:
        raise IntermediaryError(f"zone {zone!r}: more than 32 bytes cannot go on chain")
    return data.ljust(32, b"\0")


def _zone_text(value: bytes) -> str:
    return value.rstrip(b"\0").decode("utf-8", errors="replace")


def payment_totals(results: WholesaleResults) -> tuple[int, int]:
    """(what our sells are paid, what our buys pay), µEUR."""
    return (sum(o.payment_ueur for o in results.orders if o.side == "sell"),
            sum(o.payment_ueur for o in results.orders if o.side == "buy"))


def curves_hash(results: WholesaleResults) -> bytes:
    """keccak256 of the canonical curves and prices (what every node checks them against)."""
    data = results.canonical()
    return keccak256(canonical_json({"curves": data["curves"],
                                     "prices_ct_per_mwh": data["prices_ct_per_mwh"]},
                                    integers_checked=True))


def order_rows(results: WholesaleResults) -> list[tuple[bytes, bool, int, int]]:
    """Each of our orders as the chain records it: (keccak256 of its id, sell, accepted W,
    payment µEUR), in the file's order."""
    return [(keccak256(o.id.encode()), o.side == "sell", o.accepted_w, o.payment_ueur)
            for o in results.orders]


@dataclass(frozen=True)
class ChainRecord:
    gate_closure: int
    grid_rows: int
    orders: int
    order_rows: int
    agreeing: int
    disputed: bool
    terms_hash: bytes
    grid_hash: bytes
    book_hash: bytes
    results_hash: bytes
    curves_hash: bytes


class WholesaleLedger:
    """FlexWholesale at `address`, written with `wallet` (the intermediary or a validator)."""

    def __init__(self, w3: Web3, address: str, wallet: Wallet,
                 artifacts_dir: Path | None = None) -> None:
        artifact = load_artifact(CONTRACT, artifacts_dir)
        self.w3 = w3
        self.contract: Any = w3.eth.contract(address=Web3.to_checksum_address(address),
                                             abi=artifact.abi)
        self.wallet = wallet
        wallet.errors = ErrorDecoder([artifact.abi])  # reverts named by this contract's errors

    @staticmethod
    def deploy(w3: Web3, deployer: Wallet, intermediary: str, validators: Sequence[str],
               quorum: int, artifacts_dir: Path | None = None) -> str:
        artifact = load_artifact(CONTRACT, artifacts_dir)
        factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = deployer.transact(factory.constructor(intermediary, list(validators), quorum),
                                    kind=f"deploy:{CONTRACT}")
        return str(receipt["contractAddress"])

    def open_auction(self, book: OrderBook, gate_closure: int) -> bytes:
        aid = auction_id(book)
        self.wallet.transact(self.contract.functions.openAuction(aid, gate_closure,
                                                                 terms_hash(book)))
        return aid

    def record_grid_checks(self, aid: bytes, records: Sequence[GridRecord]) -> None:
        rows = [(zone_bytes32(r.zone), r.mtu, r.sell_w, r.buy_w) for r in records]
        for i in range(0, len(rows), ROWS_PER_PAGE):
            self.wallet.transact(self.contract.functions.recordGridChecks(
                aid, rows[i:i + ROWS_PER_PAGE]))

    def commit_book(self, aid: bytes, book: OrderBook, decision: GridDecision) -> None:
        """The grid rows, then the book's hash (before gate closure)."""
        self.record_grid_checks(aid, decision.records)
        self.wallet.transact(self.contract.functions.commitBook(
            aid, bytes.fromhex(decision.book_hash(book)[2:]), len(decision.forwarded)))

    def commit_results(self, aid: bytes, results: WholesaleResults) -> None:
        """The results' and curves' hashes and our totals, then each order's row in pages
        (the contract holds the rows to the totals)."""
        sells, buys = payment_totals(results)
        self.wallet.transact(self.contract.functions.commitResults(
            aid, bytes.fromhex(results.results_hash()[2:]), curves_hash(results), sells, buys))
        rows = order_rows(results)
        for i in range(0, len(rows), ROWS_PER_PAGE):
            self.wallet.transact(self.contract.functions.recordOrderResults(
                aid, rows[i:i + ROWS_PER_PAGE]))

    def attest(self, aid: bytes, results_hash: str, agrees: bool) -> None:
        self.wallet.transact(self.contract.functions.attestResults(
            aid, bytes.fromhex(results_hash[2:]), agrees))

    def record(self, aid: bytes) -> ChainRecord:
        r = self.contract.functions.auction(aid).call()
        return ChainRecord(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5]),
                           bytes(r[7]), bytes(r[8]), bytes(r[9]), bytes(r[10]), bytes(r[11]))

    def order_rows(self, aid: bytes) -> list[tuple[bytes, bool, int, int]]:
        """Every OrderResultRecorded of the auction, in order."""
        logs = self.contract.events.OrderResultRecorded.get_logs(
            from_block=0, argument_filters={"auctionId": aid})
        ordered = sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))
        return [(bytes(lg["args"]["orderId"]), bool(lg["args"]["sell"]),
                 int(lg["args"]["acceptedW"]), int(lg["args"]["paymentUeur"]))
                for lg in ordered]

    def grid_rows(self, aid: bytes) -> list[tuple[str, int, int, int]]:
        """(zone, MTU, sell W, buy W) of every GridCheckRecorded of the auction, in order."""
        event = self.contract.events.GridCheckRecorded
        logs = event.get_logs(from_block=0, argument_filters={"auctionId": aid})
        ordered = sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))
        return [(_zone_text(bytes(lg["args"]["zone"])), int(lg["args"]["mtu"]),
                 int(lg["args"]["sellW"]), int(lg["args"]["buyW"])) for lg in ordered]


def replica_check(ledger: WholesaleLedger, book: OrderBook, results: WholesaleResults,
                  grid: tuple[GridModel, AcSolver] | None = None) -> list[Violation]:
    """Checks 1-5 of a replica on the chain's record and the published files (the module
    doc); empty when everything holds. A book that names a grid is decided with the AC
    check too (`grid`: the model and solver when loaded; a DSO node holds the model)."""
    aid = auction_id(book)
    record = ledger.record(aid)
    where = "auction"
    if record.gate_closure == 0:
        return [Violation(5, where, "no record of this auction on chain")]
    if record.terms_hash != terms_hash(book):
        out_terms = [Violation(5, where, "the terms on chain are not the published book's")]
    else:
        out_terms = []
    decision = decide(book, grid)
    out: list[Violation] = out_terms
    if "0x" + record.book_hash.hex() != decision.book_hash(book):
        out.append(Violation(5, where, "the book hash on chain is not the published book's "
                             "forwarded orders"))
    if "0x" + record.results_hash.hex() != results.results_hash():
        out.append(Violation(5, where, "the results hash on chain is not the published "
                             "results file's"))
    if record.curves_hash != curves_hash(results):
        out.append(Violation(2, where, "the curves hash on chain is not the published "
                             "curves'"))
    chain_rows = ledger.order_rows(aid)
    for o, mine_row, theirs in zip(results.orders, order_rows(results), chain_rows,
                                   strict=False):
        if mine_row != theirs:
            out.append(Violation(4, f"orders[{o.id}]", "its row on chain (acceptance, "
                                 "payment) is not the results file's"))
    if len(chain_rows) != len(results.orders):
        out.append(Violation(4, where, f"{len(chain_rows)} order rows on chain, the results "
                             f"file has {len(results.orders)} orders"))
    rows = ledger.grid_rows(aid)
    mine = [(r.zone, r.mtu, r.sell_w, r.buy_w) for r in decision.records]
    if rows != mine:
        out.append(Violation(5, where, f"the {len(rows)} grid rows on chain are not the "
                             f"{len(mine)} the book's grid check gives"))
    limits = {(r.zone, r.mtu): r for r in decision.records}
    on_chain = [GridRecord(z, t, s, b, *(
        (limits[z, t].max_sell_w, limits[z, t].max_buy_w) if (z, t) in limits else (0, 0)))
        for z, t, s, b in rows]
    out += verify_results(results)
    out += check_forwarded(results, decision.forwarded, on_chain)
    return out
