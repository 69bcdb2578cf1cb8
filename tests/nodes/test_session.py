"""nodes.session.SessionRun: a session on chain step by step, stopping after any step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.errors import SessionRunError
from nodes.session import STEPS, SessionRun, need_budget_ueur
from python_client.chain import connect
from python_client.localchain import start_chain

ROOT = Path(__file__).resolve().parents[2]
FLECH = json.loads((ROOT / "examples" / "flech_powermax.json").read_text())


def test_need_budget_bounds_what_any_clearing_pays() -> None:
    bids = [{"zone": "T1", "direction": "up", "price_eur_per_mw": 500, "quantity_w": 10},
            {"zone": "T1", "direction": "up", "price_eur_per_mw": 900, "quantity_w": 5},
            {"zone": "T2", "direction": "up", "price_eur_per_mw": 9_999, "quantity_w": 5}]
    request = {"zone": "T1", "direction": "up", "max_price_eur_per_mw": None}
    assert need_budget_ueur(bids, request) == 15 * 900  # T2's bid may not serve T1
    assert need_budget_ueur(bids, {**request, "max_price_eur_per_mw": 600}) == 10 * 500
    assert need_budget_ueur(bids, {**request, "direction": "down"}) == 1  # none: at least 1


def test_an_unknown_step_is_refused_by_name() -> None:
    run = SessionRun.__new__(SessionRun)
    with pytest.raises(SessionRunError, match="until: 'clearing' is not one of roles, "):
        run.run("clearing")


def test_too_few_keys_are_refused() -> None:
    with pytest.raises(SessionRunError, match="3 accounts, 7 needed"):
        SessionRun(FLECH, lambda _: {}, None, None, ["0x1"] * 3)  # type: ignore[arg-type]


def test_a_run_stops_after_its_step_and_goes_on_from_there() -> None:
    def no_clear(_: Any) -> Any:
        raise AssertionError("not cleared before the result step")

    with start_chain("anvil") as chain:
        run = SessionRun(FLECH, no_clear, connect(chain.url), chain, chain.dev_private_keys[:8])
        run.run("bids")
        assert run.done == list(STEPS[: STEPS.index("bids") + 1])
        view = run.oracle.session(run.session_id)
        assert len(run.chain_bid_id) == len(FLECH["bids"]) and not run.refused
        assert run.rows == [] and "commit_result" not in run.clock.txs
        assert view is not None
        run.run("roles")  # steps already run are not run again
        assert run.done == list(STEPS[: STEPS.index("bids") + 1])
