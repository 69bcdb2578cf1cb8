"""Balancing needs (issue 7, `balance_dso`): a DSO's system-wide budget, per direction, for
counter-activations (awards that no request counted, bought so that the DSO's actions leave
the system balanced). Posted with no quantities; only a DSO's, only system-wide; charged like
any need (direction, price, budget) but by whole awards only: no share of a counter-activation
elsewhere, no share of another award on it. Settled and released like any need."""

from __future__ import annotations

from typing import Any

from conftest import (
    BUYER_BRP,
    BUYER_DSO,
    BUYER_TSO,
    DOWN,
    NO_LIMIT,
    RES_FINAL,
    UP,
    reverts,
)

ZERO32 = "0x" + "00" * 32
EVIDENCE = "0x" + "11" * 32
UP_Q, UP_PRICE = 12_300, 500_000  # agg1's up bid in T1: serves the DSO's need 0
DOWN_Q, DOWN_PRICE = 8_000, 60_000  # agg2's down bid in T2: the counter-activation
UP_PAY, DOWN_PAY = UP_Q * UP_PRICE, DOWN_Q * DOWN_PRICE
BALANCING_BUDGET = 10 * DOWN_PAY


def _balancing(env: Any, sid: int, direction: int, budget: int = BALANCING_BUDGET,
               buyer: Any = None, role: int = BUYER_DSO, zone: str = ZERO32,
               max_price: int = NO_LIMIT) -> Any:  # fmt: skip
    need = (sid, zone, direction, role, max_price, budget, [])
    return env.market.postNeed(need, {"from": buyer or env.dso})


def _session(env: Any, balancing_budget: int = BALANCING_BUDGET,
             balancing_max_price: int = NO_LIMIT) -> dict[str, Any]:  # fmt: skip
    """Need 0: the DSO's up need in T1; need 1: a TSO system-wide down need; need 2: the DSO's
    balancing down need; need 3: its balancing up need; need 4: a BRP system-wide down need.
    Bids: agg1 up in T1, agg2 down in T2 (divisible), both revealed; the chain is at the
    reveal deadline."""
    sid = env.open_session()
    env.post_need(sid)
    env.post_need(sid, buyer=env.tso, role=BUYER_TSO, zone=ZERO32, direction=DOWN)
    _balancing(env, sid, DOWN, balancing_budget, max_price=balancing_max_price)
    _balancing(env, sid, UP)
    env.post_need(sid, buyer=env.brp, role=BUYER_BRP, zone=ZERO32, direction=DOWN)
    env.join(sid, env.agg1, 1)
    env.join(sid, env.agg2, 1)
    up = env.make_bid(sid, env.register_assets(env.agg1, 4), UP_Q, UP_PRICE)
    down = env.make_bid(sid, env.register_assets(env.agg2, 3, zone=env.zone2), DOWN_Q,
                        DOWN_PRICE, divisible=True, zone=env.zone2, direction=DOWN)  # fmt: skip
    up_id, _ = env.commit(env.agg1, up)
    down_id, _ = env.commit(env.agg2, down)
    env.to_reveal(sid)
    env.reveal(env.agg1, up)
    env.reveal(env.agg2, down)
    env.to_clearing(sid)
    return {"session": sid, "up": up_id, "down": down_id}


def test_a_dso_posts_a_balancing_need_with_no_quantities(env):
    sid = env.open_session()
    free0, locked0 = env.balances(env.dso)
    tx = _balancing(env, sid, DOWN)
    event = tx.events["NeedPosted"]
    assert list(event["quantityW"]) == [] and event["zone"] == ZERO32
    assert (event["buyer"], event["buyerRole"], event["budgetUeur"]) == (
        env.dso, BUYER_DSO, BALANCING_BUDGET)  # fmt: skip
    core, money = env.market.need(sid, tx.return_value)
    assert core[1] == 0 and core[2] == DOWN  # system-wide
    assert (money[0], money[1], money[2], money[3]) == (BALANCING_BUDGET, 0, False, True)
    assert env.balances(env.dso) == (free0 - BALANCING_BUDGET, locked0 + BALANCING_BUDGET)
    # an ordinary need is not a balancing need
    env.post_need(sid)
    assert env.market.need(sid, 1)[1][3] is False


def test_a_balancing_need_is_a_dsos_and_system_wide(env):
    sid = env.open_session()
    with reverts("FlexMarketBalancingNeedInvalid"):  # a TSO's
        _balancing(env, sid, DOWN, buyer=env.tso, role=BUYER_TSO)
    with reverts("FlexMarketBalancingNeedInvalid"):  # a BRP's
        _balancing(env, sid, UP, buyer=env.brp, role=BUYER_BRP)
    with reverts("FlexMarketBalancingNeedInvalid"):  # zonal
        _balancing(env, sid, DOWN, zone=env.zone2)
    with reverts("FlexMarketUnauthorized"):  # the role is still the caller's
        _balancing(env, sid, DOWN, buyer=env.tso)
    with reverts("FlexMarketNeedBudgetInvalid"):  # a budget, as any need
        _balancing(env, sid, DOWN, budget=0)
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):  # before gate closure, as any need
        _balancing(env, sid, DOWN)
    assert env.session(sid)[3][3] == 0  # no need was posted


