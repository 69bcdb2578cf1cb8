"""The indexer's database: SQLite (default) or PostgreSQL behind one small interface.

SQL is written once with `?` placeholders and portable types; the few differences are
substituted per dialect:

- ``{U256}``: integers that may exceed 63 bits (uint64 prices, uint256 amounts, signed
  movements of them). PostgreSQL: ``NUMERIC(78,0)``, exact. SQLite: a column without
  declared type (no affinity), so a value that fits 64 bits is stored as an INTEGER and a
  larger one as its exact decimal text (SQLite has no wider integer; its NUMERIC affinity
  would round such text to a REAL).
- booleans are ``SMALLINT`` 0/1 in both.

Canonical JSON is kept as TEXT in both (PostgreSQL's ``jsonb`` would reorder keys and
change the bytes; cast with ``args::jsonb`` to query it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from verifier.errors import InputError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def parse_db_url(url: str) -> tuple[str, str]:
    """(dialect, target): ("sqlite", path) or ("postgresql", url); InputError(--db)."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        if not url.startswith("sqlite:///"):
            raise InputError("--db", f"{url!r}: a SQLite URL is sqlite:///PATH (relative) "
                             "or sqlite:////ABSOLUTE/PATH")  # fmt: skip
        path = url[len("sqlite:///") :]
        if not path:
            raise InputError("--db", f"{url!r} names no file")
        return "sqlite", path
    if scheme in ("postgresql", "postgres"):
        return "postgresql", url
    raise InputError(
        "--db", f"{url!r}: unknown scheme {scheme or '(none)'!r}; use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DBNAME"
    )  # fmt: skip


class Database:
    """One connection; statements with `?` placeholders; explicit transactions."""

    dialect: str

    def __init__(self, url: str) -> None:
        self.dialect, target = parse_db_url(url)
        self.url = url
        self._conn: Any
        if self.dialect == "sqlite":
            path = Path(target)
            if path.parent and not path.parent.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
            except sqlite3.Error as exc:
                raise InputError("--db", f"cannot open {path}: {exc}") from exc
            # WAL: readers (the API) never block the indexer. synchronous=NORMAL keeps
            # every committed transaction through a killed process (not a power cut).
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
        else:
            import psycopg

            try:
                self._conn = psycopg.connect(target, autocommit=True)
            except psycopg.Error as exc:
                raise InputError("--db", f"cannot connect to {_redact(target)}: {exc}") from exc
        self._in_tx = False

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- SQL
    def ddl(self, sql: str) -> str:
        u256 = "" if self.dialect == "sqlite" else "NUMERIC(78,0)"
        return sql.replace("{U256}", u256)

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    def _value(self, value: Any) -> Any:
        if self.dialect == "sqlite" and type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            return str(value)
        if type(value) is bool:
            return int(value)
        return value

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(self._value(v) for v in row)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        cur = self._conn.execute(self._sql(sql), self._row(params))
        count = int(cur.rowcount)
        cur.close()
        return count

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        prepared = [self._row(r) for r in rows]
        if not prepared:
            return
        if self.dialect == "sqlite":
            self._conn.executemany(sql, prepared)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), prepared)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows with PostgreSQL's Decimals as ints (every NUMERIC here is an integer)."""
        cur = self._conn.execute(self._sql(sql), self._row(params))
        rows = cur.fetchall()
        cur.close()
        if self.dialect == "sqlite":
            return [tuple(r) for r in rows]
        return [tuple(int(v) if isinstance(v, Decimal) else v for v in r) for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT, ROLLBACK on any exception (a killed process: the database
        discards the open transaction)."""
        if self._in_tx:
            raise RuntimeError("nested transaction")
        self._in_tx = True
        try:
            if self.dialect == "sqlite":
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            else:
                with self._conn.transaction():
                    yield
        finally:
            self._in_tx = False

    def tables(self) -> list[str]:
        if self.dialect == "sqlite":
            rows = self.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        else:
            rows = self.query(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        return sorted(str(r[0]) for r in rows)


def _redact(url: str) -> str:
    """The URL without its password."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url
