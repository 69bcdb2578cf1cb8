"""The API's own small database: sign-in nonces (single use) and the bids it relays.

SQLite (`sqlite:///path` or `sqlite:///:memory:`) or PostgreSQL (`postgresql://...`).
A nonce is consumed by one DELETE whose row count says whether it existed and was
still valid: two requests racing with the same nonce cannot both win.

A fresh SQLite file (the one `flexmarket serve` empties at start for the chain it starts
itself) is claimed first (`claim`: an exclusive lock on `<file>.lock`, held until the
process ends): a second process wanting it is refused (`StoreInUse`, naming the holder's
pid) before anything is deleted.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS siwe_nonces (nonce TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS relayed_bids (
        bid_id TEXT PRIMARY KEY, session_id BIGINT NOT NULL, seller TEXT NOT NULL,
        commitment TEXT NOT NULL, nonce TEXT NOT NULL, status TEXT NOT NULL,
        tx_hash TEXT, error TEXT, accepted_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS relayed_bids_seller ON relayed_bids (seller, session_id)",
    # batched sealed bids (issue 21): one row per seller's batch, its leaves' commitments
    # side by side (hex, 64 digits each, in leaf order: what the API rebuilds the tree from)
    """CREATE TABLE IF NOT EXISTS relayed_batches (
        batch_id TEXT PRIMARY KEY, session_id BIGINT NOT NULL, seller TEXT NOT NULL,
        root TEXT NOT NULL, bid_count INTEGER NOT NULL, commitments TEXT NOT NULL,
        nonce TEXT NOT NULL, status TEXT NOT NULL, tx_hash TEXT, error TEXT,
        accepted_at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS relayed_batches_seller ON relayed_batches (seller, session_id)",
    # a prepared transaction's intent is single use: its MAC, kept until it expires
    "CREATE TABLE IF NOT EXISTS used_intents (mac TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
]


_CLAIMED: dict[str, Any] = {}  # resolved path -> its open lock file (this process's claims)


class StoreInUse(RuntimeError):
    """Another process holds the store file's lock."""


def claim(path: str) -> None:
    """Hold `path`'s lock (`<path>.lock`, exclusive, until this process ends; again in the
    same process: nothing). StoreInUse, naming the holder's pid, if another process holds
    it: that process uses the file, so it must not be emptied or shared."""
    key = str(Path(path).resolve())
    if key in _CLAIMED:
        return
    Path(key).parent.mkdir(parents=True, exist_ok=True)
    lock = open(key + ".lock", "a+")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise StoreInUse(
            f"{path} is in use by another process (pid {holder}, e.g. another `flexmarket "
            "serve` on this port): stop it, or give --port or --db"
        ) from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    _CLAIMED[key] = lock


