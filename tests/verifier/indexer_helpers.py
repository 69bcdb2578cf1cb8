"""Shared set-up of the indexer tests: a local anvil with the contracts, a short market
session driven through the SDK (every kind of event), a throw-away PostgreSQL server, and
table dumps to compare two indexes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodes.session import SessionRun
from python_client.artifacts import ensure_artifacts
from python_client.chain import Contracts, Deployment, connect
from python_client.clients import (
    AdminClient,
    AggregatorClient,
    DsoClient,
    MeteringClient,
    OracleClient,
    ValidatorClient,
)
from python_client.hashing import label, new_salt
from python_client.localchain import LocalChain, free_port, start_chain
from python_client.records import (
    AwardRow,
    BidFields,
    BuyerRole,
    Direction,
    NeedParams,
    Pricing,
    SessionParams,
)
from verifier.store import Database

ROOT = Path(__file__).resolve().parents[2]
KEY = b"flexmarket-indexer-test-key"
DEPOSIT = 10**12
ZONE = label("T1")
SLOTS = 8
ALL_SLOTS = (1 << SLOTS) - 1
# the market's participants, zone and assets, registered by nodes.session.SessionRun
REGISTRATION: dict[str, Any] = {
    "market": {"id": "T1", "slots": SLOTS},
    "participants": [{"id": "DSO", "role": "DSO"}, {"id": "FO1", "role": "aggregator"},
                     {"id": "FO2", "role": "aggregator"}],
    "zones": [{"id": "T1", "limit_w": 175_000}],
    "assets": [{"id": f"{name}-EV{i}-meter", "type": "load", "p_max_w": 3700, "zone": "T1",
                "manager": name} for name, count in (("FO1", 3), ("FO2", 5))
               for i in range(count)],
}  # fmt: skip


@dataclass
class Market:
    chain: LocalChain
    contracts: Contracts
    deployment: Deployment
    deployment_file: Path
    admin: AdminClient
    dso: DsoClient
    fo1: AggregatorClient
    fo2: AggregatorClient
    oracle: OracleClient
    metering: MeteringClient
    validator: ValidatorClient
    assets: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def clients(self) -> list[Any]:
        return [self.admin, self.dso, self.fo1, self.fo2, self.oracle, self.metering,
                self.validator]  # fmt: skip

    def reset_nonces(self) -> None:
        for client in self.clients:
            client.wallet.reset_nonce()

    def head(self) -> int:
        return int(self.contracts.w3.eth.block_number)

    def now(self) -> int:
        return int(self.contracts.w3.eth.get_block("latest")["timestamp"])

    def warp(self, timestamp: int) -> None:
        self.chain.warp_to(timestamp)

    def mine(self, blocks: int) -> None:
        self.chain.rpc("anvil_mine", [hex(blocks)])


@contextmanager
def market_chain(tmp: Path) -> Iterator[Market]:
    """anvil with the contracts deployed, roles granted, money deposited, a zone and
    assets registered (one asset's management handed over)."""
    ensure_artifacts()
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        # registration by the session runner: admin 0, oracle 4, metering 5, the DSO 1,
        # FO1 2, FO2 3, the validator 6
        run = SessionRun(REGISTRATION, lambda _: {}, w3, chain,
                         [keys[i] for i in (0, 4, 5, 1, 2, 3, 6)], deposit_ueur=DEPOSIT,
                         asset_key=KEY).run("assets")  # fmt: skip
        deployment, contracts = run.deployment, run.contracts
        assert deployment is not None
        data = deployment.to_json()
        data["block"] = 1
        deployment_file = tmp / f"deployment-{chain.port}.json"
        deployment_file.write_text(json.dumps(data), encoding="utf-8")
        m = Market(
            chain, contracts, deployment, deployment_file, run.admin, run.dso("DSO"),
            run.seller("FO1"), run.seller("FO2"), run.oracle, run.metering,
            ValidatorClient(contracts, keys[6], run.gas),
        )  # fmt: skip
        for name in ("FO1", "FO2"):
            m.assets[name] = [run.asset_ids[a["id"]] for a in REGISTRATION["assets"]
                              if a["manager"] == name]  # fmt: skip
        # FO2 hands its last asset to FO1
        moved = m.assets["FO2"].pop()
        m.fo2.transfer_management(moved, m.fo1.address)
        m.assets["FO1"].append(moved)
        yield m


def _bid(quantity: int, price: int, ids: list[bytes], divisible: bool = False) -> BidFields:
    return BidFields(ZONE, Direction.UP, divisible, quantity, price, ALL_SLOTS,
                     BidFields.sorted_assets(ids), new_salt())  # fmt: skip


def run_session(m: Market, extra_commits: int = 0, tag: str = "S", dispute: bool = False) -> int:
    """One short session through every step: need, joins, sealed bids (one never revealed,
    its bond forfeited), reveals, a result with a validator's attestation, deliveries (one
    short beyond tolerance: a penalty), settlement, releases, a withdrawal. `extra_commits`
    sealed bids are committed and never revealed (volume for the indexer). With `dispute`
    the validator disputes the result instead and the admin lets it stand."""
    now = m.now()
    params = SessionParams(
        market_id=label(f"T1-{tag}"), product=label("PowerMax"), pricing=Pricing.PAY_AS_BID,
        slot_count=SLOTS, slot_minutes=15, delivery_start=now + 4000, bidding_end=now + 1000,
        reveal_deadline=now + 2000, clearing_deadline=now + 3000, min_bid_w=1000,
        granularity_w=100, bid_bond_ueur=1_000_000, collateral_ueur_per_w=10_000,
        shortfall_penalty_eur_per_mw=100_000, tolerance_bps=1000, attestation_quorum=1,
    )  # fmt: skip
    sid = m.dso.open_session(params)
    m.dso.post_need(NeedParams(sid, ZONE, Direction.UP, BuyerRole.DSO, 40_000_000_000, (30_000,)))
    m.fo1.join_session(sid, 2)
    m.fo2.join_session(sid, 2 + extra_commits)  # a commit needs a joined bid (its bond)
    fo1b1 = _bid(7_400, 500_000, m.assets["FO1"][:2])
    fo1b2 = _bid(3_700, 900_000, m.assets["FO1"][2:3])  # never revealed: forfeited
    fo2b1 = _bid(7_400, 700_000, m.assets["FO2"][:2])
    fo2b2 = _bid(7_400, 1_000_000, m.assets["FO2"][2:4], divisible=True)
    id1 = m.fo1.commit_bid(sid, fo1b1)
    id_unrevealed = m.fo1.commit_bid(sid, fo1b2)
    id2, id3 = m.fo2.commit_bids(sid, [fo2b1, fo2b2])
    if extra_commits:
        extra = [_bid(1_000 + 100 * (i % 50), 800_000, m.assets["FO2"][:1])
                 for i in range(extra_commits)]  # fmt: skip
        m.fo2.commit_bids(sid, extra, per_tx=100)
    m.warp(params.bidding_end)
    m.fo1.reveal_bid(sid, fo1b1)
    m.fo2.reveal_bids(sid, [fo2b1, fo2b2])
    m.warp(params.reveal_deadline)
    m.oracle.forfeit_bond(id_unrevealed)
    awards = [AwardRow(id1, 0, 7_400, 500_000), AwardRow(id2, 0, 7_400, 700_000),
              AwardRow(id3, 0, 5_000, 1_000_000)]  # fmt: skip
    events = m.oracle.commit_result(sid, label(f"in-{tag}"), label(f"out-{tag}"), awards)
    result_hash = next(e for e in events if e.name == "ResultCommitted").args["resultHash"]
    if dispute:
        m.validator.dispute(sid, label(f"report-{tag}"))
        m.admin.resolve_dispute(sid, True)
    else:
        m.validator.attest(sid, result_hash)
    count = len(awards)
    delivered = {i: m.dso.award(sid, i).core.quantity_w for i in range(count)}
    delivered[0] = delivered[0] // 2  # far short: paid for half, penalised
    m.metering.record_deliveries(sid, delivered, label(f"metering-{tag}"))
    m.dso.settle_awards(sid, 0, count)
    m.dso.release_budget(sid, 0)
    for seller in (m.fo1, m.fo2):
        seller.release_seller_funds(sid, seller.address)
    m.fo2.withdraw(1_000_000)
    return sid


# ---------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The folder holding initdb/pg_ctl/postgres, or None."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@dataclass
class Postgres:
    bin: Path
    data: Path
    port: int
    user: str

    def url(self, db: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        subprocess.run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U",
             self.user, name], check=True, capture_output=True,
        )  # fmt: skip
        return self.url(name)


