"""Shared payments (issue 7): an award's payment split between the needs of several buyers
(share rows), each part committed from and settled out of its own need's escrowed budget,
the seller paid once; refunds and penalties of a shortfall split in proportion to the
shares; the coordination inputs a session publishes; FlexResults' delegatecall."""

from __future__ import annotations

from typing import Any

from conftest import (
    BUYER_TSO,
    DOWN,
    NO_LIMIT,
    RES_FINAL,
    UP,
    reverts,
)

ZERO32 = "0x" + "00" * 32
EVIDENCE = "0x" + "11" * 32
PRICE = 500_000
Q = 12_300
P = Q * PRICE  # 6,150,000,000 µEUR
TSO_SHARE = 2_050_000_001  # not a round third: the rounding of the splits shows
DSO_SHARE = P - TSO_SHARE
SHARE_SETTLE_MAX = 80_000  # a two-buyer settlement: one more account and two more events


def _shared_session(env: Any, **overrides: Any) -> dict[str, Any]:
    """The default revealed session plus a system-wide TSO need (need 1), a DSO down need in
    T2 (need 2, which no up bid can serve; in T1 it would clash with need 0) and a small TSO
    need (need 3, budget 1 EUR)."""
    return env.revealed_session(
        extra_needs=[
            {"buyer": env.tso, "role": BUYER_TSO, "zone": ZERO32},
            {"direction": DOWN, "zone": env.zone2},
            {"buyer": env.tso, "role": BUYER_TSO, "zone": ZERO32, "budget": 1_000_000},
        ],
        **overrides,
    )


def _rows(env: Any, bid: str, tso_share: int = TSO_SHARE) -> list[tuple[Any, ...]]:
    """Bid `bid` (12,300 W at 500,000 EUR/MW) awarded once, paid by the DSO's need 0 and the
    TSO's need 1 (a share row: 0 W)."""
    return [
        env.award(bid, Q, PRICE, need_index=0, payment=P - tso_share),
        env.award(bid, 0, PRICE, need_index=1, payment=tso_share),
    ]


def _committed(env: Any, sid: int, need: int) -> int:
    return int(env.market.need(sid, need)[1][1])


def _split(x: int, shares: list[int], total: int) -> list[int]:
    """The contract's rule: share rows in order, the award's own need last; cumulative floors."""
    out, done, cum = [], 0, 0
    for s in shares:
        cum += s
        part = x * cum // total - done if total else 0
        out.append(part)
        done += part
    return out + [x - done]


def test_a_shared_award_charges_each_need_its_share_and_pays_the_seller_once(env):
    s = _shared_session(env)
    sid, bid = s["session"], s["bids"][0]
    dso0, tso0, agg0 = env.balances(env.dso), env.balances(env.tso), env.balances(env.agg1)
    tx = env.commit_result(sid, _rows(env, bid))
    assert env.status(sid) == RES_FINAL
    committed = tx.events["AwardCommitted"]
    assert (committed["awardIndex"], committed["needIndex"], committed["buyer"]) == (0, 0, env.dso)
    assert committed["paymentUeur"] == P  # the award's payment: to the seller
    shared = tx.events["AwardShared"]
    assert len(shared) == 1
    assert (shared["awardIndex"], shared["needIndex"], shared["buyer"], shared["paymentUeur"]) == (
        0,
        1,
        env.tso,
        TSO_SHARE,
    )
    assert env.market.session(sid)[3][4] == 1  # one award, not two
    _, core, pay = env.market.award(sid, 0)
    assert (core[1], pay[0], pay[1], pay[2], pay[3]) == (Q, env.dso, P, 0, 1)
    assert (_committed(env, sid, 0), _committed(env, sid, 1)) == (DSO_SHARE, TSO_SHARE)
    assert env.market.bid(bid)[1][3] == Q  # awarded once

    env.market.recordDeliveries(sid, [0], [Q], EVIDENCE, {"from": env.metering})
    settle = env.market.settleAward(sid, 0, {"from": env.admin})
    print(f"\ngas: settle_award, shared by 2 buyers: {settle.gas_used}")
    assert settle.gas_used <= SHARE_SETTLE_MAX
    parts = settle.events["ShareSettled"]
    assert [
        (e["buyer"], e["needIndex"], e["paymentUeur"], e["refundUeur"], e["penaltyUeur"])
        for e in parts
    ] == [(env.tso, 1, TSO_SHARE, 0, 0), (env.dso, 0, DSO_SHARE, 0, 0)]
    done = settle.events["AwardSettled"]
    assert (done["paymentUeur"], done["refundUeur"], done["penaltyUeur"]) == (P, 0, 0)
    assert env.balances(env.agg1)[0] == agg0[0] + P  # paid once, the whole payment
    assert env.balances(env.dso)[1] == dso0[1] - DSO_SHARE
    assert env.balances(env.tso)[1] == tso0[1] - TSO_SHARE
    # the other awards are none: every need's uncommitted budget comes back
    for need, buyer in [(0, env.dso), (1, env.tso), (2, env.dso), (3, env.tso)]:
        budget = int(env.market.need(sid, need)[1][0])
        tx = env.market.releaseBudget(sid, need, {"from": env.admin})
        assert tx.events["BudgetReleased"]["amountUeur"] == budget - _committed(env, sid, need)
        assert tx.events["BudgetReleased"]["buyer"] == buyer
    assert env.balances(env.dso) == (dso0[0] + dso0[1] - DSO_SHARE, 0)
    assert env.balances(env.tso) == (tso0[0] + tso0[1] - TSO_SHARE, 0)


