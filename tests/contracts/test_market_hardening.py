"""FlexMarket hardening (issue 11): nobody can stop, fool or freeze the market.

Each test fails on the contracts before issue 11: commits to sessions that are not open,
forfeits of unknown bids, unbacked commits, quorum 0, funds locked without end, metering
without evidence or correction, DSO needs in other DSOs' zones, share rows at other prices
or of nothing, and zones needing up and down in one slot.
"""

from conftest import (
    BUYER_DSO,
    BUYER_TSO,
    DOWN,
    NO_LIMIT,
    RES_FINAL,
    RES_PENDING,
    UNIFORM,
    UP,
    label,
    reverts,
)

EVIDENCE = label("meter-data-file")
BOND = 1_000_000


def _session_with_unrevealed(env, committed=3, revealed=1, **overrides):
    """agg1 joined with `committed` bids, committed them all, revealed `revealed`; the chain
    is at the reveal deadline."""
    sid = env.open_session(**overrides)
    env.post_need(sid)
    env.join(sid, env.agg1, committed)
    assets = env.register_assets(env.agg1, 4)
    bids = [env.make_bid(sid, assets, price=500_000 + i) for i in range(committed)]
    ids = [env.commit(env.agg1, b)[0] for b in bids]
    env.to_reveal(sid)
    for b in bids[:revealed]:
        env.reveal(env.agg1, b)
    env.to_clearing(sid)
    return sid, ids


# ---------------------------------------------------------------- 1. commits need an open session


def test_commit_reverts_for_a_session_that_is_not_open_yet(env):
    """The denial of service of issue 11.1: a role-less account committed to session N+1
    and forfeited it, so every replica met a BondForfeited before its SessionOpened."""
    stranger = env.accounts[9]  # holds no role
    next_id = int(env.market.sessionCount()) + 1
    with reverts("FlexMarketNotJoined"):
        env.market.commitBid(next_id, "0x" + "aa" * 32, {"from": stranger})
    with reverts("FlexMarketNotJoined"):
        env.market.commitBids(next_id, ["0x" + "ab" * 32], {"from": stranger})


def test_commit_reverts_when_the_seller_has_not_joined(env):
    sid = env.open_session()
    with reverts("FlexMarketNotJoined"):
        env.market.commitBid(sid, "0x" + "ac" * 32, {"from": env.agg1})


def test_commit_reverts_at_gate_closure(env):
    sid = env.open_session()
    env.join(sid, env.agg1, 2)
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.market.commitBid(sid, "0x" + "ad" * 32, {"from": env.agg1})


def test_forfeits_of_unknown_bids_and_sessions_revert(env):
    with reverts("FlexMarketBondNotForfeitable"):
        env.market.forfeitBond("0x" + "ae" * 32, {"from": env.accounts[9]})
    with reverts("FlexMarketSessionUnknown"):
        env.market.forfeitBonds(
            int(env.market.sessionCount()) + 1, env.agg1, {"from": env.accounts[9]}
        )


# ---------------------------------------------------------------- 2. every commit backed by a bond


def test_commit_reverts_beyond_the_joined_allowance(env):
    sid = env.open_session()
    env.join(sid, env.agg1, 2)
    env.market.commitBid(sid, "0x" + "b1" * 32, {"from": env.agg1})
    with reverts("FlexMarketTooManyBids"):
        env.market.commitBids(sid, ["0x" + "b2" * 32, "0x" + "b3" * 32], {"from": env.agg1})
    env.market.commitBid(sid, "0x" + "b2" * 32, {"from": env.agg1})
    with reverts("FlexMarketTooManyBids"):
        env.market.commitBid(sid, "0x" + "b3" * 32, {"from": env.agg1})
    p = env.market.participation(sid, env.agg1)
    assert (p[0], p[6]) == (2, 2)  # maxBids, committed


def test_forfeit_bonds_takes_every_unrevealed_bond_of_a_seller_at_once(env):
    sid, ids = _session_with_unrevealed(env, committed=3, revealed=1)
    operator_free = env.balances(env.dso)[0]
    seller_locked = env.balances(env.agg1)[1]
    tx = env.market.forfeitBonds(sid, env.agg1, {"from": env.accounts[9]})
    event = tx.events["BondsForfeited"]
    assert (event["seller"], event["operator"], event["bids"], event["amountUeur"]) == (
        env.agg1, env.dso, 2, 2 * BOND)
    assert env.balances(env.dso)[0] == operator_free + 2 * BOND
    assert env.balances(env.agg1)[1] == seller_locked - 2 * BOND
    with reverts("FlexMarketNothingToForfeit"):
        env.market.forfeitBonds(sid, env.agg1, {"from": env.accounts[9]})
    with reverts("FlexMarketBondNotForfeitable"):  # no bond left behind a single bid either
        env.market.forfeitBond(ids[2], {"from": env.accounts[9]})


