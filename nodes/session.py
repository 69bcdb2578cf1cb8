"""One market session of a scenario on chain, step by step (issue 12 item 3).

`SessionRun` puts a scenario file's session on a chain through the role clients, every
participant with its own wallet, in the steps of `STEPS`:

    roles       deploy; grant the oracle, metering, validator and participants' roles
    deposits    mint and deposit each participant's money
    zones       each zone registered by the DSO whose needs are in it (else the first DSO)
    assets      aggregators register their assets (keyed hashes of the scenario's ids);
                the zone's DSO pre-qualifies them
    session     open the session (deadlines from the chain's clock); publish its grid or
                coordination inputs
    needs       each buyer posts its needs in its role (budgets: `need_budget_ueur`); with
                `balance_dso` each DSO with a zonal need a balancing need per direction
    bids        join, commit (one per block, in the file's tie-break order), reveal after
                gate closure; refused bids have their bonds forfeited
    result      clear (the engine passed in), rows by `nodes.rows.result_rows`, commit;
                validator nodes attest (or one validator account does)
    delivery    full metered delivery of every award
    settlement  settle each award after its correction window, release budgets and
                seller funds, withdraw every balance

`run(until=STEP)` runs the steps (methods `step_<name>`) in order and stops after `until`:
a test or a bench takes a session as far as it needs and goes on with its own calls
(`SessionRun` holds the clients, ids and deadlines). `report()` is the `chain` object of
`flexmarket demo --json`.

The building blocks that every way of putting a scenario on chain shares, batched or not
(`bench/verify_setup.py` sends each step in batched JSON-RPC), are module functions:
`session_params`, `need_budget_ueur`, `need_params`, `bid_fields`, `asset_ids`.

Scenario times are not chain times: deadlines are set from the chain's clock; a local chain
is moved past each deadline, a URL chain is waited for (`ChainClock`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from web3 import Web3
from web3.exceptions import TimeExhausted

from nodes.errors import SessionRunError
from nodes.rows import result_rows
from oracle.display import progress
from oracle.payers import payer_shares_json
from oracle.rules import may_serve
from python_client.chain import Contracts, Deployment, Wallet, deploy
from python_client.clients import (
    AdminClient,
    AggregatorClient,
    BuyerClient,
    DsoClient,
    MeteringClient,
    OracleClient,
    ParticipantClient,
    ValidatorClient,
)
from python_client.errors import ClientError, TransactionReverted
from python_client.hashing import asset_id, label, new_salt
from python_client.localchain import LocalChain
from python_client.records import (
    NO_LIMIT,
    ZERO32,
    AssetType,
    AwardRow,
    BidFields,
    BuyerRole,
    Direction,
    GasLog,
    NeedParams,
    Pricing,
    SessionParams,
)
from python_client.shares import NeedInfo, coordination_json

STEPS = ("roles", "deposits", "zones", "assets", "session", "needs", "bids", "result",
         "delivery", "settlement")  # fmt: skip
ASSET_KEY = b"flexmarket-demo-asset-key"
DEPOSIT_UEUR = 10**15  # each participant's deposit: 1e9 EUR, enough for any demo budget
BOND_UEUR = 1_000_000  # 1 EUR per sealed bid
COLLATERAL_UEUR_PER_W = 10_000  # 10 EUR per kW offered
PENALTY_EUR_PER_MW = 100_000  # 0.1 EUR per W of shortfall beyond tolerance
TOLERANCE_BPS = 1_000  # 10 %
PHASE_S = 30  # seconds between deadlines (a URL chain waits them out)
# A URL chain may mine only when a transaction arrives (anvil or hardhat without a block
# time): its clock then stands still. Once the chain should be IDLE_S past a deadline and no
# block came, the runner sends a no-op transaction (0 wei to itself, from its admin account)
# so that a block is mined at the chain's current time; no node-specific RPC.
IDLE_S = 1.0
CALIBRATE_S = 5.0  # idle this long at the start of a wait: one no-op to read the chain's clock
NUDGE_TIMEOUT_S = 60.0  # a no-op not mined by then: the node does not mine (explained)
MAX_NUDGES = 30  # per wait: blocks mined but the clock does not move (explained)
REPORT_S = 10.0  # a progress line while waiting, every so often
# seconds during which the metering operator may correct a delivery: settlement waits them
# out in real time (the chain's clock, never moved for this)
CORRECTION_WINDOW_S = 2
SETTLE_GAS = 300_000  # a settlement with shares: ~15,000 per share more than 55,000
ROLE_OF = {"DSO": "DSO", "TSO": "TSO", "BRP": "BRP", "aggregator": "AGGREGATOR"}
GAS_KINDS = {
    "commit_bid": ("commitBid",),
    "reveal_bid": ("revealBid",),
    "commit_result": ("commitResult",),
    "settle_award": ("settleAward",),
}
log = logging.getLogger(__name__)  # progress: `flexmarket demo` shows it on a terminal

# clear(scenario JSON) -> result JSON, e.g. the oracle's `clear(...).to_json_dict()`
Clear = Callable[[Mapping[str, Any]], Mapping[str, Any]]
# validate(rpc_url, deployment JSON, session id, validator keys) -> verification summary
Validate = Callable[[str, Mapping[str, Any], int, list[str]], Mapping[str, Any]]
# tamper_rows(award rows, need index per name) -> the rows committed instead (tests)
TamperRows = Callable[[list[AwardRow], dict[str, int]], list[AwardRow]]
# grid(scenario) -> the scenario's `grid` object with its published `inputs` (the scenario's
# asset ids), e.g. oracle.grid.published.build_inputs(...).model_dump(mode="json")
GridInputs = Callable[[Mapping[str, Any]], Mapping[str, Any]]
# tamper_grid(the grid object as published on chain) -> the one published instead (tests)
TamperGrid = Callable[[dict[str, Any]], dict[str, Any]]


# --------------------------------------------------------------------------- building blocks


def direction_of(text: str) -> Direction:
    return Direction.UP if text == "up" else Direction.DOWN


def asset_ids(scenario: Mapping[str, Any], key: bytes = ASSET_KEY) -> dict[str, bytes]:
    """Each asset's id on chain: a keyed hash of its scenario id (a meter code stand-in)."""
    return {a["id"]: asset_id(a["id"], key) for a in scenario.get("assets", [])}


