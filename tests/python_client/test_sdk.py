"""The participant SDK on a local anvil: deploy, a whole FLECH session through the role
clients (each with its own key), decoded events, error names, gas and no meter code on chain."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from python_client.artifacts import ensure_artifacts
from python_client.chain import Contracts, Wallet, connect, deploy
from python_client.clients import (
    AdminClient,
    AggregatorClient,
    DsoClient,
    MeteringClient,
    OracleClient,
    ValidatorClient,
)
from python_client.errors import TransactionReverted
from python_client.hashing import asset_id, label, new_salt
from python_client.localchain import LocalChain, start_chain
from python_client.records import (
    AssetType,
    AwardRow,
    BidFields,
    BuyerRole,
    Direction,
    GasLog,
    NeedParams,
    Pricing,
    ResultStatus,
    SessionParams,
)

KEY = b"flexmarket-sdk-test-key"
DEPOSIT = 10**12
ZONE = label("T1")


@dataclass
class Market:
    chain: LocalChain
    contracts: Contracts
    admin: AdminClient
    dso: DsoClient
    fo1: AggregatorClient
    fo2: AggregatorClient
    oracle: OracleClient
    metering: MeteringClient
    gas: GasLog
    validator: ValidatorClient


@pytest.fixture(scope="module")
def market() -> Iterator[Market]:
    ensure_artifacts()
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        gas = GasLog()
        deployment = deploy(w3, Wallet(w3, keys[0], gas_log=gas))
        contracts = Contracts(w3, deployment)
        m = Market(
            chain, contracts,
            AdminClient(contracts, keys[0], gas), DsoClient(contracts, keys[1], gas),
            AggregatorClient(contracts, keys[2], gas), AggregatorClient(contracts, keys[3], gas),
            OracleClient(contracts, keys[4], gas), MeteringClient(contracts, keys[5], gas), gas,
            ValidatorClient(contracts, keys[6], gas),
        )  # fmt: skip
        for role, client in [("DSO", m.dso), ("AGGREGATOR", m.fo1), ("AGGREGATOR", m.fo2),
                             ("ORACLE", m.oracle), ("METERING", m.metering),
                             ("VALIDATOR", m.validator)]:  # fmt: skip
            m.admin.grant_role(role, client.address)
        for client in (m.dso, m.fo1, m.fo2):
            m.admin.mint(client.address, DEPOSIT)
            client.deposit(DEPOSIT)
        m.dso.register_zone(ZONE, 175_000)
        yield m


def _sleep_until(chain: LocalChain, timestamp: int) -> None:
    chain.rpc("evm_setNextBlockTimestamp", [timestamp])
    chain.rpc("evm_mine", [])


def test_a_flech_session_runs_end_to_end_through_the_role_clients(market: Market) -> None:
    m = market
    assets: dict[str, list[bytes]] = {}
    for client, name, count in ((m.fo1, "FO1", 5), (m.fo2, "FO2", 9)):
        ids = [asset_id(f"{name}-EV{i}-meter", KEY) for i in range(1, count + 1)]
        for aid in ids:
            client.register_asset(aid, AssetType.LOAD, 3700, 0, ZONE, client.address)
            m.dso.prequalify(aid)
        assets[name] = ids
    now = int(m.contracts.w3.eth.get_block("latest")["timestamp"])
    params = SessionParams(
        market_id=label("T1-PowerMax-2014W"), product=label("PowerMax"),
        pricing=Pricing.PAY_AS_BID, slot_count=14, slot_minutes=15, delivery_start=now + 4000,
        bidding_end=now + 1000, reveal_deadline=now + 2000, clearing_deadline=now + 3000,
        min_bid_w=1000, granularity_w=100, bid_bond_ueur=1_000_000, collateral_ueur_per_w=10_000,
        shortfall_penalty_eur_per_mw=100_000, tolerance_bps=1000,
    )  # fmt: skip
    sid = m.dso.open_session(params)
    need = NeedParams(sid, ZONE, Direction.UP, BuyerRole.DSO, 40_000_000_000, (37_800,))
    assert m.dso.post_need(need) == 0
    m.fo1.join_session(sid, 1)
    m.fo2.join_session(sid, 2)
    all_slots = (1 << 14) - 1

    def bid(quantity: int, price: int, ids: list[bytes], divisible: bool = False) -> BidFields:
        return BidFields(ZONE, Direction.UP, divisible, quantity, price, all_slots,
                         BidFields.sorted_assets(ids), new_salt())  # fmt: skip

    fo1b1 = bid(12_300, 500_000, assets["FO1"][:4])
    fo2b1 = bid(12_300, 700_000, assets["FO2"][:4])
    fo2b2 = bid(15_400, 1_000_000, assets["FO2"][4:], divisible=True)
    id1 = m.fo1.commit_bid(sid, fo1b1)
    id2, id3 = m.fo2.commit_bids(sid, [fo2b1, fo2b2])
    _sleep_until(m.chain, params.bidding_end)
    events = m.fo1.reveal_bid(sid, fo1b1)
    revealed = next(e for e in events if e.name == "BidRevealed")
    assert revealed.args["bidId"] == id1 and revealed.args["quantityW"] == 12_300
    m.fo2.reveal_bids(sid, [fo2b1, fo2b2])
    _sleep_until(m.chain, params.reveal_deadline)
    awards = [AwardRow(id1, 0, 12_300, 500_000), AwardRow(id2, 0, 12_300, 700_000),
              AwardRow(id3, 0, 13_200, 1_000_000)]  # fmt: skip
    m.oracle.commit_result(sid, label("input-hash"), label("result-hash"), awards)
    # quorum 1: a validator checks
    assert m.dso.session(sid).money.result_status == ResultStatus.PENDING
    m.validator.attest(sid, label("result-hash"))
    operator, timing, rules, money, *_ = m.dso.session(sid)
    assert money[0] == ResultStatus.FINAL and money[4] == 3
    delivered = {i: m.dso.award(sid, i).core.quantity_w for i in range(3)}
    m.metering.record_deliveries(sid, delivered, label("metering-report"))
    m.dso.settle_awards(sid, 0, 3)
    m.dso.release_budget(sid, 0)
    for seller in (m.fo1, m.fo2):
        seller.release_seller_funds(sid, seller.address)
    total = 12_300 * 500_000 + 12_300 * 700_000 + 13_200 * 1_000_000
    assert total == 27_960_000_000  # the FLECH case study's cost
    assert m.dso.balances() == (DEPOSIT - total, 0)
    assert m.fo1.balances() == (DEPOSIT + 12_300 * 500_000, 0)
    assert m.fo2.balances() == (DEPOSIT + 12_300 * 700_000 + 13_200 * 1_000_000, 0)
    assert m.fo2.withdraw_all() == DEPOSIT + 12_300 * 700_000 + 13_200 * 1_000_000
    assert m.fo2.token_balance() == DEPOSIT + 12_300 * 700_000 + 13_200 * 1_000_000
    g = m.gas.largest
    assert g["commitBid"] <= 55_000 and g["revealBid"] <= 120_000 and g["settleAwards"] <= 150_000
    print("\ngas (largest per call kind):", dict(sorted(g.items())))


def test_a_revert_carries_the_contract_error_name(market: Market) -> None:
    with pytest.raises(TransactionReverted) as info:
        market.fo1.withdraw(10**30)
    assert info.value.error == "EscrowInsufficientFree"
    assert info.value.function == "withdraw"


def test_sessions_below_the_minimum_quorum_are_refused(market: Market) -> None:
    """Issue 11.4: the deployment's minimum quorum (1, then what the admin sets) binds every
    session opener; the SDK's defaults (quorum 1, deadlines derived) pass."""
    m = market
    assert m.admin.minimum_quorum() == 1
    now = int(m.contracts.w3.eth.get_block("latest")["timestamp"])
    params = SessionParams(
        market_id=label("quorum"), product=label("PowerMax"), pricing=Pricing.PAY_AS_BID,
        slot_count=4, slot_minutes=15, delivery_start=now + 400, bidding_end=now + 100,
        reveal_deadline=now + 200, clearing_deadline=now + 300, attestation_quorum=0,
    )  # fmt: skip
    with pytest.raises(TransactionReverted) as info:
        m.oracle.open_session(params)
    assert info.value.error == "FlexMarketQuorumBelowMinimum"
    assert params.deadlines() == (now + 400, now + 400 + 3600 + 100)
    events = m.admin.set_minimum_quorum(2)
    assert events[0].name == "MinimumQuorumSet" and events[0].args["minimumQuorum"] == 2
    with pytest.raises(TransactionReverted) as info:
        m.oracle.open_session(replace(params, attestation_quorum=1))
    assert info.value.error == "FlexMarketQuorumBelowMinimum"
    m.oracle.open_session(replace(params, attestation_quorum=2))
    m.admin.set_minimum_quorum(1)


def test_no_meter_code_appears_in_any_calldata_or_log(market: Market) -> None:
    w3 = market.contracts.w3
    latest = w3.eth.block_number
    seen = 0
    for number in range(1, latest + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            receipt = w3.eth.get_transaction_receipt(tx["hash"])
            blobs = [bytes(tx["input"])] + [bytes(log["data"]) for log in receipt["logs"]]
            assert not any(b"-meter" in blob or b"EV1-" in blob for blob in blobs)
            seen += 1
    assert seen > 50
