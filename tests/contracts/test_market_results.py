"""FlexMarket: clearing results (award checks, pages) and the attestation/dispute hook."""

from conftest import (
    BUYER_TSO,
    DOWN,
    NO_LIMIT,
    RES_COMMITTING,
    RES_DISPUTED,
    RES_FINAL,
    RES_PENDING,
    RES_VOIDED,
    UNIFORM,
    label,
    reverts,
)


def _awards(env, s):
    a, b, c = s["bids"]  # two indivisible 12,300 W (500k, 600k), one divisible 15,400 W (1M)
    return a, b, c


def test_commit_result_stores_checked_awards_and_makes_the_result_final(env, revealed):
    s = revealed
    sid = s["session"]
    a, b, c = _awards(env, s)
    tx = env.commit_result(sid, [env.award(a, 12_300, 500_000), env.award(c, 13_200, 1_000_000)])
    assert env.status(sid) == RES_FINAL
    money = env.session(sid)[3]
    assert money[4] == 2  # awardCount
    assert env.session(sid)[4] == label("input") and env.session(sid)[5] == label("result")
    bid_id, core, pay = env.market.award(sid, 0)
    assert core[1] in (12_300, 13_200) and pay[0] == env.dso
    assert env.market.need(sid, 0)[1][1] == 12_300 * 500_000 + 13_200 * 1_000_000
    assert env.market.bid(a)[1][3] == 12_300
    assert len(tx.events["AwardCommitted"]) == 2
    assert tx.events["ResultCommitted"]["status"] == RES_PENDING  # then attested (quorum 1)


