"""FlexMarket: opening sessions, posting needs, joining as a seller."""

import pytest
from conftest import (
    BUYER_BRP,
    BUYER_TSO,
    DOWN,
    INITIAL_DEPOSIT_UEUR,
    NO_LIMIT,
    RES_NONE,
    label,
    reverts,
)


def test_open_session_stores_its_parameters_and_emits_all_of_them(env):
    params = env.session_params(slotCount=96, pricing=1)
    tx = env.market.openSession(params, {"from": env.dso})
    sid = tx.return_value
    assert sid == env.market.sessionCount()
    operator, timing, rules, money, input_hash, result_hash = env.session(sid)
    assert operator == env.dso
    assert timing[0] == params[6] and timing[4] == 96 and timing[6] == 1
    assert rules[0] == 1000 and rules[1] == 100
    assert money[0] == RES_NONE and money[6] == params[14]
    assert tx.events["SessionOpened"]["params"][0] == label("T1-PowerMax-2014W")


def test_open_session_is_allowed_to_the_oracle(env):
    tx = env.market.openSession(env.session_params(), {"from": env.oracle})
    assert env.session(tx.return_value)[0] == env.oracle


def test_open_session_reverts_when_caller_is_neither_dso_nor_oracle(env):
    with reverts("FlexMarketUnauthorized"):
        env.market.openSession(env.session_params(), {"from": env.agg1})


@pytest.mark.parametrize(
    "field,value",
    [
        ("slotCount", 0),
        ("slotCount", 257),
        ("slotMinutes", 0),
        ("granularityW", 0),
        ("priceCapEurPerMw", -1),
        ("toleranceBps", 10_001),
        ("biddingEnd", 0),
        ("revealDeadline", 0),
        ("clearingDeadline", 0),
    ],
)
def test_open_session_reverts_when_a_parameter_is_invalid(env, field, value):
    now = env.now()
    overrides = {field: value}
    if field == "priceCapEurPerMw":
        overrides = {"priceFloorEurPerMw": 10, "priceCapEurPerMw": 9}
    elif field == "biddingEnd":
        overrides = {"biddingEnd": now - 1}
    elif field == "revealDeadline":
        overrides = {"revealDeadline": now + 10_000}  # == biddingEnd
    elif field == "clearingDeadline":
        overrides = {"clearingDeadline": now + 20_000}  # == revealDeadline
    with reverts("FlexMarketSessionParamInvalid"):
        env.market.openSession(env.session_params(**overrides), {"from": env.dso})


def test_post_need_locks_the_budget_and_emits_the_quantities(env):
    sid = env.open_session()
    need = (sid, env.zone, 0, 0, 900_000, 40_000_000_000, [37_800])
    tx = env.market.postNeed(need, {"from": env.dso})
    assert tx.return_value == 0
    assert env.balances(env.dso) == (INITIAL_DEPOSIT_UEUR - 40_000_000_000, 40_000_000_000)
    core, money = env.market.need(sid, 0)
    assert core[0] == env.dso and core[1] == 1 and core[4] == 900_000
    assert money[0] == 40_000_000_000 and money[1] == 0
    assert [int(q) for q in tx.events["NeedPosted"]["quantityW"]] == [37_800]


def test_post_need_accepts_one_quantity_per_slot_and_system_wide_needs(env):
    sid = env.open_session(slotCount=3)
    need = (sid, "0x" + "00" * 32, DOWN, BUYER_TSO, NO_LIMIT, 1_000_000, [1000, 2000, 3000])
    tx = env.market.postNeed(need, {"from": env.tso})
    assert env.market.need(sid, 0)[0][1] == 0
    assert [int(q) for q in tx.events["NeedPosted"]["quantityW"]] == [1000, 2000, 3000]
    env.post_need(sid, buyer=env.brp, role=BUYER_BRP, zone="0x" + "00" * 32)
    assert env.session(sid)[3][3] == 2


def test_post_need_reverts_when_caller_lacks_the_buyer_role(env):
    sid = env.open_session()
    with reverts("FlexMarketUnauthorized"):
        env.post_need(sid, buyer=env.dso, role=BUYER_TSO)


def test_post_need_reverts_when_session_unknown(env):
    with reverts("FlexMarketSessionUnknown"):
        env.post_need(999)


def test_post_need_reverts_after_gate_closure(env):
    sid = env.open_session()
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.post_need(sid)


def test_post_need_reverts_when_quantities_do_not_match_the_slots(env):
    sid = env.open_session(slotCount=3)
    with reverts("FlexMarketNeedQuantitiesInvalid"):
        env.market.postNeed((sid, env.zone, 0, 0, NO_LIMIT, 1, [1, 2]), {"from": env.dso})


def test_post_need_reverts_when_budget_is_zero(env):
    sid = env.open_session()
    with reverts("FlexMarketNeedBudgetInvalid"):
        env.post_need(sid, budget=0)


def test_post_need_reverts_when_budget_exceeds_free_balance(env):
    sid = env.open_session()
    with reverts("EscrowInsufficientFree"):
        env.post_need(sid, budget=INITIAL_DEPOSIT_UEUR + 1)


def test_post_need_reverts_when_zone_unknown(env):
    sid = env.open_session()
    with reverts("FlexRegistryZoneUnknown"):
        env.post_need(sid, zone=label("nowhere"))


def test_join_session_locks_one_bond_per_allowed_bid(env):
    sid = env.open_session()
    tx = env.join(sid, env.agg1, 3)
    assert env.balances(env.agg1) == (INITIAL_DEPOSIT_UEUR - 3_000_000, 3_000_000)
    env.join(sid, env.agg1, 2)  # raise the allowance
    p = env.market.participation(sid, env.agg1)
    assert (p[0], p[3]) == (5, 5_000_000)
    assert tx.events["SessionJoined"]["bondUeur"] == 3_000_000


def test_join_session_reverts_when_caller_is_not_an_aggregator(env):
    sid = env.open_session()
    with reverts("FlexMarketUnauthorized"):
        env.join(sid, env.dso)


def test_join_session_reverts_when_session_unknown(env):
    with reverts("FlexMarketSessionUnknown"):
        env.join(999, env.agg1)


def test_join_session_reverts_after_gate_closure(env):
    sid = env.open_session()
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.join(sid, env.agg1)


def test_join_session_reverts_when_allowance_is_zero_or_too_large(env):
    sid = env.open_session()
    with reverts("FlexMarketMaxBidsInvalid"):
        env.join(sid, env.agg1, 0)
    sid2 = env.open_session(bidBondUeur=1)
    env.join(sid2, env.agg1, 65_535)
    with reverts("FlexMarketMaxBidsInvalid"):
        env.join(sid2, env.agg1, 1)


def test_join_session_reverts_when_bond_exceeds_free_balance(env):
    sid = env.open_session(bidBondUeur=INITIAL_DEPOSIT_UEUR)
    with reverts("EscrowInsufficientFree"):
        env.join(sid, env.agg1, 2)