class Store:
    def __init__(self, url: str, fresh: bool = False) -> None:
        """`fresh`: start from an empty SQLite file (its old one removed), claimed first
        (`claim`; StoreInUse if another process holds it)."""
        self._lock = threading.Lock()
        self._pg = url.startswith(("postgresql://", "postgres://"))
        self._conn: Any
        if self._pg:
            import psycopg

            self._conn = psycopg.connect(url, autocommit=True)
        elif url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                if fresh:
                    claim(path)
                    for old in (path, path + "-wal", path + "-shm"):
                        Path(old).unlink(missing_ok=True)
            self._conn = sqlite3.connect(
                path,
                check_same_thread=False,
                isolation_level=None,  # autocommit
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: no fsync per statement (a power cut may lose the last accepted
            # bids, never corrupt the file); the chain is the record of what was relayed.
            self._conn.execute("PRAGMA synchronous=NORMAL")
        else:
            raise ValueError(f"db_url: {url!r} is neither sqlite:///PATH nor postgresql://...")
        for statement in SCHEMA:
            self._exec(statement)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            cur = self._conn.execute(sql, params)
            return cur

    def _exec_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement over many rows, in one round trip (psycopg: a cursor's executemany)."""
        if self._pg:
            sql = sql.replace("?", "%s")
        with self._lock:
            if self._pg:
                with self._conn.cursor() as cur:
                    cur.executemany(sql, rows)
            else:
                self._conn.executemany(sql, rows)

    def ping(self) -> None:
        """A round trip to the database (GET /health)."""
        self._exec("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- nonces
    def add_nonce(self, nonce: str, expires_at: int) -> None:
        self._exec("INSERT INTO siwe_nonces (nonce, expires_at) VALUES (?, ?)", (nonce, expires_at))

    def consume_nonce(self, nonce: str, now: int) -> bool:
        """True once for an issued, unexpired nonce; False ever after (one statement)."""
        cur = self._exec("DELETE FROM siwe_nonces WHERE nonce = ? AND expires_at > ?", (nonce, now))
        return bool(cur.rowcount == 1)

    def purge_nonces(self, now: int) -> None:
        self._exec("DELETE FROM siwe_nonces WHERE expires_at <= ?", (now,))

    # --- intents of prepared transactions
    def use_intent(self, mac: str, expires_at: int, now: int) -> bool:
        """True once for an intent (one INSERT whose row count says whether it was new:
        two submissions racing with one intent cannot both win); expired rows purged."""
        self._exec("DELETE FROM used_intents WHERE expires_at < ?", (now,))
        cur = self._exec(
            "INSERT INTO used_intents (mac, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (mac, expires_at),
        )
        return bool(cur.rowcount == 1)

    def release_intent(self, mac: str) -> None:
        """Give an intent back: nothing was broadcast with it (the node refused)."""
        self._exec("DELETE FROM used_intents WHERE mac = ?", (mac,))

    # --- relayed bids
    def refused_nonces(self) -> list[tuple[str, int]]:
        """(seller, nonce) of every relayed commit that failed: never handed back, so
        the same signed message cannot be sent again after a restart either."""
        cur = self._exec(
            "SELECT seller, nonce FROM relayed_bids WHERE status = 'failed' UNION ALL "
            "SELECT seller, nonce FROM relayed_batches WHERE status = 'failed'"
        )
        return [(str(seller), int(nonce)) for seller, nonce in cur.fetchall()]

    def add_bids(self, rows: list[tuple[str, int, str, str, str, str, float]]) -> None:
        sql = (
            "INSERT INTO relayed_bids (bid_id, session_id, seller, commitment, nonce, status, "
            "accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        self._exec_many(sql, rows)

    def set_bid_status(self, updates: list[tuple[str, str | None, str | None, str]]) -> None:
        """(status, tx_hash, error, bid_id) rows."""
        sql = "UPDATE relayed_bids SET status = ?, tx_hash = ?, error = ? WHERE bid_id = ?"
        self._exec_many(sql, updates)

    def forget_bid(self, bid_id: str) -> None:
        self._exec("DELETE FROM relayed_bids WHERE bid_id = ?", (bid_id,))

    def bid(self, bid_id: str) -> dict[str, Any] | None:
        cur = self._exec(
            "SELECT bid_id, session_id, seller, commitment, nonce, status, tx_hash, error "
            "FROM relayed_bids WHERE bid_id = ?",
            (bid_id,),
        )
        row = cur.fetchone()
        return None if row is None else _bid_row(row)

    def bids_of(self, seller: str, session_id: int) -> list[dict[str, Any]]:
        cur = self._exec(
            "SELECT bid_id, session_id, seller, commitment, nonce, status, tx_hash, error "
            "FROM relayed_bids WHERE seller = ? AND session_id = ? ORDER BY accepted_at, bid_id",
            (seller, session_id),
        )
        return [_bid_row(r) for r in cur.fetchall()]

    # --- relayed batches
    def add_batch(self, row: tuple[str, int, str, str, int, str, str, str, float]) -> None:
        """(batch_id, session_id, seller, root, bid_count, commitments, nonce, status,
        accepted_at): one statement, whatever the batch's size."""
        self._exec(
            "INSERT INTO relayed_batches (batch_id, session_id, seller, root, bid_count, "
            "commitments, nonce, status, accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )

    def set_batch_status(self, updates: list[tuple[str, str | None, str | None, str]]) -> None:
        """(status, tx_hash, error, batch_id) rows."""
        sql = "UPDATE relayed_batches SET status = ?, tx_hash = ?, error = ? WHERE batch_id = ?"
        self._exec_many(sql, updates)

    def forget_batch(self, batch_id: str) -> None:
        self._exec("DELETE FROM relayed_batches WHERE batch_id = ?", (batch_id,))

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        cur = self._exec(f"SELECT {_BATCH_COLUMNS} FROM relayed_batches WHERE batch_id = ?",
                         (batch_id,))  # fmt: skip
        row = cur.fetchone()
        return None if row is None else dict(zip(_BATCH_KEYS, row, strict=True))

    def batches_of(self, seller: str, session_id: int) -> list[dict[str, Any]]:
        cur = self._exec(
            f"SELECT {_BATCH_COLUMNS} FROM relayed_batches WHERE seller = ? AND session_id = ? "
            "ORDER BY accepted_at, batch_id",
            (seller, session_id),
        )
        return [dict(zip(_BATCH_KEYS, r, strict=True)) for r in cur.fetchall()]


_BATCH_KEYS = ("batch_id", "session_id", "seller", "root", "bid_count", "commitments", "nonce",
               "status", "tx_hash", "error")  # fmt: skip
_BATCH_COLUMNS = ", ".join(_BATCH_KEYS)


def _bid_row(row: Any) -> dict[str, Any]:
    keys = ("bid_id", "session_id", "seller", "commitment", "nonce", "status", "tx_hash", "error")
    return dict(zip(keys, row, strict=True))