def test_commit_result_with_no_award_is_final(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    assert env.status(s["session"]) == RES_FINAL


def test_commit_result_accepts_pages_with_a_bid_spanning_them(env):
    s = env.revealed_session(
        extra_needs=[
            {"quantity_w": 5_000, "buyer": env.tso, "role": BUYER_TSO, "zone": "0x" + "00" * 32}
        ]
    )
    sid = s["session"]
    a, _, c = _awards(env, s)
    rows = sorted(
        [
            env.award(a, 12_300, 500_000),
            env.award(c, 6_000, 1_000_000, need_index=0),
            env.award(c, 5_000, 1_000_000, need_index=1),
        ],
        key=lambda r: (int(r[0], 16), r[1]),
    )
    env.commit_result(sid, rows[:2], last=False)
    assert env.status(sid) == RES_COMMITTING
    env.commit_result(sid, rows[2:], last=True)
    assert env.status(sid) == RES_FINAL
    assert env.market.bid(c)[1][3] == 11_000


def test_commit_result_with_a_quorum_waits_for_attestations(env):
    s = env.revealed_session(attestationQuorum=1)
    env.commit_result(s["session"], [])
    assert env.status(s["session"]) == RES_PENDING


def test_commit_result_reverts_when_caller_is_not_the_oracle(env, revealed):
    s = revealed
    with reverts("FlexMarketUnauthorized"):
        env.market.commitResult(s["session"], label("i"), label("r"), [], True, {"from": env.dso})


def test_commit_result_reverts_when_session_unknown(env):
    with reverts("FlexMarketSessionUnknown"):
        env.market.commitResult(999, label("i"), label("r"), [], True, {"from": env.oracle})


def test_commit_result_reverts_before_the_reveal_deadline(env):
    sid = env.open_session()
    env.to_reveal(sid)
    with reverts("FlexMarketClearingNotOpen"):
        env.commit_result(sid, [])


def test_commit_result_reverts_after_the_clearing_deadline(env, revealed):
    s = revealed
    env.to_after_clearing(s["session"])
    with reverts("FlexMarketClearingClosed"):
        env.commit_result(s["session"], [])


def test_commit_result_reverts_when_a_hash_is_zero(env, revealed):
    s = revealed
    with reverts("FlexMarketResultHashMismatch"):
        env.commit_result(s["session"], [], input_hash="0x" + "00" * 32)


def test_commit_result_reverts_when_pages_carry_different_hashes(env, revealed):
    s = revealed
    env.commit_result(s["session"], [], last=False)
    with reverts("FlexMarketResultHashMismatch"):
        env.commit_result(s["session"], [], result_hash=label("other"))


def test_commit_result_reverts_when_result_is_already_complete(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    with reverts("FlexMarketResultStatusInvalid"):
        env.commit_result(s["session"], [])


def test_commit_result_reverts_when_award_names_an_unrevealed_or_foreign_bid(env):
    now = env.now()
    s = env.revealed_session(clearingDeadline=now + 10**6, attestationDeadline=now + 2 * 10**6,
                             deliveryDeadline=now + 3 * 10**6)
    other = env.revealed_session()
    with reverts("FlexMarketAwardBidInvalid"):
        env.commit_result(s["session"], [env.award(other["bids"][0], 12_300, 500_000)])
    with reverts("FlexMarketAwardBidInvalid"):
        env.commit_result(s["session"], [env.award("0x" + "77" * 32, 12_300, 500_000)])


def test_commit_result_reverts_when_need_unknown(env, revealed):
    s = revealed
    with reverts("FlexMarketAwardNeedInvalid"):
        env.commit_result(s["session"], [env.award(s["bids"][0], 12_300, 500_000, need_index=5)])


def test_commit_result_reverts_when_need_direction_differs(env):
    sid = env.open_session()
    env.post_need(sid, direction=DOWN)
    env.join(sid, env.agg1)
    bid_id = env.revealed_bid(sid)
    env.to_clearing(sid)
    with reverts("FlexMarketAwardNeedInvalid"):
        env.commit_result(sid, [env.award(bid_id, 12_300, 500_000)])


def test_commit_result_reverts_when_need_zone_differs(env):
    sid = env.open_session()
    env.post_need(sid, zone=env.zone2)
    env.join(sid, env.agg1)
    bid_id = env.revealed_bid(sid)
    env.to_clearing(sid)
    with reverts("FlexMarketAwardNeedInvalid"):
        env.commit_result(sid, [env.award(bid_id, 12_300, 500_000)])


def test_commit_result_reverts_when_price_above_the_need_maximum(env):
    sid = env.open_session()
    env.post_need(sid, max_price=400_000)
    env.join(sid, env.agg1)
    bid_id = env.revealed_bid(sid, price=500_000)
    env.to_clearing(sid)
    with reverts("FlexMarketAwardNeedInvalid"):
        env.commit_result(sid, [env.award(bid_id, 12_300, 500_000)])


def test_commit_result_reverts_when_awards_are_not_sorted(env, revealed):
    s = revealed
    a, b, _ = _awards(env, s)
    rows = sorted(
        [env.award(a, 12_300, 500_000), env.award(b, 12_300, 600_000)],
        key=lambda r: int(r[0], 16),
        reverse=True,
    )
    with reverts("FlexMarketAwardsNotSorted"):
        env.market.commitResult(
            s["session"], label("i"), label("r"), rows, True, {"from": env.oracle}
        )


def test_commit_result_reverts_when_pay_as_bid_price_differs(env, revealed):
    s = revealed
    with reverts("FlexMarketAwardPriceInvalid"):
        env.commit_result(s["session"], [env.award(s["bids"][0], 12_300, 600_000)])


def test_commit_result_accepts_a_uniform_price_above_the_bid(env):
    s = env.revealed_session(pricing=UNIFORM)
    a, b, _ = _awards(env, s)
    env.commit_result(s["session"], [env.award(a, 12_300, 600_000), env.award(b, 12_300, 600_000)])
    assert env.status(s["session"]) == RES_FINAL


def test_commit_result_reverts_when_uniform_price_below_the_bid(env):
    s = env.revealed_session(pricing=UNIFORM)
    with reverts("FlexMarketAwardPriceInvalid"):
        env.commit_result(s["session"], [env.award(s["bids"][1], 12_300, 500_000)])


def test_commit_result_reverts_when_payment_is_not_quantity_times_price(env, revealed):
    s = revealed
    with reverts("FlexMarketAwardPaymentMismatch"):  # more than quantity x price
        env.commit_result(
            s["session"], [env.award(s["bids"][0], 12_300, 500_000, payment=12_300 * 500_000 + 1)]
        )
    with reverts("FlexMarketAwardSharesIncomplete"):  # less, and no share row pays the rest
        env.commit_result(s["session"], [env.award(s["bids"][0], 12_300, 500_000, payment=1)])


def test_commit_result_reverts_when_award_exceeds_the_bid(env, revealed):
    s = revealed
    with reverts("FlexMarketAwardExceedsBid"):
        env.commit_result(s["session"], [env.award(s["bids"][2], 15_500, 1_000_000)])
    with reverts("FlexMarketAwardShareWithoutAward"):  # 0 W: a share row, of no award here
        env.commit_result(s["session"], [env.award(s["bids"][2], 0, 1_000_000)])


def test_commit_result_reverts_when_indivisible_bid_is_split(env, revealed):
    s = revealed
    with reverts("FlexMarketAwardNotAllOrNothing"):
        env.commit_result(s["session"], [env.award(s["bids"][0], 12_000, 500_000)])


def test_commit_result_reverts_when_divisible_award_below_minimum_or_granularity(env):
    s = env.revealed_session()
    c = s["bids"][2]
    with reverts("FlexMarketAwardQuantityInvalid"):
        env.commit_result(s["session"], [env.award(c, 15_350, 1_000_000)])
    s2 = env.revealed_session()
    # min quantity of the divisible bid = granularity (100 W, its assets have p_min 0)
    with reverts("FlexMarketAwardQuantityInvalid"):
        env.commit_result(s2["session"], [env.award(s2["bids"][2], 50, 1_000_000)])


def test_commit_result_reverts_when_payments_exceed_the_budget(env):
    sid = env.open_session()
    env.post_need(sid, budget=12_300 * 500_000 - 1)
    env.join(sid, env.agg1)
    bid_id = env.revealed_bid(sid)
    env.to_clearing(sid)
    with reverts("FlexMarketAwardExceedsBudget"):
        env.commit_result(sid, [env.award(bid_id, 12_300, 500_000)])


def test_attest_result_reaches_the_quorum_and_makes_it_final(env):
    s = env.revealed_session(attestationQuorum=2)
    sid = s["session"]
    env.registry.grantRole(env.registry.VALIDATOR_ROLE(), env.owner, {"from": env.admin})
    env.commit_result(sid, [])
    tx = env.market.attestResult(sid, label("result"), {"from": env.validator})
    assert env.status(sid) == RES_PENDING and tx.events["ResultAttested"]["attestations"] == 1
    env.market.attestResult(sid, label("result"), {"from": env.owner})
    assert env.status(sid) == RES_FINAL


def test_attest_result_reverts_when_caller_is_not_a_validator(env):
    s = env.revealed_session(attestationQuorum=1)
    env.commit_result(s["session"], [])
    with reverts("FlexMarketUnauthorized"):
        env.market.attestResult(s["session"], label("result"), {"from": env.dso})


def test_attest_result_reverts_when_result_not_pending(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.attestResult(s["session"], label("result"), {"from": env.validator})


def test_attest_result_reverts_when_hash_differs(env):
    s = env.revealed_session(attestationQuorum=1)
    env.commit_result(s["session"], [])
    with reverts("FlexMarketResultHashMismatch"):
        env.market.attestResult(s["session"], label("other"), {"from": env.validator})


def test_attest_result_reverts_when_validator_attests_twice(env):
    s = env.revealed_session(attestationQuorum=2)
    env.commit_result(s["session"], [])
    env.market.attestResult(s["session"], label("result"), {"from": env.validator})
    with reverts("FlexMarketAlreadyAttested"):
        env.market.attestResult(s["session"], label("result"), {"from": env.validator})


def test_dispute_result_freezes_settlement(env, revealed):
    s = revealed
    sid = s["session"]
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    tx = env.market.disputeResult(sid, label("report"), {"from": env.validator})
    assert env.status(sid) == RES_DISPUTED
    assert tx.events["ResultDisputed"]["reasonHash"] == label("report")
    env.market.recordDeliveries(sid, [0], [12_300], label("m"), {"from": env.metering})
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.settleAward(sid, 0, {"from": env.admin})


def test_dispute_result_reverts_when_caller_is_not_a_validator(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    with reverts("FlexMarketUnauthorized"):
        env.market.disputeResult(s["session"], label("x"), {"from": env.dso})


def test_dispute_result_reverts_when_no_result_or_after_a_payment(env, revealed):
    s = revealed
    sid = s["session"]
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.disputeResult(sid, label("x"), {"from": env.validator})
    env.commit_result(sid, [env.award(s["bids"][0], 12_300, 500_000)])
    env.market.recordDeliveries(sid, [0], [12_300], label("m"), {"from": env.metering})
    env.market.settleAward(sid, 0, {"from": env.admin})
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.disputeResult(sid, label("x"), {"from": env.validator})


def test_resolve_dispute_lets_the_result_stand_or_voids_it(env):
    s = env.revealed_session()
    env.commit_result(s["session"], [])
    env.market.disputeResult(s["session"], label("x"), {"from": env.validator})
    tx = env.market.resolveDispute(s["session"], True, {"from": env.admin})
    assert env.status(s["session"]) == RES_FINAL
    assert tx.events["DisputeResolved"]["status"] == RES_FINAL
    s2 = env.revealed_session()
    env.commit_result(s2["session"], [])
    env.market.disputeResult(s2["session"], label("x"), {"from": env.validator})
    env.market.resolveDispute(s2["session"], False, {"from": env.admin})
    assert env.status(s2["session"]) == RES_VOIDED


def test_resolve_dispute_reverts_when_caller_is_not_the_admin(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    env.market.disputeResult(s["session"], label("x"), {"from": env.validator})
    with reverts("FlexMarketUnauthorized"):
        env.market.resolveDispute(s["session"], True, {"from": env.validator})


def test_resolve_dispute_reverts_when_not_disputed(env, revealed):
    s = revealed
    env.commit_result(s["session"], [])
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.resolveDispute(s["session"], True, {"from": env.admin})


def test_no_limit_is_the_highest_price_a_bid_can_ask(env):
    """NO_LIMIT (no cap, no maximum) is type(uint64).max on chain: under a session without a
    cap a bid at that price is revealed, and a need without a maximum stores it."""
    sid = env.open_session()  # priceCapEurPerMw: NO_LIMIT
    assert env.session(sid)[2][3] == NO_LIMIT
    env.post_need(sid)  # max_price: NO_LIMIT
    assert env.market.need(sid, 0)[0][4] == NO_LIMIT
    env.join(sid, env.agg1, 1)
    bid = env.make_bid(sid, env.register_assets(env.agg1, 4), price=2**64 - 1)
    env.commit(env.agg1, bid)
    env.to_reveal(sid)
    tx = env.reveal(env.agg1, bid)
    assert tx.events["BidRevealed"]["priceEurPerMw"] == 2**64 - 1
