"""Reorgs: the chain replaces blocks the indexer has stored (anvil_reorg, and
evm_snapshot/evm_revert, called by the test only). The indexer finds the fork point from
the hashes it stored, deletes every row above it in one transaction, indexes the new
branch, and ends with exactly what a fresh index of the new chain holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from indexer_helpers import Market, Postgres, dump, market_chain, postgres_server, run_session

from verifier.indexer import run_indexer
from verifier.store import Database


@dataclass
class Setup:
    market: Market
    pg: Postgres
    tmp: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("indexer-reorg")
    with market_chain(tmp) as m, postgres_server() as pg:
        run_session(m, tag="A")
        yield Setup(m, pg, tmp)


def _signed(m: Market, client: Any, fn: Any, nonce: int) -> str:
    tx = fn.build_transaction(
        {"from": client.address, "chainId": m.deployment.chain_id, "gas": 200_000,
         "gasPrice": m.contracts.w3.eth.gas_price, "nonce": nonce}
    )  # fmt: skip
    return "0x" + bytes(client.wallet.account.sign_transaction(tx).raw_transaction).hex()


def _events_of(url: str, name: str) -> list[tuple[Any, ...]]:
    with Database(url) as db:
        return db.query("SELECT block_number, args FROM events WHERE event = ?", (name,))


def _fresh(s: Setup, name: str) -> dict[str, list[tuple[Any, ...]]]:
    url = f"sqlite:///{s.tmp}/{name}.sqlite"
    run_indexer(s.market.chain.url, url, s.market.deployment_file)
    return dump(url)


def test_anvil_reorg_rolls_back_and_reindexes(setup: Setup) -> None:
    m = setup.market
    urls = [f"sqlite:///{setup.tmp}/anvil-reorg.sqlite", setup.pg.create_db("anvil_reorg")]
    for url in urls:
        run_indexer(m.chain.url, url, m.deployment_file)
    nonce = m.contracts.w3.eth.get_transaction_count(m.fo1.address)
    m.fo1.withdraw(1_111)
    m.fo1.withdraw(2_222)
    m.mine(1)
    for url in urls:
        run_indexer(m.chain.url, url, m.deployment_file)
        amounts = [a for _, a in _events_of(url, "Withdrawn")]
        assert any('"amountUeur":2222' in a for a in amounts)
    # Replace the last 3 blocks: the two withdrawals vanish, another one takes the first.
    replacement = _signed(m, m.fo1, m.contracts.market.functions.withdraw(3_333), nonce)
    m.chain.rpc("anvil_reorg", [3, [[replacement, 0]]])
    m.reset_nonces()
    m.fo2.withdraw(4_444)  # a block above the old head
    expected = _fresh(setup, "anvil-reorg-fresh")
    for url in urls:
        stats = run_indexer(m.chain.url, url, m.deployment_file)
        assert stats.reorgs == 1 and stats.rolled_back_events == 4  # Withdrawn + Transfer, twice
        amounts = [a for _, a in _events_of(url, "Withdrawn")]
        assert not any('"amountUeur":1111' in a or '"amountUeur":2222' in a for a in amounts)
        assert any('"amountUeur":3333' in a for a in amounts)
        assert dump(url) == expected


@pytest.mark.parametrize("window", [128, 2])
def test_snapshot_revert_to_a_shorter_then_a_longer_branch(setup: Setup, window: int) -> None:
    """evm_revert drops a whole session of the old branch. One pair of indexes (SQLite,
    PostgreSQL) looks while the chain is shorter than its checkpoint, the other only once
    a new branch has grown past the old head. With a reorg window of 2 blocks the fork
    point is found through the block hashes of stored events."""
    m = setup.market
    short = [f"sqlite:///{setup.tmp}/short-{window}.sqlite", setup.pg.create_db(f"s{window}")]
    long = [f"sqlite:///{setup.tmp}/long-{window}.sqlite", setup.pg.create_db(f"l{window}")]
    snapshot = m.chain.rpc("evm_snapshot")
    fork_base = m.head()
    run_session(m, tag="gone")
    for url in short + long:
        run_indexer(m.chain.url, url, m.deployment_file, reorg_window=window)
        with Database(url) as db:
            assert db.query("SELECT COUNT(*) FROM sessions WHERE market_id LIKE ?",
                            ("0x54312d676f6e65%",))[0][0] == 1  # fmt: skip
    old_head = m.head()
    assert m.chain.rpc("evm_revert", [snapshot]) is True
    m.reset_nonces()
    assert m.head() == fork_base
    for url in short:  # the checkpoint's block no longer exists
        stats = run_indexer(m.chain.url, url, m.deployment_file, reorg_window=window)
        assert stats.reorgs == 1 and stats.rolled_back_events > 20
        with Database(url) as db:
            assert db.query("SELECT block_number FROM indexer_checkpoint")[0][0] == fork_base
            assert db.query("SELECT MAX(block_number) FROM events")[0][0] <= fork_base
    run_session(m, tag="kept")
    m.mine(3)
    assert m.head() > old_head
    expected = _fresh(setup, f"revert-fresh-{window}")
    for url in short + long:
        stats = run_indexer(m.chain.url, url, m.deployment_file, reorg_window=window)
        assert stats.reorgs == (1 if url in long else 0)
        assert dump(url) == expected
