"""The indexer: an indexed copy of the chain's events in SQLite or PostgreSQL.

    run_indexer("http://127.0.0.1:8545", "sqlite:///build/index/31337.sqlite",
                Path("deployments/31337.json"), follow=True)
    flexmarket index --rpc URL [--db URL] [--deployment FILE] [--follow] [--json]

Each step reads one block range with `eth_getLogs` (all three contracts at once, the range
sized so that one answer holds a few thousand logs), checks the logs against the block
headers fetched right after, decodes them (verifier.events) and writes, in ONE database
transaction, the raw events, the projection rows (verifier.projections), the hashes of
recent blocks and the checkpoint (last block number and hash). A process killed at any
point leaves either the whole range or none of it; the next run starts after the
checkpoint. Before each step the checkpoint's hash is compared with the chain's: when it
differs, the newest stored block still on the chain is the fork point, and every row above
it is deleted (in one transaction) before indexing goes on. Only standard `eth_*` methods
are used. See docs/indexer.md.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from oracle.display import progress
from python_client.paths import ARTIFACTS_DIR
from python_client.retry import REREAD
from verifier.errors import DatabaseError, IndexerError, InputError, RpcError
from verifier.events import CONTRACTS, DecodedLog, EventDecoder, args_json
from verifier.projections import (
    BOOKKEEPING_DDL,
    PROJECTIONS,
    SCHEMA_VERSION,
    Batch,
    insert_sql,
    project,
    projection_ddl,
)
from verifier.rpc import JsonRpc, check_rpc_url
from verifier.store import Database, parse_db_url

DEPLOYMENTS_DIR = Path("deployments")
log = logging.getLogger(__name__)  # a line per block range, a bar on a terminal

REORG_WINDOW = 128  # blocks below the head whose headers are all fetched and kept
INITIAL_SPAN = 2_000  # blocks per eth_getLogs at first
MAX_SPAN = 100_000
TARGET_LOGS = 5_000  # logs per eth_getLogs the span adapts to

EVENT_COLUMNS = (
    "chain_id, block_hash, log_index, block_number, block_timestamp, tx_hash, tx_index, "
    "address, contract, event, args"
)
# Tables rolled back on a reorg: every row at or above the fork block goes.
ROLLBACK_TABLES = ("events", *PROJECTIONS)


@dataclass(frozen=True)
class DeploymentInfo:
    """What the indexer needs of a deployment: chain, addresses, first block."""

    chain_id: int
    addresses: dict[str, str]  # contract name -> address (lowercase)
    start_block: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploymentInfo:
        contracts = data["contracts"]
        return cls(
            chain_id=int(data["chain_id"]),
            addresses={name: str(contracts[name]).lower() for name in CONTRACTS},
            start_block=int(data.get("block", 0)),
        )

    @classmethod
    def load(cls, path: Path) -> DeploymentInfo:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise InputError("--deployment", f"cannot read {path}: {exc}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError("--deployment", f"{path} is not a deployment file: {exc!r}") from exc

    @classmethod
    def of(cls, deployment: Any) -> DeploymentInfo:
        """From a DeploymentInfo, python_client's Deployment, a mapping or a file path."""
        if isinstance(deployment, DeploymentInfo):
            return deployment
        if isinstance(deployment, (str, Path)):
            return cls.load(Path(deployment))
        if isinstance(deployment, Mapping):
            return cls.from_json(deployment)
        to_json = getattr(deployment, "to_json", None)
        if callable(to_json):  # python_client.chain.Deployment (no first block: 0)
            return cls.from_json(to_json())
        raise InputError("--deployment", f"not a deployment: {deployment!r}")


@dataclass
class IndexerStats:
    """What one run did."""

    batches: int = 0
    events: int = 0
    blocks: int = 0
    reorgs: int = 0
    rolled_back_events: int = 0
    checkpoint: tuple[int, str] = (-1, "")
    seconds: float = 0.0
    spans: list[int] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class _Retry(Exception):  # noqa: N818 - control flow, never leaves this module
    """The chain changed under a step (a reorg in progress): read again."""