def test_a_counter_activation_is_paid_from_the_balancing_need_and_settled(env):
    s = _session(env)
    sid = s["session"]
    dso0, agg2_0 = env.balances(env.dso), env.balances(env.agg2)
    tx = env.commit_result(sid, [
        env.award(s["up"], UP_Q, UP_PRICE, 0),
        env.award(s["down"], DOWN_Q, DOWN_PRICE, 2),  # the counter-activation, whole
    ])  # fmt: skip
    assert env.status(sid) == RES_FINAL
    c = next(e for e in tx.events["AwardCommitted"] if str(e["bidId"]) == s["down"])
    assert (c["needIndex"], c["buyer"], c["paymentUeur"]) == (2, env.dso, DOWN_PAY)
    assert "AwardShared" not in tx.events
    assert int(env.market.need(sid, 2)[1][1]) == DOWN_PAY
    down_index = int(c["awardIndex"])
    up_index = 1 - down_index
    # the counter-activation falls short beyond tolerance: the DSO gets the refund and penalty
    delivered = DOWN_Q // 2
    env.market.recordDeliveries(sid, [up_index, down_index], [UP_Q, delivered], EVIDENCE,
                                {"from": env.metering})  # fmt: skip
    env.market.settleAward(sid, up_index, {"from": env.admin})
    settle = env.market.settleAward(sid, down_index, {"from": env.admin})
    done = settle.events["AwardSettled"]
    paid = DOWN_PRICE * delivered
    penalty = (DOWN_Q - delivered) * 100_000
    assert (done["paymentUeur"], done["refundUeur"], done["penaltyUeur"]) == (
        paid, DOWN_PAY - paid, penalty)  # fmt: skip
    assert "ShareSettled" not in settle.events
    assert env.balances(env.agg2)[0] == agg2_0[0] + paid
    assert env.balances(env.dso) == (
        dso0[0] + (DOWN_PAY - paid) + penalty, dso0[1] - UP_PAY - DOWN_PAY)  # fmt: skip
    # every budget comes back, the balancing needs' included: the DSO paid its debit only
    released = {}
    for need in range(5):
        tx = env.market.releaseBudget(sid, need, {"from": env.admin})
        released[need] = int(tx.events["BudgetReleased"]["amountUeur"])
    assert released[2] == BALANCING_BUDGET - DOWN_PAY
    assert released[3] == BALANCING_BUDGET  # the unused balancing up need, whole
    assert env.balances(env.dso) == (dso0[0] + dso0[1] - UP_PAY - paid + penalty, 0)


def test_a_balancing_need_is_checked_like_any_need(env):
    s2 = _session(env, balancing_max_price=DOWN_PRICE - 1)
    with reverts("FlexMarketAwardNeedInvalid"):  # above the balancing need's maximum price
        env.commit_result(s2["session"], [env.award(s2["down"], DOWN_Q, DOWN_PRICE, 2)])
    s = _session(env, balancing_budget=DOWN_PAY - 1)
    sid = s["session"]
    up_row = env.award(s["up"], UP_Q, UP_PRICE, 0)
    with reverts("FlexMarketAwardNeedInvalid"):  # an up bid on the balancing down need
        env.commit_result(sid, [env.award(s["up"], UP_Q, UP_PRICE, 2)])
    with reverts("FlexMarketAwardExceedsBudget"):  # its budget, one µEUR short
        env.commit_result(sid, [up_row, env.award(s["down"], DOWN_Q, DOWN_PRICE, 2)])
    # which awards are counter-activations is not known on chain (slots, needs met: events
    # only): the TSO's need may pay this one as far as the contract can tell; the verifiers
    # dispute it (tests/nodes/test_balance_dso_chain.py)
    env.commit_result(sid, [up_row, env.award(s["down"], DOWN_Q, DOWN_PRICE, 1)])
    assert env.status(sid) == RES_FINAL


def test_a_balancing_need_pays_whole_awards_only(env):
    s = _session(env)
    sid, down = s["session"], s["down"]
    up_row = env.award(s["up"], UP_Q, UP_PRICE, 0)
    half = DOWN_PAY // 2
    with reverts("FlexMarketBalancingRowInvalid"):  # a part of an award on it
        env.commit_result(sid, [up_row, env.award(down, DOWN_Q, DOWN_PRICE, 2, half),
                                env.award(down, 0, DOWN_PRICE, 4, DOWN_PAY - half)])  # fmt: skip
    with reverts("FlexMarketBalancingRowInvalid"):  # a share row on it
        env.commit_result(sid, [up_row, env.award(down, DOWN_Q, DOWN_PRICE, 1, half),
                                env.award(down, 0, DOWN_PRICE, 2, DOWN_PAY - half)])  # fmt: skip
    with reverts("FlexMarketBalancingRowInvalid"):  # a share row after an award on it, even 0
        env.commit_result(sid, [up_row, env.award(down, DOWN_Q, DOWN_PRICE, 2),
                                env.award(down, 0, DOWN_PRICE, 4, 0)])  # fmt: skip
    # across pages too: the share row comes on the page after its award
    down_row = env.award(down, DOWN_Q, DOWN_PRICE, 2)
    ordered = sorted([up_row, down_row], key=lambda r: int(r[0], 16))
    k = ordered.index(down_row)
    env.commit_result(sid, ordered[: k + 1], last=False)
    with reverts("FlexMarketBalancingRowInvalid"):
        env.commit_result(sid, [env.award(down, 0, DOWN_PRICE, 4, 0)], last=False)
    env.commit_result(sid, ordered[k + 1 :])
    assert env.status(sid) == RES_FINAL
    assert [int(env.market.need(sid, n)[1][1]) for n in range(5)] == [UP_PAY, 0, DOWN_PAY, 0, 0]
