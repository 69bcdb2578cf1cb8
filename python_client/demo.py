"""A whole market session of a scenario file on a chain, through the role clients.

`run_session(scenario, clear)` starts a local chain (or uses a URL), deploys, gives every
participant of the scenario its own wallet and runs registration, pre-qualification,
deposits, needs, sealed bids (commit, reveal), clearing, result commit, full metered
delivery, settlement, releases and withdrawals. It returns the clearing result plus a
`chain` object (chain id, addresses, tx hashes per step, final token balances, gas).

The clearing engine is passed in (`clear`: scenario JSON -> result JSON, e.g. the oracle's
`clear(...).to_json_dict()`). Who pays each award is the payer rule (`oracle.payers`, the
one the oracle service and every replica apply; imported for a result without `shares`):
each buyer's share charged to its own needs (python_client.shares). Asset ids on chain are keyed
hashes of the scenario's asset ids (standing in for meter codes), which never reach the
chain. Scenario times are not chain times: the session's deadlines are set from the chain's
clock, and a local chain is moved past each deadline (a URL chain is waited for).

A bid the contracts refuse (unknown zone or asset, asset not managed by the seller, rule of
the session) cannot be revealed: its reveal is skipped and its bond forfeited, as the
engine lists it under `rejected`.

TSO-DSO sessions (issue 7): each buyer posts its needs from its own account in its role
(DSO, TSO, BRP); the session operator publishes the scenario's coordination inputs
(coupling, priority, zone forecasts, limits, red slots) before gate closure, so that the
validators rebuild the same session; bids are committed in the scenario's tie-break order
(`submitted_at`, id), one block each, so that the chain's order is the file's; a result with
`shares` is committed the same way, and `chain.payments_ueur` reports what each buyer paid. With
`market.balance_dso`, each DSO with a zonal need also posts a balancing need per direction
(no quantities: a system-wide budget for counter-activations), and each counter-activation
of the result (an award no request counted) is charged to its payer's balancing need;
every budget, the balancing needs' included, is released after settlement.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.exceptions import TimeExhausted

from oracle.display import progress
from oracle.rules import may_serve
from python_client.artifacts import ensure_artifacts
from python_client.chain import Contracts, Wallet, connect, deploy
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
from python_client.localchain import DEV_MNEMONIC, LocalChain, start_chain
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
from python_client.shares import (
    NeedInfo,
    coordination_json,
    counter_activations,
    share_rows,
    shares_by_award,
)

ASSET_KEY = b"flexmarket-demo-asset-key"
DEPOSIT_UEUR = 10**15  # each participant's deposit: 1e9 EUR, enough for any demo budget
BOND_UEUR = 1_000_000  # 1 EUR per sealed bid
COLLATERAL_UEUR_PER_W = 10_000  # 10 EUR per kW offered
PENALTY_EUR_PER_MW = 100_000  # 0.1 EUR per W of shortfall beyond tolerance
TOLERANCE_BPS = 1_000  # 10 %
PHASE_S = 30  # seconds between deadlines (a URL chain waits them out)
# A URL chain may mine only when a transaction arrives (anvil or hardhat without a block
# time): its clock then stands still. Once the chain should be IDLE_S past a deadline and no
# block came, the demo sends a no-op transaction (0 wei to itself, from its admin account) so
# that a block is mined at the chain's current time; no node-specific RPC.
IDLE_S = 1.0
CALIBRATE_S = 5.0  # idle this long at the start of a wait: one no-op to read the chain's clock
NUDGE_TIMEOUT_S = 60.0  # a no-op not mined by then: the node does not mine (explained)
MAX_NUDGES = 30  # per wait: blocks mined but the clock does not move (explained)
REPORT_S = 10.0  # a progress line while waiting, every so often
log = logging.getLogger(__name__)  # progress: `flexmarket demo` shows it on a terminal
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


def _direction(text: str) -> Direction:
    return Direction.UP if text == "up" else Direction.DOWN


def _per_slot(value: int | list[int], slots: int) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else tuple(value)


@dataclass
class _Run:
    w3: Web3
    chain: LocalChain | None
    contracts: Contracts
    gas: GasLog
    clients: dict[str, ParticipantClient]
    txs: dict[str, list[str]] = field(default_factory=dict)
    nudger: Wallet | None = None  # sends the no-op transactions that move a URL chain's clock

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
        assert self.nudger is not None
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
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _keys(url_or_chain: LocalChain | None, count: int) -> list[str]:
    from eth_account import Account

    if url_or_chain is not None:
        return url_or_chain.dev_private_keys[:count]
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.to_0x_hex()
        for i in range(count)
    ]


# validate(rpc_url, deployment JSON, session id, validator keys) -> verification summary
Validate = Callable[[str, Mapping[str, Any], int, list[str]], Mapping[str, Any]]
# tamper_rows(award rows, need index per name) -> the rows committed instead (tests)
TamperRows = Callable[[list[AwardRow], dict[str, int]], list[AwardRow]]
# grid(scenario) -> the scenario's `grid` object with its published `inputs` (the scenario's
# asset ids), e.g. oracle.grid.published.build_inputs(...).model_dump(mode="json")
GridInputs = Callable[[Mapping[str, Any]], Mapping[str, Any]]
# tamper_grid(the grid object as published on chain) -> the one published instead (tests)
TamperGrid = Callable[[dict[str, Any]], dict[str, Any]]


def run_session(
    scenario: Mapping[str, Any],
    clear: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    chain: str | LocalChain = "anvil",
    validate: Validate | None = None,
    validators: int = 4,
    quorum: int = 3,
    tamper_rows: TamperRows | None = None,
    grid: GridInputs | None = None,
    tamper_grid: TamperGrid | None = None,
) -> dict[str, Any]:
    """Run `scenario` on a chain: "anvil" or "ganache" (started and stopped here), a running
    LocalChain (left running), or a JSON-RPC URL whose first accounts of the development
    mnemonic are funded (an anvil or hardhat node, say).

    With `validate` (e.g. nodes.validator.validate_session), `validators` accounts get
    the validator role, the session needs `quorum` attestations, and the validator nodes
    run after the result commit, before settlement; the result then carries their
    `verification` summary. A result they do not make final is not settled.

    `tamper_rows(rows, need indices)` (tests: a dishonest market operator) rewrites the award
    rows before they are committed; need indices as in `chain.needs`.

    A scenario with a `grid` needs `grid` (its grid inputs, built by the DSO's model): the
    operator publishes them (`publishGrid`, asset ids the chain's) before gate closure and
    the session is cleared with them, so that every node clears it with the same cuts
    (issue 19); `tamper_grid` (tests) changes what is published."""
    ensure_artifacts()
    participants = list(scenario.get("participants", []))
    # every session needs at least one attestation (the market's minimum quorum): without
    # validator nodes, one validator account attests the result the demo committed
    extra = validators if validate is not None else 1
    needed = 3 + len(participants) + extra  # admin, oracle, metering, participants, validators
    if scenario.get("grid") is not None and grid is None:
        raise ClientError("grid: a scenario with a grid needs its grid inputs (run_session's "
                          "grid, e.g. from oracle.grid.published.build_inputs)")
    grids = (grid, tamper_grid)
    checks = (validate, extra, quorum if validate is not None else 1, tamper_rows)
    if isinstance(chain, LocalChain):
        if chain.accounts < needed:
            raise ClientError(f"the chain has {chain.accounts} accounts, {needed} needed")
        return _run(scenario, clear, connect(chain.url), chain, _keys(chain, needed), checks,
                    grids)
    if chain in ("anvil", "ganache"):
        with start_chain(chain, accounts=max(10, needed)) as local:  # type: ignore[arg-type]
            keys = _keys(local, needed)
            return _run(scenario, clear, connect(local.url), local, keys, checks, grids)
    return _run(scenario, clear, connect(chain), None, _keys(None, needed), checks, grids)


def _run(
    scenario: Mapping[str, Any],
    clear: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    w3: Web3,
    local: LocalChain | None,
    keys: list[str],
    checks: tuple[Validate | None, int, int, TamperRows | None] = (None, 0, 0, None),
    grids: tuple[GridInputs | None, TamperGrid | None] = (None, None),
) -> dict[str, Any]:
    validate, n_validators, quorum, tamper_rows = checks
    validator_keys = keys[len(keys) - n_validators :] if n_validators else []
    gas = GasLog()
    log.info("deploying the contracts")
    deployment = deploy(w3, Wallet(w3, keys[0], gas_log=gas))
    contracts = Contracts(w3, deployment)
    admin = AdminClient(contracts, keys[0], gas)
    oracle = OracleClient(contracts, keys[1], gas)
    metering = MeteringClient(contracts, keys[2], gas)
    roles = {p["id"]: p["role"] for p in scenario.get("participants", [])}
    clients: dict[str, ParticipantClient] = {}
    for i, (pid, role) in enumerate(roles.items()):
        cls = {"DSO": DsoClient, "aggregator": AggregatorClient}.get(role, BuyerClient)
        clients[pid] = cls(contracts, keys[3 + i], gas)
    run = _Run(w3, local, contracts, gas, clients, nudger=admin.wallet)
    market = scenario["market"]
    slots = int(market.get("slots", 1))

    # --- registration: roles, money, zones, assets, pre-qualification
    log.info("registration: %d participants, %d zones, %d assets", len(roles),
             len(scenario.get("zones", [])), len(scenario.get("assets", [])))
    run.record("grant_roles", admin.grant_role("ORACLE", oracle.address))
    run.record("grant_roles", admin.grant_role("METERING", metering.address))
    for key in validator_keys:
        run.record("grant_roles", admin.grant_role("VALIDATOR", Wallet(w3, key).address))
    for pid, role in roles.items():
        run.record("grant_roles", admin.grant_role(ROLE_OF[role], clients[pid].address))
        run.record("mint", admin.mint(clients[pid].address, DEPOSIT_UEUR))
        run.record("deposit", clients[pid].deposit(DEPOSIT_UEUR))
    dsos = [pid for pid, role in roles.items() if role == "DSO"]
    first_dso: DsoClient = clients[dsos[0]] if dsos else oracle  # type: ignore[assignment]
    if not dsos:
        run.record("grant_roles", admin.grant_role("DSO", oracle.address))
        first_dso = DsoClient(contracts, keys[1], gas)
    # a zone is published by the DSO whose needs are in it (only it may post DSO needs
    # there and pre-qualify its assets), else by the first DSO
    zone_owner: dict[str, DsoClient] = {}
    for r in scenario.get("requests", []):
        owner = clients.get(r["buyer"])
        if r.get("zone") is not None and roles.get(r["buyer"]) == "DSO":
            zone_owner.setdefault(r["zone"], owner)  # type: ignore[arg-type]
    for zone in scenario.get("zones", []):
        limit = zone.get("limit_w")
        limit_w = max(limit) if isinstance(limit, list) else int(limit or 0)
        zone_dso = zone_owner.setdefault(zone["id"], first_dso)
        run.record("register_zone", zone_dso.register_zone(label(zone["id"]), limit_w))
    asset_ids = {a["id"]: asset_id(a["id"], ASSET_KEY) for a in scenario.get("assets", [])}
    for a in scenario.get("assets", []):
        manager = clients.get(a["manager"])
        if not isinstance(manager, AggregatorClient):
            continue  # only aggregators register assets; the engine rejects such bids
        run.record("register_asset", manager.register_asset(
            asset_ids[a["id"]], AssetType[a["type"].upper()], int(a["p_max_w"]),
            int(a.get("p_min_w", 0)), label(a["zone"]), manager.address))  # fmt: skip
        run.record("prequalify", zone_owner.get(a["zone"], first_dso).prequalify(
            asset_ids[a["id"]]))  # fmt: skip

    # --- session and needs
    # the grid inputs come from the DSO's model: built before the session's clock starts
    grid = json.loads(json.dumps(grids[0](scenario))) if scenario.get("grid") is not None and (
        grids[0] is not None) else None  # fmt: skip
    latest = w3.eth.get_block("latest")
    now = int(latest["timestamp"])
    # gate closure leaves time for a commit per bid (one per block, below), the reveal
    # deadline time for a reveal per bid: two seconds each on a local chain (its clock is
    # moved past each deadline: no wall time lost, and a loaded machine stays within them),
    # two blocks each on a chain that mines on its own (a URL)
    per_bid_s = 2 if local is not None else 2 * _block_interval(w3, latest)
    bid_window_s = len(scenario.get("bids", [])) * per_bid_s
    now += bid_window_s
    reveal_extra_s = bid_window_s
    cap = market.get("price_cap_eur_per_mw")
    params = SessionParams(
        market_id=label(market["id"][:32]), product=label(market.get("product", "PowerMax")[:32]),
        pricing=Pricing.UNIFORM if market.get("pricing") == "uniform" else Pricing.PAY_AS_BID,
        slot_count=slots, slot_minutes=int(market.get("slot_minutes", 15)),
        delivery_start=now + 4 * PHASE_S + reveal_extra_s, bidding_end=now + PHASE_S,
        reveal_deadline=now + 2 * PHASE_S + reveal_extra_s,
        clearing_deadline=now + 3 * PHASE_S + reveal_extra_s,
        min_bid_w=int(market.get("min_bid_w", 0)),
        granularity_w=int(market.get("granularity_w", 1)),
        price_floor_eur_per_mw=int(market.get("price_floor_eur_per_mw", 0)),
        price_cap_eur_per_mw=NO_LIMIT if cap is None else int(cap),
        unmet_penalty_eur_per_mw=min(int(scenario.get("unmet_penalty_eur_per_mw", 10**12)),
                                     NO_LIMIT),
        bid_bond_ueur=BOND_UEUR, collateral_ueur_per_w=COLLATERAL_UEUR_PER_W,
        shortfall_penalty_eur_per_mw=PENALTY_EUR_PER_MW, tolerance_bps=TOLERANCE_BPS,
        attestation_quorum=quorum, correction_window_s=CORRECTION_WINDOW_S,
    )  # fmt: skip
    if slots > 256:
        raise ClientError(f"market.slots: {slots} slots do not fit a bid's 256-bit slot mask")
    mark = len(oracle.wallet.sent)
    session_id = oracle.open_session(params)
    run.record_sent("open_session", oracle, mark)
    if grid is not None:  # grid inputs: what every node clears with (issue 19)
        _publish_grid(run, oracle, session_id, grid, asset_ids, grids[1])
        scenario = {**scenario, "grid": grid}  # cleared with them
    # (a grid session is cleared by its grid, not by coordination: its zones' forecasts are
    # published with the grid inputs)
    coordination = None if scenario.get("grid") is not None else coordination_json(scenario)
    if coordination is not None:
        run.record("publish_coordination", oracle.publish_coordination(session_id, coordination))
    need_index: dict[str, int] = {}
    budgets: dict[int, int] = {}
    for r in scenario.get("requests", []):
        buyer = clients[r["buyer"]]
        assert isinstance(buyer, BuyerClient)
        quantities = _per_slot(r["quantity_w"], slots)
        max_price = r.get("max_price_eur_per_mw")
        eligible = [b for b in scenario.get("bids", []) if _serves(b, r)]
        # A bound on what any clearing can pay from this need (uniform pricing included).
        top = max((int(b["price_eur_per_mw"]) for b in eligible), default=0)
        budget = max(1, sum(int(b["quantity_w"]) for b in eligible) * top)
        need = NeedParams(
            session_id, ZERO32 if r.get("zone") is None else label(r["zone"]),
            _direction(r["direction"]), BuyerRole[roles[r["buyer"]]], budget, quantities,
            NO_LIMIT if max_price is None else int(max_price),
        )  # fmt: skip
        mark = len(buyer.wallet.sent)
        need_index[r["id"]] = buyer.post_need(need)
        budgets[need_index[r["id"]]] = budget
        run.record_sent("post_need", buyer, mark)
    # balance_dso: each DSO with a zonal need posts a balancing need per direction, a budget
    # for counter-activations (no quantities: it asks for no watts)
    balancing: list[NeedInfo] = []
    if market.get("balance_dso"):
        zonal = {r["buyer"] for r in scenario.get("requests", []) if r.get("zone") is not None}
        for pid in (d for d in dsos if d in zonal):
            buyer = clients[pid]
            assert isinstance(buyer, BuyerClient)
            for direction in ("up", "down"):
                offers = [b for b in scenario.get("bids", []) if b["direction"] == direction]
                top = max((int(b["price_eur_per_mw"]) for b in offers), default=0)
                budget = max(1, sum(int(b["quantity_w"]) for b in offers) * top)
                need = NeedParams(session_id, ZERO32, _direction(direction), BuyerRole.DSO,
                                  budget, ())  # fmt: skip
                mark = len(buyer.wallet.sent)
                index = buyer.post_need(need)
                run.record_sent("post_need", buyer, mark)
                budgets[index] = budget
                need_index[f"{pid}/balancing-{direction}"] = index
                balancing.append(NeedInfo(index, pid, None, direction, None, balancing=True))

    # --- sealed bids: join, commit (batched per seller), reveal
    log.info("session %d open: sealed bids", session_id)
    bids = scenario.get("bids", [])
    by_seller: dict[str, list[tuple[str, BidFields]]] = {}
    unsubmittable: dict[str, str] = {}
    for b in bids:
        seller = clients.get(b["seller"])
        if not isinstance(seller, AggregatorClient):
            continue
        if int(b["price_eur_per_mw"]) < 0:
            # prices are unsigned on chain: the seller's SDK cannot even form this bid
            unsubmittable[b["id"]] = "price_eur_per_mw is negative: not expressible on chain"
            continue
        mask = sum(1 << s for s in b["slots"]) if b.get("slots") else (1 << slots) - 1
        if b.get("slots") and not all(0 <= s < 256 for s in b["slots"]):
            mask = 0  # not expressible: an empty mask, refused at reveal
        fields = BidFields(
            label(b["zone"][:32]), _direction(b["direction"]), bool(b.get("divisible", False)),
            int(b["quantity_w"]), int(b["price_eur_per_mw"]), mask,
            BidFields.sorted_assets([asset_id(a, ASSET_KEY) for a in b["assets"]]),
            new_salt(), int(b.get("min_quantity_w") or 0),
        )  # fmt: skip
        by_seller.setdefault(b["seller"], []).append((b["id"], fields))
    chain_bid_id: dict[str, bytes] = {}
    for sid_name, items in by_seller.items():
        seller = clients[sid_name]
        assert isinstance(seller, AggregatorClient)
        run.record("join", seller.join_session(session_id, len(items)))
    # one commit per block in the file's tie-break order: the chain's commit times keep it
    order = {b["id"]: (_instant(b.get("submitted_at")), b["id"]) for b in bids}
    commits = sorted(((order[n], s, n, f) for s, items in by_seller.items() for n, f in items),
                     key=lambda c: c[0])  # fmt: skip
    last_commit = 0
    for _, sid_name, bid_name, fields in commits:
        seller = clients[sid_name]
        assert isinstance(seller, AggregatorClient)
        if last_commit and local is not None:  # a later block time than the previous commit's
            run.wait_until(last_commit + 1)  # (a chain that mines on its own: the next block)
        mark = len(seller.wallet.sent)
        chain_bid_id[bid_name] = seller.commit_bid(session_id, fields)
        run.record_sent("commit_bid", seller, mark)
        last_commit = int(w3.eth.get_block("latest")["timestamp"])
        progress(log, "sealed bids committed", len(chain_bid_id), len(commits))
    log.info("%d bids committed", len(commits))
    run.wait_until(params.bidding_end, "gate closure")
    log.info("revealing the bids")
    refused: dict[str, str] = {}
    revealed = 0
    for sid_name, items in by_seller.items():
        seller = clients[sid_name]
        assert isinstance(seller, AggregatorClient)
        for bid_name, fields in items:
            try:
                run.record("reveal", seller.reveal_bid(session_id, fields))
            except TransactionReverted as exc:
                refused[bid_name] = exc.error
            revealed += 1
            progress(log, "bids revealed", revealed, len(commits))
    run.wait_until(params.reveal_deadline, "the reveal deadline")
    for bid_name in refused:
        run.record("forfeit_bond", oracle.forfeit_bond(chain_bid_id[bid_name]))

    # --- clearing with the engine, result commit
    log.info("clearing with the engine")
    result = dict(clear(scenario))
    rows = []
    bid_by_id = {b["id"]: b for b in bids}
    # who pays: the payer rule (oracle.payers), the same for every session; a coordinated
    # result carries it as `shares`
    payers = result["shares"] if result.get("shares") is not None else _payer_shares(
        scenario, result)  # fmt: skip
    shares = shares_by_award(payers)
    counters = counter_activations(payers)
    needs = [
        NeedInfo(need_index[r["id"]], r["buyer"], r.get("zone"), r["direction"],
                 r.get("max_price_eur_per_mw"))
        for r in scenario.get("requests", [])
    ] + balancing  # fmt: skip
    for a in result["awards"]:
        if a["bid"] in refused or a["bid"] in unsubmittable or a["bid"] not in chain_bid_id:
            raise ClientError(f"award of bid {a['bid']} which the chain refused")
    # in the order they are committed (bid id on chain), as the oracle service draws budgets
    for a in sorted(result["awards"], key=lambda a: chain_bid_id[a["bid"]]):
        b, price = bid_by_id[a["bid"]], int(a["price_eur_per_mw"])
        for index, w, charged in share_rows(
            a["bid"], b["zone"], b["direction"], int(a["quantity_w"]), price,
            shares.get(a["bid"], []), needs, budgets, counter=a["bid"] in counters,
        ):  # each buyer's share from its own needs
            rows.append(AwardRow(chain_bid_id[a["bid"]], index, w, price, charged))
    if tamper_rows is not None:
        rows = tamper_rows(rows, dict(need_index))
    input_hash = bytes.fromhex(result["input_hash"].removeprefix("0x"))
    result_hash = bytes.fromhex(result["result_hash"].removeprefix("0x"))
    run.record("commit_result", oracle.commit_result(session_id, input_hash, result_hash, rows))

    # --- validator nodes: attest (or dispute) before any payment
    log.info("result committed: %d award rows", len(rows))
    verification: dict[str, Any] | None = None
    if validate is not None:
        url = str(getattr(w3.provider, "endpoint_uri", ""))
        verification = dict(validate(url, deployment.to_json(), session_id, validator_keys))
    else:  # no validator node: the one validator account attests (quorum 1)
        run.record("attest", ValidatorClient(contracts, validator_keys[0], gas).attest(
            session_id, result_hash))  # fmt: skip
    payable = verification is None or verification.get("status") == "Final"

    # --- delivery (full), settlement, releases, withdrawals
    log.info("delivery, settlement and withdrawals")
    award_count = sum(1 for r in rows if r.quantity_w) if payable else 0
    if award_count:
        delivered = {i: int(oracle.award(session_id, i)[1][1]) for i in range(award_count)}
        run.record("record_deliveries", metering.record_deliveries(
            session_id, delivered, label("demo-metering-report")))  # fmt: skip
        # the correction window: the metering operator may still correct these deliveries
        time.sleep(CORRECTION_WINDOW_S)
        for i in range(award_count):
            run.record("settle", _settle_after_window(oracle, session_id, i))
    for index in sorted(need_index.values()) if payable else []:  # balancing needs too
        run.record("release", oracle.release_budget(session_id, index))
    for sid_name in by_seller if payable else []:
        run.record("release", oracle.release_seller_funds(session_id, clients[sid_name].address))
    balances: dict[str, int] = {}
    for pid, client in clients.items():
        client.withdraw_all()
        balances[pid] = client.token_balance()
    buyers = [pid for pid, role in roles.items() if role != "aggregator"]
    operator_forfeits = oracle.withdraw_all()

    largest = gas.largest
    chain_info = {
        "chain_id": deployment.chain_id,
        "contracts": deployment.to_json()["contracts"],
        "session_id": session_id,
        "tx": run.txs,
        "balances_ueur": balances,
        "operator_forfeits_ueur": operator_forfeits,
        "refused_bids": {**refused, **unsubmittable},
        # need index per request id, and per "<DSO>/balancing-<direction>" (balance_dso)
        "needs": dict(need_index),
        # what each buyer's escrow paid in this session (deposit - withdrawn)
        "payments_ueur": {pid: DEPOSIT_UEUR - balances[pid] for pid in buyers},
        "gas": {
            kind: max((largest.get(n, 0) for n in names), default=0)
            for kind, names in GAS_KINDS.items()
        },
        "gas_by_call": dict(sorted(largest.items())),
    }
    if verification is not None:
        return {**result, "chain": chain_info, "verification": verification}
    return {**result, "chain": chain_info}


def _settle_after_window(oracle: OracleClient, session_id: int, award_index: int) -> list[Any]:
    """Settle an award once its correction window closed, in real time: sent with a fixed gas
    (no estimate against the latest block, whose time is the delivery's), and tried again a
    second later while the mined block's time is still inside the window."""
    for _ in range(CORRECTION_WINDOW_S + 5):
        try:
            return oracle.settle_award(session_id, award_index, gas=SETTLE_GAS)
        except TransactionReverted as exc:
            if exc.error != "FlexMarketCorrectionWindowOpen":
                raise
            time.sleep(1)
    return oracle.settle_award(session_id, award_index, gas=SETTLE_GAS)


def _block_interval(w3: Web3, latest: Any) -> int:
    """Seconds between the chain's last two blocks (at least 1)."""
    number = int(latest["number"])
    if number == 0:
        return 1
    parent = w3.eth.get_block(number - 1)
    return max(1, int(latest["timestamp"]) - int(parent["timestamp"]))


def _publish_grid(
    run: _Run, oracle: OracleClient, session_id: int, grid: Mapping[str, Any],
    asset_ids: Mapping[str, bytes], tamper: TamperGrid | None,
) -> None:
    """Publish the session's grid inputs with the chain's asset ids (`grid` has the
    scenario's)."""
    on_chain = json.loads(json.dumps(grid))
    ids = {name: "0x" + a.hex() for name, a in asset_ids.items()}
    on_chain["inputs"]["assets"] = sorted(
        ({**a, "id": ids.get(a["id"], a["id"])} for a in on_chain["inputs"]["assets"]),
        key=lambda a: str(a["id"]),
    )
    if tamper is not None:
        on_chain = tamper(on_chain)
    body = json.dumps(on_chain, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    run.record("publish_grid", oracle.publish_grid(session_id, body.encode()))


def exit_code(out: Mapping[str, Any]) -> int:
    """`flexmarket demo`'s exit code: 1 when validator nodes ran and did not all verify the
    result (not final: nothing was settled), else 0."""
    verification = out.get("verification")
    return 1 if verification is not None and not verification.get("ok") else 0


def _instant(text: str | None) -> float:
    """A scenario time as seconds (a bid without `submitted_at` sorts first)."""
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp() if text else float("-inf")


def _serves(bid: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    """The eligibility rule (oracle.rules.may_serve) of a bid and a request of a scenario
    file."""
    return may_serve(bid["zone"], bid["direction"], int(bid["price_eur_per_mw"]),
                     request.get("zone"), request["direction"],
                     request.get("max_price_eur_per_mw"))  # fmt: skip


def _payer_shares(scenario: Mapping[str, Any], result: Mapping[str, Any]) -> Any:
    """Who pays each award of a result without `shares` (a plain or grid session): the
    engine's payer rule, the one the oracle service and every replica apply."""
    from oracle.payers import payer_shares_json

    return payer_shares_json(scenario, result)
