"""`nodes.demo.run_session`: a scenario's whole session on anvil gives the
engine's result on chain, refuses the bids the contracts refuse, and never puts a meter
code (here: the scenario's asset ids) in calldata or logs."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from nodes.demo import run_session
from oracle.engine import clear
from oracle.payers import payer_shares_json
from oracle.scenario import load_scenario
from oracle.synthetic import random_session
from python_client.chain import Contracts, Deployment, connect
from python_client.localchain import start_chain

ROOT = Path(__file__).resolve().parents[2]
FLECH = json.loads((ROOT / "examples" / "flech_powermax.json").read_text())


def _clear(scenario: Mapping[str, Any]) -> dict[str, Any]:
    return clear(load_scenario(dict(scenario))).to_json_dict()


def _with_invalid_bids() -> dict[str, Any]:
    s = copy.deepcopy(FLECH)
    s["bids"] += [
        {"id": "FO1X-NOT-MANAGED", "seller": "FO1", "zone": "T1", "direction": "up",
         "quantity_w": 3700, "divisible": False, "price_eur_per_mw": 100,
         "assets": ["FO2-EV9"], "submitted_at": "2014-11-20T12:00:00+01:00"},
        {"id": "FO1Y-NOT-GRANULAR", "seller": "FO1", "zone": "T1", "direction": "up",
         "quantity_w": 3650, "divisible": False, "price_eur_per_mw": 100,
         "assets": ["FO1-EV5"], "submitted_at": "2014-11-20T12:01:00+01:00"},
    ]  # fmt: skip
    return s


def _generated_with_invalid_bids() -> dict[str, Any]:
    """A seeded random session (zonal and system-wide needs) with invalid bids mixed in."""
    s = random_session(24, n_slots=8, n_zones=3, n_aggregators=3, seed=5)
    bids = s["bids"]
    bids[1]["assets"] = list(bids[0]["assets"])  # rule 3 (engine) or not managed (chain)
    bids[2]["quantity_w"] += 50  # off the 100 W step
    bids[3]["price_eur_per_mw"] = -1  # below the floor
    return s


@pytest.mark.parametrize(
    "scenario",
    [FLECH, _with_invalid_bids(), _generated_with_invalid_bids()],
    ids=["flech", "invalid-bids", "generated-invalid-bids"],
)
def test_the_chain_settles_exactly_the_engine_result(scenario: dict[str, Any]) -> None:
    expected = _clear(scenario)
    with start_chain("anvil") as chain:
        out = run_session(scenario, _clear, chain)
        contracts = Contracts(connect(chain.url), Deployment.from_json(out["chain"]))
        market = contracts.market.functions
        sid = out["chain"]["session_id"]
        session = market.session(sid).call()
        assert session[4] == bytes.fromhex(expected["input_hash"][2:])
        assert session[5] == bytes.fromhex(expected["result_hash"][2:])
        on_chain = sorted(
            (int(market.award(sid, i).call()[1][1]), int(market.award(sid, i).call()[2][1]))
            for i in range(session[3][4])
        )
        assert on_chain == sorted((a["quantity_w"], a["payment_ueur"]) for a in expected["awards"])
        meter_codes = [a["id"].encode() for a in scenario["assets"]]
        w3 = contracts.w3
        for number in range(1, w3.eth.block_number + 1):
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                receipt = w3.eth.get_transaction_receipt(tx["hash"])
                blobs = [bytes(tx["input"])] + [bytes(log["data"]) for log in receipt["logs"]]
                assert not any(code in blob for code in meter_codes for blob in blobs)
    assert out["awards"] == expected["awards"]
    gas = out["chain"]["gas"]
    assert gas["commit_bid"] <= 55_000 and gas["reveal_bid"] <= 120_000
    # who pays: the payer rule (oracle.payers); an award shared by two buyers settles with a
    # ShareSettled per buyer (the generated session has a DSO's and a TSO's needs)
    payers = payer_shares_json(scenario, expected)
    shared = len({r["bid"] for r in payers}) < len(payers)
    assert gas["settle_award"] <= (80_000 if shared else 60_000)
    want: dict[str, int] = {}
    for r in payers:
        want[r["buyer"]] = want.get(r["buyer"], 0) + r["payment_ueur"]
    assert out["chain"]["payments_ueur"] == want
    roles = {p["id"]: p["role"] for p in scenario["participants"]}
    seller_of = {b["id"]: b["seller"] for b in scenario["bids"]}
    balances = out["chain"]["balances_ueur"]
    deposit = 10**15
    for pid, role in roles.items():
        if role != "aggregator":
            continue
        paid = sum(a["payment_ueur"] for a in expected["awards"] if a["seller"] == pid)
        forfeited = 1_000_000 * sum(  # bonds of committed bids the chain refused at reveal
            1
            for b, why in out["chain"]["refused_bids"].items()
            if seller_of[b] == pid and "not expressible" not in why
        )
        assert balances[pid] == deposit + paid - forfeited, pid
    buyers_paid = sum(deposit - v for p, v in balances.items() if roles[p] != "aggregator")
    assert buyers_paid == expected["total_cost_ueur"]
    assert set(out["chain"]["refused_bids"]) <= {r["bid"] for r in expected["rejected"]}
    if any(b["id"] == "FO1X-NOT-MANAGED" for b in scenario["bids"]):
        assert set(out["chain"]["refused_bids"]) == {"FO1X-NOT-MANAGED", "FO1Y-NOT-GRANULAR"}
        assert out["chain"]["refused_bids"]["FO1X-NOT-MANAGED"] == "FlexRegistryAssetNotManaged"
        rejected = {r["bid"] for r in expected["rejected"]}
        assert {"FO1X-NOT-MANAGED", "FO1Y-NOT-GRANULAR"} <= rejected
