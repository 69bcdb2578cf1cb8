"""FlexMarket: metered delivery, settlement (pull payments, penalties, FLECH suspension),
releases of budgets, bonds and collateral."""

import pytest
from conftest import INITIAL_DEPOSIT_UEUR, label, reverts

EVIDENCE = label("metering-report")


def _cleared(env, **overrides):
    """Session with bids a, b (agg1) and c (agg2, divisible); a and c awarded."""
    s = env.revealed_session(**overrides)
    sid = s["session"]
    a, b, c = s["bids"]
    env.commit_result(sid, [env.award(a, 12_300, 500_000), env.award(c, 15_400, 1_000_000)])
    index = {str(env.market.award(sid, i)[0]).lower(): i for i in range(2)}
    return sid, a, b, c, index


@pytest.fixture(scope="module")
def cleared(env):
    """The default `_cleared` session, shared by the module (each test reverts)."""
    return _cleared(env)


def _standing(env, seller):
    failures, suspended = env.market.standingOf(seller)
    return int(failures), bool(suspended)


def _deliver(env, sid, index_to_w):
    indices = sorted(index_to_w)
    return env.market.recordDeliveries(
        sid, indices, [index_to_w[i] for i in indices], EVIDENCE, {"from": env.metering}
    )


def test_record_deliveries_stores_metered_power(env, cleared):
    sid, a, _, c, index = cleared
    tx = _deliver(env, sid, {index[a]: 12_300, index[c]: 15_000})
    core = env.market.award(sid, index[c])[1]
    assert (core[2], core[3]) == (15_000, True)
    assert tx.events["DeliveryRecorded"][0]["evidenceHash"] == EVIDENCE


