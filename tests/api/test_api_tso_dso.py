"""A TSO-DSO session (examples/tso_dso_three_areas.json, common coupling) over HTTP: the
DSO and the TSO post their needs in their own roles, the session operator publishes the
coordination inputs, the aggregators join, commit and reveal through the relay, the
operator commits the coordinated result with its share rows, two validators read the
replica's report and attest, the metering operator records a shortfall on a shared award,
and the settlement is read per buyer. Every participant is an `HttpClient` with its own
key, on a real anvil; the figures are the engine's (`clear_coordinated` of the file) and
the final token balances.

Then the refusals: a TSO cannot post a DSO need, an aggregator no TSO need, a balancing
need (no quantities) is a DSO's and system-wide, nobody but the session operator
publishes coordination inputs (403), and malformed inputs are 422 naming the field with
nothing published."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nodes.rows import award_rows
from nodes.service import OracleService
from oracle.coordination import clear_coordinated
from oracle.scenario import load_scenario, parse_scenario
from python_client.hashing import label, new_salt
from python_client.http import ApiError, HttpClient
from python_client.localchain import LocalChain, start_chain
from python_client.records import BidFields, Direction
from python_client.shares import coordination_json
from tests.api.conftest import numbers, participant, register_zones_and_assets, warp
from verifier.rpc import JsonRpc
from verifier.verify import load_state

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = json.loads((ROOT / "examples" / "tso_dso_three_areas.json").read_text())
ASSET_KEY = b"flexmarket-api-tso-dso-asset-key"
DEPOSIT_UEUR = 10**15
BUDGET_UEUR = 10**11  # per need: more than any clearing of this session can charge it
BOND_UEUR = 1_000_000
COLLATERAL_UEUR_PER_W = 10_000
PENALTY_EUR_PER_MW = 20_000
TOLERANCE_BPS = 1_000
PHASE_S = 120
UNMET_PENALTY_EUR_PER_MW = 10**12  # the engine's default
ROLE_OF = {"DSO": "DSO", "TSO": "TSO", "aggregator": "AGGREGATOR"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    """Twenty funded accounts: eight participants, two validators, an outsider, the
    relayer (index 9, see conftest)."""
    with start_chain("anvil", accounts=20) as c:
        yield c


@dataclass
class World:
    api: dict[str, Any]
    admin: HttpClient
    operator: HttpClient  # ORACLE role: opens the sessions, commits results
    metering: HttpClient
    validators: list[HttpClient]
    people: dict[str, HttpClient]  # the file's participants: DSO1, TSO1, AG1-AG3
    brp: HttpClient  # BRP role, no need posted
    asset_ids: dict[str, bytes]


def _block_time(api: dict[str, Any]) -> int:
    return int(api["w3"].eth.get_block("latest")["timestamp"])


@pytest.fixture(scope="module")
def w(api: dict[str, Any]) -> World:
    keys = {"admin": 0, "operator": 1, "metering": 2, "DSO1": 3, "TSO1": 4, "AG1": 5,
            "AG2": 6, "AG3": 7, "V1": 8, "V2": 10, "BRP1": 11}  # fmt: skip
    c = {name: participant(api, i) for name, i in keys.items()}
    for client in c.values():
        client.sign_in()
    admin = c["admin"]
    roles = {p["id"]: p["role"] for p in SCENARIO["participants"]}
    grants = [("operator", "ORACLE"), ("metering", "METERING"), ("V1", "VALIDATOR"),
              ("V2", "VALIDATOR"), ("BRP1", "BRP")]  # fmt: skip
    grants += [(pid, ROLE_OF[role]) for pid, role in roles.items()]
    for name, role in grants:
        admin.grant_role(c[name].address, role)
    for name in (*roles, "BRP1"):
        admin.mint(c[name].address, DEPOSIT_UEUR)
        c[name].deposit(DEPOSIT_UEUR)
    assert set(c["TSO1"].me()["roles"]) == {"TSO"}
    ids = register_zones_and_assets(SCENARIO, c, ASSET_KEY)
    return World(
        api, admin, c["operator"], c["metering"], [c["V1"], c["V2"]],
        {pid: c[pid] for pid in roles}, c["BRP1"], ids,
    )  # fmt: skip


def _open(w: World, quorum: int = 2) -> dict[str, Any]:
    market = SCENARIO["market"]
    now = _block_time(w.api)
    sid = w.operator.open_session({
        "market_id": market["id"], "product": market["product"], "pricing": market["pricing"],
        "slot_count": market["slots"], "slot_minutes": market["slot_minutes"],
        "delivery_start": now + 4 * PHASE_S, "bidding_end": now + PHASE_S,
        "reveal_deadline": now + 2 * PHASE_S, "clearing_deadline": now + 3 * PHASE_S,
        "min_bid_w": market["min_bid_w"], "granularity_w": market["granularity_w"],
        "bid_bond_ueur": BOND_UEUR, "collateral_ueur_per_w": COLLATERAL_UEUR_PER_W,
        "shortfall_penalty_eur_per_mw": PENALTY_EUR_PER_MW, "tolerance_bps": TOLERANCE_BPS,
        "unmet_penalty_eur_per_mw": UNMET_PENALTY_EUR_PER_MW, "attestation_quorum": quorum,
    })  # fmt: skip
    return w.operator.session(sid)


def _need_body(r: dict[str, Any], role: str) -> dict[str, Any]:
    q = r["quantity_w"]
    return {"zone": r["zone"], "direction": r["direction"], "buyer_role": role,
            "budget_ueur": BUDGET_UEUR, "quantity_w": q}  # fmt: skip


def _fields(b: dict[str, Any], ids: dict[str, bytes]) -> BidFields:
    return BidFields(
        label(b["zone"]), Direction.UP if b["direction"] == "up" else Direction.DOWN,
        bool(b["divisible"]), int(b["quantity_w"]), int(b["price_eur_per_mw"]),
        sum(1 << s for s in b["slots"]), BidFields.sorted_assets([ids[a] for a in b["assets"]]),
        new_salt(), int(b.get("min_quantity_w") or 0),
    )  # fmt: skip


def _per_buyer_award(shares: list[dict[str, Any]], key: str) -> dict[tuple[str, str], int]:
    """(award key, buyer) -> µEUR, summed over the buyer's needs."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for s in shares:
        out[(s[key], s["buyer"])] += int(s["payment_ueur"])
    return dict(out)


