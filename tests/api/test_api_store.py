"""The API's store on both of its databases (issue 20 item 9): the same store-level tests
on SQLite and on a real throw-away PostgreSQL server (started by the test, as the
indexer's tests start theirs: tests/verifier/indexer_helpers.postgres_server), one
session through `flexmarket serve --db postgresql://...`; and two local `serve`s in one
checkout never share or empty each other's store file (one file per port, and a second
`serve` on the same port refused, exit 2, before it deletes anything)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from eth_account import Account

from api.config import default_db_url
from api.store import Store, claim
from python_client.hashing import label, new_salt
from python_client.http import HttpClient
from python_client.localchain import DEV_MNEMONIC, free_port
from python_client.records import BidFields, Direction
from tests.api.conftest import serve, stop, wait_until_serving
from tests.verifier.indexer_helpers import Postgres, postgres_server

ROOT = Path(__file__).resolve().parents[2]
_names = itertools.count()


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/api.sqlite3"
    else:
        url = request.getfixturevalue("pg").create_db(f"api_store_{next(_names)}")
    s = Store(url)
    yield s
    s.close()


def test_a_nonce_is_consumed_once_and_not_after_it_expires(store: Store) -> None:
    store.add_nonce("n1", 1_000)
    store.add_nonce("n2", 500)
    assert store.consume_nonce("n1", 900) is True
    assert store.consume_nonce("n1", 900) is False  # single use
    assert store.consume_nonce("n2", 500) is False  # expired (expires_at <= now)
    assert store.consume_nonce("unknown", 0) is False
    store.add_nonce("n3", 100)
    store.purge_nonces(100)
    assert store.consume_nonce("n3", 50) is False  # purged


def test_of_eight_racing_consumers_of_a_nonce_one_wins(store: Store) -> None:
    store.add_nonce("race", 10**9)
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.consume_nonce("race", 1), range(8)))
    assert wins.count(True) == 1


def test_an_intent_is_used_once_given_back_and_purged_when_expired(store: Store) -> None:
    assert store.use_intent("mac1", 2_000, 1_000) is True
    assert store.use_intent("mac1", 2_000, 1_000) is False
    store.release_intent("mac1")  # nothing was broadcast with it
    assert store.use_intent("mac1", 2_000, 1_000) is True
    assert store.use_intent("mac1", 2_000, 2_001) is True  # the used row expired: purged
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.use_intent("mac2", 9_000, 1), range(8)))
    assert wins.count(True) == 1


def test_relayed_bids_are_stored_updated_listed_and_forgotten(store: Store) -> None:
    big = 2**200 + 7  # a relay nonce beyond 64 bits: kept exactly (TEXT)
    rows = [
        ("0x" + "01" * 32, 2**40, "0xSELLER", "0x" + "aa" * 32, str(big), "queued", 1.5),
        ("0x" + "02" * 32, 2**40, "0xSELLER", "0x" + "bb" * 32, "2", "queued", 1.0),
        ("0x" + "03" * 32, 7, "0xOTHER", "0x" + "cc" * 32, "3", "queued", 0.5),
    ]
    store.add_bids(rows)
    store.set_bid_status([
        ("committed", "0x" + "dd" * 32, None, "0x" + "01" * 32),
        ("failed", None, "FlexRelayNonceUsed", "0x" + "02" * 32),
    ])  # fmt: skip
    first = store.bid("0x" + "01" * 32)
    assert first == {
        "bid_id": "0x" + "01" * 32, "session_id": 2**40, "seller": "0xSELLER",
        "commitment": "0x" + "aa" * 32, "nonce": str(big), "status": "committed",
        "tx_hash": "0x" + "dd" * 32, "error": None,
    }  # fmt: skip
    listed = store.bids_of("0xSELLER", 2**40)
    assert [b["bid_id"] for b in listed] == ["0x" + "02" * 32, "0x" + "01" * 32]  # by time
    assert store.refused_nonces() == [("0xSELLER", 2)]
    store.forget_bid("0x" + "03" * 32)
    assert store.bid("0x" + "03" * 32) is None
    assert store.bids_of("0xOTHER", 7) == []
    store.ping()


def test_the_schema_is_created_once_and_a_second_store_sees_the_rows(
    store: Store, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store.add_nonce("kept", 10**9)
    url = (
        f"sqlite:///{tmp_path}/api.sqlite3"
        if request.node.callspec.params["store"] == "sqlite"
        else _url_of(store)
    )
    again = Store(url)  # CREATE ... IF NOT EXISTS: a restart keeps what was stored
    try:
        assert again.consume_nonce("kept", 1) is True
        assert store.consume_nonce("kept", 1) is False
    finally:
        again.close()


def _url_of(store: Store) -> str:
    info = store._conn.info  # noqa: SLF001 - the test's own PostgreSQL database
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


def test_a_fresh_sqlite_store_is_claimed_and_the_local_file_is_per_port(tmp_path: Path) -> None:
    assert default_db_url(1, "0xM", True, 8000) != default_db_url(1, "0xM", True, 8001)
    path = tmp_path / "local.sqlite3"
    Store(f"sqlite:///{path}", fresh=True).close()  # this process claims it
    Store(f"sqlite:///{path}", fresh=True).close()  # again in this process: fine
    holder = subprocess.run(
        [sys.executable, "-c",
         "import sys; from api.store import Store, StoreInUse\n"
         f"try:\n    Store('sqlite:///{path}', fresh=True)\n"
         "except StoreInUse as exc:\n    print(exc); sys.exit(2)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert holder.returncode == 2, holder.stdout + holder.stderr
    assert f"pid {os.getpid()}" in holder.stdout and str(path) in holder.stdout
    claim(str(path))  # idempotent here


def _dev_key(index: int) -> str:
    Account.enable_unaudited_hdwallet_features()
    path = f"m/44'/60'/0'/0/{index}"
    return str(Account.from_mnemonic(DEV_MNEMONIC, account_path=path).key.to_0x_hex())


def test_a_second_local_serve_on_the_same_port_is_refused_before_it_deletes(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = serve(port, tmp_path)
    try:
        assert wait_until_serving(first, url)["status"] == "ok"
        assert first.stdout is not None  # stdout: the one line the CLI prints
        assert json.loads(first.stdout.readline()) == {"listening": url, "docs": "/docs"}
        db = tmp_path / "build" / "api" / f"local-{port}.sqlite3"
        assert db.is_file()
        inode = db.stat().st_ino
        second = serve(port, tmp_path)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 2, out + err
        assert out == ""  # nothing claimed as listening
        assert err.startswith("error: ") and f"local-{port}.sqlite3 is in use" in err
        assert f"pid {first.pid}" in err and len(err.strip().splitlines()) == 1
        assert db.stat().st_ino == inode  # not deleted, not replaced
        assert wait_until_serving(first, url)["store"] == "ok"
    finally:
        stop(first)


def test_a_session_through_serve_with_a_postgresql_store(pg: Postgres, tmp_path: Path) -> None:
    db_url = pg.create_db("api_serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(port, tmp_path, "--db", db_url)
    try:
        health = wait_until_serving(server, url)
        assert health["status"] == "ok" and health["store"] == "ok"
        admin, fo = HttpClient(url, _dev_key(0)), HttpClient(url, _dev_key(1))
        admin.sign_in()
        fo.sign_in()
        for role in ("ORACLE", "AGGREGATOR"):
            admin.grant_role(admin.address if role == "ORACLE" else fo.address, role)
        admin.mint(fo.address, 10**12)
        fo.deposit(10**11)
        now = int(admin.deployment()["block_timestamp"])
        session = admin.open_session({
            "market_id": "pg", "slot_count": 1, "delivery_start": now + 40_000,
            "bidding_end": now + 10_000, "reveal_deadline": now + 20_000,
            "clearing_deadline": now + 30_000, "bid_bond_ueur": 1_000,
        })  # fmt: skip
        fo.join(session, 1)
        fields = BidFields(
            label("T1"), Direction.UP, False, 3_000, 500, 1, (new_salt(),), new_salt()
        )
        out = fo.commit_bid(session, fields, wait=True)
        assert out["status"] == "committed", out
        assert [b["bid_id"] for b in fo.bids(session)] == [out["bid_id"]]
        with psycopg.connect(db_url) as conn:  # the rows are in PostgreSQL
            rows = conn.execute("SELECT bid_id, status FROM relayed_bids").fetchall()
            used = conn.execute("SELECT count(*) FROM used_intents").fetchone()
            nonces = conn.execute("SELECT count(*) FROM siwe_nonces").fetchone()
        assert rows == [(out["bid_id"], "committed")]
        assert used is not None and used[0] >= 4  # roles, mint, deposit, session
        assert nonces == (0,)  # both sign-in nonces consumed
    finally:
        stop(server)
    assert not (tmp_path / "build" / "api").exists()  # --db given: no SQLite file made