def test_a_shortfall_on_a_shared_award_splits_refund_and_penalty_by_share(env):
    s = _shared_session(env)
    sid, bid = s["session"], s["bids"][0]
    env.commit_result(sid, _rows(env, bid))
    dso0, tso0, agg0 = env.balances(env.dso), env.balances(env.tso), env.balances(env.agg1)
    delivered = 5_000
    env.market.recordDeliveries(sid, [0], [delivered], EVIDENCE, {"from": env.metering})
    settle = env.market.settleAward(sid, 0, {"from": env.admin})
    print(f"\ngas: settle_award, shared by 2 buyers, shortfall with penalty: {settle.gas_used}")
    assert settle.gas_used <= SHARE_SETTLE_MAX
    paid = PRICE * delivered
    refund = P - paid
    penalty = (Q - delivered) * 100_000  # shortfallPenaltyEurPerMw, within the collateral
    refunds = _split(refund, [TSO_SHARE], P)
    penalties = _split(penalty, [TSO_SHARE], P)
    assert sum(refunds) == refund and sum(penalties) == penalty
    assert refunds[0] <= TSO_SHARE and refunds[1] <= DSO_SHARE
    parts = [
        (e["buyer"], e["paymentUeur"], e["refundUeur"], e["penaltyUeur"])
        for e in settle.events["ShareSettled"]
    ]
    assert parts == [
        (env.tso, TSO_SHARE - refunds[0], refunds[0], penalties[0]),
        (env.dso, DSO_SHARE - refunds[1], refunds[1], penalties[1]),
    ]
    done = settle.events["AwardSettled"]
    assert (done["paymentUeur"], done["refundUeur"], done["penaltyUeur"]) == (paid, refund, penalty)
    assert env.balances(env.agg1)[0] == agg0[0] + paid
    assert env.balances(env.agg1)[1] == agg0[1] - penalty
    assert env.balances(env.tso) == (tso0[0] + refunds[0] + penalties[0], tso0[1] - TSO_SHARE)
    assert env.balances(env.dso) == (dso0[0] + refunds[1] + penalties[1], dso0[1] - DSO_SHARE)
    assert env.market.standingOf(env.agg1)[0] == 1  # one failure, counted once