def test_three_area_session_over_http_shares_each_award_between_dso_and_tso(w: World) -> None:
    expected = clear_coordinated(load_scenario(SCENARIO)).to_json_dict()
    assert expected["total_cost_ueur"] == 10_150_000_000
    api, p = w.api, w.people
    dso, tso, operator = p["DSO1"], p["TSO1"], w.operator
    address = {pid: c.address for pid, c in p.items()}
    session = _open(w)
    sid = session["session_id"]

    # --- coordination inputs (operator) and needs (the DSO and the TSO in their roles)
    published = json.loads(coordination_json(SCENARIO) or b"{}")
    mined = operator.publish_coordination(sid, published)
    assert [e["name"] for t in mined for e in t["events"]] == ["CoordinationPublished"]
    read = tso.coordination(sid)
    assert read["coordination"] == published and read["operator"] == operator.address
    assert read["canonical"].encode() == coordination_json(SCENARIO)  # the demo's bytes
    need_index: dict[str, int] = {}
    roles = {p_["id"]: p_["role"] for p_ in SCENARIO["participants"]}
    for r in SCENARIO["requests"]:
        need_index[r["id"]] = p[r["buyer"]].post_need(sid, _need_body(r, roles[r["buyer"]]))
    assert list(need_index.values()) == list(range(len(SCENARIO["requests"])))
    needs = tso.needs(sid)
    assert [(n["buyer"], n["buyer_role"], n["zone"], n["direction"]) for n in needs] == [
        (address[r["buyer"]], roles[r["buyer"]], r["zone"], r["direction"])
        for r in SCENARIO["requests"]
    ]
    assert needs[3]["quantity_w"] == [0, 0, 45_000, 0, 0]  # the TSO's up-reserve

    # --- bids: join, commit one per block second in the file's order, reveal
    bids = SCENARIO["bids"]
    fields = {b["id"]: _fields(b, w.asset_ids) for b in bids}
    seller = {b["id"]: p[b["seller"]] for b in bids}
    for pid in ("AG1", "AG2", "AG3"):
        p[pid].join(sid, sum(1 for b in bids if b["seller"] == pid))
    chain_id: dict[str, str] = {}
    last = 0
    for b in sorted(bids, key=lambda b: (b["submitted_at"], b["id"])):
        if last:  # a later block time than the previous commit's: the file's tie-break
            warp(api, last + 1)
        out = seller[b["id"]].commit_bid(sid, fields[b["id"]], wait=True)
        assert out["status"] == "committed", out
        chain_id[b["id"]] = out["bid_id"]
        last = _block_time(api)
    assert last < session["bidding_end"]
    warp(api, session["bidding_end"])
    for name, f in fields.items():
        seller[name].reveal_bid(sid, f)
    warp(api, session["reveal_deadline"])
    name_of = {v: k for k, v in chain_id.items()}

    # --- the result: cleared as the oracle service clears it (the session rebuilt from
    # chain, coordination inputs included), committed over HTTP with its share rows
    deployment = json.loads(Path(api["settings"].deployment_file).read_text())
    with JsonRpc(api["chain"].url) as rpc:
        state, _ = load_state(rpc, deployment)
    scenario = parse_scenario(state.scenario(sid))
    result = clear_coordinated(scenario)
    assert result.total_cost_ueur == expected["total_cost_ueur"]
    rows = award_rows(scenario, state.sessions[sid].needs, result)
    awards = []
    for r in rows:
        row = {"bid_id": r.bid, "need_index": r.need, "quantity_w": r.quantity_w,
               "price_eur_per_mw": r.price_eur_per_mw}  # fmt: skip
        awards.append(row if r.charged_ueur is None else {**row, "payment_ueur": r.charged_ueur})
    assert any(a["quantity_w"] == 0 for a in awards)  # share rows
    # a share row charging 1 µEUR more than its award has left: refused, nothing written
    tampered = [dict(a) for a in awards]
    first_share = next(a for a in tampered if a["quantity_w"] == 0)
    first_share["payment_ueur"] += 1
    with pytest.raises(ApiError) as refused:
        operator.commit_result(sid, result.input_hash, result.result_hash, tampered)
    assert refused.value.status == 409
    assert refused.value.problem["error"] == "FlexMarketAwardPaymentMismatch"
    assert operator.session(sid)["award_count"] == 0
    operator.commit_result(sid, result.input_hash, result.result_hash, awards)
    # the market operator's own service finds the result complete: nothing more to commit
    service = OracleService(api["chain"].url, api["keys"][1], deployment).step()
    assert sid not in service.committed and sid not in service.skipped

    # --- the result over HTTP: each award's shares, the engine's split exactly
    on_chain = numbers(dso.result(sid))
    assert on_chain["status"] == "pending" and on_chain["result_hash"] == result.result_hash
    api_shares = [
        {"bid": name_of[a["bid_id"]], "buyer": s["buyer"], "payment_ueur": s["payment_ueur"]}
        for a in on_chain["awards"]
        for s in a["shares"]
        if s["payment_ueur"]
    ]
    for a in on_chain["awards"]:
        assert sum(s["payment_ueur"] for s in a["shares"]) == a["payment_ueur"]
    want = {(k[0], address[k[1]]): v
            for k, v in _per_buyer_award(expected["shares"], "bid").items() if v}  # fmt: skip
    assert _per_buyer_award(api_shares, "bid") == want
    shared = [a for a in on_chain["awards"] if len({s["buyer"] for s in a["shares"]}) > 1]
    assert shared, "common coupling shares some award between the DSO and the TSO"
    mine = tso.my_shares(sid)
    assert sum(s["payment_ueur"] for s in mine) == 6_395_000_000
    assert sum(s["payment_ueur"] for s in dso.my_shares(sid)) == 3_755_000_000

    # --- validators: the replica's report over HTTP, then attest
    for v in w.validators:
        audit = v.request("GET", f"/sessions/{sid}/audit")
        assert audit["ok"], json.dumps(audit, indent=1)
        report = audit["sessions"][0]
        assert report["checked"] and not report["violations"]
        assert report["coordination"] == "0x" + (coordination_json(SCENARIO) or b"").hex()
        replica = [
            {"bid": name_of[a["bid_id"]], "buyer": x["buyer"], "payment_ueur": x["payment_ueur"]}
            for a in report["awards"] for x in a["parts"] if x["payment_ueur"]
        ]  # fmt: skip
        assert _per_buyer_award(replica, "bid") == want
        v.attest(sid, on_chain["result_hash"])
    assert dso.result(sid)["status"] == "final"

    # --- delivery: a shared award delivers half (beyond tolerance), the rest in full
    short = shared[0]
    delivered = {a["award_index"]: a["quantity_w"] for a in on_chain["awards"]}
    delivered[short["award_index"]] = short["quantity_w"] // 2
    w.metering.record_deliveries(sid, delivered, "0x" + label("tso-dso-metering").hex())
    before = numbers(tso.settlements(sid))
    assert before["settled_count"] == 0 and all(not a["parts"] for a in before["awards"])
    assert {b["buyer"]: b["committed_ueur"] for b in before["buyers"]} == {
        address["DSO1"]: 3_755_000_000, address["TSO1"]: 6_395_000_000}  # fmt: skip
    w.brp.settle(sid)  # anyone signed in may

    # --- settlements over HTTP: the seller paid once, each buyer its part
    s = numbers(tso.settlements(sid))
    assert s["settled_count"] == len(on_chain["awards"]) == len(s["awards"])
    for a in s["awards"]:
        assert a["settled"]
        shares = {(x["need_index"], x["buyer"]): x["payment_ueur"] for x in a["shares"]}
        parts = {(x["need_index"], x["buyer"]): x for x in a["parts"]}
        assert set(parts) == {k for k in shares}, a  # one part per paying need
        for key, part in parts.items():
            assert part["payment_ueur"] + part["refund_ueur"] == shares[key]
        assert sum(x["payment_ueur"] for x in a["parts"]) == a["paid_ueur"]
        assert sum(x["refund_ueur"] for x in a["parts"]) == a["refund_ueur"]
        assert sum(x["penalty_ueur"] for x in a["parts"]) == a["penalty_ueur"]
    cut = next(a for a in s["awards"] if a["award_index"] == short["award_index"])
    assert cut["refund_ueur"] == cut["payment_ueur"] // 2 and cut["penalty_ueur"] == (
        short["quantity_w"] - short["quantity_w"] // 2) * PENALTY_EUR_PER_MW  # fmt: skip
    assert all(x["refund_ueur"] and x["penalty_ueur"] for x in cut["parts"])  # split
    full = [a for a in s["awards"] if a["award_index"] != short["award_index"]]
    assert all(a["paid_ueur"] == a["payment_ueur"] and not a["refund_ueur"] for a in full)
    totals = {b["buyer"]: b for b in s["buyers"]}
    assert set(totals) == {address["DSO1"], address["TSO1"]}
    for pid, owed in (("DSO1", 3_755_000_000), ("TSO1", 6_395_000_000)):
        t = totals[address[pid]]
        assert t["committed_ueur"] == owed == t["paid_ueur"] + t["refund_ueur"]
    pays = tso.payments(sid)
    assert pays == {k: totals[tso.address][k] for k in pays}
    only_tso = numbers(dso.settlements(sid, buyer=tso.address))
    assert [b["buyer"] for b in only_tso["buyers"]] == [tso.address]
    assert all(x["buyer"] == tso.address for a in only_tso["awards"] for x in a["parts"])
    assert w.brp.payments(sid) == {"committed_ueur": 0, "paid_ueur": 0, "refund_ueur": 0,
                                   "penalty_ueur": 0}  # fmt: skip

    # --- the event stream carries the new events, decoded
    events = [e for e in tso.events(from_block=0) if e["args"].get("sessionId") == sid]
    names = [e["name"] for e in events]
    split = {a["award_index"] for a in on_chain["awards"] if len(a["shares"]) > 1}
    assert names.count("CoordinationPublished") == 1
    assert names.count("AwardShared") == sum(len(a["shares"]) - 1 for a in on_chain["awards"])
    assert names.count("ShareSettled") == sum(
        len(a["shares"]) for a in on_chain["awards"] if a["award_index"] in split
    )
    coord = next(e for e in events if e["name"] == "CoordinationPublished")
    assert coord["coordination"] == published and coord["args"]["operator"] == operator.address
    share_settled = [e["args"] for e in events if e["name"] == "ShareSettled"]
    assert all(isinstance(a["paymentUeur"], int) for a in share_settled)
    assert sorted(
        (a["awardIndex"], a["needIndex"], a["buyer"], a["paymentUeur"], a["refundUeur"],
         a["penaltyUeur"]) for a in share_settled
    ) == sorted(
        (a["award_index"], x["need_index"], x["buyer"], x["payment_ueur"], x["refund_ueur"],
         x["penalty_ueur"]) for a in s["awards"] if a["award_index"] in split for x in a["parts"]
    )  # fmt: skip
    tso_needs = [e["args"] for e in events
                 if e["name"] == "NeedPosted" and e["args"]["buyer"] == tso.address]  # fmt: skip
    assert [a["buyerRole"] for a in tso_needs] == [1, 1]  # BuyerRole.TSO

    # --- the replica rechecks every settlement, the split of the shortfall included
    audit = dso.request("GET", f"/sessions/{sid}/audit")
    assert audit["ok"], json.dumps(audit, indent=1)
    checked = audit["sessions"][0]["settlements"]
    assert checked == {"checked": len(on_chain["awards"]), "mismatches": []}

    # --- releases and withdrawals: each buyer's escrow paid its part, less what came back
    for i in need_index.values():
        operator.release_budget(sid, i)
    for pid in ("AG1", "AG2", "AG3"):
        p[pid].release_seller_funds(sid, p[pid].address)
    for client in p.values():
        client.withdraw_all()
    final = {pid: numbers(c.me()) for pid, c in p.items()}
    assert all(m["free_ueur"] == 0 and m["locked_ueur"] == 0 for m in final.values())
    for pid in ("DSO1", "TSO1"):
        t = totals[address[pid]]
        assert final[pid]["token_ueur"] == DEPOSIT_UEUR - t["paid_ueur"] + t["penalty_ueur"]
    for pid in ("AG1", "AG2", "AG3"):
        mine_ = [a for a in s["awards"] if a["seller"] == address[pid]]
        got = sum(a["paid_ueur"] - a["penalty_ueur"] for a in mine_)
        assert final[pid]["token_ueur"] == DEPOSIT_UEUR + got, pid


