"""Batched sealed bids through the API (issue 21): an aggregator submits a whole batch of
sealed-bid commitments in one request, signed once (`CommitBatch`: the Merkle root of the
leaves and their count, `python_client.relay.batch_digest`), and reveals any of its leaves
later in one request per call (`RevealBatch`, `reveal_batch_digest`).

The API rebuilds the leaves and the root from the commitments it is given (the one home of
the encoding: `python_client.batches`), so a request whose commitments do not hash to the
root it names is a 422 naming `root`, and a batch is never relayed for bids other than the
ones the seller listed. Accepted batches are queued (`BatchRelay`) and sent to FlexRelay as
`commitBatchesFor` transactions carrying many sellers' batches; a reveal is relayed at once
(`revealBatchFor`) and answered when mined, like a single reveal.

What a batch costs the API does not grow with its bids beyond hashing: one signature
recovery, one row in the database (the commitments side by side), one queue entry; the
allowance check (each bid needs a bond locked at join) is one chain read per request.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from eth_utils.crypto import keccak
from starlette.concurrency import run_in_threadpool
from web3.types import RPCEndpoint

from api.bids import RelayedBids
from api.clock import ChainClock
from api.problems import Problem, reverted_problem
from api.reads import ZERO_ADDRESS, ChainReads
from api.relay_batcher import RawCall, next_batch, relay_failures
from api.relay_nonces import RelayNonces
from api.relayer import Relayer
from api.roles import RoleCache
from api.store import Store
from python_client.batches import (
    BatchError,
    MerkleTree,
    batch_id,
    batched_bid_id,
    bids_hash,
    commitments,
    leaves,
    reveal_rows,
)
from python_client.chain import ErrorDecoder
from python_client.contract_types import AssetView, Participation
from python_client.errors import ClientError, TransactionReverted
from python_client.records import BidFields
from python_client.relay import batch_digest, reveal_batch_digest
from python_client.retry import RESEND

log = logging.getLogger("flexmarket.api")

MAX_BATCH_BIDS = 4_096  # commitments in one request (a batch's count is a uint16 on chain)
MAX_REVEAL_BIDS = 1_000  # bids in one reveal request (one revealBatchFor, ~9 M gas)
BATCH_GAS_BASE, BATCH_GAS_PER_BATCH = 60_000, 160_000  # FlexRelay gives each 150,000
TREES_KEPT = 64  # Merkle trees of recent batches kept for their reveals
# gas of a relayed batch reveal: measured ~9,000 a bid at 1,000 (docs/contracts.md), plus
# ~10,000 a registry check; given generously (unused gas is not paid), after an eth_call
# that found no error: an estimate (a binary search of executions) costs anvil seconds
REVEAL_GAS_BASE, REVEAL_GAS_PER_BID = 150_000, 14_000
REVEAL_BATCH_FOR = keccak(
    text="revealBatchFor(address,uint256,uint256,bytes,bytes32,bytes32[],"
    "(uint256,bytes32,uint256,uint256,bytes32)[],bytes32[],uint256[])"
)[:4]
PARTICIPATION = keccak(text="participation(uint64,address)")[:4]


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def encode_reveal_batch_for(
    seller: str, nonce: int, deadline: int, signature: bytes, root: bytes, table: list[bytes],
    rows: list[tuple[int, bytes, int, int, bytes]], proof: list[bytes], flags: list[int],
) -> bytes:  # fmt: skip
    """Calldata of `FlexRelay.revealBatchFor`, by hand: web3's encoder takes ~1 s of Python
    for a thousand bids (tests/api/test_api_batches.py checks it against web3's). Nine head
    words (four offsets), then the signature, the asset table, the rows (five words each),
    the proof and the flags, each with its length."""
    sig = signature + bytes(-len(signature) % 32)
    tails = [
        _word(len(signature)) + sig,
        _word(len(table)) + b"".join(table),
        _word(len(rows)) + b"".join(
            _word(t) + z + _word(slots) + _word(assets) + salt
            for t, z, slots, assets, salt in rows
        ),
        _word(len(proof)) + b"".join(proof),
        _word(len(flags)) + b"".join(_word(f) for f in flags),
    ]  # fmt: skip
    offsets, at = [], 9 * 32
    for tail in tails:
        offsets.append(_word(at))
        at += len(tail)
    head = [bytes(12) + bytes.fromhex(seller[2:]), _word(nonce), _word(deadline), offsets[0],
            root, *offsets[1:]]  # fmt: skip
    return REVEAL_BATCH_FOR + b"".join(head) + b"".join(tails)


@dataclass
class PendingBatch:
    batch_id: str
    seller: str
    session_id: int
    root: bytes
    count: int
    nonce: int
    deadline: int
    signature: bytes
    done: threading.Event = field(default_factory=threading.Event)

    def request(self) -> tuple[Any, ...]:
        return (self.seller, self.session_id, self.root, self.count, self.nonce,
                self.deadline, self.signature)  # fmt: skip


def batch_public(row: dict[str, Any]) -> dict[str, Any]:
    """A stored batch as answered (BatchPublic)."""
    return {
        "batch_id": row["batch_id"], "session_id": int(row["session_id"]),
        "seller": row["seller"], "root": row["root"], "bid_count": int(row["bid_count"]),
        "status": row["status"], "relay_tx_hash": row["tx_hash"], "relay_error": row["error"],
        "first_bid_id": "0x" + batched_bid_id(bytes.fromhex(row["batch_id"][2:]), 0).hex(),
    }  # fmt: skip


class BatchRelay:
    """Queued batches sent as `commitBatchesFor` transactions of up to `size` batches (or
    what arrived within `wait_s` of the first), by one thread. A batch the relay or the
    market refuses is reported by its `RelayFailed` log (status `failed`, the reason named;
    its nonce stays taken); a transaction that reverts all the same (the chain moved) is
    sent again batch by batch."""

    def __init__(
        self, relayer: Relayer, store: Store, errors: ErrorDecoder, size: int, wait_s: float
    ) -> None:
        self._relayer = relayer
        self._store = store
        self._errors = errors
        self._size = size
        self._wait_s = wait_s
        self._lock = threading.Lock()
        self._pending: dict[str, PendingBatch] = {}
        self._queued_bids: dict[tuple[str, int], int] = {}  # (seller, session): bids queued
        self._queue: queue.Queue[PendingBatch | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="batch-relay", daemon=True)
        self.stats = {"transactions": 0, "batches": 0, "bids": 0, "failed": 0}

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def queued_bids(self, seller: str, session_id: int) -> int:
        with self._lock:
            return self._queued_bids.get((seller, session_id), 0)

    def enqueue(self, pending: PendingBatch, allowance: int, row: tuple[Any, ...]) -> None:
        """Record an accepted batch (`row`, Store.add_batch) and queue it: 409 if it was
        submitted already (`batch-exists`) or if its bids with those queued before it
        exceed the seller's `allowance` (bids bonded at join and not committed yet:
        `too-many-bids`, naming `commitments`); nothing recorded then."""
        key = (pending.seller, pending.session_id)
        with self._lock:
            known = self._store.batch(pending.batch_id)
            if known is not None and known["status"] == "failed":
                self._store.forget_batch(pending.batch_id)  # refused before: may come again
                known = None
            if pending.batch_id in self._pending or known is not None:
                raise Problem(409, "batch-exists",
                              f"batch {pending.batch_id} was already submitted")  # fmt: skip
            queued = self._queued_bids.get(key, 0)
            _cover(pending.count, allowance, queued)
            self._store.add_batch(row)
            self._pending[pending.batch_id] = pending
            self._queued_bids[key] = queued + pending.count
        self._queue.put(pending)

    def check_allowance(self, seller: str, session_id: int, count: int, allowance: int) -> None:
        """409 `too-many-bids` if `count` more bids exceed the `allowance` with the bids
        queued here (checked again, atomically, when queued)."""
        _cover(count, allowance, self.queued_bids(seller, session_id))

    def _loop(self) -> None:
        # not a retry (python_client.retry): the relay's worker, until told to stop
        while True:
            batch = next_batch(self._queue, self._size, self._wait_s)
            if batch is None:
                return
            try:
                self.send(batch)
            except Exception:  # noqa: BLE001 - the loop must survive; each batch says why
                log.exception("batch relay failed")
                self._finish([p for p in batch if not p.done.is_set()], "failed", None,
                             "relay error")  # fmt: skip

    def send(self, batch: list[PendingBatch]) -> None:
        """One `commitBatchesFor`; should it revert, each batch alone."""
        raw = self._send(batch)
        if raw is not None:
            self._settle(batch, raw)
            return
        for p in batch:
            raw = self._send([p])
            if raw is None:
                self._finish([p], "failed", None, "commitBatchesFor reverted")
            else:
                self._settle([p], raw)

    def _send(self, batch: list[PendingBatch]) -> dict[str, Any] | None:
        fn = self._relayer.relay.functions.commitBatchesFor([p.request() for p in batch])
        gas = BATCH_GAS_BASE + BATCH_GAS_PER_BATCH * len(batch)
        tx_hash = RESEND.call(
            lambda: self._relayer.send(fn, gas),
            lambda exc: isinstance(exc, ClientError),
            what="commitBatchesFor refused",
        )
        receipt = self._relayer.receipt(tx_hash)
        if int(receipt["status"], 16) != 1:
            return None
        self._relayer.wallet.gas_log.add("commitBatchesFor", int(receipt["gasUsed"], 16))
        return receipt

    def _settle(self, batch: list[PendingBatch], raw: dict[str, Any]) -> None:
        failed = relay_failures(raw, self._relayer.relay.address, self._errors)
        tx_hash = raw["transactionHash"]
        self._finish([p for p in batch if (p.seller, p.nonce) not in failed], "committed",
                     tx_hash, None)  # fmt: skip
        for p in batch:
            if (p.seller, p.nonce) in failed:
                self._finish([p], "failed", tx_hash, failed[(p.seller, p.nonce)])
        self.stats["transactions"] += 1
        self.stats["batches"] += len(batch)
        self.stats["bids"] += sum(p.count for p in batch if (p.seller, p.nonce) not in failed)
        self.stats["failed"] += len(failed)

    def _finish(
        self, items: list[PendingBatch], status: str, tx_hash: str | None, error: str | None
    ) -> None:
        """Record the outcome; a failed batch keeps its nonce taken (never handed back)."""
        if not items:
            return
        self._store.set_batch_status([(status, tx_hash, error, p.batch_id) for p in items])
        with self._lock:
            for p in items:
                self._pending.pop(p.batch_id, None)
                key = (p.seller, p.session_id)
                left = self._queued_bids.get(key, 0) - p.count
                if left > 0:
                    self._queued_bids[key] = left
                else:
                    self._queued_bids.pop(key, None)
        for p in items:
            p.done.set()


def _cover(count: int, allowance: int, queued: int) -> None:
    """The bonds locked at join (`allowance`: bonded, not committed) cover `count` more bids
    beside the `queued` ones, or 409 naming `commitments`."""
    if queued + count > allowance:
        raise Problem(
            409, "too-many-bids", f"commitments: {count} bids, but the bonds locked at join "
            f"cover {max(0, allowance - queued)} more (join with more bids first)",
            field="commitments", reason=f"{allowance} bonded and not committed, {queued} queued",
        )  # fmt: skip


@dataclass(frozen=True)
class RevealedBid:
    """One bid of a batch reveal request: its leaf index and its fields."""

    index: int
    fields: BidFields


class RelayedBatches:
    def __init__(
        self, reads: ChainReads, clock: ChainClock, roles: RoleCache, nonces: RelayNonces,
        bids: RelayedBids, relay: BatchRelay, relayer: Relayer, store: Store, market: str,
        errors: ErrorDecoder,
    ) -> None:  # fmt: skip
        self._reads = reads
        self._clock = clock
        self._roles = roles
        self._nonces = nonces
        self._bids = bids
        self.relay = relay
        self._relayer = relayer
        self._store = store
        self._market = market
        self._errors = errors
        self._trees: OrderedDict[str, MerkleTree] = OrderedDict()
        self._trees_lock = threading.Lock()

    # --- commit a batch: queued
    async def commit(
        self, seller: str, session_id: int, root: bytes, commitments: list[bytes], nonce: int,
        deadline: int, signature: bytes,
    ) -> dict[str, Any]:  # fmt: skip
        """Check a signed batch (aggregator, session open, the commitments hash to `root`,
        deadline, signature, nonce, bonds for its bids) and queue it; 202 `queued`."""
        t, now = await self._bids.aggregator_session_now(seller, session_id)
        if now >= t.bidding_end:
            raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed")
        # the cheap checks first: the signature (over the root given) and the bonds, then the
        # hashing (~3 hashes a bid) that proves the commitments are that root's leaves
        count = len(commitments)
        digest = batch_digest(self._bids.domain, seller, session_id, root, count, nonce, deadline)
        self._bids.check_message(deadline, digest, signature, seller, now)
        p = await run_in_threadpool(self._participation, session_id, seller)
        allowance = p.max_bids - p.committed
        self.relay.check_allowance(seller, session_id, count, allowance)
        tree = MerkleTree(leaves(self._market, session_id, seller, commitments))
        if tree.root != root:
            raise Problem(
                422, "invalid-input", f"root: the commitments hash to 0x{tree.root.hex()}",
                field="root", reason="not the root of the commitments' leaves",
            )  # fmt: skip
        self._nonces.take(seller, nonce)
        bid = "0x" + batch_id(seller, root).hex()
        pending = PendingBatch(bid, seller, session_id, root, count, nonce, deadline, signature)
        row = (bid, session_id, seller, "0x" + root.hex(), count,
               b"".join(commitments).hex(), str(nonce), "queued", time.time())  # fmt: skip
        try:
            self.relay.enqueue(pending, allowance, row)
        except Problem:
            self._nonces.release(seller, nonce)
            raise
        self._keep_tree(bid, tree)
        return batch_public({"batch_id": bid, "session_id": session_id, "seller": seller,
                             "root": "0x" + root.hex(), "bid_count": count,
                             "status": "queued", "tx_hash": None, "error": None})  # fmt: skip

    def _participation(self, session_id: int, seller: str) -> Participation:
        """`participation(sessionId, seller)` as one raw eth_call (web3's contract call costs
        ~6 ms of Python; this is on every batch's path)."""
        data = PARTICIPATION + _word(session_id) + bytes(12) + bytes.fromhex(seller[2:])
        market = self._reads.contracts.market.address
        out = self._reads.rpc("eth_call", [{"to": market, "data": "0x" + data.hex()}, "latest"])
        raw = bytes.fromhex(out[2:])
        return Participation.from_abi([int.from_bytes(raw[k : k + 32], "big")
                                       for k in range(0, 256, 32)])  # fmt: skip

    def _keep_tree(self, batch: str, tree: MerkleTree) -> None:
        with self._trees_lock:
            self._trees[batch] = tree
            self._trees.move_to_end(batch)
            while len(self._trees) > TREES_KEPT:
                self._trees.popitem(last=False)

    def _tree(self, row: dict[str, Any]) -> MerkleTree:
        with self._trees_lock:
            tree = self._trees.get(row["batch_id"])
        if tree is None:
            raw = bytes.fromhex(row["commitments"])
            commitments = [raw[k : k + 32] for k in range(0, len(raw), 32)]
            tree = MerkleTree(leaves(self._market, int(row["session_id"]), row["seller"],
                                     commitments))  # fmt: skip
            self._keep_tree(row["batch_id"], tree)
        return tree

    def _preflight(self, to: str, data: bytes, gas: int) -> None:
        """The call as the relayer would send it, executed once (`eth_call`): the contract's
        refusal is a 409 naming its error, before the nonce is reserved or anything sent."""
        call = {"from": self._relayer.address, "to": to, "data": "0x" + data.hex(),
                "gas": hex(gas)}  # fmt: skip
        reply = self._reads.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
        error = reply.get("error")
        if error is None:
            return
        revert = error.get("data") if isinstance(error, dict) else None
        if isinstance(revert, dict):
            revert = revert.get("data")
        if not isinstance(revert, (str, bytes)):
            raise Problem(502, "node-failed", f"the node could not run the call: {error}")
        name, args = self._errors.decode(revert)
        raise reverted_problem(TransactionReverted("revealBatchFor", name, args))

    # --- reads
    def batch(self, caller: str, session_id: int, batch: str) -> dict[str, Any]:
        """The caller's batch (404 for another's, or none)."""
        row = self._store.batch(batch.lower())
        if row is None or row["seller"] != caller or int(row["session_id"]) != session_id:
            raise Problem(404, "not-found", f"batch {batch} not found in session {session_id}")
        return batch_public(row)

    def batches(self, caller: str, session_id: int) -> list[dict[str, Any]]:
        self._reads.session(session_id)  # 404 for no session
        return [batch_public(r) for r in self._store.batches_of(caller, session_id)]

    # --- reveal: relayed at once
    async def reveal(
        self, seller: str, session_id: int, batch: str, bids: list[RevealedBid], nonce: int,
        deadline: int, signature: bytes,
    ) -> dict[str, Any]:  # fmt: skip
        fn = await run_in_threadpool(
            self._reveal_call, seller, session_id, batch, bids, nonce, deadline, signature
        )
        gas = REVEAL_GAS_BASE + REVEAL_GAS_PER_BID * len(bids)
        return await self._relayer.relay_with_nonce(seller, nonce, fn, gas)

    def _reveal_call(
        self, seller: str, session_id: int, batch: str, bids: list[RevealedBid], nonce: int,
        deadline: int, signature: bytes,
    ) -> Any:  # fmt: skip
        """The checks of a batch reveal (role, the caller's committed batch, ascending leaves
        of it, at most 256 assets, deadline, signature, each bid's fields hashing to its
        leaf's commitment, assets managed by the caller); its relay call."""
        self._roles.require_role(seller, "AGGREGATOR")
        row = self._store.batch(batch.lower())
        if row is None or row["seller"] != seller or int(row["session_id"]) != session_id:
            raise Problem(404, "not-found", f"batch {batch} not found in session {session_id}")
        if row["status"] != "committed":
            raise Problem(409, "batch-not-committed",
                          f"batch {batch} is {row['status']}, not committed on chain")  # fmt: skip
        count = int(row["bid_count"])
        previous = -1
        for i, b in enumerate(bids):
            where = f"bids[{i}].index"
            if b.index >= count:
                raise Problem(422, "invalid-input", f"{where}: {b.index} is not a leaf of "
                              f"a batch of {count}", field=where,
                              reason="beyond the batch")  # fmt: skip
            if b.index <= previous:
                raise Problem(422, "invalid-input", f"{where}: leaves must be strictly "
                              "ascending", field=where, reason="not ascending")  # fmt: skip
            previous = b.index
        indices = [b.index for b in bids]
        try:
            table, rows = reveal_rows(indices, [b.fields for b in bids])
        except BatchError as exc:
            raise Problem(422, "invalid-input", f"bids: {exc}", field="bids",
                          reason="too many assets for one reveal") from exc  # fmt: skip
        # the signature before the hashing of every bid (a forged request costs one hash)
        root = bytes.fromhex(row["root"][2:])
        digest = reveal_batch_digest(self._bids.domain, seller, root, bids_hash(rows), nonce,
                                     deadline)  # fmt: skip
        self._bids.check_message(deadline, digest, signature, seller, self._clock.now())
        raw = bytes.fromhex(row["commitments"])
        hashes = commitments(session_id, seller, [b.fields for b in bids])
        for i, b in enumerate(bids):
            if hashes[i] != raw[32 * b.index : 32 * b.index + 32]:
                raise Problem(
                    422, "invalid-input", f"bids[{i}]: the fields do not hash to the "
                    f"commitment of leaf {b.index}", field=f"bids[{i}]",
                    reason="not the committed bid (fields or salt differ)",
                )  # fmt: skip
        registry = self._reads.contracts.registry.functions
        for asset in table:
            manager = AssetView.from_abi(self._reads.call(registry.asset(asset))).manager
            where = next(f"bids[{i}].asset_ids" for i, b in enumerate(bids)
                         if asset in b.fields.asset_ids)  # fmt: skip
            if manager == ZERO_ADDRESS:
                raise Problem(422, "invalid-input", f"{where}: 0x{asset.hex()} not registered",
                              field=where, reason="not registered")  # fmt: skip
            if manager != seller:
                raise Problem(403, "not-asset-manager", f"{where}: 0x{asset.hex()} is managed "
                              "by another aggregator", field=where,
                              reason="you do not manage this asset")  # fmt: skip
        proof, flags = self._tree(row).multiproof(indices)
        relay = self._relayer.relay
        data = encode_reveal_batch_for(seller, nonce, deadline, signature, root, table, rows,
                                       proof, flags)  # fmt: skip
        self._preflight(relay.address, data, REVEAL_GAS_BASE + REVEAL_GAS_PER_BID * len(bids))
        return RawCall(relay.address, data, "revealBatchFor", lambda: relay.functions
                       .revealBatchFor(seller, nonce, deadline, signature, root, table, rows,
                                       proof, flags))  # fmt: skip