def test_forfeit_bonds_costs_the_same_for_one_or_many_bids(env):
    """Forfeiting does not cost more than the spam: one write per seller, not per bid."""
    sid_one, _ = _session_with_unrevealed(env, committed=1, revealed=0)
    one = env.market.forfeitBonds(sid_one, env.agg1, {"from": env.oracle}).gas_used
    sid_many, _ = _session_with_unrevealed(env, committed=30, revealed=0)
    many = env.market.forfeitBonds(sid_many, env.agg1, {"from": env.oracle}).gas_used
    print(f"\nforfeitBonds: 1 bid {one} gas, 30 bids {many} gas")
    assert many == one and many < 60_000


def test_forfeit_bonds_reverts_while_reveals_are_open(env):
    sid = env.open_session()
    env.join(sid, env.agg1, 1)
    env.market.commitBid(sid, "0x" + "b4" * 32, {"from": env.agg1})
    env.to_reveal(sid)
    with reverts("FlexMarketNothingToForfeit"):
        env.market.forfeitBonds(sid, env.agg1, {"from": env.oracle})


def test_release_seller_funds_forfeits_the_unrevealed_bonds_first(env):
    sid, _ = _session_with_unrevealed(env, committed=3, revealed=1)
    env.to_after_clearing(sid)  # no result: the session ended without one
    tx = env.market.releaseSellerFunds(sid, env.agg1, {"from": env.accounts[9]})
    assert tx.events["BondsForfeited"]["amountUeur"] == 2 * BOND
    released = tx.events["SellerFundsReleased"]
    assert released["bondUeur"] == BOND and released["collateralUeur"] == 12_300 * 50_000


# ---------------------------------------------------------------- 4. k of n cannot be bypassed


def test_minimum_quorum_is_one_from_deployment(env):
    assert env.market.minimumQuorum() == 1
    with reverts("FlexMarketQuorumBelowMinimum"):
        env.open_session(attestationQuorum=0)
    with reverts("FlexMarketQuorumBelowMinimum"):
        env.open_session(opener=env.oracle, attestationQuorum=0)


def test_admin_sets_the_minimum_quorum_by_event(env):
    tx = env.market.setMinimumQuorum(3, {"from": env.admin})
    assert tx.events["MinimumQuorumSet"]["minimumQuorum"] == 3
    assert tx.events["MinimumQuorumSet"]["admin"] == env.admin
    with reverts("FlexMarketQuorumBelowMinimum"):
        env.open_session(attestationQuorum=2)
    env.open_session(attestationQuorum=3)
    with reverts("FlexMarketMinimumQuorumInvalid"):
        env.market.setMinimumQuorum(0, {"from": env.admin})
    for caller in (env.oracle, env.dso, env.validator):
        with reverts("FlexMarketUnauthorized"):
            env.market.setMinimumQuorum(1, {"from": caller})


def test_only_the_dso_or_the_market_operator_opens_sessions(env):
    for caller in (env.tso, env.brp, env.agg1, env.validator, env.metering, env.accounts[9]):
        with reverts("FlexMarketUnauthorized"):
            env.open_session(opener=caller)
    env.open_session(opener=env.oracle)
    env.open_session(opener=env.dso)


# ---------------------------------------------------------------- 5. no funds locked without end


def test_session_deadlines_must_follow_the_clearing_deadline(env):
    now = env.now()
    with reverts("FlexMarketSessionParamInvalid"):
        env.open_session(attestationDeadline=now + 30_000)  # = clearing deadline
    with reverts("FlexMarketSessionParamInvalid"):
        env.open_session(deliveryDeadline=now + 35_000)  # = attestation deadline


def test_a_result_not_final_at_the_attestation_deadline_releases_everything(env):
    s = env.revealed_session(attestationQuorum=2)
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    env.market.attestResult(sid, label("result"), {"from": env.validator})
    assert env.status(sid) == RES_PENDING
    with reverts("FlexMarketReleaseNotAllowed"):
        env.market.releaseBudget(sid, 0, {"from": env.accounts[9]})
    env.registry.grantRole(env.registry.VALIDATOR_ROLE(), env.owner, {"from": env.admin})
    env.sleep_until(int(env.session(sid)[1][9]))  # attestationDeadline
    with reverts("FlexMarketAttestationClosed"):  # the second attestation comes too late
        env.market.attestResult(sid, label("result"), {"from": env.owner})
    with reverts("FlexMarketAttestationClosed"):
        env.market.disputeResult(sid, label("late"), {"from": env.validator})
    budget_free, budget_locked = env.balances(env.dso)
    tx = env.market.releaseBudget(sid, 0, {"from": env.accounts[9]})
    assert tx.events["BudgetReleased"]["amountUeur"] == 37_800 * 1_000_000  # all of it
    paid = 37_800 * 1_000_000
    assert env.balances(env.dso) == (budget_free + paid, budget_locked - paid)
    for seller in (env.agg1, env.agg2):
        env.market.releaseSellerFunds(sid, seller, {"from": env.accounts[9]})
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.settleAward(sid, 0, {"from": env.accounts[9]})


