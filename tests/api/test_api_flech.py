"""The FLECH session (examples/flech_powermax.json) over HTTP only: every participant is an
`HttpClient` with its own key (the API holds none of them), on a real anvil. The awards
and payments on chain equal `flexmarket clear`, and so do the final token balances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oracle import clear, load_scenario
from python_client.hashing import label, new_salt
from python_client.http import HttpClient
from python_client.records import BidFields, Direction
from tests.api.conftest import numbers, participant, register_zones_and_assets, warp

ROOT = Path(__file__).resolve().parents[2]
FLECH = json.loads((ROOT / "examples" / "flech_powermax.json").read_text())
ASSET_KEY = b"flexmarket-api-test-asset-key"
DEPOSIT_UEUR = 10**15
BOND_UEUR = 1_000_000
COLLATERAL_UEUR_PER_W = 10_000
PHASE_S = 60
UNMET_PENALTY_EUR_PER_MW = 10**12  # the engine's default: unmet need costs more than any bid
ROLE_OF = {"DSO": "DSO", "aggregator": "AGGREGATOR"}


def test_flech_session_over_http_equals_flexmarket_clear(api: dict[str, Any]) -> None:
    expected = clear(load_scenario(FLECH)).to_json_dict()
    assert expected["total_cost_ueur"] == 27_960_000_000

    admin, oracle, metering = (participant(api, i) for i in (0, 1, 2))
    people: dict[str, HttpClient] = {
        p["id"]: participant(api, 3 + i) for i, p in enumerate(FLECH["participants"])
    }
    validator = participant(api, 3 + len(people))  # the session's quorum is 1 (issue 11)
    for c in (admin, oracle, metering, validator, *people.values()):
        c.sign_in()
    roles = {p["id"]: p["role"] for p in FLECH["participants"]}

    # --- registration: roles, money, zone, assets, pre-qualification
    admin.grant_role(oracle.address, "ORACLE")
    admin.grant_role(metering.address, "METERING")
    admin.grant_role(validator.address, "VALIDATOR")
    for pid, client in people.items():
        admin.grant_role(client.address, ROLE_OF[roles[pid]])
        admin.mint(client.address, DEPOSIT_UEUR)
        client.deposit(DEPOSIT_UEUR)
    assert set(oracle.me()["roles"]) == {"ORACLE"}
    dso = people["DSO1"]
    ids = register_zones_and_assets(FLECH, people, ASSET_KEY)

    # --- session (market operator) and need (DSO)
    market = FLECH["market"]
    now = int(admin.deployment()["block_timestamp"])
    session_id = oracle.open_session({
        "market_id": market["id"], "product": market["product"], "pricing": market["pricing"],
        "slot_count": market["slots"], "slot_minutes": market["slot_minutes"],
        "delivery_start": now + 4 * PHASE_S, "bidding_end": now + PHASE_S,
        "reveal_deadline": now + 2 * PHASE_S, "clearing_deadline": now + 3 * PHASE_S,
        "min_bid_w": market["min_bid_w"], "granularity_w": market["granularity_w"],
        "bid_bond_ueur": BOND_UEUR, "collateral_ueur_per_w": COLLATERAL_UEUR_PER_W,
        "tolerance_bps": 1_000, "unmet_penalty_eur_per_mw": UNMET_PENALTY_EUR_PER_MW,
    })  # fmt: skip
    session = oracle.session(session_id)
    assert session["phase"] == "bidding" and session["operator"] == oracle.address
    need_index: dict[str, int] = {}
    top = max(int(b["price_eur_per_mw"]) for b in FLECH["bids"])
    budget = sum(int(b["quantity_w"]) for b in FLECH["bids"]) * top
    for r in FLECH["requests"]:
        need_index[r["id"]] = people[r["buyer"]].post_need(session_id, {
            "zone": r["zone"], "direction": r["direction"], "buyer_role": roles[r["buyer"]],
            "budget_ueur": budget, "quantity_w": [int(r["quantity_w"])],
        })  # fmt: skip
    assert int(dso.need(session_id, 0)["budget_ueur"]) == budget

    # --- sealed bids: join, commit (relayed, batched), reveal (relayed)
    fields: dict[str, BidFields] = {}
    for b in FLECH["bids"]:
        fields[b["id"]] = BidFields(
            label(b["zone"]), Direction.UP if b["direction"] == "up" else Direction.DOWN,
            bool(b["divisible"]), int(b["quantity_w"]), int(b["price_eur_per_mw"]),
            (1 << market["slots"]) - 1, BidFields.sorted_assets([ids[a] for a in b["assets"]]),
            new_salt(), int(b.get("min_quantity_w") or 0),
        )  # fmt: skip
    sellers = {b["id"]: people[b["seller"]] for b in FLECH["bids"]}
    for pid in ("FO1", "FO2"):
        count = sum(1 for b in FLECH["bids"] if b["seller"] == pid)
        joined = people[pid].join(session_id, count)
        assert "SessionJoined" in [e["name"] for e in joined["events"]]
    chain_id: dict[str, str] = {}
    for name, f in fields.items():
        out = sellers[name].commit_bid(session_id, f, wait=True)
        assert out["status"] == "committed", out
        assert out["bid_id"] == sellers[name].bid_id_of(session_id, f)
        chain_id[name] = out["bid_id"]
    # before the reveal deadline nobody sees another's bid
    assert {b["bid_id"] for b in people["FO1"].bids(session_id)} == {chain_id["FO1B1"]}
    warp(api, session["bidding_end"])
    for name, f in fields.items():
        sellers[name].reveal_bid(session_id, f)
    warp(api, session["reveal_deadline"])
    revealed = dso.bids(session_id)
    assert {b["bid_id"] for b in revealed} == set(chain_id.values())
    assert all(b["status"] == "revealed" for b in revealed)

    # --- clearing by the engine, result committed by the oracle role
    awards = [
        {"bid_id": chain_id[a["bid"]], "need_index": need_index["T1-CAP-RED"],
         "quantity_w": a["quantity_w"], "price_eur_per_mw": a["price_eur_per_mw"]}
        for a in expected["awards"]
    ]  # fmt: skip
    oracle.commit_result(session_id, expected["input_hash"], expected["result_hash"], awards)
    assert dso.result(session_id)["status"] == "pending"
    validator.attest(session_id, expected["result_hash"])
    result = numbers(dso.result(session_id))
    assert result["status"] == "final"
    assert result["input_hash"] == expected["input_hash"]
    assert result["result_hash"] == expected["result_hash"]
    name_of = {v: k for k, v in chain_id.items()}
    on_chain = sorted(
        (name_of[a["bid_id"]], a["quantity_w"], a["payment_ueur"]) for a in result["awards"]
    )
    assert on_chain == sorted(
        (a["bid"], a["quantity_w"], a["payment_ueur"]) for a in expected["awards"]
    )
    assert sum(a["payment_ueur"] for a in result["awards"]) == 27_960_000_000
    assert ("FO2B2", 13_200) in {(n, w) for n, w, _ in on_chain}

    # --- metering (full delivery), settlement, releases, withdrawals
    metering.record_deliveries(
        session_id, {a["award_index"]: a["quantity_w"] for a in result["awards"]},
        "0x" + label("api-test-metering-report").hex(),
    )  # fmt: skip
    people["FO1"].settle(session_id)
    assert all(a["settled"] for a in dso.result(session_id)["awards"])
    dso.release_budget(session_id, need_index["T1-CAP-RED"])
    for pid in ("FO1", "FO2"):
        people[pid].release_seller_funds(session_id, people[pid].address)
    for client in people.values():
        client.withdraw_all()
    final = {pid: numbers(c.me()) for pid, c in people.items()}
    assert all(m["free_ueur"] == 0 and m["locked_ueur"] == 0 for m in final.values())
    paid: dict[str, int] = {}
    for a in expected["awards"]:
        seller = next(b["seller"] for b in FLECH["bids"] if b["id"] == a["bid"])
        paid[seller] = paid.get(seller, 0) + a["payment_ueur"]
    assert paid == {"FO1": 6_150_000_000, "FO2": 8_610_000_000 + 13_200_000_000}
    assert final["FO1"]["token_ueur"] == DEPOSIT_UEUR + paid["FO1"]
    assert final["FO2"]["token_ueur"] == DEPOSIT_UEUR + paid["FO2"]
    assert final["DSO1"]["token_ueur"] == DEPOSIT_UEUR - 27_960_000_000

    # --- the replica's report of the session, through the API
    audit = people["FO2"].request("GET", f"/sessions/{session_id}/audit")
    assert audit["ok"], json.dumps(audit, indent=1)
    assert audit["sessions"][0]["checked"] and not audit["sessions"][0]["violations"]
