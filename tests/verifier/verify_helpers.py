"""A market on anvil with several sessions revealed and waiting for their results, for the
oracle service, replica and validator tests (tests/verifier/test_verify_*.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodes.session import Checks, SessionRun
from python_client.artifacts import ensure_artifacts
from python_client.chain import Contracts, Deployment, connect
from python_client.clients import (
    AdminClient,
    AggregatorClient,
    MeteringClient,
    OracleClient,
    ValidatorClient,
)
from python_client.hashing import asset_id, label, new_salt
from python_client.localchain import LocalChain
from python_client.records import (
    AwardRow,
    BidFields,
    BuyerRole,
    Direction,
    NeedParams,
    Pricing,
    SessionParams,
)

KEY = b"flexmarket-verify-test-key"
DEPOSIT = 10**13
ZONE = label("T1")
NEED_W = 10_000
QUORUM = 3
VALIDATORS = 4
# (name, seller, quantity W, price, divisible, assets): the optimum is A1 + A2 (1.2 M µEUR)
BIDS = [
    ("A1", "A", 6_000, 100, False, ("A-1",)),
    ("A2", "A", 4_000, 150, False, ("A-2",)),
    ("B1", "B", 6_000, 120, False, ("B-1",)),
    ("B2", "B", 4_000, 300, True, ("B-2",)),
]
# rule 3: backs with A-1 like A1, in the same slots (one of the two is rejected off chain)
CONFLICT = ("A3", "A", 6_000, 50, False, ("A-1",))
# committed and never revealed (their bonds are forfeitable after the reveal deadline)
UNREVEALED = [("X1", "B", 4_000, 90, True, ("B-2",)), ("X2", "B", 4_000, 95, True, ("B-2",))]
ASSETS = {"A-1": ("A", 6_000), "A-2": ("A", 4_000), "B-1": ("B", 6_000), "B-2": ("B", 4_000)}
# the market's participants, zone and assets, registered by nodes.session.SessionRun
REGISTRATION: dict[str, Any] = {
    "market": {"id": "T1", "slots": 4},
    "participants": [{"id": "DSO", "role": "DSO"}, {"id": "A", "role": "aggregator"},
                     {"id": "B", "role": "aggregator"}],
    "zones": [{"id": "T1", "limit_w": 50_000}],
    "assets": [{"id": name, "type": "load", "p_max_w": p_max, "zone": "T1", "manager": seller}
               for name, (seller, p_max) in ASSETS.items()],
}  # fmt: skip


@dataclass
class Market:
    chain: LocalChain
    contracts: Contracts
    deployment: Deployment
    deployment_file: Path
    admin: AdminClient
    oracle: OracleClient
    oracle_key: str
    metering: MeteringClient
    validator_keys: list[str]
    sessions: dict[str, int] = field(default_factory=dict)  # name -> session id
    keys: list[str] = field(default_factory=list)  # the chain's dev keys
    bid_ids: dict[tuple[str, str], str] = field(default_factory=dict)  # (session, bid) -> id

    def validator(self, i: int) -> ValidatorClient:
        return ValidatorClient(self.contracts, self.validator_keys[i])

    def status(self, name: str) -> int:
        return int(self.oracle.session(self.sessions[name]).money.result_status)

    def commit(self, name: str, rows: list[tuple[str, int, int]]) -> None:
        """A (corrupted) result straight from the oracle's key: rows (bid, W, price)."""
        sid = self.sessions[name]
        award = [AwardRow(bytes.fromhex(self.bid_ids[(name, b)][2:]), 0, q, p) for b, q, p in rows]
        fake = label(f"corrupted {name}")
        self.oracle.commit_result(sid, fake, fake, award)


def build_market(
    chain: LocalChain,
    tmp: Path,
    sessions: dict[str, dict[str, Any]],
    before_open: Callable[[Market], None] | None = None,
) -> Market:
    """Deploy, register, open `sessions` (name -> {pricing, conflict, unrevealed,
    coordination: bytes the operator publishes, delivery_deadline, correction_window_s}) with
    quorum 3 and bring them all past their reveal deadline, every bid revealed but, with
    `unrevealed`, two more bids of B's (`X1`, `X2`). `before_open(market)` runs before the first
    session opens."""
    ensure_artifacts()
    keys = chain.dev_private_keys
    w3 = connect(chain.url)
    # registration by the session runner: keys 0-2 admin, oracle, metering; 3 the DSO, 4-5
    # the sellers A and B; 6-9 the validators
    run = SessionRun(REGISTRATION, lambda _: {}, w3, chain, keys[: 6 + VALIDATORS],
                     Checks(validators=VALIDATORS), deposit_ueur=DEPOSIT,
                     asset_key=KEY).run("assets")  # fmt: skip
    deployment, contracts = run.deployment, run.contracts
    assert deployment is not None
    deployment_file = tmp / "deployment.json"
    deployment_file.write_text(json.dumps(deployment.to_json()))
    dso, sellers = run.dso("DSO"), {"A": run.seller("A"), "B": run.seller("B")}
    market = Market(chain, contracts, deployment, deployment_file, run.admin, run.oracle,
                    keys[1], run.metering, run.validator_keys, keys=list(keys))  # fmt: skip
    if before_open is not None:
        before_open(market)
    now = int(w3.eth.get_block("latest")["timestamp"])
    fields: dict[tuple[str, str], tuple[AggregatorClient, BidFields]] = {}
    for name, opts in sessions.items():
        params = SessionParams(
            market_id=label(f"T1-{name}"), product=label("PowerMax"),
            pricing=Pricing.UNIFORM if opts.get("pricing") == "uniform" else Pricing.PAY_AS_BID,
            slot_count=4, slot_minutes=15, delivery_start=now + 400, bidding_end=now + 100,
            reveal_deadline=now + 200, clearing_deadline=now + 100_000,
            granularity_w=100, unmet_penalty_eur_per_mw=10**9, bid_bond_ueur=1_000,
            collateral_ueur_per_w=10, shortfall_penalty_eur_per_mw=50, tolerance_bps=500,
            attestation_quorum=QUORUM, delivery_deadline=opts.get("delivery_deadline", 0),
            correction_window_s=opts.get("correction_window_s", 0),
        )  # fmt: skip
        sid = dso.open_session(params)
        market.sessions[name] = sid
        dso.post_need(NeedParams(sid, ZONE, Direction.UP, BuyerRole.DSO, 10**10, (NEED_W,)))
        if "coordination" in opts:  # published as given (the contract keeps any bytes)
            dso.publish_coordination(sid, opts["coordination"])
        bids = BIDS + ([CONFLICT] if opts.get("conflict") else [])
        bids += UNREVEALED if opts.get("unrevealed") else []
        for seller in sellers:
            mine = [b for b in bids if b[1] == seller]
            sellers[seller].join_session(sid, len(mine))
            for bname, _, q, price, divisible, assets in mine:
                f = BidFields(ZONE, Direction.UP, divisible, q, price, 0b1111,
                              BidFields.sorted_assets([asset_id(a, KEY) for a in assets]),
                              new_salt())  # fmt: skip
                bid = sellers[seller].commit_bid(sid, f)
                market.bid_ids[(name, bname)] = "0x" + bid.hex()
                fields[(name, bname)] = (sellers[seller], f)
    chain.warp_to(now + 100)
    for (name, bname), (client, f) in fields.items():
        if bname not in {u[0] for u in UNREVEALED}:
            client.reveal_bid(market.sessions[name], f)
    chain.warp_to(now + 200)
    return market