def _as_postgres_user() -> tuple[list[str], str, Any]:
    """initdb and postgres refuse to run as root: run them as `nobody` then."""
    if os.geteuid() != 0:
        import getpass

        return [], getpass.getuser(), None
    return ["runuser", "-u", "nobody", "--"], "nobody", None


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster on a free loopback port, trust auth, stopped after."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL binaries are missing: run `make install-postgres`")
    prefix, user, _ = _as_postgres_user()
    tmp = Path(tempfile.mkdtemp(prefix="flexmarket-pg-"))
    data = tmp / "data"
    try:
        if prefix:
            shutil.chown(tmp, user="nobody")
        subprocess.run(
            [*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
             "--no-sync", "-E", "UTF8", "--locale=C"],
            check=True, capture_output=True,
        )  # fmt: skip
        port = free_port()
        options = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(tmp / "log"), "-w", "-t", "30", "start"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            yield Postgres(bin_dir, data, port, user)
        finally:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
            )  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------- comparisons

NOT_COMPARED = {"indexer_blocks"}  # recent block hashes: which ones depends on the head seen


def dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table but the reorg bookkeeping, rows sorted, values normalised (SQLite keeps
    big integers as text)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Database(db_url) as db:
        for table in db.tables():
            if table in NOT_COMPARED:
                continue
            rows = db.query(f"SELECT * FROM {table}")
            out[table] = sorted((tuple(_norm(v) for v in r) for r in rows), key=repr)
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) > 18:
        return int(value)
    return value


def index_cli(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flexmarket", "index", *args],
        capture_output=True, text=True, cwd=ROOT, **kwargs,
    )  # fmt: skip


def wait_for(predicate: Any, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)
