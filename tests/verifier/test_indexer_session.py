"""The indexer on a real anvil while a market session runs: SQLite and a real PostgreSQL
server; the live projection equals a replay from genesis; projections agree with the
contracts' own state; re-indexing stored blocks changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from indexer_helpers import Market, Postgres, dump, market_chain, postgres_server, run_session

from python_client.paths import ARTIFACTS_DIR
from verifier.events import EventDecoder
from verifier.indexer import IndexerStats, run_indexer
from verifier.store import Database


@dataclass
class Live:
    market: Market
    pg: Postgres
    tmp: Path
    sqlite_url: str
    pg_url: str
    stats: dict[str, IndexerStats]


def _follow(m: Market, url: str, stop: threading.Event, out: dict[str, IndexerStats]) -> None:
    out[url] = run_indexer(
        m.chain.url, url, m.deployment_file, follow=True, poll_interval_s=0.02, stop=stop,
        initial_span=4,
    )  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Two indexers (SQLite, PostgreSQL) follow the chain while two sessions run."""
    tmp = tmp_path_factory.mktemp("indexer-session")
    with market_chain(tmp) as m, postgres_server() as pg:
        sqlite_url = f"sqlite:///{tmp}/live.sqlite"
        pg_url = pg.create_db("live")
        stop = threading.Event()
        stats: dict[str, IndexerStats] = {}
        threads = [
            threading.Thread(target=_follow, args=(m, url, stop, stats))
            for url in (sqlite_url, pg_url)
        ]
        for t in threads:
            t.start()
        try:
            run_session(m, extra_commits=150, tag="A")
            run_session(m, tag="B", dispute=True)
            head = m.head()

            def caught_up() -> bool:
                with Database(sqlite_url) as a, Database(pg_url) as b:
                    q = "SELECT block_number FROM indexer_checkpoint"
                    return all(db.query(q)[0][0] >= head for db in (a, b))

            from indexer_helpers import wait_for

            wait_for(caught_up)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        yield Live(m, pg, tmp, sqlite_url, pg_url, stats)


def test_following_indexers_index_every_log_of_the_contracts(live: Live) -> None:
    m = live.market
    logs = m.chain.rpc(
        "eth_getLogs",
        [{"fromBlock": "0x0", "toBlock": "latest",
          "address": [m.deployment.token, m.deployment.registry, m.deployment.market]}],
    )  # fmt: skip
    for url in (live.sqlite_url, live.pg_url):
        with Database(url) as db:
            stored = db.query("SELECT block_hash, log_index FROM events ORDER BY 1, 2")
            assert stored == sorted((log["blockHash"], int(log["logIndex"], 16)) for log in logs)
            assert db.query("SELECT block_number FROM indexer_checkpoint")[0][0] == m.head()
        # it followed: many small batches, not one
        assert live.stats[url].batches > 10


def test_a_replay_from_genesis_equals_the_live_projection(live: Live) -> None:
    m = live.market
    replay_sqlite = f"sqlite:///{live.tmp}/replay.sqlite"
    replay_pg = live.pg.create_db("replay")
    for url in (replay_sqlite, replay_pg):
        stats = run_indexer(m.chain.url, url, m.deployment_file)
        assert stats.batches == 1  # the whole chain in one range
    live_sqlite, live_pg = dump(live.sqlite_url), dump(live.pg_url)
    assert dump(replay_sqlite) == live_sqlite
    assert dump(replay_pg) == live_pg
    # and the two databases hold the same rows
    assert live_pg == live_sqlite
    assert len(live_sqlite["events"]) > 200 and len(live_sqlite["sessions"]) == 2