def session_params(
    scenario: Mapping[str, Any],
    *,
    bidding_end: int,
    reveal_deadline: int,
    clearing_deadline: int,
    delivery_start: int,
    bid_bond_ueur: int = BOND_UEUR,
    collateral_ueur_per_w: int = COLLATERAL_UEUR_PER_W,
    shortfall_penalty_eur_per_mw: int = PENALTY_EUR_PER_MW,
    tolerance_bps: int = TOLERANCE_BPS,
    attestation_quorum: int = 1,
    correction_window_s: int | None = None,
) -> SessionParams:
    """A scenario's market as the session's parameters, with the given deadlines (chain
    times) and money rules."""
    market = scenario["market"]
    slots = int(market.get("slots", 1))
    if slots > 256:
        raise SessionRunError(
            f"market.slots: {slots} slots do not fit a bid's 256-bit slot mask")
    cap = market.get("price_cap_eur_per_mw")
    window = {} if correction_window_s is None else {"correction_window_s": correction_window_s}
    return SessionParams(
        market_id=label(market["id"][:32]), product=label(market.get("product", "PowerMax")[:32]),
        pricing=Pricing.UNIFORM if market.get("pricing") == "uniform" else Pricing.PAY_AS_BID,
        slot_count=slots, slot_minutes=int(market.get("slot_minutes", 15)),
        delivery_start=delivery_start, bidding_end=bidding_end,
        reveal_deadline=reveal_deadline, clearing_deadline=clearing_deadline,
        min_bid_w=int(market.get("min_bid_w", 0)),
        granularity_w=int(market.get("granularity_w", 1)),
        price_floor_eur_per_mw=int(market.get("price_floor_eur_per_mw", 0)),
        price_cap_eur_per_mw=NO_LIMIT if cap is None else int(cap),
        unmet_penalty_eur_per_mw=min(int(scenario.get("unmet_penalty_eur_per_mw", 10**12)),
                                     NO_LIMIT),
        bid_bond_ueur=bid_bond_ueur, collateral_ueur_per_w=collateral_ueur_per_w,
        shortfall_penalty_eur_per_mw=shortfall_penalty_eur_per_mw, tolerance_bps=tolerance_bps,
        attestation_quorum=attestation_quorum, **window,
    )  # fmt: skip