class Indexer:
    """Indexes one deployment of one chain into one database."""

    def __init__(
        self,
        rpc: JsonRpc,
        db: Database,
        deployment: DeploymentInfo,
        *,
        artifacts_dir: Path = ARTIFACTS_DIR,
        reorg_window: int = REORG_WINDOW,
        initial_span: int = INITIAL_SPAN,
        max_span: int = MAX_SPAN,
        target_logs: int = TARGET_LOGS,
    ) -> None:
        self.rpc = rpc
        self.db = db
        self.deployment = deployment
        self.chain_id = deployment.chain_id
        self.decoder = EventDecoder.from_artifacts(deployment.addresses, artifacts_dir)
        self.addresses = self.decoder.addresses
        self.window = max(1, reorg_window)
        self.max_span = max(1, max_span)
        self.span = max(1, min(initial_span, self.max_span))
        self.target_logs = target_logs
        self.stats = IndexerStats()
        self._insert_event = (
            f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 11)}) "
            "ON CONFLICT DO NOTHING"
        )

    # ------------------------------------------------------------------ schema
    def open(self) -> None:
        """Create the schema on first use; refuse a database of another chain or
        deployment."""
        answered = self.rpc.chain_id()
        if answered != self.chain_id:
            raise InputError(
                "--deployment",
                f"the deployment is for chain {self.chain_id}, the node at {self.rpc.url} "
                f"is chain {answered}",
            )
        addresses = json.dumps(self.deployment.addresses, sort_keys=True)
        wanted = {
            "schema_version": SCHEMA_VERSION,
            "chain_id": str(self.chain_id),
            "addresses": addresses,
            "start_block": str(self.deployment.start_block),
        }
        with self.db.transaction():
            if "indexer_meta" not in self.db.tables():
                for statement in [*BOOKKEEPING_DDL, *projection_ddl()]:
                    self.db.execute(self.db.ddl(statement))
                self.db.executemany(
                    "INSERT INTO indexer_meta (key, value) VALUES (?, ?)", sorted(wanted.items())
                )
                self.db.execute(
                    "INSERT INTO indexer_checkpoint (chain_id, block_number, block_hash) "
                    "VALUES (?, ?, '')",
                    (self.chain_id, self.deployment.start_block - 1),
                )
                return
            meta = dict(self.db.query("SELECT key, value FROM indexer_meta"))
        for key, value in wanted.items():
            if meta.get(key) != value:
                raise InputError(
                    "--db",
                    f"{self.db.url} holds an index with {key} = {meta.get(key)!r}, not "
                    f"{value!r}: use another database (or drop this one to rebuild it)",
                )

    def checkpoint(self) -> tuple[int, str]:
        rows = self.db.query(
            "SELECT block_number, block_hash FROM indexer_checkpoint WHERE chain_id = ?",
            (self.chain_id,),
        )
        if not rows:
            raise IndexerError(f"{self.db.url} has no checkpoint for chain {self.chain_id}")
        return int(rows[0][0]), str(rows[0][1])

    def _move_checkpoint(self, old: tuple[int, str], new: tuple[int, str]) -> None:
        """Inside the step's transaction: fails (and so rolls it back) when another
        process moved the checkpoint since this one read it."""
        changed = self.db.execute(
            "UPDATE indexer_checkpoint SET block_number = ?, block_hash = ? "
            "WHERE chain_id = ? AND block_number = ? AND block_hash = ?",
            (new[0], new[1], self.chain_id, old[0], old[1]),
        )
        if changed != 1:
            raise IndexerError("the checkpoint moved under this indexer: is another one running?")

    # ------------------------------------------------------------------ reorgs
    def _stored_blocks(self, below: int, limit: int = 256) -> list[tuple[int, str]]:
        """Known (number, hash) pairs below `below`, newest first."""
        rows = self.db.query(
            "SELECT number, hash FROM ("
            " SELECT number, hash FROM indexer_blocks WHERE number < ?"
            " UNION SELECT block_number AS number, block_hash AS hash FROM events"
            " WHERE block_number < ? AND chain_id = ?"
            ") known ORDER BY number DESC LIMIT ?",
            (below, below, self.chain_id, limit),
        )
        return [(int(n), str(h)) for n, h in rows]

    def _fork_base(self, checkpoint: tuple[int, str]) -> tuple[int, str]:
        """The newest stored block the chain still has (the fork is just above it), or
        (start - 1, "") when none is."""
        below = checkpoint[0] + 1
        while True:
            stored = self._stored_blocks(below)
            if not stored:
                return (self.deployment.start_block - 1, "")
            headers = self.rpc.headers([n for n, _ in stored])
            for (number, stored_hash), header in zip(stored, headers, strict=True):
                if header is not None and str(header["hash"]).lower() == stored_hash:
                    return (number, stored_hash)
            below = stored[-1][0]

    def check_reorg(self) -> bool:
        """Roll back to the fork point if the checkpoint's block left the chain."""
        checkpoint = self.checkpoint()
        if not checkpoint[1]:
            return False
        header = self.rpc.headers([checkpoint[0]])[0]
        if header is not None and str(header["hash"]).lower() == checkpoint[1]:
            return False
        base = self._fork_base(checkpoint)
        fork = base[0] + 1
        with self.db.transaction():
            gone = self.db.query(
                "SELECT COUNT(*) FROM events WHERE chain_id = ? AND block_number >= ?",
                (self.chain_id, fork),
            )[0][0]
            for table in ROLLBACK_TABLES:
                self.db.execute(f"DELETE FROM {table} WHERE block_number >= ?", (fork,))
            self.db.execute("DELETE FROM indexer_blocks WHERE number >= ?", (fork,))
            self._move_checkpoint(checkpoint, base)
        self.stats.reorgs += 1
        self.stats.rolled_back_events += int(gone)
        log.warning("reorg: block %d %s left the chain; rolled back %d events from block %d",
                    checkpoint[0], checkpoint[1][:10], gone, fork)  # fmt: skip
        return True

    # ------------------------------------------------------------------ one step
    def _fetch_logs(self, start: int, head: int) -> tuple[int, list[Any]]:
        """Logs of [start, end] for an end the node accepts; shrinks the span on errors."""
        while True:
            end = min(head, start + self.span - 1)
            try:
                logs = self.rpc.logs(self.addresses, start, end)
            except RpcError as exc:
                if self.span == 1:
                    raise
                self.span = max(1, self.span // 2)
                log.info("eth_getLogs %d..%d failed (%s); span now %d", start, end, exc, self.span)
                continue
            if len(logs) > self.target_logs and self.span > 1:
                self.span = max(1, self.span // 2)
            elif len(logs) < self.target_logs // 4 and end - start + 1 == self.span:
                self.span = min(self.max_span, self.span * 2)
            return end, logs

    def _headers(
        self, checkpoint: tuple[int, str], start: int, end: int, head: int, logs: list[Any]
    ) -> dict[int, dict[str, Any]]:
        """Headers of the range, checked against the logs and linked to the checkpoint.
        Near the head (within the reorg window) every header is fetched and the parent
        links are checked; deeper, only blocks with logs and the range ends."""
        dense = end > head - self.window
        numbers = set(range(start, end + 1)) if dense else {start, end}
        numbers.update(int(log["blockNumber"], 16) for log in logs)
        ordered = sorted(numbers)
        fetched = self.rpc.headers(ordered)
        headers: dict[int, dict[str, Any]] = {}
        for number, header in zip(ordered, fetched, strict=True):
            if header is None:
                raise _Retry(f"block {number} is gone")
            headers[number] = header
        previous_number, previous_hash = checkpoint
        for number in ordered:
            header = headers[number]
            linked = number == previous_number + 1 and previous_hash
            if linked and str(header["parentHash"]).lower() != previous_hash:
                raise _Retry(f"block {number} does not follow {previous_hash[:10]}")
            previous_number, previous_hash = number, str(header["hash"]).lower()
        for log in logs:
            if log.get("removed"):
                raise _Retry("a removed log")
            number = int(log["blockNumber"], 16)
            if str(log["blockHash"]).lower() != str(headers[number]["hash"]).lower():
                raise _Retry(f"the logs of block {number} are of another fork")
        return headers

    def step(self) -> bool:
        """Index the next block range; False when the checkpoint is at the head."""
        self.check_reorg()
        checkpoint = self.checkpoint()
        head = self.rpc.block_number()
        start = checkpoint[0] + 1
        if start > head:
            return False
        end, logs = self._fetch_logs(start, head)
        headers = self._headers(checkpoint, start, end, head, logs)
        decoded = self.decoder.decode_all(logs)
        decoded.sort(key=lambda e: (e.block_number, e.log_index))
        end_hash = str(headers[end]["hash"]).lower()
        with self.db.transaction():
            fresh = self._new_only(decoded, start, end)
            batch = Batch(lookup_buyer=self._lookup_buyer,
                          lookup_grid_parts=self._lookup_grid_parts)  # fmt: skip
            event_rows = []
            for ev in fresh:
                timestamp = int(headers[ev.block_number]["timestamp"], 16)
                event_rows.append(
                    (self.chain_id, ev.block_hash, ev.log_index, ev.block_number, timestamp,
                     ev.tx_hash, ev.tx_index, ev.address, ev.contract, ev.event,
                     args_json(ev.args))
                )  # fmt: skip
                try:
                    project(batch, ev, timestamp)
                except (KeyError, TypeError) as exc:
                    raise IndexerError(
                        f"{ev.contract}.{ev.event} at block {ev.block_number} log "
                        f"{ev.log_index}: arguments do not fit its projection ({exc!r})"
                    ) from exc
            self.db.executemany(self._insert_event, event_rows)
            for table, rows in batch.rows.items():
                self.db.executemany(insert_sql(table), rows)
            kept = [
                (n, str(h["hash"]).lower(), str(h["parentHash"]).lower())
                for n, h in sorted(headers.items())
                if n > head - self.window or n == end
            ]
            self.db.executemany(
                "INSERT INTO indexer_blocks (number, hash, parent_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (number) DO UPDATE SET hash = excluded.hash, "
                "parent_hash = excluded.parent_hash",
                kept,
            )
            self.db.execute(
                "DELETE FROM indexer_blocks WHERE number <= ? AND number <> ?",
                (end - self.window, end),
            )
            self._move_checkpoint(checkpoint, (end, end_hash))
        self.stats.batches += 1
        self.stats.events += len(fresh)
        self.stats.blocks += end - start + 1
        self.stats.checkpoint = (end, end_hash)
        self.stats.spans.append(end - start + 1)
        log.info("blocks %d..%d: %d events", start, end, len(fresh))
        first = self.deployment.start_block
        progress(log, "blocks indexed", end - first + 1, head - first + 1)
        return True

    def _new_only(self, decoded: list[DecodedLog], start: int, end: int) -> list[DecodedLog]:
        """Events not stored yet (idempotency on chain id, block hash and log index)."""
        if not decoded:
            return decoded
        rows = self.db.query(
            "SELECT block_hash, log_index FROM events "
            "WHERE chain_id = ? AND block_number BETWEEN ? AND ?",
            (self.chain_id, start, end),
        )
        if not rows:
            return decoded
        seen = {(str(h), int(i)) for h, i in rows}
        return [e for e in decoded if (e.block_hash, e.log_index) not in seen]

    def _lookup_buyer(self, session_id: int, award_index: int) -> str | None:
        rows = self.db.query(
            "SELECT buyer FROM awards WHERE session_id = ? AND award_index = ?",
            (session_id, award_index),
        )
        return str(rows[0][0]) if rows else None

    def _lookup_grid_parts(self, session_id: int) -> list[str]:
        rows = self.db.query(
            "SELECT part FROM grid_parts WHERE session_id = ? ORDER BY block_number, log_index",
            (session_id,),
        )
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------ loop
    def run(
        self,
        *,
        follow: bool = False,
        poll_interval_s: float = 1.0,
        stop: threading.Event | None = None,
        until_block: int | None = None,
    ) -> IndexerStats:
        """Index up to the head (and on, with `follow`, until `stop` is set)."""
        started = time.perf_counter()
        stop = stop or threading.Event()
        pause_s = min(poll_interval_s, REREAD.first_pause_s)
        reread = replace(REREAD, first_pause_s=pause_s, max_pause_s=pause_s)

        def stop_wait(seconds: float) -> None:
            stop.wait(seconds)  # a stop ends the pause at once

        def step() -> bool | None:
            return None if stop.is_set() else self.step()  # None: stopped while re-reading

        try:
            while not stop.is_set():
                try:
                    progressed = reread.call(
                        step, lambda exc: isinstance(exc, _Retry),
                        what="the chain changed while reading", sleep=stop_wait,
                    )  # fmt: skip
                except _Retry as exc:
                    message = f"the chain keeps changing under the indexer: {exc}"
                    raise IndexerError(message) from exc
                if progressed is None:
                    break
                if until_block is not None and self.checkpoint()[0] >= until_block:
                    break
                if not progressed:
                    if not follow:
                        break
                    stop.wait(poll_interval_s)
        finally:
            self.stats.seconds = time.perf_counter() - started
        self.stats.checkpoint = self.checkpoint()
        return self.stats


def default_db_url(chain_id: int) -> str:
    return f"sqlite:///build/index/{chain_id}.sqlite"


def run_indexer(
    rpc_url: str,
    db_url: str | None,
    deployment: Any,
    *,
    follow: bool = False,
    poll_interval_s: float = 1.0,
    stop: threading.Event | None = None,
    until_block: int | None = None,
    artifacts_dir: Path = ARTIFACTS_DIR,
    reorg_window: int = REORG_WINDOW,
    initial_span: int = INITIAL_SPAN,
    max_span: int = MAX_SPAN,
    target_logs: int = TARGET_LOGS,
) -> IndexerStats:
    """Index every event of `deployment` (a deployment file, a python_client Deployment,
    or a DeploymentInfo) from the node at `rpc_url` into `db_url` (sqlite:///PATH or
    postgresql://...; None: sqlite:///build/index/<chain id>.sqlite). Returns at the head,
    or with `follow` keeps polling every `poll_interval_s` until `stop` is set. A failure
    of the database is a DatabaseError naming `--db`."""
    check_rpc_url(rpc_url)
    if db_url is not None:
        parse_db_url(db_url)
    info = DeploymentInfo.of(deployment)
    try:
        with JsonRpc(rpc_url) as rpc, Database(db_url or default_db_url(info.chain_id)) as db:
            indexer = Indexer(
                rpc, db, info, artifacts_dir=artifacts_dir, reorg_window=reorg_window,
                initial_span=initial_span, max_span=max_span, target_logs=target_logs,
            )  # fmt: skip
            indexer.open()
            return indexer.run(
                follow=follow, poll_interval_s=poll_interval_s, stop=stop,
                until_block=until_block,
            )  # fmt: skip
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        raise DatabaseError(f"argument --db: {exc}") from exc


# ---------------------------------------------------------------------- the command's part


def resolve_deployment(rpc_url: str, deployment: Path | None) -> Path:
    """The deployment file `flexmarket index` reads: `deployment` when given (InputError if
    it is not a file), else deployments/<chain id>.json of the chain at `rpc_url`."""
    check_rpc_url(rpc_url)
    if deployment is not None:
        if not deployment.is_file():
            raise InputError("--deployment", f"{deployment} is not a file")
        return deployment
    with JsonRpc(rpc_url) as rpc:
        chain_id = rpc.chain_id()
    path = DEPLOYMENTS_DIR / f"{chain_id}.json"
    if not path.is_file():
        raise InputError("--deployment", f"no {path} for chain {chain_id}")
    return path


def _is_database_error(exc: Exception) -> bool:
    import sqlite3

    import psycopg

    return isinstance(exc, (sqlite3.Error, psycopg.Error))
