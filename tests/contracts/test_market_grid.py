"""The grid inputs a session publishes (issue 19): only its operator, once, before gate
closure; the event carries the bytes every node rebuilds the session's grid from."""

from __future__ import annotations

from conftest import reverts

GRID = (b'{"inputs":{"assets":[],"cuts":[],"model_hash":"0x' + b"11" * 32
        + b'","profiles_hash":"0x' + b"22" * 32 + b'","zones":[]},'
        b'"simbench_code":"1-LV-semiurb4--2-sw","time_step":14012}')


def test_the_operator_publishes_the_grid_inputs_once_before_gate_closure(env):
    sid = env.open_session()  # opened by env.dso: the operator
    tx = env.market.publishGrid(sid, GRID, {"from": env.dso})
    event = tx.events["GridPublished"]
    assert (event["sessionId"], event["operator"]) == (sid, env.dso)
    assert bytes(event["grid"]) == GRID
    with reverts("FlexMarketGridExists"):
        env.market.publishGrid(sid, GRID, {"from": env.dso})
    with reverts("FlexMarketSessionUnknown"):
        env.market.publishGrid(sid + 1, GRID, {"from": env.dso})


def test_only_the_operator_publishes_grid_inputs_and_only_before_gate_closure(env):
    sid = env.open_session()
    with reverts("FlexMarketNotOperator"):
        env.market.publishGrid(sid, GRID, {"from": env.tso})
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        env.market.publishGrid(sid, GRID, {"from": env.dso})


def test_grid_and_coordination_inputs_are_published_independently(env):
    sid = env.open_session()
    env.market.publishCoordination(sid, b'{"coupling":"common"}', {"from": env.dso})
    tx = env.market.publishGrid(sid, GRID, {"from": env.dso})
    assert "GridPublished" in tx.events
    with reverts("FlexMarketCoordinationExists"):
        env.market.publishCoordination(sid, b"{}", {"from": env.dso})
