"""Relayed commits, batched: an accepted commit is queued (`enqueue`, answered 202 at once)
and a thread sends the queue to FlexRelay as `commitBidsFor` transactions of up to
`relay_batch_size` commits, or what arrived within `relay_batch_wait_s` of the first.

A commit the market refuses is skipped by the relay (`RelayFailed`, the bid `failed`); should
a batch revert all the same (a commit the relay itself refuses: the chain moved since the
API checked it), the commits refused alone are found by one `eth_call` each, marked `failed`
and dropped, and the rest is sent again as one batch (at most RELAY_ROUNDS). A refused
commit's nonce is never handed back: the same signed message cannot poison the next batch."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from api.problems import Problem
from api.relay_nonces import RELAY_FAILED_TOPIC, RelayNonces
from api.relayer import Relayer
from api.store import Store
from python_client.chain import ErrorDecoder
from python_client.errors import ClientError
from python_client.retry import RESEND

log = logging.getLogger("flexmarket.api")
COMMIT_GAS_BASE, COMMIT_GAS_PER_BID = 60_000, 75_000
RELAY_ROUNDS = 4  # a reverted commit batch is sent again without its refused commits
COMMIT_BIDS_FOR = keccak(text="commitBidsFor((address,uint64,bytes32,uint256,uint256,bytes)[])")[:4]


@dataclass
class PendingCommit:
    bid_id: str
    seller: str
    session_id: int
    commitment: bytes
    nonce: int
    deadline: int
    signature: bytes
    done: threading.Event = field(default_factory=threading.Event)

    def request(self) -> tuple[Any, ...]:
        return (
            self.seller, self.session_id, self.commitment, self.nonce, self.deadline,
            self.signature,
        )  # fmt: skip


def encode_commit_bids_for(batch: list[PendingCommit]) -> bytes:
    """Calldata of `FlexRelay.commitBidsFor(CommitRequest[])`, by hand: web3's encoder
    spends ~1 ms of Python per request (the relay thread holds the GIL the event loop
    needs). Each request is (address, uint64, bytes32, uint256, uint256, bytes): six head
    words (the last the offset of the signature, 0xc0), its length, its padded bytes."""
    n = len(batch)
    offsets, tails = [], []
    at = 32 * n
    for p in batch:
        sig = p.signature
        padded = sig + bytes(-len(sig) % 32)
        tail = b"".join(
            (
                bytes(12) + bytes.fromhex(p.seller[2:]),
                p.session_id.to_bytes(32, "big"),
                p.commitment,
                p.nonce.to_bytes(32, "big"),
                p.deadline.to_bytes(32, "big"),
                (0xC0).to_bytes(32, "big"),
                len(sig).to_bytes(32, "big"),
                padded,
            )
        )
        offsets.append(at.to_bytes(32, "big"))
        tails.append(tail)
        at += len(tail)
    head = (0x20).to_bytes(32, "big") + n.to_bytes(32, "big")
    return COMMIT_BIDS_FOR + head + b"".join(offsets) + b"".join(tails)


def relay_failures(
    raw: dict[str, Any], relay: str, errors: ErrorDecoder
) -> dict[tuple[str, int], str]:
    """The messages a mined relay batch refused, from its raw receipt's `RelayFailed` logs
    (only those are decoded): (seller, nonce) -> the contract's error name."""
    failed: dict[tuple[str, int], str] = {}
    for log_ in raw["logs"]:
        if log_["address"].lower() != relay.lower() or log_["topics"][0] != RELAY_FAILED_TOPIC:
            continue
        # RelayFailed(address indexed seller, uint256 indexed nonce, bytes reason)
        seller = to_checksum_address("0x" + log_["topics"][1][-40:])
        nonce = int(log_["topics"][2], 16)
        (reason,) = decode(["bytes"], bytes.fromhex(log_["data"][2:]))
        failed[(seller, nonce)] = errors.decode(bytes(reason))[0]
    return failed