def test_a_share_of_zero_is_refused_and_a_free_award_settles(env):
    """A share row of 0 µEUR charges nobody anything (issue 11: refused); an award at price
    0 settles, its buyer taking the whole penalty."""
    s = _shared_session(env, priceFloorEurPerMw=0)
    sid, bid = s["session"], s["bids"][0]
    with reverts("FlexMarketShareZero"):
        env.commit_result(sid, _rows(env, bid, tso_share=0))

    sid2 = env.open_session()
    env.post_need(sid2)
    env.post_need(sid2, buyer=env.tso, role=BUYER_TSO, zone=ZERO32)
    env.join(sid2, env.agg1, 1)
    assets = env.register_assets(env.agg1, 4)
    fields = env.make_bid(sid2, assets, Q, 0)
    free_bid, _ = env.commit(env.agg1, fields)
    env.to_reveal(sid2)
    env.reveal(env.agg1, fields)
    env.to_clearing(sid2)
    with reverts("FlexMarketShareZero"):
        env.commit_result(sid2, [env.award(free_bid, Q, 0, 0), env.award(free_bid, 0, 0, 1)])
    env.commit_result(sid2, [env.award(free_bid, Q, 0, 0)])
    env.market.recordDeliveries(sid2, [0], [0], EVIDENCE, {"from": env.metering})
    dso0 = env.balances(env.dso)
    settled = env.market.settleAward(sid2, 0, {"from": env.admin}).events["AwardSettled"]
    penalty = Q * 50_000  # the whole shortfall, capped by the bid's collateral
    amounts = (settled["paymentUeur"], settled["refundUeur"], settled["penaltyUeur"])
    assert amounts == (0, 0, penalty)
    assert env.balances(env.dso)[0] == dso0[0] + penalty


def test_share_rows_may_span_pages_and_several_awards(env):
    s = _shared_session(env)
    sid, (a, b, c) = s["session"], s["bids"]
    rows = sorted(
        _rows(env, a)
        + [env.award(b, Q, 600_000, 0, 1), env.award(b, 0, 600_000, 1, Q * 600_000 - 1)],
        key=lambda r: (int(r[0], 16), r[1]),
    )
    env.commit_result(sid, rows[:1], last=False)  # an award whose share comes on the next page
    assert env.status(sid) != RES_FINAL
    env.commit_result(sid, rows[1:3], last=False)
    env.commit_result(sid, rows[3:] + [env.award(c, 15_400, 1_000_000)])
    assert env.status(sid) == RES_FINAL
    assert env.market.session(sid)[3][4] == 3
    assert _committed(env, sid, 1) == TSO_SHARE + Q * 600_000 - 1
    assert _committed(env, sid, 0) == DSO_SHARE + 1 + 15_400 * 1_000_000


def test_share_rows_that_do_not_add_up_revert(env):
    s = _shared_session(env)
    sid, (a, b, _) = s["session"], s["bids"]
    with reverts("FlexMarketAwardSharesIncomplete"):  # the last award is short
        env.commit_result(sid, _rows(env, a)[:1])
    with reverts("FlexMarketAwardPaymentMismatch"):  # a share beyond what is left
        env.commit_result(
            sid, _rows(env, a, tso_share=TSO_SHARE)[:1] + [env.award(a, 0, PRICE, 1, TSO_SHARE + 1)]
        )
    with reverts("FlexMarketAwardPaymentMismatch"):  # the award's own row beyond q x price
        env.commit_result(sid, [env.award(a, Q, PRICE, 0, P + 1)])
    # the next award opens while the previous one is short
    first, second = sorted([a, b], key=lambda x: int(x, 16))
    price = {a: PRICE, b: 600_000}
    with reverts("FlexMarketAwardSharesIncomplete"):
        env.commit_result(
            sid,
            [
                env.award(first, Q, price[first], 0, 1),
                env.award(second, Q, price[second], 0),
            ],
        )


def test_a_share_row_without_its_award_reverts(env):
    s = _shared_session(env)
    sid, (a, b, _) = s["session"], s["bids"]
    with reverts("FlexMarketAwardShareWithoutAward"):  # the first row is a share
        env.commit_result(sid, [env.award(a, 0, PRICE, 1, 0)])
    first, second = sorted([a, b], key=lambda x: int(x, 16))
    price = {a: PRICE, b: 600_000}
    with reverts("FlexMarketAwardShareWithoutAward"):  # a share of another bid's award
        env.commit_result(
            sid,
            [
                env.award(first, Q, price[first], 0),
                env.award(second, 0, price[second], 1, 0),
            ],
        )
    with reverts("FlexMarketAwardsNotSorted"):  # shares follow their award's own need
        env.market.commitResult(
            sid,
            "0x" + "01" * 32,
            "0x" + "02" * 32,
            [
                env.award(a, Q, PRICE, 1, TSO_SHARE),
                env.award(a, 0, PRICE, 0, DSO_SHARE),
            ],
            True,
            {"from": env.oracle},
        )


