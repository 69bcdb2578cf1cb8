"""api.relay_batcher without a chain: how the queue is cut into batches (size, wait window,
stop), how a reverted batch is split (the commits refused alone dropped, the rest sent again
as one batch; one by one only when each passes alone), how a mined batch's `RelayFailed`
logs are read, and a bid submitted twice."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from api.problems import Problem
from api.relay_batcher import RELAY_ROUNDS, PendingCommit, RelayBatcher, next_batch
from api.relay_nonces import RELAY_FAILED_TOPIC, RelayNonces
from api.store import Store

SELLER = to_checksum_address("0x" + "5e" * 20)
RELAY = "0x" + "12" * 20


def _commit(nonce: int) -> PendingCommit:
    return PendingCommit(
        "0x" + os.urandom(32).hex(), SELLER, 1, os.urandom(32), nonce, 2**40, b"\1" * 65
    )


# --- cutting the queue into batches


def test_a_batch_takes_at_most_batch_size_commits() -> None:
    q: queue.Queue[PendingCommit | None] = queue.Queue()
    items = [_commit(n) for n in range(5)]
    for p in items:
        q.put(p)
    assert next_batch(q, 3, 0.05) == items[:3]
    assert next_batch(q, 3, 0.05) == items[3:]


def test_a_batch_takes_what_arrives_within_the_wait_then_goes() -> None:
    q: queue.Queue[PendingCommit | None] = queue.Queue()
    early, late = _commit(1), _commit(2)
    q.put(early)
    threading.Timer(0.02, q.put, [_commit(3)]).start()  # within the window
    threading.Timer(0.4, q.put, [late]).start()  # after it: the next batch
    started = time.monotonic()
    first = next_batch(q, 100, 0.15)
    assert first is not None and len(first) == 2 and first[0] is early
    assert time.monotonic() - started < 0.35  # flushed at the end of the window
    assert next_batch(q, 100, 0.05) == [late]


def test_stop_flushes_what_was_queued_then_ends() -> None:
    q: queue.Queue[PendingCommit | None] = queue.Queue()
    p = _commit(1)
    q.put(p)
    q.put(None)
    assert next_batch(q, 100, 5.0) == [p]  # at once: the stop ends the window
    assert next_batch(q, 100, 5.0) is None


# --- sending: a batcher whose chain is scripted


class Scripted(RelayBatcher):
    """`commitBidsFor` reverts while the batch holds a commit in `refused` (the chain moved
    since the API checked it); `commitBidFor` alone refuses exactly those."""

    def __init__(self, store: Store, nonces: RelayNonces, refused: set[int],
                 always_revert: bool = False) -> None:  # fmt: skip
        alone: list[int] = []
        relayer = SimpleNamespace(
            relay=SimpleNamespace(
                address=RELAY,
                functions=SimpleNamespace(commitBidFor=lambda request: request),
            ),
            send_and_wait=lambda request: alone.append(request[3]) or {"tx_hash": "0xa1"},
        )
        super().__init__(relayer, store, nonces, None, 100, 0.05)  # type: ignore[arg-type]
        self.refused = refused
        self.always_revert = always_revert
        self.sent: list[list[int]] = []  # nonces of each commitBidsFor sent
        self.alone = alone  # nonces sent one by one

    def _send_commits(self, batch: list[PendingCommit]) -> dict[str, Any] | None:
        self.sent.append([p.nonce for p in batch])
        if self.always_revert or any(p.nonce in self.refused for p in batch):
            return None
        return {"transactionHash": "0xb0", "logs": []}

    def _refused_alone(self, batch: list[PendingCommit]) -> list[tuple[PendingCommit, str]]:
        return [(p, "FlexRelayExpired") for p in batch if p.nonce in self.refused]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path}/relay.sqlite3")


def _queued(batcher: RelayBatcher, store: Store, nonces: list[int]) -> list[PendingCommit]:
    out = [_commit(n) for n in nonces]
    for p in out:
        batcher.enqueue(p)
    return out


def test_a_reverted_batch_drops_the_commits_refused_alone_and_sends_the_rest_as_one(
    store: Store,
) -> None:
    nonces = RelayNonces(lambda seller, nonce: False)
    batcher = Scripted(store, nonces, refused={3, 7})
    batch = _queued(batcher, store, list(range(10)))
    batcher.send_batch(batch)
    assert batcher.sent == [list(range(10)), [0, 1, 2, 4, 5, 6, 8, 9]]  # two transactions
    for p in batch:
        row = store.bid(p.bid_id)
        assert row is not None and p.done.is_set()
        if p.nonce in (3, 7):
            assert (row["status"], row["error"]) == ("failed", "FlexRelayExpired")
        else:
            assert (row["status"], row["tx_hash"]) == ("committed", "0xb0")
    assert batcher.stats == {**batcher.stats, "batches": 1, "bids": 8, "failed": 0}


def test_a_batch_that_reverts_though_each_commit_passes_alone_is_sent_one_by_one(
    store: Store,
) -> None:
    batcher = Scripted(store, RelayNonces(lambda s, n: False), refused=set(), always_revert=True)
    batch = _queued(batcher, store, [1, 2, 3])
    batcher.send_batch(batch)
    assert batcher.sent == [[1, 2, 3]] and batcher.alone == [1, 2, 3]
    assert {store.bid(p.bid_id)["status"] for p in batch} == {"committed"}  # type: ignore[index]


def test_a_batch_that_keeps_reverting_ends_failed_after_the_last_round(store: Store) -> None:
    class Stubborn(Scripted):
        def _refused_alone(self, batch: list[PendingCommit]) -> list[tuple[PendingCommit, str]]:
            return [(batch[0], "FlexRelayBadSignature")]  # one refused per round, never done

    batcher = Stubborn(store, RelayNonces(lambda s, n: False), refused=set(), always_revert=True)
    batch = _queued(batcher, store, list(range(RELAY_ROUNDS + 2)))
    batcher.send_batch(batch)
    assert len(batcher.sent) == RELAY_ROUNDS
    statuses = [store.bid(p.bid_id)["status"] for p in batch]  # type: ignore[index]
    assert statuses == ["failed"] * len(batch) and all(p.done.is_set() for p in batch)
    assert store.bid(batch[-1].bid_id)["error"] == "relay batch kept reverting"  # type: ignore[index]


def test_a_mined_batch_marks_each_commit_its_relayfailed_log_names(store: Store) -> None:
    errors = SimpleNamespace(decode=lambda data: ("FlexMarketBidExists", ()))
    batcher = Scripted(store, RelayNonces(lambda s, n: False), refused=set())
    batcher._errors = errors  # type: ignore[assignment]
    batch = _queued(batcher, store, [5, 6])
    failed_log = {
        "address": RELAY.lower(),
        "topics": [RELAY_FAILED_TOPIC, "0x" + "0" * 24 + SELLER[2:].lower(),
                   "0x" + (6).to_bytes(32, "big").hex()],
        "data": "0x" + encode(["bytes"], [b"\x12\x34\x56\x78"]).hex(),
    }  # fmt: skip
    other = {**failed_log, "address": "0x" + "99" * 20}  # another contract's log: ignored
    batcher._settle_batch(batch, {"transactionHash": "0xc0", "logs": [failed_log, other]})
    rows = [store.bid(p.bid_id) for p in batch]
    assert [(r["status"], r["tx_hash"], r["error"]) for r in rows] == [  # type: ignore[index]
        ("committed", "0xc0", None), ("failed", "0xc0", "FlexMarketBidExists"),
    ]
    assert batcher.stats["failed"] == 1


def test_a_bid_submitted_twice_is_409_and_gives_the_second_nonce_back(store: Store) -> None:
    nonces = RelayNonces(lambda seller, nonce: False)
    batcher = Scripted(store, nonces, refused=set())
    first = _commit(1)
    nonces.take(SELLER, 1)
    batcher.enqueue(first)
    again = PendingCommit(first.bid_id, SELLER, 1, first.commitment, 2, 2**40, b"\1" * 65)
    nonces.take(SELLER, 2)
    with pytest.raises(Problem) as info:
        batcher.enqueue(again)
    assert info.value.status == 409 and info.value.kind == "bid-exists"
    assert nonces.taken(SELLER, 1) and not nonces.taken(SELLER, 2)
    # once its relay failed, the same bid may be sent again
    store.set_bid_status([("failed", None, "FlexRelayExpired", first.bid_id)])
    batcher._finish([first], "failed", None, "FlexRelayExpired")
    batcher.enqueue(again)
    assert store.bid(first.bid_id)["status"] == "queued"  # type: ignore[index]


def test_a_refused_commit_batch_is_sent_once_more_by_the_retry_policy(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from python_client.errors import ClientError

    sends: list[int] = []

    def send(fn: Any, gas: int) -> str:
        sends.append(gas)
        if len(sends) == 1:
            raise ClientError("nonce too low")
        return "0xc0"

    relayer = SimpleNamespace(
        relay=SimpleNamespace(
            address=RELAY,
            functions=SimpleNamespace(commitBidsFor=lambda requests: requests),
        ),
        send=send,
        receipt=lambda tx_hash: {"status": "0x0", "transactionHash": tx_hash},
    )
    batcher = RelayBatcher(relayer, store, RelayNonces(lambda s, n: False), None, 100, 0.05)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="python_client.retry"):
        assert batcher._send_commits([_commit(1)]) is None  # reverted when mined
    assert len(sends) == 2
    assert any("retry 1 of 1" in r.getMessage() for r in caplog.records)
