"""The grid inputs a session publishes (issue 19): only its operator, before gate closure, in
parts published in order from 0 (an MV grid's inputs do not fit one block); the events carry
the parts, whose concatenation every node rebuilds the session's grid from."""

from __future__ import annotations

from conftest import reverts

GRID = (b'{"inputs":{"assets":[],"cuts":[],"model_hash":"0x' + b"11" * 32
        + b'","profiles_hash":"0x' + b"22" * 32 + b'","zones":[]},'
        b'"simbench_code":"1-LV-semiurb4--2-sw","time_step":14012}')


def test_the_operator_publishes_the_grid_inputs_in_one_part_once_before_gate_closure(env):
    sid = env.open_session()  # opened by env.dso: the operator
    tx = env.market.publishGrid(sid, 0, 1, GRID, {"from": env.dso})
    event = tx.events["GridPublished"]
    assert (event["sessionId"], event["operator"]) == (sid, env.dso)
    assert (event["partIndex"], event["partCount"]) == (0, 1)
    assert bytes(event["part"]) == GRID
    with reverts("FlexMarketGridExists"):
        env.market.publishGrid(sid, 0, 1, GRID, {"from": env.dso})
    with reverts("FlexMarketGridExists"):
        env.market.publishGrid(sid, 1, 2, GRID, {"from": env.dso})
    with reverts("FlexMarketSessionUnknown"):
        env.market.publishGrid(sid + 1, 0, 1, GRID, {"from": env.dso})


def test_parts_are_published_in_order_and_their_concatenation_is_the_inputs(env):
    sid = env.open_session()
    parts = [GRID[i : i + 50] for i in range(0, len(GRID), 50)]
    count = len(parts)
    assert count >= 3
    with reverts("FlexMarketGridPartOutOfOrder"):  # part 0 first
        env.market.publishGrid(sid, 1, count, parts[1], {"from": env.dso})
    joined = b""
    for index, part in enumerate(parts):
        if index == 1:
            with reverts("FlexMarketGridPartOutOfOrder"):  # no part skipped
                env.market.publishGrid(sid, 2, count, parts[2], {"from": env.dso})
            with reverts("FlexMarketGridPartOutOfOrder"):  # nor any repeated
                env.market.publishGrid(sid, 0, count, parts[0], {"from": env.dso})
        tx = env.market.publishGrid(sid, index, count, part, {"from": env.dso})
        event = tx.events["GridPublished"]
        assert (event["partIndex"], event["partCount"]) == (index, count)
        joined += bytes(event["part"])
    assert joined == GRID
    with reverts("FlexMarketGridExists"):  # complete: no further part
        env.market.publishGrid(sid, count, count, b"x", {"from": env.dso})


def test_the_count_of_parts_is_at_least_one_and_fixed_by_part_0(env):
    sid = env.open_session()
    with reverts("FlexMarketGridPartCount"):
        env.market.publishGrid(sid, 0, 0, GRID, {"from": env.dso})
    env.market.publishGrid(sid, 0, 3, GRID[:10], {"from": env.dso})
    for other in (2, 4, 0):
        with reverts("FlexMarketGridPartCount"):
            env.market.publishGrid(sid, 1, other, GRID[10:20], {"from": env.dso})
    env.market.publishGrid(sid, 1, 3, GRID[10:20], {"from": env.dso})
    tx = env.market.publishGrid(sid, 2, 3, GRID[20:], {"from": env.dso})
    assert tx.events["GridPublished"]["partIndex"] == 2


def test_only_the_operator_publishes_grid_parts_and_only_before_gate_closure(env):
    sid = env.open_session()
    with reverts("FlexMarketNotOperator"):
        env.market.publishGrid(sid, 0, 2, GRID, {"from": env.tso})
    env.market.publishGrid(sid, 0, 2, GRID[:40], {"from": env.dso})
    with reverts("FlexMarketNotOperator"):  # nor a later part
        env.market.publishGrid(sid, 1, 2, GRID[40:], {"from": env.tso})
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):  # an incomplete publication stays incomplete
        env.market.publishGrid(sid, 1, 2, GRID[40:], {"from": env.dso})


def test_grid_and_coordination_inputs_are_published_independently(env):
    sid = env.open_session()
    env.market.publishCoordination(sid, b'{"coupling":"common"}', {"from": env.dso})
    tx = env.market.publishGrid(sid, 0, 1, GRID, {"from": env.dso})
    assert "GridPublished" in tx.events
    with reverts("FlexMarketCoordinationExists"):
        env.market.publishCoordination(sid, b"{}", {"from": env.dso})


def test_a_part_of_64_kib_costs_far_below_a_block(env):
    """The publisher's part size (python_client.clients.GRID_PART_BYTES, 64 KiB): ~2.7 M gas
    a part (calldata at the EIP-7623 floor and the event's data, ~40 gas a byte), under a tenth
    of a 30 M gas block, so a part is mined next to other transactions; an MV grid's ~0.9 MB
    take 14 parts."""
    sid = env.open_session()
    part = bytes(range(1, 256)) * (64 * 1024 // 255 + 1)
    tx = env.market.publishGrid(sid, 0, 2, part[: 64 * 1024], {"from": env.dso})
    assert tx.gas_used < 3_000_000, tx.gas_used