class RawCall:
    """A contract call given as calldata, for the relayer (which asks a call only for
    `build_transaction`, its name, and `call` to replay a failure)."""

    def __init__(self, to: str, data: bytes, fn_name: str, replay: Any) -> None:
        self.to, self.data, self.fn_name = to, data, fn_name
        self._replay = replay  # () -> the web3 function, built only to replay a failure

    def build_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        return {**tx, "to": self.to, "data": "0x" + self.data.hex()}

    def call(self, tx: dict[str, Any], block_identifier: Any = "latest") -> Any:
        return self._replay().call(tx, block_identifier=block_identifier)


Item = TypeVar("Item")


def next_batch(q: queue.Queue[Item | None], size: int, wait_s: float) -> list[Item] | None:
    """The next batch: the first item (a commit, a seller's batch: waited for), then what
    else arrives within `wait_s` of it, up to `size` items; None once stopped (a None in
    the queue, left there for whoever reads next)."""
    first = q.get()
    if first is None:
        return None
    batch = [first]
    deadline = time.monotonic() + wait_s
    while len(batch) < size:
        try:
            item = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if item is None:
            q.put(None)
            break
        batch.append(item)
    return batch


class RelayBatcher:
    def __init__(
        self, relayer: Relayer, store: Store, nonces: RelayNonces, errors: ErrorDecoder,
        batch_size: int, batch_wait_s: float,
    ) -> None:  # fmt: skip
        self._relayer = relayer
        self._store = store
        self._nonces = nonces
        self._errors = errors
        self._batch_size = batch_size
        self._batch_wait_s = batch_wait_s
        self._lock = threading.Lock()  # the commits queued, not yet settled
        self._pending: dict[str, PendingCommit] = {}
        self._queue: queue.Queue[PendingCommit | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="bid-relay", daemon=True)
        self.stats = {"batches": 0, "bids": 0, "failed": 0, "seconds": 0.0}

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def enqueue(self, pending: PendingCommit) -> None:
        """Queue an accepted commit (409 `bid-exists` if it was submitted already: its nonce
        is given back, the first submission holds its own) and record it `queued`."""
        with self._lock:
            known = self._store.bid(pending.bid_id)
            if known is not None and known["status"] == "failed":
                self._store.forget_bid(pending.bid_id)  # its relay failed: it may be sent again
                known = None
            exists = pending.bid_id in self._pending or known is not None
            if not exists:
                self._pending[pending.bid_id] = pending
        if exists:
            self._nonces.release(pending.seller, pending.nonce)
            raise Problem(409, "bid-exists", f"bid {pending.bid_id} was already submitted")
        self._store.add_bids(
            [(pending.bid_id, pending.session_id, pending.seller, "0x" + pending.commitment.hex(),
              str(pending.nonce), "queued", time.time())]
        )  # fmt: skip
        self._queue.put(pending)

    async def wait(self, bid_id: str, timeout_s: float) -> None:
        """Until the commit's batch is mined or `timeout_s` passed, without holding a
        worker thread (a stuck relay must not take the pool with it)."""
        pending = self._pending.get(bid_id)
        end = time.monotonic() + timeout_s
        pause = 0.01
        while pending is not None and not pending.done.is_set() and time.monotonic() < end:
            await asyncio.sleep(pause)
            pause = min(0.1, pause * 1.5)

    def _loop(self) -> None:
        # not a retry (python_client.retry): the batcher's worker, until told to stop
        while True:
            batch = next_batch(self._queue, self._batch_size, self._batch_wait_s)
            if batch is None:
                return
            try:
                self.send_batch(batch)
            except Exception:  # noqa: BLE001 - the loop must survive; each bid says why
                log.exception("bid relay batch failed")
                self._finish([p for p in batch if not p.done.is_set()], "failed", None,
                             "relay error")  # fmt: skip

    def send_batch(self, batch: list[PendingCommit]) -> None:
        """Send a batch as one `commitBidsFor`; should it revert, drop the commits refused
        alone (`failed`) and send the rest again as one batch: a bad commit costs the
        others one block, not one block each. If each passes alone and the batch does not,
        they are sent one by one."""
        started = time.perf_counter()
        for _ in range(RELAY_ROUNDS):
            raw = self._send_commits(batch)
            if raw is not None:
                self._settle_batch(batch, raw)
                break
            refused = self._refused_alone(batch)
            for p, reason in refused:
                self._finish([p], "failed", None, reason)
            bad = {id(p) for p, _ in refused}
            batch = [p for p in batch if id(p) not in bad]
            if not batch:
                break
            if not refused:  # each passes alone, the batch does not: send them alone
                for p in batch:
                    try:
                        fn = self._relayer.relay.functions.commitBidFor(p.request())
                        out = self._relayer.send_and_wait(fn)
                        self._finish([p], "committed", out["tx_hash"], None)
                    except Problem as exc:
                        self._finish([p], "failed", None, exc.extra.get("error", exc.detail))
                break
        else:
            self._finish(batch, "failed", None, "relay batch kept reverting")
        self.stats["seconds"] += time.perf_counter() - started

    def _send_commits(self, batch: list[PendingCommit]) -> dict[str, Any] | None:
        """One `commitBidsFor` transaction: its raw receipt, or None if it reverted. A
        node that refused the transaction (nonce, fees) is asked once more."""
        relay = self._relayer.relay
        fn = RawCall(
            relay.address, encode_commit_bids_for(batch), "commitBidsFor",
            lambda: relay.functions.commitBidsFor([p.request() for p in batch]),
        )  # fmt: skip
        gas = COMMIT_GAS_BASE + COMMIT_GAS_PER_BID * len(batch)
        tx_hash = RESEND.call(
            lambda: self._relayer.send(fn, gas),
            lambda exc: isinstance(exc, ClientError),
            what="commitBidsFor refused",
        )
        receipt = self._relayer.receipt(tx_hash)  # this thread's wait: no lock held
        if int(receipt["status"], 16) != 1:
            return None
        self._relayer.wallet.gas_log.add("commitBidsFor", int(receipt["gasUsed"], 16))
        return receipt

    def _refused_alone(self, batch: list[PendingCommit]) -> list[tuple[PendingCommit, str]]:
        """The commits of `batch` that `commitBidFor` refuses alone now (one JSON-RPC batch
        of `eth_call`s, nothing mined), each with the contract's reason."""
        relay = self._relayer.relay
        calls = [
            ("eth_call", [{"from": self._relayer.address, "to": relay.address,
                           "data": relay.functions.commitBidFor(p.request())
                           ._encode_transaction_data()}, "latest"])
            for p in batch
        ]  # fmt: skip
        refused = []
        for p, reply in zip(batch, self._relayer.wallet._batch(calls), strict=True):
            error = reply.get("error")
            if error is not None:
                data = error.get("data") if isinstance(error, dict) else None
                if isinstance(data, dict):
                    data = data.get("data")
                name = self._errors.decode(data if isinstance(data, (str, bytes)) else None)[0]
                refused.append((p, name))
        return refused

    def _settle_batch(self, batch: list[PendingCommit], raw: dict[str, Any]) -> None:
        """Each commit of a mined batch: `committed`, or `failed` with the reason its
        `RelayFailed` log gives."""
        failed = relay_failures(raw, self._relayer.relay.address, self._errors)
        tx_hash = raw["transactionHash"]
        ok = [p for p in batch if (p.seller, p.nonce) not in failed]
        self._finish(ok, "committed", tx_hash, None)
        for p in batch:
            if (p.seller, p.nonce) in failed:
                self._finish([p], "failed", tx_hash, failed[(p.seller, p.nonce)])
        self.stats["batches"] += 1
        self.stats["bids"] += len(batch)
        self.stats["failed"] += len(failed)

    def _finish(
        self, items: list[PendingCommit], status: str, tx_hash: str | None, error: str | None
    ) -> None:
        """Record the outcome. A failed commit keeps its nonce taken (not handed back)."""
        self._store.set_bid_status([(status, tx_hash, error, p.bid_id) for p in items])
        with self._lock:
            for p in items:
                self._pending.pop(p.bid_id, None)
        for p in items:
            p.done.set()