def test_record_deliveries_reverts_when_caller_is_not_the_metering_operator(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketUnauthorized"):
        env.market.recordDeliveries(sid, [0], [1], EVIDENCE, {"from": env.dso})


def test_record_deliveries_reverts_when_lengths_differ(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketDeliveryLengthMismatch"):
        env.market.recordDeliveries(sid, [0, 1], [1], EVIDENCE, {"from": env.metering})


def test_record_deliveries_reverts_before_the_result(env):
    s = env.revealed_session()
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.recordDeliveries(s["session"], [0], [1], EVIDENCE, {"from": env.metering})


def test_record_deliveries_reverts_when_award_unknown(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketAwardUnknown"):
        env.market.recordDeliveries(sid, [2], [1], EVIDENCE, {"from": env.metering})


def test_record_deliveries_reverts_when_recorded_twice(env, cleared):
    sid, *_ = cleared
    _deliver(env, sid, {0: 1})
    with reverts("FlexMarketDeliveryAlreadyRecorded"):
        _deliver(env, sid, {0: 1})


def test_settle_award_pays_the_seller_from_the_buyer_escrow(env, cleared):
    sid, a, _, _, index = cleared
    _deliver(env, sid, {index[a]: 12_300})
    buyer, seller = env.balances(env.dso), env.balances(env.agg1)
    tx = env.market.settleAward(sid, index[a], {"from": env.owner})  # anyone may settle
    pay = 12_300 * 500_000
    assert env.balances(env.agg1) == (seller[0] + pay, seller[1])
    assert env.balances(env.dso) == (buyer[0], buyer[1] - pay)
    event = tx.events["AwardSettled"]
    assert (event["paymentUeur"], event["refundUeur"], event["penaltyUeur"]) == (pay, 0, 0)
    assert env.market.award(sid, index[a])[1][4]  # settled
    assert env.session(sid)[3][5] == 1


def test_settle_award_within_tolerance_pays_in_full_without_failure(env, cleared):
    sid, _, _, c, index = cleared
    _deliver(env, sid, {index[c]: 14_000})  # 9.1 % short, tolerance 10 %
    tx = env.market.settleAward(sid, index[c], {"from": env.owner})
    assert tx.events["AwardSettled"]["paymentUeur"] == 15_400 * 1_000_000
    assert _standing(env, env.agg2) == (0, False)


def test_settle_award_beyond_tolerance_pays_delivery_and_penalises_collateral(env, cleared):
    sid, _, _, c, index = cleared
    _deliver(env, sid, {index[c]: 10_000})
    buyer, seller = env.balances(env.dso), env.balances(env.agg2)
    tx = env.market.settleAward(sid, index[c], {"from": env.owner})
    pay, refund, penalty = 10_000 * 1_000_000, 5_400 * 1_000_000, 5_400 * 100_000
    event = tx.events["AwardSettled"]
    assert (event["paymentUeur"], event["refundUeur"], event["penaltyUeur"]) == (
        pay,
        refund,
        penalty,
    )
    assert env.balances(env.agg2) == (seller[0] + pay, seller[1] - penalty)
    assert env.balances(env.dso) == (buyer[0] + refund + penalty, buyer[1] - pay - refund)
    assert _standing(env, env.agg2) == (1, False)
    assert env.market.participation(sid, env.agg2)[4] == 15_400 * 50_000 - penalty


def test_settle_award_penalty_is_capped_by_the_collateral(env):
    sid, _, _, c, index = _cleared(env, shortfallPenaltyEurPerMw=10**9)
    _deliver(env, sid, {index[c]: 0})
    tx = env.market.settleAward(sid, index[c], {"from": env.owner})
    assert tx.events["AwardSettled"]["penaltyUeur"] == 15_400 * 50_000
    assert env.market.participation(sid, env.agg2)[4] == 0


def test_fourth_failure_suspends_the_seller(env):
    for _ in range(4):
        sid, _, _, c, index = _cleared(env)
        _deliver(env, sid, {index[c]: 0})
        tx = env.market.settleAward(sid, index[c], {"from": env.owner})
    assert _standing(env, env.agg2) == (4, True)
    assert tx.events["SellerSuspended"]["failures"] == 4
    sid = env.open_session()
    with reverts("FlexMarketSellerSuspended"):
        env.join(sid, env.agg2)


def test_reinstate_seller_lifts_the_suspension(env):
    for _ in range(4):
        sid, _, _, c, index = _cleared(env)
        _deliver(env, sid, {index[c]: 0})
        env.market.settleAward(sid, index[c], {"from": env.owner})
    tx = env.market.reinstateSeller(env.agg2, {"from": env.admin})
    assert _standing(env, env.agg2) == (0, False)
    assert tx.events["SellerReinstated"]["seller"] == env.agg2


def test_reinstate_seller_reverts_when_caller_is_not_the_admin(env):
    with reverts("FlexMarketUnauthorized"):
        env.market.reinstateSeller(env.agg2, {"from": env.dso})


def test_settle_award_reverts_when_result_not_final(env):
    s = env.revealed_session(attestationQuorum=1)
    env.commit_result(s["session"], [env.award(s["bids"][0], 12_300, 500_000)])
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.settleAward(s["session"], 0, {"from": env.owner})


def test_settle_award_reverts_when_award_unknown(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketAwardUnknown"):
        env.market.settleAward(sid, 2, {"from": env.owner})


def test_settle_award_reverts_when_delivery_missing(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketDeliveryMissing"):
        env.market.settleAward(sid, 0, {"from": env.owner})


def test_settle_award_reverts_when_already_settled(env, cleared):
    sid, *_ = cleared
    _deliver(env, sid, {0: 20_000})
    env.market.settleAward(sid, 0, {"from": env.owner})
    with reverts("FlexMarketAwardAlreadySettled"):
        env.market.settleAward(sid, 0, {"from": env.owner})


def test_settle_awards_settles_a_page_and_skips_settled_awards(env, cleared):
    sid, *_ = cleared
    _deliver(env, sid, {0: 20_000, 1: 20_000})
    env.market.settleAward(sid, 0, {"from": env.owner})
    tx = env.market.settleAwards(sid, 0, 2, {"from": env.owner})
    assert len(tx.events["AwardSettled"]) == 1
    assert env.session(sid)[3][5] == 2


def test_settle_awards_reverts_when_range_exceeds_the_awards(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketAwardUnknown"):
        env.market.settleAwards(sid, 1, 2, {"from": env.owner})


def test_settle_awards_reverts_when_result_not_final(env):
    s = env.revealed_session()
    with reverts("FlexMarketResultStatusInvalid"):
        env.market.settleAwards(s["session"], 0, 1, {"from": env.owner})


def _settle_all(env, sid):
    count = env.session(sid)[3][4]
    _deliver(env, sid, {i: env.market.award(sid, i)[1][1] for i in range(count)})
    env.market.settleAwards(sid, 0, count, {"from": env.owner})


def test_release_budget_returns_the_uncommitted_budget_after_settlement(env, cleared):
    sid, *_ = cleared
    _settle_all(env, sid)
    budget = 37_800 * 1_000_000
    spent = 12_300 * 500_000 + 15_400 * 1_000_000
    tx = env.market.releaseBudget(sid, 0, {"from": env.owner})
    assert tx.events["BudgetReleased"]["amountUeur"] == budget - spent
    assert env.balances(env.dso) == (INITIAL_DEPOSIT_UEUR - spent, 0)


def test_release_budget_returns_everything_when_no_result_came(env):
    s = env.revealed_session()
    env.to_after_clearing(s["session"])
    free, locked = env.balances(env.dso)
    env.market.releaseBudget(s["session"], 0, {"from": env.owner})
    budget = 37_800 * 1_000_000
    assert env.balances(env.dso) == (free + budget, locked - budget)


def test_release_budget_returns_everything_when_the_result_was_voided(env, cleared):
    sid, *_ = cleared
    env.market.disputeResult(sid, label("x"), {"from": env.validator})
    env.market.resolveDispute(sid, False, {"from": env.admin})
    env.market.releaseBudget(sid, 0, {"from": env.owner})
    assert env.balances(env.dso) == (INITIAL_DEPOSIT_UEUR, 0)


def test_release_budget_reverts_when_need_unknown(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketNeedUnknown"):
        env.market.releaseBudget(sid, 3, {"from": env.owner})


def test_release_budget_reverts_while_awards_are_unsettled(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketReleaseNotAllowed"):
        env.market.releaseBudget(sid, 0, {"from": env.owner})


def test_release_budget_reverts_when_released_twice(env, cleared):
    sid, *_ = cleared
    _settle_all(env, sid)
    env.market.releaseBudget(sid, 0, {"from": env.owner})
    with reverts("FlexMarketAlreadyReleased"):
        env.market.releaseBudget(sid, 0, {"from": env.owner})


def test_release_seller_funds_returns_bond_and_collateral_after_settlement(env, cleared):
    sid, *_ = cleared
    _settle_all(env, sid)
    tx = env.market.releaseSellerFunds(sid, env.agg1, {"from": env.owner})
    event = tx.events["SellerFundsReleased"]
    assert event["bondUeur"] == 2 * 1_000_000 and event["collateralUeur"] == 2 * 12_300 * 50_000
    assert env.balances(env.agg1) == (INITIAL_DEPOSIT_UEUR + 12_300 * 500_000, 0)


def test_release_seller_funds_after_a_session_without_result(env):
    s = env.revealed_session()
    env.to_after_clearing(s["session"])
    free, locked = env.balances(env.agg2)
    pool = 1_000_000 + 15_400 * 50_000  # one bond, one bid's collateral
    env.market.releaseSellerFunds(s["session"], env.agg2, {"from": env.agg2})
    assert env.balances(env.agg2) == (free + pool, locked - pool)


def test_release_seller_funds_reverts_when_seller_never_joined(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketNotJoined"):
        env.market.releaseSellerFunds(sid, env.dso, {"from": env.owner})


def test_release_seller_funds_reverts_while_awards_are_unsettled(env, cleared):
    sid, *_ = cleared
    with reverts("FlexMarketReleaseNotAllowed"):
        env.market.releaseSellerFunds(sid, env.agg1, {"from": env.owner})


def test_release_seller_funds_reverts_when_released_twice(env, cleared):
    sid, *_ = cleared
    _settle_all(env, sid)
    env.market.releaseSellerFunds(sid, env.agg1, {"from": env.owner})
    with reverts("FlexMarketAlreadyReleased"):
        env.market.releaseSellerFunds(sid, env.agg1, {"from": env.owner})


def test_full_session_leaves_nothing_locked_and_everyone_can_withdraw(env, cleared):
    sid, *_ = cleared
    _settle_all(env, sid)
    env.market.releaseBudget(sid, 0, {"from": env.owner})
    for seller in (env.agg1, env.agg2):
        env.market.releaseSellerFunds(sid, seller, {"from": env.owner})
    total = 0
    for account in (env.dso, env.tso, env.brp, env.agg1, env.agg2, env.oracle):
        free, locked = env.balances(account)
        assert locked == 0
        env.market.withdraw(free, {"from": account})
        total += free
    assert total == 6 * INITIAL_DEPOSIT_UEUR
    assert env.token.balanceOf(env.market) == 0