def test_projections_agree_with_the_contracts(live: Live) -> None:
    m = live.market
    participants = [m.admin, m.dso, m.fo1, m.fo2, m.oracle, m.metering, m.validator]
    for url in (live.sqlite_url, live.pg_url):
        with Database(url) as db:
            escrow = {a: (f, lk) for a, f, lk in db.query("SELECT * FROM v_escrow_balances")}
            tokens = dict(db.query("SELECT * FROM v_token_balances"))
            for p in participants:
                address = p.address.lower()
                assert escrow.get(address, (0, 0)) == p.balances(), address
                assert tokens.get(address, 0) == p.token_balance(), address
            market_tokens = m.contracts.token.functions.balanceOf(m.deployment.market).call()
            assert tokens[m.deployment.market.lower()] == market_tokens
            statuses = dict(db.query("SELECT status, COUNT(*) FROM v_bids GROUP BY status"))
            assert statuses == {"committed": 150, "revealed": 6, "forfeited": 2}
            sessions = db.query(
                "SELECT session_id, result_status, bids, revealed, awards, settled "
                "FROM v_session_status ORDER BY session_id"
            )
            assert sessions == [(1, 3, 154, 3, 3, 3), (2, 3, 4, 3, 3, 3)]
            names = {1: "committed", 2: "revealed", 3: "forfeited"}
            rows = db.query("SELECT bid_id, status, committed_at, awarded_w FROM v_bids")
            for bid_id, status, committed_at, awarded_w in rows:
                core, terms = m.dso.bid(bytes.fromhex(bid_id[2:]))
                assert (status, committed_at, awarded_w) == (names[core[2]], core[3], terms[3])
            managers = dict(db.query("SELECT asset_id, manager FROM v_assets"))
            assert sum(1 for v in managers.values() if v == m.fo1.address.lower()) == 4
            penalties = db.query("SELECT SUM(penalty_ueur) FROM settlements")[0][0]
            assert penalties > 0


def test_indexing_stored_blocks_again_changes_nothing(live: Live) -> None:
    """Idempotent on (chain id, block hash, log index): move the checkpoint back and
    index again: no row is added twice, none is missing."""
    m = live.market
    for url in (live.sqlite_url, live.pg_url):
        before = dump(url)
        with Database(url) as db:
            number, block_hash = db.query("SELECT number, hash FROM indexer_blocks "
                                          "ORDER BY number LIMIT 1")[0]  # fmt: skip
            with db.transaction():
                db.execute(
                    "UPDATE indexer_checkpoint SET block_number = ?, block_hash = ?",
                    (number, block_hash),
                )
        stats = run_indexer(m.chain.url, url, m.deployment_file)
        assert stats.events == 0 and stats.blocks > 0
        assert dump(url) == before


def _plain(value: Any) -> Any:
    """web3's decoded value in verifier.events' form."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def test_the_fast_decoder_agrees_with_web3_on_every_log(live: Live) -> None:
    m = live.market
    addresses = {"FlexToken": m.deployment.token, "FlexRegistry": m.deployment.registry,
                 "FlexMarket": m.deployment.market}  # fmt: skip
    decoder = EventDecoder.from_artifacts(addresses, ARTIFACTS_DIR)
    contracts = {"FlexToken": m.contracts.token, "FlexRegistry": m.contracts.registry,
                 "FlexMarket": m.contracts.market}  # fmt: skip
    raw = m.chain.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest",
                                       "address": list(addresses.values())}])  # fmt: skip
    web3_logs = m.contracts.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": [c.address for c in contracts.values()]}
    )
    names = set()
    for log, w3_log in zip(raw, web3_logs, strict=True):
        ev = decoder.decode(log)
        expected = contracts[ev.contract].events[ev.event]().process_log(w3_log)
        assert ev.args == _plain(dict(expected["args"])), ev.event
        names.add(ev.event)
    # these sessions emit every event but RoleRevoked, RoleAdminChanged, SellerSuspended,
    # SellerReinstated and the ones of grid inputs, corrected and lapsed deliveries
    assert {"MinimumQuorumSet", "BondsForfeited", "BondForfeited", "AwardSettled"} <= names
    assert len(names) == 27, sorted(names)
