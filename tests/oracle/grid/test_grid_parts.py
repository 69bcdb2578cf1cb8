"""Grid inputs published in parts (issue 19): `publishGrid` takes the canonical bytes in
parts of `GRID_PART_BYTES`, in order from 0; the replay joins them, and a session whose parts
are not all published is not rebuildable (a violation of the node's report, no crash); parts
out of order or with another count (which the contract refuses) are events not placed."""

from __future__ import annotations

from typing import Any

import pytest

from oracle.grid.errors import GridError
from oracle.grid.published import GRID_PART_BYTES, MAX_GRID_PARTS, grid_parts
from verifier.events import DecodedLog
from verifier.rebuild import ChainLog, RebuildError, replay

GRID = b'{"inputs":{},"simbench_code":"x"}'
PARAMS = {"marketId": "0x" + "00" * 32, "product": "0x" + "00" * 32, "pricing": 0,
          "deliveryStart": 1_700_000_000, "slotMinutes": 15, "slotCount": 1, "minBidW": 0,
          "granularityW": 1, "priceFloorEurPerMw": 0, "priceCapEurPerMw": 2**64 - 1,
          "unmetPenaltyEurPerMw": 1}  # fmt: skip


def test_grid_parts_split_the_bytes_in_order_and_join_to_them() -> None:
    body = bytes(range(256)) * 1000  # 256,000 bytes
    parts = grid_parts(body)
    assert [len(p) for p in parts] == [GRID_PART_BYTES] * 3 + [256_000 - 3 * GRID_PART_BYTES]
    assert b"".join(parts) == body
    assert grid_parts(GRID) == [GRID]
    assert grid_parts(b"") == [b""]  # one part, whatever the size
    with pytest.raises(GridError, match="more than 65535"):
        grid_parts(b"x" * (MAX_GRID_PARTS + 1), part_bytes=1)


def _log(n: int, event: str, **args: Any) -> DecodedLog:
    return DecodedLog(n, "0x" + "00" * 32, 0, f"0x{n:064x}", 0, "0x" + "22" * 20,
                      "FlexMarket", event, {"sessionId": 1, **args})  # fmt: skip


def _state(parts: list[tuple[int, int, bytes]]) -> Any:
    logs = [_log(1, "SessionOpened", operator="0x" + "11" * 20, params=PARAMS)]
    logs += [_log(2 + i, "GridPublished", operator="0x" + "11" * 20, partIndex=index,
                  partCount=count, part="0x" + part.hex())
             for i, (index, count, part) in enumerate(parts)]  # fmt: skip
    chain = ChainLog(31337, {"FlexMarket": "0x" + "22" * 20}, 99, 0, logs, {})
    return replay(chain)


def test_the_replay_joins_the_parts_in_order() -> None:
    state = _state([(0, 3, GRID[:10]), (1, 3, GRID[10:20]), (2, 3, GRID[20:])])
    rec = state.sessions[1]
    assert rec.grid == "0x" + GRID.hex() and not rec.unplaced
    assert state.scenario(1)["grid"] == {"inputs": {}, "simbench_code": "x"}


def test_a_session_with_parts_missing_is_not_rebuildable() -> None:
    state = _state([(0, 3, GRID[:10]), (1, 3, GRID[10:20])])
    assert state.sessions[1].grid is None
    with pytest.raises(RebuildError, match="grid inputs incomplete at gate closure: 2 of 3"):
        state.scenario(1)


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([(1, 2, GRID)], "part 1 of 2 of session 1 after 0 of 0 parts"),  # not from 0
        ([(0, 3, GRID[:10]), (2, 3, GRID[10:])], "part 2 of 3 of session 1 after 1 of 3"),
        ([(0, 3, GRID[:10]), (1, 2, GRID[10:])], "part 1 of 2 of session 1 after 1 of 3"),
        ([(0, 0, GRID)], "part 0 of 0"),
        ([(0, 1, GRID), (1, 1, b"x")], "after 1 of 1 parts (complete)"),
    ],
)
def test_parts_the_contract_would_refuse_are_not_placed(
    parts: list[tuple[int, int, bytes]], reason: str
) -> None:
    state = _state(parts)
    rec = state.sessions[1]
    assert [u.event for u in rec.unplaced] == ["GridPublished"]
    assert reason in rec.unplaced[0].reason


def test_the_indexer_projects_parts_and_the_hash_of_the_joined_inputs_across_batches() -> None:
    from oracle.canonical import keccak_hex
    from verifier.projections import Batch, project

    parts = [GRID[:10], GRID[10:20], GRID[20:]]
    logs = [_log(2 + i, "GridPublished", operator="0x" + "11" * 20, partIndex=i, partCount=3,
                 part="0x" + p.hex()) for i, p in enumerate(parts)]  # fmt: skip
    first = Batch()  # parts 0 and 1 in one block range
    for ev in logs[:2]:
        project(first, ev, 0)
    rows = first.rows["grid_parts"]
    assert [(r[4], r[5], r[6], r[8]) for r in rows] == [(0, 3, 10, None), (1, 3, 10, None)]
    stored = [r[7] for r in rows]
    second = Batch(lookup_grid_parts=lambda sid: stored if sid == 1 else [])  # the next range
    project(second, logs[2], 0)
    (row,) = second.rows["grid_parts"]
    assert row[2:7] == (1, "0x" + "11" * 20, 2, 3, len(GRID) - 20)
    assert row[8] == keccak_hex(GRID)


def test_the_ac_check_reuses_the_forecast_flow_of_the_rederivation(small_grid_file: Any) -> None:
    """The replica solves the forecast's AC flow once (with the sensitivities): the AC check's
    "before" is that result, equal to solving the model's forecast again."""
    import numpy as np

    from oracle.grid.published import ac_check, grid_inputs_json, rederive
    from oracle.scenario import parse_scenario
    from tests.oracle.grid.small_grid import small_scenario

    raw = small_scenario(small_grid_file)
    scenario = parse_scenario({**raw, "grid": grid_inputs_json(raw)})
    found = rederive(scenario)
    assert not found.violations and found.forecast is not None
    again = found.solver.solve_model()
    assert np.array_equal(found.forecast.loading_percent, again.loading_percent)
    assert np.array_equal(found.forecast.vm_pu, again.vm_pu)
    awards = {"B-SHOP": 50_000}
    assert ac_check(scenario, found.model, found.solver, awards, found.forecast) == ac_check(
        scenario, found.model, found.solver, awards)
