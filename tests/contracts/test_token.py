"""FlexToken: the µEUR settlement token."""

from conftest import reverts


def test_token_has_six_decimals_and_its_symbol(env):
    assert env.token.decimals() == 6
    assert env.token.symbol() == "uEUR"


def test_mint_credits_the_receiver_when_called_by_the_admin(env):
    before = env.token.balanceOf(env.owner)
    env.token.mint(env.owner, 5_000_000, {"from": env.admin})
    assert env.token.balanceOf(env.owner) == before + 5_000_000


def test_mint_reverts_when_caller_is_not_the_admin(env):
    with reverts("OwnableUnauthorizedAccount"):
        env.token.mint(env.owner, 1, {"from": env.dso})
