"""`flexmarket index`: killed with SIGKILL at random points and restarted, it ends with
what a clean run holds, and after every kill the database holds exactly the blocks up to
its checkpoint (SQLite and PostgreSQL). Bad arguments are named, exit code 2."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from indexer_helpers import (
    ROOT,
    Market,
    Postgres,
    dump,
    index_cli,
    market_chain,
    postgres_server,
    run_session,
)

from verifier.indexer import run_indexer
from verifier.store import Database


@dataclass
class Setup:
    market: Market
    pg: Postgres
    tmp: Path
    clean: dict[str, list[tuple[Any, ...]]]
    clean_url: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A session with 600 extra sealed bids, then 150 empty blocks: with one block per
    range, a run makes a few hundred transactions."""
    tmp = tmp_path_factory.mktemp("indexer-cli")
    with market_chain(tmp) as m, postgres_server() as pg:
        run_session(m, extra_commits=600, tag="K")
        m.mine(150)
        clean_url = f"sqlite:///{tmp}/clean.sqlite"
        run_indexer(m.chain.url, clean_url, m.deployment_file)
        yield Setup(m, pg, tmp, dump(clean_url), clean_url)


def _upto(url: str, block: int) -> dict[str, list[tuple[Any, ...]]]:
    """Tables of `url` restricted to rows of blocks <= `block` (bookkeeping left out)."""
    with Database(url) as db:
        tables = [t for t in db.tables() if not t.startswith("indexer_")]
        out = {}
        for table in tables:
            rows = db.query(f"SELECT * FROM {table} WHERE block_number <= ?", (block,))
            out[table] = sorted((tuple(rows_norm(v) for v in r) for r in rows), key=repr)
        return out


def rows_norm(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) > 18:
        return int(value)
    return value


def _checkpoint(url: str) -> int:
    try:
        with Database(url) as db:
            rows = db.query("SELECT block_number FROM indexer_checkpoint")
    except Exception:  # noqa: BLE001 - killed before the schema was committed
        return -1
    return int(rows[0][0]) if rows else -1


def _kill_mid_run(s: Setup, url: str, rng: random.Random) -> int:
    """Start the indexer, wait until it has committed a few ranges, SIGKILL it a few
    milliseconds later. Returns the number of progress lines seen (-v: shown off a terminal)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flexmarket", "-v", "index", "--rpc", s.market.chain.url,
         "--db", url,
         "--deployment", str(s.market.deployment_file), "--max-span", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    wanted = rng.randint(1, 25)
    seen = 0
    try:
        for line in process.stderr:
            if line.startswith("index: blocks ") and line.rstrip().endswith(" events"):
                seen += 1
                if seen >= wanted:
                    time.sleep(rng.uniform(0, 0.004))
                    break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return seen


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_at_random_points_it_resumes_to_the_clean_result(setup: Setup, backend: str) -> None:
    url = (
        f"sqlite:///{setup.tmp}/killed.sqlite" if backend == "sqlite"
        else setup.pg.create_db("killed")
    )  # fmt: skip
    rng = random.Random(4)
    checkpoints = []
    for _ in range(6):
        _kill_mid_run(setup, url, rng)
        checkpoint = _checkpoint(url)
        checkpoints.append(checkpoint)
        if checkpoint >= 0:  # whole ranges or nothing: exactly the clean rows up to it
            assert _upto(url, checkpoint) == _upto(setup.clean_url, checkpoint)
    assert checkpoints == sorted(checkpoints) and checkpoints[-1] > checkpoints[0]
    assert checkpoints[-1] < setup.market.head()  # it really was killed mid-run
    done = index_cli("--rpc", setup.market.chain.url, "--db", url, "--deployment",
                     str(setup.market.deployment_file), "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert dump(url) == setup.clean


def test_summary_and_a_second_run_with_nothing_new(setup: Setup) -> None:
    url = f"sqlite:///{setup.tmp}/cli.sqlite"
    args = ["--rpc", setup.market.chain.url, "--db", url,
            "--deployment", str(setup.market.deployment_file), "--quiet"]  # fmt: skip
    first = index_cli(*args)
    assert first.returncode == 0, first.stderr
    events = len(setup.clean["events"])
    assert f"indexed {events} events" in first.stdout
    assert f"checkpoint block {setup.market.head()} 0x" in first.stdout
    second = index_cli(*args)
    assert second.returncode == 0 and "indexed 0 events" in second.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--rpc", "localhost:8545"], "argument --rpc"),
        (["--rpc", "ftp://127.0.0.1:8545"], "argument --rpc"),
        (["--rpc", "RPC", "--db", "mysql://u@h/db"], "argument --db"),
        (["--rpc", "RPC", "--db", "sqlite://relative.db"], "argument --db"),
        (["--rpc", "RPC", "--deployment", "/nonexistent/deployment.json"],
         "argument --deployment"),
        (["--rpc", "RPC", "--deployment", "BADFILE"], "argument --deployment"),
        (["--rpc", "RPC", "--max-span", "0"], "argument --max-span"),
        (["--db", "sqlite:///x.sqlite"], "--rpc"),
    ],
)  # fmt: skip
def test_bad_input_names_the_argument_and_exits_2(
    setup: Setup, args: list[str], named: str
) -> None:
    bad = setup.tmp / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    args = [a.replace("RPC", setup.market.chain.url).replace("BADFILE", str(bad)) for a in args]
    result = index_cli(*args)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr


def test_a_database_of_another_deployment_is_refused(setup: Setup) -> None:
    other = setup.tmp / "other.json"
    text = setup.market.deployment_file.read_text(encoding="utf-8")
    market = setup.market.deployment.market
    other.write_text(text.replace(market, "0x" + "ab" * 20), encoding="utf-8")
    result = index_cli("--rpc", setup.market.chain.url, "--db", setup.clean_url,
                       "--deployment", str(other))  # fmt: skip
    assert result.returncode == 2
    assert "argument --db" in result.stderr and "addresses" in result.stderr