def test_a_share_row_is_checked_like_an_award_row(env):
    s = _shared_session(env)
    sid, a = s["session"], s["bids"][0]
    with reverts("FlexMarketAwardNeedInvalid"):  # need 2 is a down need: the bid is up
        env.commit_result(sid, [env.award(a, Q, PRICE, 0, P - 5), env.award(a, 0, PRICE, 2, 5)])
    with reverts("FlexMarketAwardNeedInvalid"):  # no need 9
        env.commit_result(sid, [env.award(a, Q, PRICE, 0, P - 5), env.award(a, 0, PRICE, 9, 5)])
    with reverts("FlexMarketAwardExceedsBudget"):  # need 3's budget is 1 EUR
        env.commit_result(
            sid, [env.award(a, Q, PRICE, 0, P - 1_000_001), env.award(a, 0, PRICE, 3, 1_000_001)]
        )
    with reverts("FlexMarketAwardPriceInvalid"):  # pay-as-bid: the bid's price on every row
        env.commit_result(sid, [env.award(a, Q, PRICE, 0, P - 5), env.award(a, 0, 400_000, 1, 5)])
    env.commit_result(
        sid, [env.award(a, Q, PRICE, 0, P - 1_000_000), env.award(a, 0, PRICE, 3, 1_000_000)]
    )
    assert _committed(env, sid, 3) == 1_000_000


def test_a_share_of_a_need_with_a_lower_maximum_price_reverts(env):
    sid = env.open_session()
    env.post_need(sid)
    env.post_need(sid, buyer=env.tso, role=BUYER_TSO, zone=ZERO32, max_price=PRICE - 1)
    env.join(sid, env.agg1, 1)
    fields = env.make_bid(sid, env.register_assets(env.agg1, 4), Q, PRICE)
    bid, _ = env.commit(env.agg1, fields)
    env.to_reveal(sid)
    env.reveal(env.agg1, fields)
    env.to_clearing(sid)
    with reverts("FlexMarketAwardNeedInvalid"):
        env.commit_result(sid, _rows(env, bid))


def test_the_results_contract_runs_only_through_the_market(env, FlexResults):
    results = FlexResults.at(env.market.results())
    assert len(results.bytecode) > 0
    s = env.revealed_session()
    with reverts("FlexMarketSessionUnknown"):  # its own storage holds no session
        results.commitResult(
            s["session"],
            "0x" + "01" * 32,
            "0x" + "02" * 32,
            [env.award(s["bids"][0], Q, PRICE)],
            True,
            {"from": env.oracle},
        )
    with reverts("FlexMarketUnauthorized"):  # the market checks the role before delegating
        env.market.commitResult(
            s["session"],
            "0x" + "01" * 32,
            "0x" + "02" * 32,
            [env.award(s["bids"][0], Q, PRICE)],
            True,
            {"from": env.dso},
        )


COORDINATION = b'{"coupling":"common","priority":["DSO","TSO","BRP"]}'


def test_the_operator_publishes_the_coordination_inputs_once_before_gate_closure(env):
    sid = env.open_session()  # opened by env.dso: the operator
    tx = env.market.publishCoordination(sid, COORDINATION, {"from": env.dso})
    event = tx.events["CoordinationPublished"]
    assert (event["sessionId"], event["operator"]) == (sid, env.dso)
    assert bytes(event["coordination"]) == COORDINATION
    with reverts("FlexMarketCoordinationExists"):
        env.market.publishCoordination(sid, COORDINATION, {"from": env.dso})
    with reverts("FlexMarketSessionUnknown"):
        env.market.publishCoordination(sid + 1, COORDINATION, {"from": env.dso})


def test_only_the_operator_publishes_coordination_and_only_before_gate_closure(env):
    sid = env.open_session()
    with reverts("FlexMarketNotOperator"):
        env.market.publishCoordination(sid, COORDINATION, {"from": env.tso})
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.market.publishCoordination(sid, COORDINATION, {"from": env.dso})


def test_need_views_keep_the_buyer_role(env):
    s = _shared_session(env)
    roles = [int(env.market.need(s["session"], i)[0][3]) for i in range(4)]
    assert roles == [0, BUYER_TSO, 0, BUYER_TSO]
    assert int(env.market.need(s["session"], 1)[0][4]) == NO_LIMIT
    directions = [int(env.market.need(s["session"], i)[0][2]) for i in range(4)]
    assert directions == [UP, UP, DOWN, UP]