def serves_json(bid: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """The eligibility rule (oracle.rules.may_serve) of a bid and a request of a scenario
    file."""
    return may_serve(bid["zone"], bid["direction"], int(bid["price_eur_per_mw"]),
                     request.get("zone"), request["direction"],
                     request.get("max_price_eur_per_mw"))  # fmt: skip


def need_budget_ueur(bids: Sequence[Mapping[str, Any]], request: Mapping[str, Any]) -> int:
    """A bound on what any clearing can pay from `request`'s need (uniform pricing
    included): every bid that may serve it, fully awarded at the highest such price. A
    balancing need (no zone, no quantities) takes {"direction": ..., "zone": None}."""
    eligible = [b for b in bids if serves_json(b, request)]
    top = max((int(b["price_eur_per_mw"]) for b in eligible), default=0)
    return max(1, sum(int(b["quantity_w"]) for b in eligible) * top)


def need_params(
    session_id: int,
    request: Mapping[str, Any],
    role: str,
    budget_ueur: int,
    slots: int,
) -> NeedParams:
    """A scenario's request as the need its buyer posts (in its role: DSO, TSO or BRP)."""
    q = request["quantity_w"]
    max_price = request.get("max_price_eur_per_mw")
    return NeedParams(
        session_id, ZERO32 if request.get("zone") is None else label(request["zone"]),
        direction_of(request["direction"]), BuyerRole[role], budget_ueur,
        (q,) if isinstance(q, int) else tuple(q),
        NO_LIMIT if max_price is None else int(max_price),
    )  # fmt: skip


def bid_fields(bid: Mapping[str, Any], slots: int, ids: Mapping[str, bytes]) -> BidFields:
    """A scenario's bid as the sealed bid its seller commits (a fresh salt); slots that no
    mask can hold give an empty mask, refused at reveal."""
    mask = sum(1 << s for s in bid["slots"]) if bid.get("slots") else (1 << slots) - 1
    if bid.get("slots") and not all(0 <= s < 256 for s in bid["slots"]):
        mask = 0
    return BidFields(
        label(bid["zone"][:32]), direction_of(bid["direction"]), bool(bid.get("divisible", False)),
        int(bid["quantity_w"]), int(bid["price_eur_per_mw"]), mask,
        BidFields.sorted_assets([ids[a] for a in bid["assets"]]),
        new_salt(), int(bid.get("min_quantity_w") or 0),
    )  # fmt: skip


# --------------------------------------------------------------------------- the chain's clock


@dataclass
class ChainClock:
    """The transactions of a run per step, and the chain's clock: moved on a local chain,
    waited for on a URL chain (nudged with no-op transactions when it mines nothing)."""

    w3: Web3
    chain: LocalChain | None
    nudger: Wallet | None = None  # sends the no-op transactions that move a URL chain's clock
    txs: dict[str, list[str]] = field(default_factory=dict)

    def record(self, step: str, events: list[Any]) -> None:
        hashes = self.txs.setdefault(step, [])
        for e in events:
            if e.tx_hash not in hashes:
                hashes.append(e.tx_hash)

    def record_sent(self, step: str, client: Any, since: int) -> None:
        """Record the transactions `client` mined since its `sent` list had `since` entries
        (calls whose SDK method returns an id rather than events)."""
        hashes = self.txs.setdefault(step, [])
        hashes += [h for h in client.wallet.sent[since:] if h not in hashes]

    def wait_until(self, timestamp: int, what: str = "") -> None:
        """Until the chain's latest block is at `timestamp` or later: a local chain is moved
        there; a URL chain is waited for, and given a no-op transaction when it should be past
        it but mined nothing (a node that mines only on transactions). `what` (gate closure,
        ...) is reported with the chain time and the target while waiting."""
        if self.chain is not None:
            self.chain.warp_to(timestamp)
            return
        block = self.w3.eth.get_block("latest")
        seen = time.monotonic()  # when this block was first seen
        nudges, reported = 0, float("-inf")
        while int(block["timestamp"]) < timestamp:
            now = time.monotonic()
            chain_time = int(block["timestamp"])
            if what and now - reported >= REPORT_S:
                log.info("waiting for %s: chain time %s, target %s (%d s to go)", what,
                         _utc(chain_time), _utc(timestamp), timestamp - chain_time)
                reported = now
            # the chain's clock now, if it runs with ours since the block was seen
            clock = chain_time + (now - seen)
            if clock >= timestamp + IDLE_S or (nudges == 0 and now - seen >= CALIBRATE_S):
                if nudges >= MAX_NUDGES:
                    raise ClientError(
                        f"the chain's clock does not advance: {nudges} blocks mined for it, the "
                        f"latest at {_utc(chain_time)}, and {what or 'the next deadline'} is at "
                        f"{_utc(timestamp)}")  # fmt: skip
                self._nudge(what, timestamp)
                nudges += 1
            else:
                time.sleep(min(1.0, max(0.1, timestamp + IDLE_S - clock)))
            latest = self.w3.eth.get_block("latest")
            if latest["number"] != block["number"]:
                block, seen = latest, time.monotonic()

    def _nudge(self, what: str, timestamp: int) -> None:
        """A 0-wei transfer from the admin account to itself, mined at the chain's time."""
        if self.nudger is None:
            raise SessionRunError("the chain's clock stands still and no account may move it")
        wallet, w3 = self.nudger, self.w3
        tx: dict[str, Any] = {
            "to": wallet.address, "value": 0, "gas": 21_000, "gasPrice": w3.eth.gas_price,
            "chainId": w3.eth.chain_id,
            "nonce": w3.eth.get_transaction_count(wallet.address, "pending"),
        }  # fmt: skip
        tx_hash = w3.eth.send_raw_transaction(wallet.account.sign_transaction(tx).raw_transaction)
        wallet.reset_nonce()  # its next contract call reads the nonce again
        try:
            w3.eth.wait_for_transaction_receipt(tx_hash, timeout=NUDGE_TIMEOUT_S, poll_latency=0.2)
        except TimeExhausted:
            raise ClientError(
                f"the chain mines no block: a no-op transaction sent to move its clock to "
                f"{what or 'the next deadline'} ({_utc(timestamp)}) was not mined within "
                f"{NUDGE_TIMEOUT_S:.0f} s. Does the node mine (anvil --no-mining mines nothing)?"
            ) from None
        self.txs.setdefault("advance_clock", []).append(tx_hash.to_0x_hex())
        log.info("no block for a while: sent a no-op transaction to advance the chain's clock")


def _utc(timestamp: int) -> str:
    """A chain time for people: `2026-12-03 17:40:05 UTC`."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _instant(text: str | None) -> float:
    """A scenario time as seconds (a bid without `submitted_at` sorts first)."""
    return datetime.fromisoformat(text).timestamp() if text else float("-inf")


def _block_interval(w3: Web3, latest: Any) -> int:
    """Seconds between the chain's last two blocks (at least 1)."""
    number = int(latest["number"])
    if number == 0:
        return 1
    parent = w3.eth.get_block(number - 1)
    return max(1, int(latest["timestamp"]) - int(parent["timestamp"]))


# --------------------------------------------------------------------------- the runner


@dataclass
class Checks:
    """Who checks the result before any payment: with `validate` (e.g.
    nodes.validator.validate_session) the `validators` last keys are validator nodes and
    the session needs `quorum` attestations; without, one validator account attests (quorum
    1). `tamper_rows` (tests: a dishonest market operator) rewrites the rows committed."""

    validate: Validate | None = None
    validators: int = 1
    quorum: int = 1
    tamper_rows: TamperRows | None = None


class SessionRun:
    """A scenario's session on chain, step by step (see the module docstring). Keys: the
    admin, the oracle (market operator), the metering operator, one per participant in
    scenario order, then the validators'. `deposit_ueur`: what each participant is minted and
    deposits; `asset_key`: the key of the asset ids' hashes."""

    def __init__(
        self,
        scenario: Mapping[str, Any],
        clear: Clear,
        w3: Web3,
        local: LocalChain | None,
        keys: Sequence[str],
        checks: Checks | None = None,
        grid: GridInputs | None = None,
        tamper_grid: TamperGrid | None = None,
        *,
        deposit_ueur: int = DEPOSIT_UEUR,
        asset_key: bytes = ASSET_KEY,
    ) -> None:
        self.checks = checks or Checks()
        self.deposit_ueur = deposit_ueur
        participants = list(scenario.get("participants", []))
        needed = 3 + len(participants) + self.checks.validators
        if len(keys) < needed:
            raise SessionRunError(f"{len(keys)} accounts, {needed} needed (admin, oracle, "
                                  "metering, each participant, the validators)")  # fmt: skip
        if scenario.get("grid") is not None and grid is None:
            raise SessionRunError(
                "grid: a scenario with a grid needs its grid inputs (run_session's grid, "
                "e.g. from oracle.grid.published.build_inputs)")  # fmt: skip
        self.scenario: Mapping[str, Any] = scenario
        self.clear = clear
        self.w3 = w3
        self.local = local
        self.keys = list(keys)
        self.grid_inputs, self.tamper_grid = grid, tamper_grid
        n = self.checks.validators
        self.validator_keys = self.keys[len(self.keys) - n :] if n else []
        self.gas = GasLog()
        self.roles: dict[str, str] = {p["id"]: p["role"] for p in participants}
        self.slots = int(scenario["market"].get("slots", 1))
        self.bids: list[dict[str, Any]] = list(scenario.get("bids", []))
        self.done: list[str] = []
        # filled by the steps
        self.deployment: Deployment | None = None
        self.clients: dict[str, ParticipantClient] = {}
        self.clock = ChainClock(w3, local)
        self.zone_owner: dict[str, DsoClient] = {}
        self.asset_ids: dict[str, bytes] = asset_ids(scenario, asset_key)
        self.session_id = 0
        self.params: SessionParams | None = None
        self.need_index: dict[str, int] = {}
        self.budgets: dict[int, int] = {}
        self.balancing: list[NeedInfo] = []
        self.by_seller: dict[str, list[tuple[str, BidFields]]] = {}
        self.unsubmittable: dict[str, str] = {}
        self.refused: dict[str, str] = {}
        self.chain_bid_id: dict[str, bytes] = {}
        self.result: dict[str, Any] = {}
        self.rows: list[AwardRow] = []
        self.verification: dict[str, Any] | None = None
        self.balances: dict[str, int] = {}
        self.operator_forfeits = 0

    # the role clients of the market's own accounts
    @property
    def contracts(self) -> Contracts:
        if self.deployment is None:
            raise SessionRunError("no contracts yet: run the roles step first")
        return Contracts(self.w3, self.deployment)

    def run(self, until: str = STEPS[-1]) -> SessionRun:
        """The steps not run yet, in order, up to and including `until`."""
        if until not in STEPS:
            raise SessionRunError(f"until: {until!r} is not one of {', '.join(STEPS)}")
        for step in STEPS[: STEPS.index(until) + 1]:
            if step not in self.done:
                getattr(self, f"step_{step}")()
                self.done.append(step)
        return self

    # --- registration
    def step_roles(self) -> None:
        """Deploy the contracts and grant every role."""
        w3, keys, gas = self.w3, self.keys, self.gas
        log.info("deploying the contracts")
        self.deployment = deploy(w3, Wallet(w3, keys[0], gas_log=gas))
        contracts = self.contracts
        self.admin = AdminClient(contracts, keys[0], gas)
        self.oracle = OracleClient(contracts, keys[1], gas)
        self.metering = MeteringClient(contracts, keys[2], gas)
        for i, (pid, role) in enumerate(self.roles.items()):
            cls = {"DSO": DsoClient, "aggregator": AggregatorClient}.get(role, BuyerClient)
            self.clients[pid] = cls(contracts, keys[3 + i], gas)
        self.clock.nudger = self.admin.wallet
        log.info("registration: %d participants, %d zones, %d assets", len(self.roles),
                 len(self.scenario.get("zones", [])), len(self.scenario.get("assets", [])))
        record, admin = self.clock.record, self.admin
        record("grant_roles", admin.grant_role("ORACLE", self.oracle.address))
        record("grant_roles", admin.grant_role("METERING", self.metering.address))
        for key in self.validator_keys:
            record("grant_roles", admin.grant_role("VALIDATOR", Wallet(w3, key).address))
        for pid, role in self.roles.items():
            record("grant_roles", admin.grant_role(ROLE_OF[role], self.clients[pid].address))
        dsos = [pid for pid, role in self.roles.items() if role == "DSO"]
        self.dsos = dsos
        if dsos:
            self.first_dso: DsoClient = self.dso(dsos[0])
        else:  # the market operator publishes the zones
            record("grant_roles", admin.grant_role("DSO", self.oracle.address))
            self.first_dso = DsoClient(contracts, keys[1], gas)

    def step_deposits(self) -> None:
        """Mint each participant's money and deposit it."""
        for pid in self.roles:
            client = self.clients[pid]
            self.clock.record("mint", self.admin.mint(client.address, self.deposit_ueur))
            self.clock.record("deposit", client.deposit(self.deposit_ueur))

    def step_zones(self) -> None:
        """A zone is published by the DSO whose needs are in it (only it may post DSO needs
        there and pre-qualify its assets), else by the first DSO."""
        for r in self.scenario.get("requests", []):
            if r.get("zone") is not None and self.roles.get(r["buyer"]) == "DSO":
                self.zone_owner.setdefault(r["zone"], self.dso(r["buyer"]))
        for zone in self.scenario.get("zones", []):
            limit = zone.get("limit_w")
            limit_w = max(limit) if isinstance(limit, list) else int(limit or 0)
            zone_dso = self.zone_owner.setdefault(zone["id"], self.first_dso)
            self.clock.record("register_zone", zone_dso.register_zone(label(zone["id"]), limit_w))

    def step_assets(self) -> None:
        """Aggregators register the assets they manage; the zone's DSO pre-qualifies them."""
        for a in self.scenario.get("assets", []):
            manager = self.clients.get(a["manager"])
            if not isinstance(manager, AggregatorClient):
                continue  # only aggregators register assets; the engine rejects such bids
            ident = self.asset_ids[a["id"]]
            self.clock.record("register_asset", manager.register_asset(
                ident, AssetType[a["type"].upper()], int(a["p_max_w"]),
                int(a.get("p_min_w", 0)), label(a["zone"]), manager.address))  # fmt: skip
            dso = self.zone_owner.get(a["zone"], self.first_dso)
            self.clock.record("prequalify", dso.prequalify(ident))

    # --- session and needs
    def step_session(self) -> None:
        """Open the session, its deadlines from the chain's clock, and publish its grid
        inputs (issue 19) or its coordination inputs."""
        w3, scenario = self.w3, self.scenario
        # the grid inputs come from the DSO's model: built before the session's clock starts
        grid = None
        if scenario.get("grid") is not None and self.grid_inputs is not None:
            grid = json.loads(json.dumps(self.grid_inputs(scenario)))
        latest = w3.eth.get_block("latest")
        now = int(latest["timestamp"])
        # gate closure leaves time for a commit per bid (one per block), the reveal deadline
        # time for a reveal per bid: two seconds each on a local chain (its clock is moved
        # past each deadline: no wall time lost, and a loaded machine stays within them),
        # two blocks each on a chain that mines on its own (a URL)
        per_bid_s = 2 if self.local is not None else 2 * _block_interval(w3, latest)
        bid_window_s = len(self.bids) * per_bid_s
        now += bid_window_s
        validated = self.checks.validate is not None
        self.params = session_params(
            scenario, bidding_end=now + PHASE_S,
            reveal_deadline=now + 2 * PHASE_S + bid_window_s,
            clearing_deadline=now + 3 * PHASE_S + bid_window_s,
            delivery_start=now + 4 * PHASE_S + bid_window_s,
            attestation_quorum=self.checks.quorum if validated else 1,
            correction_window_s=CORRECTION_WINDOW_S,
        )  # fmt: skip
        mark = len(self.oracle.wallet.sent)
        self.session_id = self.oracle.open_session(self.params)
        self.clock.record_sent("open_session", self.oracle, mark)
        if grid is not None:  # grid inputs: what every node clears with (issue 19)
            self._publish_grid(grid)
            self.scenario = {**scenario, "grid": grid}  # cleared with them
        # (a grid session is cleared by its grid, not by coordination: its zones' forecasts
        # are published with the grid inputs)
        if self.scenario.get("grid") is None:
            coordination = coordination_json(self.scenario)
            if coordination is not None:
                self.clock.record("publish_coordination",
                                  self.oracle.publish_coordination(self.session_id, coordination))

    def _publish_grid(self, grid: Mapping[str, Any]) -> None:
        """Publish the session's grid inputs with the chain's asset ids (`grid` has the
        scenario's)."""
        on_chain = json.loads(json.dumps(grid))
        ids = {name: "0x" + a.hex() for name, a in self.asset_ids.items()}
        on_chain["inputs"]["assets"] = sorted(
            ({**a, "id": ids.get(a["id"], a["id"])} for a in on_chain["inputs"]["assets"]),
            key=lambda a: str(a["id"]),
        )
        if self.tamper_grid is not None:
            on_chain = self.tamper_grid(on_chain)
        body = json.dumps(on_chain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.clock.record("publish_grid", self.oracle.publish_grid(self.session_id, body.encode()))

    def step_needs(self) -> None:
        """Each buyer posts its needs in its role; under `balance_dso` each DSO with a zonal
        need posts a balancing need per direction (no quantities: a budget for
        counter-activations)."""
        sid, requests = self.session_id, self.scenario.get("requests", [])
        for r in requests:
            buyer = self.buyer(r["buyer"])
            budget = need_budget_ueur(self.bids, r)
            mark = len(buyer.wallet.sent)
            index = buyer.post_need(need_params(sid, r, self.roles[r["buyer"]], budget,
                                                self.slots))  # fmt: skip
            self.need_index[r["id"]] = index
            self.budgets[index] = budget
            self.clock.record_sent("post_need", buyer, mark)
        if not self.scenario["market"].get("balance_dso"):
            return
        zonal = {r["buyer"] for r in requests if r.get("zone") is not None}
        for pid in (d for d in self.dsos if d in zonal):
            buyer = self.buyer(pid)
            for direction in ("up", "down"):
                budget = need_budget_ueur(self.bids, {"direction": direction, "zone": None})
                mark = len(buyer.wallet.sent)
                index = buyer.post_need(NeedParams(sid, ZERO32, direction_of(direction),
                                                   BuyerRole.DSO, budget, ()))  # fmt: skip
                self.clock.record_sent("post_need", buyer, mark)
                self.budgets[index] = budget
                self.need_index[f"{pid}/balancing-{direction}"] = index
                self.balancing.append(NeedInfo(index, pid, None, direction, None,
                                               balancing=True))  # fmt: skip

    # --- sealed bids
    def step_bids(self) -> None:
        """Join, commit one bid per block in the file's tie-break order, reveal after gate
        closure; a bid the contracts refuse has its bond forfeited after the reveal
        deadline."""
        params, sid = self._params(), self.session_id
        log.info("session %d open: sealed bids", sid)
        for b in self.bids:
            seller = self.clients.get(b["seller"])
            if not isinstance(seller, AggregatorClient):
                continue
            if int(b["price_eur_per_mw"]) < 0:
                # prices are unsigned on chain: the seller's SDK cannot even form this bid
                self.unsubmittable[b["id"]] = (
                    "price_eur_per_mw is negative: not expressible on chain")
                continue
            fields = bid_fields(b, self.slots, self.asset_ids)
            self.by_seller.setdefault(b["seller"], []).append((b["id"], fields))
        for name, items in self.by_seller.items():
            self.clock.record("join", self.seller(name).join_session(sid, len(items)))
        # one commit per block in the file's tie-break order: the chain's commit times keep it
        order = {b["id"]: (_instant(b.get("submitted_at")), b["id"]) for b in self.bids}
        commits = sorted(((order[n], s, n, f) for s, items in self.by_seller.items()
                          for n, f in items), key=lambda c: c[0])  # fmt: skip
        last_commit = 0
        for _, name, bid_name, fields in commits:
            seller = self.seller(name)
            if last_commit and self.local is not None:  # a later block time than the last
                self.clock.wait_until(last_commit + 1)  # (a chain mining on its own: next block)
            mark = len(seller.wallet.sent)
            self.chain_bid_id[bid_name] = seller.commit_bid(sid, fields)
            self.clock.record_sent("commit_bid", seller, mark)
            last_commit = int(self.w3.eth.get_block("latest")["timestamp"])
            progress(log, "sealed bids committed", len(self.chain_bid_id), len(commits))
        log.info("%d bids committed", len(commits))
        self.clock.wait_until(params.bidding_end, "gate closure")
        log.info("revealing the bids")
        revealed = 0
        for name, items in self.by_seller.items():
            seller = self.seller(name)
            for bid_name, fields in items:
                try:
                    self.clock.record("reveal", seller.reveal_bid(sid, fields))
                except TransactionReverted as exc:
                    self.refused[bid_name] = exc.error
                revealed += 1
                progress(log, "bids revealed", revealed, len(commits))
        self.clock.wait_until(params.reveal_deadline, "the reveal deadline")
        for bid_name in self.refused:
            self.clock.record("forfeit_bond",
                              self.oracle.forfeit_bond(self.chain_bid_id[bid_name]))

    # --- result
    def step_result(self) -> None:
        """Clear with the engine, commit the rows (`nodes.rows.result_rows`), then the
        validator nodes attest or dispute before any payment."""
        sid = self.session_id
        log.info("clearing with the engine")
        result = dict(self.clear(self.scenario))
        for a in result["awards"]:
            if a["bid"] in self.refused or a["bid"] not in self.chain_bid_id:
                raise SessionRunError(f"award of bid {a['bid']} which the chain refused")
        # who pays: the payer rule (oracle.payers), the same for every session; a
        # coordinated result carries it as `shares`
        payers = result.get("shares")
        if payers is None:
            payers = payer_shares_json(self.scenario, result)
        needs = [
            NeedInfo(self.need_index[r["id"]], r["buyer"], r.get("zone"), r["direction"],
                     r.get("max_price_eur_per_mw"))
            for r in self.scenario.get("requests", [])
        ] + self.balancing  # fmt: skip
        rows = [row.award_row() for row in result_rows(
            [(a["bid"], int(a["quantity_w"]), int(a["price_eur_per_mw"]))
             for a in result["awards"]],
            {b["id"]: (b["zone"], b["direction"]) for b in self.bids}, payers, needs,
            self.budgets, chain_id=lambda name: "0x" + self.chain_bid_id[name].hex(),
        )]  # fmt: skip
        if self.checks.tamper_rows is not None:
            rows = self.checks.tamper_rows(rows, dict(self.need_index))
        self.result, self.rows = result, rows
        input_hash = bytes.fromhex(result["input_hash"].removeprefix("0x"))
        result_hash = bytes.fromhex(result["result_hash"].removeprefix("0x"))
        self.clock.record("commit_result",
                          self.oracle.commit_result(sid, input_hash, result_hash, rows))
        log.info("result committed: %d award rows", len(rows))
        validate = self.checks.validate
        if validate is not None:
            url = str(getattr(self.w3.provider, "endpoint_uri", ""))
            deployment = self._deployment().to_json()
            self.verification = dict(validate(url, deployment, sid, self.validator_keys))
        else:  # no validator node: the one validator account attests (quorum 1)
            validator = ValidatorClient(self.contracts, self.validator_keys[0], self.gas)
            self.clock.record("attest", validator.attest(sid, result_hash))

    @property
    def payable(self) -> bool:
        """Whether the result may be paid: no validator nodes, or they made it final."""
        return self.verification is None or self.verification.get("status") == "Final"

    # --- delivery and settlement
    def step_delivery(self) -> None:
        """Full metered delivery of every award (nothing when the result is not final)."""
        log.info("delivery, settlement and withdrawals")
        count = self._award_count()
        if count:
            sid = self.session_id
            delivered = {i: self.oracle.award(sid, i).core.quantity_w for i in range(count)}
            self.clock.record("record_deliveries", self.metering.record_deliveries(
                sid, delivered, label("demo-metering-report")))  # fmt: skip

    def step_settlement(self) -> None:
        """Settle each award once its correction window closed, release every budget and
        the sellers' funds, withdraw every balance."""
        sid, oracle = self.session_id, self.oracle
        count = self._award_count()
        if count:
            # the correction window: the metering operator may still correct the deliveries
            time.sleep(CORRECTION_WINDOW_S)
            for i in range(count):
                self.clock.record("settle", _settle_after_window(oracle, sid, i))
        if self.payable:
            for index in sorted(self.need_index.values()):  # balancing needs too
                self.clock.record("release", oracle.release_budget(sid, index))
            for name in self.by_seller:
                self.clock.record("release", oracle.release_seller_funds(
                    sid, self.clients[name].address))  # fmt: skip
        for pid, client in self.clients.items():
            client.withdraw_all()
            self.balances[pid] = client.token_balance()
        self.operator_forfeits = oracle.withdraw_all()

    def report(self) -> dict[str, Any]:
        """The `chain` object of `flexmarket demo --json`."""
        deployment = self._deployment()
        buyers = [pid for pid, role in self.roles.items() if role != "aggregator"]
        largest = self.gas.largest
        return {
            "chain_id": deployment.chain_id,
            "contracts": deployment.to_json()["contracts"],
            "session_id": self.session_id,
            "tx": self.clock.txs,
            "balances_ueur": self.balances,
            "operator_forfeits_ueur": self.operator_forfeits,
            "refused_bids": {**self.refused, **self.unsubmittable},
            # need index per request id, and per "<DSO>/balancing-<direction>" (balance_dso)
            "needs": dict(self.need_index),
            # what each buyer's escrow paid in this session (deposit - withdrawn)
            "payments_ueur": {pid: self.deposit_ueur - self.balances[pid] for pid in buyers},
            "gas": {
                kind: max((largest.get(n, 0) for n in names), default=0)
                for kind, names in GAS_KINDS.items()
            },
            "gas_by_call": dict(sorted(largest.items())),
        }

    # --- lookups
    def _award_count(self) -> int:
        return sum(1 for r in self.rows if r.quantity_w) if self.payable else 0

    def _params(self) -> SessionParams:
        if self.params is None:
            raise SessionRunError("no session yet: run the session step first")
        return self.params

    def _deployment(self) -> Deployment:
        if self.deployment is None:
            raise SessionRunError("no contracts yet: run the roles step first")
        return self.deployment

    def dso(self, pid: str) -> DsoClient:
        client = self.clients[pid]
        if not isinstance(client, DsoClient):
            raise SessionRunError(f"participants: {pid} is not a DSO")
        return client

    def buyer(self, pid: str) -> BuyerClient:
        client = self.clients.get(pid)
        if not isinstance(client, BuyerClient):
            raise SessionRunError(f"requests: buyer {pid} is not a DSO, TSO or BRP")
        return client

    def seller(self, pid: str) -> AggregatorClient:
        client = self.clients[pid]
        if not isinstance(client, AggregatorClient):
            raise SessionRunError(f"bids: seller {pid} is not an aggregator")
        return client


def _settle_after_window(oracle: OracleClient, session_id: int, award_index: int) -> list[Any]:
    """Settle an award once its correction window closed, in real time: sent with a fixed gas
    (no estimate against the latest block, whose time is the delivery's), and tried again a
    second later while the mined block's time is still inside the window."""
    # not a retry (python_client.retry): polling the chain's clock past a known deadline
    for _ in range(CORRECTION_WINDOW_S + 5):
        try:
            return oracle.settle_award(session_id, award_index, gas=SETTLE_GAS)
        except TransactionReverted as exc:
            if exc.error != "FlexMarketCorrectionWindowOpen":
                raise
            time.sleep(1)
    return oracle.settle_award(session_id, award_index, gas=SETTLE_GAS)
