"""FlexMarket: sealed bids (commit, batch commit, reveal and its checks, bond forfeiture)."""

from brownie import web3
from conftest import (
    BID_COMMITTED,
    BID_FORFEITED,
    BID_REVEALED,
    DOWN,
    INITIAL_DEPOSIT_UEUR,
    bid_id_of,
    commitment,
    label,
    reverts,
)


def _joined_session(env, bids=4, **overrides):
    sid = env.open_session(**overrides)
    env.join(sid, env.agg1, bids)
    return sid


def test_commit_bid_records_seller_session_and_time(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    bid_id, tx = env.commit(env.agg1, bid)
    assert tx.return_value == bid_id
    core, terms = env.market.bid(bid_id)
    assert (core[0], core[1], core[2], core[3]) == (env.agg1, sid, BID_COMMITTED, tx.timestamp)
    assert terms[0] == 0  # nothing revealed
    event = tx.events["BidCommitted"]
    assert (event["sessionId"], event["bidId"], event["seller"]) == (sid, bid_id, env.agg1)


def test_bid_id_of_matches_the_sdk_computation(env):
    c = "0x" + "ab" * 32
    assert env.market.bidIdOf(env.agg1, c) == bid_id_of(env.agg1.address, c)


def test_commit_bid_reverts_when_the_same_seller_commits_the_same_hash(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.commit(env.agg1, bid)
    with reverts("FlexMarketBidExists"):
        env.commit(env.agg1, bid)


def test_commit_bid_by_a_copycat_does_not_block_the_original(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    c = commitment(env.agg1.address, bid)
    env.join(sid, env.agg2, 1)
    env.market.commitBid(sid, c, {"from": env.agg2})  # front-runs with the same hash
    original, _ = env.commit(env.agg1, bid)  # still accepted: the id binds the sender
    copy = bid_id_of(env.agg2.address, c)
    assert original != copy
    for bid_id, seller in ((original, env.agg1), (copy, env.agg2)):
        core = env.market.bid(bid_id)[0]
        assert (core[0], core[2]) == (seller.address, BID_COMMITTED)


def test_commit_bids_commits_a_batch(env):
    sid = _joined_session(env, bids=10)
    assets = env.register_assets(env.agg1, 4)
    bids = [env.make_bid(sid, assets) for _ in range(10)]
    commitments = [commitment(env.agg1.address, b) for b in bids]
    tx = env.market.commitBids(sid, commitments, {"from": env.agg1})
    assert len(tx.events["BidCommitted"]) == 10
    for c in commitments:
        assert env.market.bid(bid_id_of(env.agg1.address, c))[0][2] == BID_COMMITTED
    print(f"\ncommitBids x10: {tx.gas_used} gas, {tx.gas_used // 10} per bid")


def test_commit_bids_reverts_when_a_commitment_repeats(env):
    sid = _joined_session(env)
    c = "0x" + "cd" * 32
    with reverts("FlexMarketBidExists"):
        env.market.commitBids(sid, [c, c], {"from": env.agg1})


def test_reveal_bid_checks_and_locks_collateral(env):
    sid = _joined_session(env)
    assets = env.register_assets(env.agg1, 4)
    bid = env.make_bid(sid, assets, quantity_w=12_300, price=500_000)
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    free_before, locked_before = env.balances(env.agg1)
    tx = env.reveal(env.agg1, bid)
    assert tx.return_value == bid_id
    collateral = 12_300 * 50_000
    assert env.balances(env.agg1) == (free_before - collateral, locked_before + collateral)
    core, terms = env.market.bid(bid_id)
    assert core[2] == BID_REVEALED
    assert (terms[0], terms[1], terms[2], terms[4]) == (12_300, 12_300, 500_000, 1)
    p = env.market.participation(sid, env.agg1)
    assert (p[1], p[4]) == (1, collateral)
    event = tx.events["BidRevealed"]
    assert event["assetIds"] == assets and event["collateralUeur"] == collateral
    assert event["zone"] == env.zone and event["quantityW"] == 12_300


def test_reveal_divisible_bid_defaults_min_quantity_to_largest_p_min(env):
    sid = _joined_session(env)
    assets = env.register_assets(env.agg1, 2, p_max_w=3700, p_min_w=1500)
    bid = env.make_bid(sid, assets, quantity_w=7_000, divisible=True)
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    env.reveal(env.agg1, bid)
    assert env.market.bid(bid_id)[1][1] == 1_500


def test_reveal_reverts_when_bid_was_not_committed(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.to_reveal(sid)
    with reverts("FlexMarketBidNotCommitted"):
        env.reveal(env.agg1, bid)


def test_reveal_reverts_when_another_seller_reveals_the_bid(env):
    sid = _joined_session(env)
    env.join(sid, env.agg2)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    with reverts("FlexMarketBidNotCommitted"):
        env.reveal(env.agg2, bid)


def test_reveal_reverts_when_a_field_differs_from_the_commitment(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4), price=500_000)
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    changed = bid[:6] + (400_000,) + bid[7:]
    with reverts("FlexMarketBidNotCommitted"):
        env.reveal(env.agg1, changed)


def test_reveal_reverts_when_already_revealed(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    env.reveal(env.agg1, bid)
    with reverts("FlexMarketBidStatusInvalid"):
        env.reveal(env.agg1, bid)


def test_commit_reverts_after_gate_closure(env):
    """Issue 11: a late commit is refused, no longer accepted and void at reveal."""
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.commit(env.agg1, bid)


def test_reveal_reverts_before_gate_closure(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.commit(env.agg1, bid)
    with reverts("FlexMarketRevealNotOpen"):
        env.reveal(env.agg1, bid)


def test_reveal_reverts_after_the_reveal_deadline(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    env.commit(env.agg1, bid)
    env.to_clearing(sid)
    with reverts("FlexMarketRevealClosed"):
        env.reveal(env.agg1, bid)


def test_commit_reverts_when_seller_never_joined(env):
    sid = env.open_session()
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    with reverts("FlexMarketNotJoined"):
        env.commit(env.agg1, bid)


def test_commit_reverts_when_seller_exceeds_its_allowance(env):
    sid = _joined_session(env, bids=1)
    assets = env.register_assets(env.agg1, 8)
    first, second = env.make_bid(sid, assets[:4]), env.make_bid(sid, assets[4:])
    env.commit(env.agg1, first)
    with reverts("FlexMarketTooManyBids"):
        env.commit(env.agg1, second)


def _reveal_reverts(env, expected, bid_kwargs=None, assets=None, session_kwargs=None):
    sid = _joined_session(env, **(session_kwargs or {}))
    assets = assets if assets is not None else env.register_assets(env.agg1, 4)
    bid = env.make_bid(sid, assets, **(bid_kwargs or {}))
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    with reverts(expected):
        env.reveal(env.agg1, bid)


def test_reveal_reverts_when_quantity_below_minimum_bid(env):
    _reveal_reverts(env, "FlexMarketBidBelowMinimum", {"quantity_w": 900})


def test_reveal_reverts_when_quantity_is_zero(env):
    _reveal_reverts(
        env, "FlexMarketBidBelowMinimum", {"quantity_w": 0}, session_kwargs={"minBidW": 0}
    )


def test_reveal_reverts_when_quantity_not_a_multiple_of_granularity(env):
    _reveal_reverts(env, "FlexMarketBidNotGranular", {"quantity_w": 12_350})


def test_reveal_reverts_when_price_above_cap(env):
    _reveal_reverts(
        env,
        "FlexMarketBidPriceOutOfRange",
        {"price": 2_000_001},
        session_kwargs={"priceCapEurPerMw": 2_000_000},
    )


def test_reveal_reverts_when_price_below_floor(env):
    _reveal_reverts(
        env,
        "FlexMarketBidPriceOutOfRange",
        {"price": 99},
        session_kwargs={"priceFloorEurPerMw": 100},
    )


def test_reveal_reverts_when_slots_do_not_exist(env):
    _reveal_reverts(env, "FlexMarketBidSlotsInvalid", {"mask": 1 << 14})


def test_reveal_reverts_when_slot_mask_is_empty(env):
    _reveal_reverts(env, "FlexMarketBidSlotsInvalid", {"mask": 0})


def test_reveal_accepts_all_256_slots(env):
    """A session of 256 slots: a bid over every one of them is revealed, its slot mask
    (the top bit included) as committed."""
    sid = _joined_session(env, slotCount=256)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    tx = env.reveal(env.agg1, bid)
    assert env.market.bid(bid_id)[0][2] == BID_REVEALED
    assert tx.events["BidRevealed"]["slotMask"] == 2**256 - 1


def test_reveal_reverts_when_bid_names_no_asset(env):
    _reveal_reverts(env, "FlexMarketBidWithoutAssets", assets=[])


def test_reveal_reverts_when_asset_not_managed(env):
    _reveal_reverts(env, "FlexRegistryAssetNotManaged", assets=env.register_assets(env.agg2, 4))


def test_reveal_reverts_when_asset_not_prequalified(env):
    _reveal_reverts(
        env,
        "FlexRegistryAssetNotPrequalified",
        assets=env.register_assets(env.agg1, 4, prequalify=False),
    )


def test_reveal_reverts_when_asset_outside_the_bid_zone(env):
    _reveal_reverts(
        env, "FlexRegistryAssetOutsideZone", assets=env.register_assets(env.agg1, 4, zone=env.zone2)
    )


def test_reveal_reverts_when_assets_cannot_carry_the_quantity(env):
    _reveal_reverts(env, "FlexMarketBidExceedsAssets", {"quantity_w": 14_900})


def test_reveal_reverts_when_divisible_minimum_exceeds_quantity(env):
    _reveal_reverts(
        env,
        "FlexMarketBidMinQuantityInvalid",
        {"divisible": True, "min_q": 13_000, "quantity_w": 12_300},
    )


def test_reveal_reverts_when_collateral_exceeds_free_balance(env):
    _reveal_reverts(
        env,
        "EscrowInsufficientFree",
        session_kwargs={"collateralUeurPerW": INITIAL_DEPOSIT_UEUR // 12_000},
    )


def test_reveal_reverts_when_zone_unknown(env):
    _reveal_reverts(env, "FlexRegistryZoneUnknown", {"zone": label("nowhere")})


def test_reveal_records_a_down_bid(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4), direction=DOWN)
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    env.reveal(env.agg1, bid)
    assert env.market.bid(bid_id)[1][5] == DOWN


def test_forfeit_bond_pays_the_operator_for_an_unrevealed_bid(env):
    sid = _joined_session(env, bids=2)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_clearing(sid)
    seller_before, operator_before = env.balances(env.agg1), env.balances(env.dso)
    tx = env.market.forfeitBond(bid_id, {"from": env.oracle})
    assert env.balances(env.agg1) == (seller_before[0], seller_before[1] - 1_000_000)
    assert env.balances(env.dso) == (operator_before[0] + 1_000_000, operator_before[1])
    assert env.market.bid(bid_id)[0][2] == BID_FORFEITED
    p = env.market.participation(sid, env.agg1)
    assert (p[2], p[3]) == (1, 1_000_000)
    assert tx.events["BondForfeited"]["amountUeur"] == 1_000_000


def test_forfeit_bond_reverts_while_reveals_are_open(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    with reverts("FlexMarketBondNotForfeitable"):
        env.market.forfeitBond(bid_id, {"from": env.oracle})


def test_forfeit_bond_reverts_when_bid_was_revealed(env):
    sid = _joined_session(env)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4))
    bid_id, _ = env.commit(env.agg1, bid)
    env.to_reveal(sid)
    env.reveal(env.agg1, bid)
    env.to_clearing(sid)
    with reverts("FlexMarketBondNotForfeitable"):
        env.market.forfeitBond(bid_id, {"from": env.oracle})


def test_reveal_calldata_and_logs_carry_no_meter_code(env):
    sid = _joined_session(env)
    assets = env.register_assets(env.agg1, 4)  # meter codes "meter-N" stay off chain
    bid = env.make_bid(sid, assets)
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    tx = env.reveal(env.agg1, bid)
    receipt = web3.eth.get_transaction_receipt(tx.txid)
    blobs = [bytes.fromhex(tx.input[2:])] + [bytes(log["data"]) for log in receipt["logs"]]
    assert not any(b"meter-" in blob for blob in blobs)


def test_commit_bid_reverts_when_session_id_does_not_fit_storage(env):
    with reverts("FlexMarketNotJoined"):  # no session of that id can be joined
        env.market.commitBid(2**48, "0x" + "ef" * 32, {"from": env.agg1})
