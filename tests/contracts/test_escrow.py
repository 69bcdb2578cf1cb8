"""Escrow (inherited by FlexMarket): deposit, withdraw, free and locked balances."""

from conftest import INITIAL_DEPOSIT_UEUR, reverts


def test_deposit_pulls_tokens_into_the_free_balance(env):
    env.token.mint(env.owner, 7_000_000, {"from": env.admin})
    env.token.approve(env.market, 7_000_000, {"from": env.owner})
    tx = env.market.deposit(7_000_000, {"from": env.owner})
    assert env.balances(env.owner) == (7_000_000, 0)
    assert env.token.balanceOf(env.owner) == 0
    assert tx.events["Deposited"]["amountUeur"] == 7_000_000


def test_deposit_reverts_when_amount_is_zero(env):
    with reverts("EscrowZeroAmount"):
        env.market.deposit(0, {"from": env.dso})


def test_deposit_reverts_when_amount_exceeds_the_balance_type(env):
    huge = 2**112
    env.token.mint(env.owner, huge, {"from": env.admin})
    env.token.approve(env.market, huge, {"from": env.owner})
    with reverts("EscrowAmountTooLarge"):
        env.market.deposit(huge, {"from": env.owner})


def test_deposit_reverts_when_allowance_is_missing(env):
    env.token.mint(env.owner, 10, {"from": env.admin})
    with reverts("ERC20InsufficientAllowance"):
        env.market.deposit(10, {"from": env.owner})


def test_withdraw_sends_free_balance_to_its_owner(env):
    before = env.token.balanceOf(env.dso)
    tx = env.market.withdraw(1_000, {"from": env.dso})
    assert env.token.balanceOf(env.dso) == before + 1_000
    assert env.balances(env.dso) == (INITIAL_DEPOSIT_UEUR - 1_000, 0)
    assert tx.events["Withdrawn"]["account"] == env.dso


def test_withdraw_reverts_when_amount_is_zero(env):
    with reverts("EscrowZeroAmount"):
        env.market.withdraw(0, {"from": env.dso})


def test_withdraw_reverts_when_free_balance_is_insufficient(env):
    with reverts("EscrowInsufficientFree"):
        env.market.withdraw(INITIAL_DEPOSIT_UEUR + 1, {"from": env.dso})


def test_withdraw_cannot_touch_locked_money(env):
    sid = env.open_session()
    env.post_need(sid, budget=INITIAL_DEPOSIT_UEUR - 10)
    assert env.balances(env.dso) == (10, INITIAL_DEPOSIT_UEUR - 10)
    with reverts("EscrowInsufficientFree"):
        env.market.withdraw(11, {"from": env.dso})


def test_token_address_is_the_settlement_token(env):
    assert env.market.token() == env.token
    assert env.market.registry() == env.registry
