"""Put a scenario's session on a local anvil, up to its committed result (bench_verify.py).

Every participant signs with its own development key through the SDK (python_client), all
transactions of a step signed here and sent in batched JSON-RPC (`Wallet.send_batch`,
fixed gas limits: no estimate per call). Steps: deploy, roles,
mint + deposit, zones, assets (each aggregator its own), pre-qualification (the DSO),
session, needs, joins, commits (`commitBids`, 100 per transaction), reveals (one
`revealBid` each), then the oracle service (nodes.service: rebuild from the chain, clear,
award rows, commit in pages). The session's parameters, needs (with their budgets) and
sealed bids are built by the session runner's building blocks (nodes.session), the same as
the demo's; only the sending is batched here. Chain time is moved past each deadline
(`evm_*`, local only).

Bulk steps (assets, pre-qualification, commits, reveals) run with a 500,000,000-gas
block limit and interval mining (one block a second) instead of automine: anvil's cost per
block grows with the state, and automine makes a block of every few transactions that
arrive, so 25,000 registrations slowed from ~700 to ~40 tx/s as the registry filled up
(measured: 615 s for the assets alone). With a block per second holding a whole batch, the
rate stays flat (~500 tx/s, Python's build + sign being most of it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nodes.session import asset_ids, bid_fields, need_budget_ueur, need_params, session_params
from python_client.chain import Contracts, Deployment, Wallet, connect, deploy
from python_client.clients import AdminClient, AggregatorClient, BuyerClient, DsoClient
from python_client.hashing import label
from python_client.localchain import LocalChain
from python_client.records import AssetType, BidFields

ASSET_KEY = b"flexmarket-bench-asset-key"
BULK_GAS_LIMIT = 500_000_000
WORKERS = 4  # sellers sending at once
MINT_UEUR = 10**21
DAY = 86_400
GAS = {  # fixed limits per call (measured use in brackets)
    "grantRole": 120_000,
    "mint": 100_000,
    "approve": 80_000,
    "deposit": 120_000,
    "registerZone": 150_000,
    "registerAsset": 150_000,  # (~76k)
    "setPrequalified": 80_000,
    "joinSession": 150_000,
}


@dataclass
class Step:
    name: str
    txs: int
    seconds: float


@dataclass
class Setup:
    deployment: Deployment
    session_id: int
    steps: list[Step] = field(default_factory=list)
    clear_s: float = 0.0  # the oracle service's clearing of the session
    result_hash: str = ""
    award_rows: int = 0

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def txs(self) -> int:
        return sum(s.txs for s in self.steps)


log = logging.getLogger(__name__)


class _Timer:
    def __init__(self, setup: Setup) -> None:
        self.setup = setup

    def run(self, name: str, work: Callable[[], int]) -> None:
        t = time.perf_counter()
        txs = work()
        dt = time.perf_counter() - t
        self.setup.steps.append(Step(name, txs, dt))
        rate = f"{txs / dt:7.0f} tx/s" if txs and dt > 0 else ""
        log.info("  %-28s %7s tx %8.1f s %s", name, f"{txs:,}", dt, rate)


@contextmanager
def bulk_mining(chain: LocalChain) -> Iterator[None]:
    """Interval mining (1 s) with a large block gas limit; automine again afterwards."""
    chain.rpc("evm_setBlockGasLimit", [hex(BULK_GAS_LIMIT)])
    chain.rpc("evm_mine", [])  # Wallet.send_batch sizes its groups by the latest block's limit
    chain.rpc("evm_setIntervalMining", [1])
    try:
        yield
    finally:
        chain.rpc("evm_setAutomine", [True])


def _each(work: Callable[[str], int], sellers: list[str]) -> list[int]:
    """`work` for every seller, a few sellers at a time: one signs (Python holds the GIL)
    while the others wait for their block."""
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(work, sellers))


def put_on_chain(data: Mapping[str, Any], chain: LocalChain) -> Setup:
    """Run `data` (a scenario dict) on `chain` up to the oracle's committed result; each
    step's figures logged (INFO, logger `verify_setup`)."""
    from nodes.service import OracleService
    from oracle import clear as engine_clear
    from oracle.coordination import clear_coordinated, needs_coordination

    w3 = connect(chain.url)
    keys = chain.dev_private_keys
    participants = [p["id"] for p in data["participants"]]
    roles = {p["id"]: p["role"] for p in data["participants"]}
    if len(keys) < 2 + len(participants):
        raise SystemExit(f"the chain has {len(keys)} accounts, {2 + len(participants)} needed")
    t = time.perf_counter()
    deployment = deploy(w3, Wallet(w3, keys[0]))
    contracts = Contracts(w3, deployment)
    setup = Setup(deployment, 0, [Step("deploy", 3, time.perf_counter() - t)])
    timer = _Timer(setup)
    log.info("  %-28s %7s tx %8.1f s", "deploy", "3", setup.steps[0].seconds)
    admin = AdminClient(contracts, keys[0])
    oracle_key = keys[1]
    clients: dict[str, Any] = {}
    for i, pid in enumerate(participants):
        cls = {"DSO": DsoClient, "aggregator": AggregatorClient}.get(roles[pid], BuyerClient)
        clients[pid] = cls(contracts, keys[2 + i])
    aggs = [pid for pid in participants if roles[pid] == "aggregator"]
    dso: DsoClient = clients[next(pid for pid in participants if roles[pid] == "DSO")]
    market = data["market"]
    slots = int(market["slots"])

    def grant() -> int:
        role_ids = {r: admin.role_id(r) for r in ("ORACLE", "DSO", "TSO", "BRP", "AGGREGATOR")}
        oracle_address = Wallet(w3, oracle_key).address
        calls = [admin.registry.grantRole(role_ids["ORACLE"], oracle_address)]
        calls += [
            admin.registry.grantRole(role_ids[roles[p].upper()], clients[p].address)
            for p in participants
        ]
        calls += [admin.token.mint(clients[p].address, MINT_UEUR) for p in participants]
        admin.wallet.send_batch(calls, gas=GAS["grantRole"])
        return len(calls)

    def deposit() -> int:
        for p in participants:
            c = clients[p]
            c.wallet.send_batch(
                [c.token.approve(contracts.market.address, MINT_UEUR), c.market.deposit(MINT_UEUR)],
                gas=GAS["deposit"],
            )
        return 2 * len(participants)

    def zones() -> int:
        calls = [
            dso.registry.registerZone(label(z["id"]), int(z.get("limit_w") or 0))
            for z in data["zones"]
        ]
        dso.wallet.send_batch(calls, gas=GAS["registerZone"])
        return len(calls)

    ids = asset_ids(data, ASSET_KEY)

    def assets() -> int:
        def register(p: str) -> int:
            c = clients[p]
            calls = [
                c.registry.registerAsset(
                    ids[a["id"]], int(AssetType[a["type"].upper()]), int(a["p_max_w"]),
                    int(a.get("p_min_w", 0)), label(a["zone"]), c.address,
                )
                for a in data["assets"] if a["manager"] == p
            ]  # fmt: skip
            c.wallet.send_batch(calls, gas=GAS["registerAsset"])
            return len(calls)

        return sum(_each(register, aggs))

    def prequalify() -> int:
        calls = [dso.registry.setPrequalified(ids[a["id"]], True) for a in data["assets"]]
        dso.wallet.send_batch(calls, gas=GAS["setPrequalified"])
        return len(calls)

    timer.run("roles + mint", grant)
    timer.run("approve + deposit", deposit)
    timer.run("zones", zones)
    with bulk_mining(chain):
        timer.run(f"register {len(ids):,} assets", assets)
        timer.run(f"pre-qualify {len(ids):,} assets", prequalify)

    now = int(w3.eth.get_block("latest")["timestamp"])
    params = session_params(
        data, bidding_end=now + DAY, reveal_deadline=now + 2 * DAY,
        clearing_deadline=now + 3 * DAY, delivery_start=now + 4 * DAY,
        bid_bond_ueur=1_000, collateral_ueur_per_w=1, shortfall_penalty_eur_per_mw=1,
        tolerance_bps=500, attestation_quorum=1,
    )  # fmt: skip
    bids = data["bids"]

    def session() -> int:
        setup.session_id = dso.open_session(params)
        sid = setup.session_id
        n = 1
        for r in data["requests"]:
            budget = need_budget_ueur(bids, r)
            clients[r["buyer"]].post_need(need_params(sid, r, roles[r["buyer"]], budget, slots))
            n += 1
        return n

    timer.run(f"open session + {len(data['requests'])} needs", session)
    sid = setup.session_id
    by_seller: dict[str, list[BidFields]] = {}
    for b in bids:
        by_seller.setdefault(b["seller"], []).append(bid_fields(b, slots, ids))

    def join() -> int:
        for p, fields in by_seller.items():
            c = clients[p]
            c.wallet.send_batch([c.market.joinSession(sid, len(fields))], gas=GAS["joinSession"])
        return len(by_seller)

    def commit() -> int:
        def one(p: str) -> int:
            clients[p].commit_bids(sid, by_seller[p], per_tx=100)
            return -(-len(by_seller[p]) // 100)

        return sum(_each(one, list(by_seller)))

    def reveal() -> int:
        def one(p: str) -> int:
            clients[p].reveal_bids(sid, by_seller[p])
            return len(by_seller[p])

        return sum(_each(one, list(by_seller)))

    timer.run("join", join)
    with bulk_mining(chain):
        timer.run(f"commit {len(bids):,} bids (commitBids)", commit)
    chain.warp_to(params.bidding_end)
    with bulk_mining(chain):
        timer.run(f"reveal {len(bids):,} bids", reveal)
    chain.warp_to(params.reveal_deadline)

    def timed_clear(scenario: Any) -> Any:
        # what the service clears with by default (and the replicas too): a session with
        # needs from several buyer roles (random_session: DSO and TSO) is coordinated
        default = clear_coordinated if needs_coordination(scenario) else engine_clear
        t = time.perf_counter()
        result = default(scenario)
        setup.clear_s = time.perf_counter() - t
        return result

    def commit_result() -> int:
        service = OracleService(chain.url, oracle_key, deployment, clear=timed_clear)
        done = service.run(once=True)
        if sid not in done.committed:
            raise SystemExit(f"the oracle service did not commit session {sid}: {done}")
        setup.result_hash = done.committed[sid]
        return len(service._client.wallet.sent) if service._client else 0

    timer.run("oracle service (rebuild, clear, commit)", commit_result)
    return setup