# --- refusals ----------------------------------------------------------------------


def _raw(w: World, c: HttpClient, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {c.token}", **kwargs.pop("headers", {})}
    r = w.api["client"].request(method, path, headers=headers, **kwargs)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
    return r


def test_needs_only_in_roles_held_and_coordination_only_by_the_operator(w: World) -> None:
    session = _open(w, quorum=1)
    sid = session["session_id"]
    p = w.people
    for c in (p["TSO1"], p["DSO1"]):  # their money may be withdrawn by an earlier session
        w.admin.mint(c.address, 10**12)
        c.deposit(10**12)
    tso_need = _need_body(SCENARIO["requests"][3], "TSO")
    dso_need = _need_body(SCENARIO["requests"][0], "DSO")
    # a TSO cannot post a DSO need (its zone's congestion is the DSO's to buy), nor a BRP
    # need; an aggregator no TSO need; a DSO no TSO need: the role comes from the registry
    for who, body in ((p["TSO1"], dso_need), (p["TSO1"], {**tso_need, "buyer_role": "BRP"}),
                      (p["AG1"], tso_need), (p["DSO1"], tso_need)):  # fmt: skip
        r = _raw(w, who, "POST", f"/sessions/{sid}/needs", json=body)
        assert r.status_code == 403 and r.json()["type"].endswith("role-required"), r.text
    assert w.operator.session(sid)["need_count"] == 0
    # in its own roles: a TSO's zonal need too (the contract lets a TSO buy in a zone), a
    # BRP's system-wide need
    p["TSO1"].post_need(sid, {**tso_need, "zone": "T2"})
    w.brp.post_need(sid, {**tso_need, "buyer_role": "BRP"})
    # no quantities: a balancing need, a DSO's and system-wide only (422 otherwise)
    balancing = {**dso_need, "zone": None, "direction": "down", "quantity_w": []}
    for who, body in ((p["TSO1"], {**balancing, "buyer_role": "TSO"}),
                      (p["DSO1"], {**balancing, "zone": "T1"})):  # fmt: skip
        r = _raw(w, who, "POST", f"/sessions/{sid}/needs", json=body)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "quantity_w", r.text
    p["DSO1"].post_need(sid, balancing)
    assert [(n["buyer_role"], n["zone"], n["balancing"], n["quantity_w"])
            for n in p["TSO1"].needs(sid)] == [
        ("TSO", "T2", False, [0, 0, 45_000, 0, 0]), ("BRP", None, False, [0, 0, 45_000, 0, 0]),
        ("DSO", None, True, [])]  # fmt: skip

    # coordination: only the session's operator
    good = json.loads(coordination_json(SCENARIO) or b"{}")
    path = f"/sessions/{sid}/coordination"
    for who in (p["AG1"], p["DSO1"], p["TSO1"], w.admin):
        r = _raw(w, who, "POST", path, json=good)
        assert r.status_code == 403, r.text
    zones = good["zones"]
    bad: list[tuple[Any, str]] = [
        ({**good, "zones": [{**zones[0], "forecast_w": [1, 2]}]}, "zones[0].forecast_w"),
        ({**good, "zones": [{**zones[0], "limit_w": [1] * 6}]}, "zones[0].limit_w"),
        ({**good, "zones": [{**zones[0], "red_slots": [5]}]}, "zones[0].red_slots"),
        ({**good, "zones": [{**zones[0], "red_slots": [0, 0]}]}, "zones[0].red_slots"),
        ({**good, "zones": [zones[0], zones[0]]}, "zones[1].id"),
        ({**good, "zones": [{**zones[0], "id": "T9"}]}, "zones[0].id"),
        ({**good, "zones": [{"id": "T1"}]}, "zones[0]"),
        ({**good, "zones": [{**zones[0], "forecast_w": "80000"}]}, "zones.0.forecast_w"),
        ({**good, "zones": [{**zones[0], "forecast_w": [-1] * 5}]}, "zones.0.forecast_w"),
        ({**good, "zones": [{**zones[0], "forcast_w": 1}]}, "zones.0.forcast_w"),
        ({**good, "priority": ["DSO", "DSO"]}, "priority"),
        ({**good, "priority": ["DSO", "ISO"]}, "priority.1"),
        ({**good, "coupling": "joint"}, "coupling"),
        ({**good, "balance_dso": 1}, "balance_dso"),
        ({}, "body"),
        ({"coupling": None}, "body"),
    ]
    for body, field in bad:
        r = _raw(w, w.operator, "POST", path, json=body)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        assert any(e["field"].startswith(field) for e in problem["errors"]), (field, problem)
    r = _raw(w, w.operator, "POST", path, content=b'{"coupling": "common",',
             headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422, r.text
    # nothing was published by any of these
    with pytest.raises(ApiError) as none:
        p["TSO1"].coordination(sid)
    assert none.value.status == 404
    assert not [
        e
        for e in p["TSO1"].events(from_block=0)
        if e["name"] == "CoordinationPublished" and e["args"]["sessionId"] == sid
    ]

    # the operator publishes once; a second time the contract refuses (409)
    w.operator.publish_coordination(sid, {"coupling": "sequential"})
    assert p["DSO1"].coordination(sid)["canonical"] == '{"coupling":"sequential"}'
    r = _raw(w, w.operator, "POST", path, json=good)
    assert r.status_code == 409 and r.json()["error"] == "FlexMarketCoordinationExists", r.text
    # after gate closure nobody posts needs or publishes
    warp(w.api, session["bidding_end"])
    r = _raw(w, w.operator, "POST", path, json=good)
    assert r.status_code == 409 and r.json()["type"].endswith("bidding-closed"), r.text
    r = _raw(w, p["TSO1"], "POST", f"/sessions/{sid}/needs", json=tso_need)
    assert r.status_code == 409 and r.json()["error"] == "FlexMarketBiddingClosed", r.text
    assert w.operator.session(sid)["need_count"] == 3

    # reads: public chain data, signed in only; a settlement filter names an address
    assert _raw(w, p["AG1"], "GET", f"/sessions/{sid}/settlements").json()["awards"] == []
    r = w.api["client"].get(f"/sessions/{sid}/settlements")
    assert r.status_code == 401
    r = _raw(w, p["AG1"], "GET", f"/sessions/{sid}/settlements", params={"buyer": "TSO1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "buyer", r.text
    r = _raw(w, p["AG1"], "GET", "/sessions/999999/coordination")
    assert r.status_code == 404
    r = _raw(w, p["AG1"], "GET", "/events", params={"from_block": 5, "to_block": 4})
    assert r.status_code == 422
