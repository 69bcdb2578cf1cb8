"""The SimBench case end to end: needs from the grid, cleared with network constraints,
committed and settled on a local chain, every overload removed (issue 6 §5)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from oracle import check, load_scenario
from oracle.grid.clearing import clear_with_grid
from python_client.demo import run_session

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simbench_lv_semiurb4_2016-05-26.json"


def test_simbench_demo_settles_on_chain_with_every_overload_removed() -> None:
    raw = json.loads(EXAMPLE.read_text())
    results: list[Any] = []

    def clear(data: Any) -> dict[str, Any]:
        scenario = load_scenario(dict(data))
        result = clear_with_grid(scenario, base_dir=EXAMPLE.parent)
        assert check(scenario, result) == []
        results.append(result)
        return result.to_json_dict()

    out = run_session(raw, clear, "anvil")
    grid = out["grid_check"]
    assert grid["ok"] is True
    assert Decimal(grid["before"]["max_loading_percent"]) > Decimal("125")
    for slot in grid["slots"]:
        after = slot["after"]
        assert Decimal(after["max_loading_percent"]) <= 100
        assert Decimal("0.9") <= Decimal(after["min_vm_pu"])
        assert Decimal(after["max_vm_pu"]) <= Decimal("1.1")
    assert out["unmet"] == [] and out["awards"]
    assert out["result_hash"] == results[0].result_hash
    # every award was settled and paid: the sellers' balances grew by their payments
    paid: dict[str, int] = {}
    for a in out["awards"]:
        paid[a["seller"]] = paid.get(a["seller"], 0) + a["payment_ueur"]
    chain = out["chain"]
    assert len(chain["tx"]["settle"]) >= 1
    deposit = 10**15
    for seller, amount in paid.items():
        assert chain["balances_ueur"][seller] == deposit + amount