def test_a_dispute_not_resolved_by_the_attestation_deadline_releases_everything(env):
    s = env.revealed_session()
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    env.market.disputeResult(sid, label("x"), {"from": env.validator})
    env.sleep_until(int(env.session(sid)[1][9]))
    with reverts("FlexMarketAttestationClosed"):
        env.market.resolveDispute(sid, True, {"from": env.admin})
    tx = env.market.releaseBudget(sid, 0, {"from": env.accounts[9]})
    assert tx.events["BudgetReleased"]["amountUeur"] == 37_800 * 1_000_000


def test_an_award_without_delivery_at_the_delivery_deadline_lapses(env):
    deadline = env.now() + 50_000
    s = env.revealed_session(deliveryDeadline=deadline)
    sid = s["session"]
    a, b = s["bids"][0], s["bids"][-1]
    env.commit_result(sid, [env.award(a, 12_300, 500_000), env.award(b, 15_400, 1_000_000)])
    assert env.status(sid) == RES_FINAL
    env.market.recordDeliveries(sid, [1], [15_400], EVIDENCE, {"from": env.metering})
    with reverts("FlexMarketDeliveryMissing"):
        env.market.settleAward(sid, 0, {"from": env.accounts[9]})
    env.sleep_until(deadline)
    with reverts("FlexMarketDeliveryClosed"):
        env.market.recordDeliveries(sid, [0], [12_300], EVIDENCE, {"from": env.metering})
    dso_free, dso_locked = env.balances(env.dso)
    seller_before = env.balances(env.agg1)
    tx = env.market.settleAwards(sid, 0, 2, {"from": env.accounts[9]})
    lapsed = tx.events["DeliveryLapsed"]
    assert (lapsed["awardIndex"], lapsed["seller"]) == (0, env.agg1)
    settled = [e for e in tx.events["AwardSettled"] if e["awardIndex"] == 0][0]
    assert (settled["paymentUeur"], settled["refundUeur"], settled["penaltyUeur"]) == (
        0, 12_300 * 500_000, 0)
    assert env.balances(env.agg1) == seller_before  # nothing paid, no penalty
    assert env.market.standingOf(env.agg1)[0] == 0  # not the seller's failure
    assert env.balances(env.dso)[0] == dso_free + 12_300 * 500_000
    assert env.balances(env.dso)[1] == dso_locked - 12_300 * 500_000 - 15_400 * 1_000_000
    env.market.releaseBudget(sid, 0, {"from": env.accounts[9]})
    env.market.releaseSellerFunds(sid, env.agg1, {"from": env.accounts[9]})


# ---------------------------------------------------------------- 6. metering evidence, correction


def test_record_deliveries_reverts_without_evidence(env):
    s = env.revealed_session()
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    with reverts("FlexMarketEvidenceMissing"):
        env.market.recordDeliveries(sid, [0], [12_300], "0x" + "00" * 32, {"from": env.metering})


def test_a_delivery_is_corrected_within_its_window_and_settled_after_it(env):
    s = env.revealed_session(correctionWindowS=3_600)
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    recorded = env.market.recordDeliveries(sid, [0], [0], EVIDENCE, {"from": env.metering})
    with reverts("FlexMarketCorrectionWindowOpen"):
        env.market.settleAward(sid, 0, {"from": env.accounts[9]})
    with reverts("FlexMarketUnauthorized"):
        env.market.correctDelivery(sid, 0, 12_300, label("fixed"), {"from": env.dso})
    with reverts("FlexMarketEvidenceMissing"):
        env.market.correctDelivery(sid, 0, 12_300, "0x" + "00" * 32, {"from": env.metering})
    tx = env.market.correctDelivery(sid, 0, 12_300, label("fixed"), {"from": env.metering})
    event = tx.events["DeliveryCorrected"]
    corrected = (event["previousW"], event["deliveredW"], event["evidenceHash"])
    assert corrected == (0, 12_300, label("fixed"))
    assert env.market.award(sid, 0)[1][2] == 12_300
    env.sleep_until(recorded.timestamp + 3_600)
    with reverts("FlexMarketCorrectionWindowClosed"):
        env.market.correctDelivery(sid, 0, 0, label("late"), {"from": env.metering})
    settled = env.market.settleAward(sid, 0, {"from": env.accounts[9]}).events["AwardSettled"]
    assert (settled["paymentUeur"], settled["penaltyUeur"]) == (12_300 * 500_000, 0)


def test_correct_delivery_reverts_for_an_unrecorded_award(env):
    s = env.revealed_session(correctionWindowS=3_600)
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    with reverts("FlexMarketCorrectionWindowClosed"):
        env.market.correctDelivery(sid, 0, 1, EVIDENCE, {"from": env.metering})


# ---------------------------------------------------------------- 7. needs, share rows


def test_a_dso_need_in_another_dsos_zone_reverts(env):
    other = env.owner
    env.registry.grantRole(env.registry.DSO_ROLE(), other, {"from": env.admin})
    env.fund(other, 10**12)
    env.registry.registerZone(label("T9"), 0, {"from": other})
    sid = env.open_session()
    with reverts("FlexMarketNotZoneDso"):
        env.post_need(sid, buyer=other)  # T1 was published by env.dso
    with reverts("FlexMarketNotZoneDso"):
        env.post_need(sid, zone=label("T9"))
    env.post_need(sid, buyer=other, zone=label("T9"))
    env.post_need(sid, buyer=env.tso, role=BUYER_TSO, zone=label("T9"))  # a TSO may


def test_a_need_in_an_unknown_zone_reverts(env):
    sid = env.open_session()
    with reverts("FlexRegistryZoneUnknown"):
        env.post_need(sid, zone=label("nowhere"))


def _shared_uniform(env):
    s = env.revealed_session(
        pricing=UNIFORM,
        extra_needs=[{"buyer": env.tso, "role": BUYER_TSO, "zone": "0x" + "00" * 32}],
    )
    return s["session"], s["bids"][0]


def test_a_share_row_at_another_price_than_its_award_reverts(env):
    sid, bid = _shared_uniform(env)
    rows = [env.award(bid, 12_300, 600_000, 0, payment=12_300 * 600_000 - 1_000),
            env.award(bid, 0, 700_000, 1, payment=1_000)]
    with reverts("FlexMarketSharePriceMismatch"):
        env.commit_result(sid, rows)


def test_a_share_row_of_zero_reverts(env):
    sid, bid = _shared_uniform(env)
    rows = [env.award(bid, 12_300, 600_000, 0), env.award(bid, 0, 600_000, 1, payment=0)]
    with reverts("FlexMarketShareZero"):
        env.commit_result(sid, rows)


# ---------------------------------------------------------------- 17. up and down in one slot


def test_a_zone_cannot_need_up_and_down_in_the_same_slot(env):
    sid = env.open_session()
    env.post_need(sid, quantity_w=10_000, direction=UP)  # T1, every slot
    with reverts("FlexMarketNeedDirectionConflict"):
        env.post_need(sid, quantity_w=5_000, direction=DOWN)
    with reverts("FlexMarketNeedDirectionConflict"):  # one slot is enough
        env.market.postNeed((sid, env.zone, DOWN, BUYER_DSO, NO_LIMIT, 10**9, [0] * 13 + [5_000]),
                            {"from": env.dso})
    env.post_need(sid, quantity_w=5_000, direction=DOWN, zone=env.zone2)  # another zone
    env.post_need(sid, quantity_w=5_000, direction=UP)  # the same direction again
    env.market.postNeed((sid, b"\0" * 32, DOWN, BUYER_DSO, NO_LIMIT, 10**9, []), {"from": env.dso})
    # system-wide needs are not zonal: a TSO's and a BRP's may go opposite ways
    env.market.postNeed((sid, b"\0" * 32, DOWN, BUYER_TSO, NO_LIMIT, 10**9, [1]), {"from": env.tso})
    env.market.postNeed((sid, b"\0" * 32, UP, 2, NO_LIMIT, 10**9, [1]), {"from": env.brp})


def test_needs_in_separate_slots_of_one_zone_may_go_both_ways(env):
    sid = env.open_session(slotCount=4)
    env.market.postNeed(
        (sid, env.zone, UP, BUYER_DSO, NO_LIMIT, 10**9, [1, 1, 0, 0]), {"from": env.dso}
    )
    env.market.postNeed(
        (sid, env.zone, DOWN, BUYER_DSO, NO_LIMIT, 10**9, [0, 0, 0, 1]), {"from": env.dso}
    )
    env.market.postNeed(
        (sid, env.zone2, DOWN, BUYER_DSO, NO_LIMIT, 10**9, [0, 0, 1, 0]), {"from": env.dso}
    )
    with reverts("FlexMarketNeedDirectionConflict"):
        env.market.postNeed(
            (sid, env.zone, DOWN, BUYER_DSO, NO_LIMIT, 10**9, [0, 1, 1, 0]), {"from": env.dso}
        )


