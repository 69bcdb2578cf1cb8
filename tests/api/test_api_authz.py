"""Authorization per object, owned fields and refused input.

Two aggregators (FO1, FO2) with one asset each in zone T1 of DSO1, a second DSO (DSO2,
zone T2), an oracle and a metering operator. Session A is past gate closure (reveals),
session B still takes bids. Every cross-aggregator access is 403 or 404, every role-only
call is 403 for others, a field the client does not own is 422 naming it, and after each
refused request the state is what it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from api.auth import TokenBuckets
from python_client.hashing import asset_id, label, new_salt
from python_client.http import ApiError, HttpClient
from python_client.records import BidFields, Direction
from python_client.relay import commit_digest, new_nonce, sign_digest
from tests.api.conftest import checked_request, participant

KEY = b"authz-test-asset-key"
PROBLEM = "application/problem+json"


@dataclass
class World:
    api: dict[str, Any]
    admin: HttpClient
    oracle: HttpClient
    metering: HttpClient
    dso: HttpClient
    fo1: HttpClient
    fo2: HttpClient
    dso2: HttpClient
    a1: bytes  # FO1's asset (T1)
    a2: bytes  # FO2's asset (T1)
    session_a: int  # past gate closure, before the reveal deadline
    session_b: int  # bidding
    bids: dict[str, BidFields]  # name -> fields; "A-FO1", "A-FO1-STOLEN", "A-FO2", "B-FO1", ...


def _fields(asset: bytes, quantity_w: int = 3_000, price: int = 500_000) -> BidFields:
    return BidFields(label("T1"), Direction.UP, False, quantity_w, price, 1, (asset,), new_salt())


def _session(c: HttpClient, now: int, bidding_s: int) -> int:
    return c.open_session({
        "market_id": "authz", "slot_count": 1, "delivery_start": now + 4 * bidding_s,
        "bidding_end": now + bidding_s, "reveal_deadline": now + 2 * bidding_s,
        "clearing_deadline": now + 3 * bidding_s, "min_bid_w": 1_000, "granularity_w": 100,
        "bid_bond_ueur": 1_000_000, "collateral_ueur_per_w": 1_000,
    })  # fmt: skip


@pytest.fixture(scope="module")
def world(api: dict[str, Any]) -> Iterator[World]:
    admin, oracle, metering, dso, fo1, fo2, dso2 = (participant(api, i) for i in range(7))
    for c in (admin, oracle, metering, dso, fo1, fo2, dso2):
        c.sign_in()
    for c, role in ((oracle, "ORACLE"), (metering, "METERING"), (dso, "DSO"),
                    (fo1, "AGGREGATOR"), (fo2, "AGGREGATOR"), (dso2, "DSO")):  # fmt: skip
        admin.grant_role(c.address, role)
    for c in (dso, fo1, fo2):
        admin.mint(c.address, 10**13)
        c.deposit(10**12)
    dso.register_zone("T1", 100_000)
    dso2.register_zone("T2", 100_000)
    a1, a2 = asset_id("FO1-A", KEY), asset_id("FO2-A", KEY)
    fo1.register_asset(a1, "load", 5_000, 0, "T1")
    fo2.register_asset(a2, "load", 5_000, 0, "T1")
    dso.prequalify(a1)
    dso.prequalify(a2)
    now = int(admin.deployment()["block_timestamp"])
    sa, sb = _session(oracle, now, 100), _session(oracle, now, 100_000)
    for s in (sa, sb):
        dso.post_need(s, {"zone": "T1", "direction": "up", "buyer_role": "DSO",
                          "budget_ueur": 10**10, "quantity_w": [5_000]})  # fmt: skip
    bids = {
        "A-FO1": _fields(a1), "A-FO1-STOLEN": _fields(a2, 4_000),
        "A-FO1-GRANULAR": _fields(a1, 3_050), "A-FO2": _fields(a2), "B-FO1": _fields(a1),
        "B-FO2": _fields(a2),
    }  # fmt: skip
    fo1.join(sa, 3)
    fo2.join(sa, 1)
    fo1.join(sb, 2)
    fo2.join(sb, 2)
    for name, f in bids.items():
        seller = fo1 if "FO1" in name else fo2
        out = seller.commit_bid(sa if name.startswith("A") else sb, f, wait=True)
        assert out["status"] == "committed", out
    session = admin.session(sa)
    api["chain"].warp_to(session["bidding_end"])
    api["app"].state.gateway.forget_clock()
    yield World(api, admin, oracle, metering, dso, fo1, fo2, dso2, a1, a2, sa, sb, bids)


def _refused(exc: pytest.ExceptionInfo[ApiError], *statuses: int) -> dict[str, Any]:
    assert exc.value.status in statuses, exc.value.problem
    problem = exc.value.problem
    assert {"type", "title", "status", "detail"} <= set(problem), problem
    return problem


def _raw(w: World, c: HttpClient, method: str, path: str, body: Any = None) -> Any:
    return checked_request(w.api["client"], c, method, path, body)


def _fields_named(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])}


# --- sealed bids ---------------------------------------------------------------------


def test_another_aggregators_sealed_bid_is_404_before_the_reveal_deadline(w: World) -> None:
    theirs = w.fo2.bid_id_of(w.session_b, w.bids["B-FO2"])
    with pytest.raises(ApiError) as exc:
        w.fo1.bid(w.session_b, theirs)
    _refused(exc, 404)
    assert {b["bid_id"] for b in w.fo1.bids(w.session_b)} == {
        w.fo1.bid_id_of(w.session_b, w.bids["B-FO1"])
    }
    # revealed, but the reveal deadline has not passed: still nobody else's to see
    w.fo2.reveal_bid(w.session_a, w.bids["A-FO2"])
    with pytest.raises(ApiError) as exc:
        w.fo1.bid(w.session_a, w.fo2.bid_id_of(w.session_a, w.bids["A-FO2"]))
    _refused(exc, 404)
    mine = w.fo2.bid(w.session_a, w.fo2.bid_id_of(w.session_a, w.bids["A-FO2"]))
    assert mine["status"] == "revealed" and mine["quantity_w"] == 3_000


def test_revealing_with_an_asset_another_aggregator_manages_is_403(w: World) -> None:
    f = w.bids["A-FO1-STOLEN"]
    bid = w.fo1.bid_id_of(w.session_a, f)
    body = w.fo1.reveal_body(w.session_a, f)
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", f"/sessions/{w.session_a}/bids/{bid}/reveal", json=body)
    assert _fields_named(_refused(exc, 403)) == {"asset_ids[0]"}
    assert w.fo1.bid(w.session_a, bid)["status"] == "committed"  # nothing changed
    relay = w.api["app"].state.gateway.relay
    assert not relay.functions.nonceUsed(w.fo1.address, body["nonce"]).call()


def test_revealing_another_sellers_bid_is_404(w: World) -> None:
    f = w.bids["A-FO1"]
    theirs = w.fo2.bid_id_of(w.session_a, w.bids["A-FO2"])
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", f"/sessions/{w.session_a}/bids/{theirs}/reveal",
                      json=w.fo1.reveal_body(w.session_a, f))  # fmt: skip
    _refused(exc, 404)


def test_committing_for_another_seller_is_403_and_leaves_no_trace(w: World) -> None:
    before = (len(w.fo1.bids(w.session_b)), len(w.fo2.bids(w.session_b)))
    f = _fields(w.a2)
    body = w.fo2.commit_body(w.session_b, f)  # FO2 signed it; FO1 sends it as its own
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", f"/sessions/{w.session_b}/bids", json=body)
    assert _fields_named(_refused(exc, 403)) == {"signature"}
    # naming a seller is not possible: the seller is always the signed-in caller
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", f"/sessions/{w.session_b}/bids",
                      json={**body, "seller": w.fo2.address})  # fmt: skip
    assert "seller" in _fields_named(_refused(exc, 422))
    assert (len(w.fo1.bids(w.session_b)), len(w.fo2.bids(w.session_b))) == before
    # the refused nonce was not burnt: FO2 itself can still use it
    assert w.fo2.request("POST", f"/sessions/{w.session_b}/bids", json=body)["status"] == "queued"


def test_a_refused_relay_gives_the_nonce_back(w: World) -> None:
    f = w.bids["A-FO1-GRANULAR"]  # 3,050 W: not a multiple of the 100 W granularity
    nonce = new_nonce()
    path = f"/sessions/{w.session_a}/bids/{w.fo1.bid_id_of(w.session_a, f)}/reveal"
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", path, json=w.fo1.reveal_body(w.session_a, f, nonce=nonce))
    problem = _refused(exc, 409)
    assert problem["error"].startswith("FlexMarket"), problem
    good = w.bids["A-FO1"]
    out = w.fo1.request(
        "POST", f"/sessions/{w.session_a}/bids/{w.fo1.bid_id_of(w.session_a, good)}/reveal",
        json=w.fo1.reveal_body(w.session_a, good, nonce=nonce),
    )  # fmt: skip
    assert "BidRevealed" in [e["name"] for e in out["events"]]


def test_a_replayed_relay_nonce_is_409(w: World) -> None:
    nonce = new_nonce()
    first = w.fo1.commit_body(w.session_b, _fields(w.a1, 2_000), nonce=nonce)
    w.fo1.request("POST", f"/sessions/{w.session_b}/bids", json=first, params={"wait": "true"})
    again = w.fo1.commit_body(w.session_b, _fields(w.a1, 2_100), nonce=nonce)
    with pytest.raises(ApiError) as exc:
        w.fo1.request("POST", f"/sessions/{w.session_b}/bids", json=again)
    assert _fields_named(_refused(exc, 409)) == {"nonce"}


def test_a_signature_for_another_chain_or_a_malformed_one_is_refused(w: World) -> None:
    from python_client.relay import RelayDomain

    f = _fields(w.a1, 2_200)
    from python_client.hashing import commitment

    c = commitment(w.session_b, w.fo1.address, f)
    other = RelayDomain(1, w.fo1.domain.relay)
    nonce, deadline = new_nonce(), w.fo1._deadline()
    sig = sign_digest(w.fo1._key, commit_digest(other, w.fo1.address, w.session_b, c, nonce,
                                                 deadline))  # fmt: skip
    body = {"commitment": "0x" + c.hex(), "nonce": nonce, "deadline": deadline,
            "signature": "0x" + sig.hex()}  # fmt: skip
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_b}/bids", body)
    assert r.status_code == 403 and _fields_named(r.json()) == {"signature"}
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_b}/bids",
             {**body, "signature": "0x" + "00" * 65})  # fmt: skip
    assert r.status_code == 422 and _fields_named(r.json()) == {"signature"}
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_b}/bids", {**body, "deadline": 1})
    assert r.status_code == 422 and _fields_named(r.json()) == {"deadline"}


def test_only_aggregators_commit_and_bidding_closes_at_gate_closure(w: World) -> None:
    body = w.dso.commit_body(w.session_b, _fields(w.a1))
    r = _raw(w, w.dso, "POST", f"/sessions/{w.session_b}/bids", body)
    assert r.status_code == 403
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_a}/bids",
             w.fo1.commit_body(w.session_a, _fields(w.a1, 1_500)))  # fmt: skip
    assert r.status_code == 409


# --- assets, participants, transactions ----------------------------------------------


def test_another_aggregators_asset_and_balances_are_not_visible(w: World) -> None:
    r = _raw(w, w.fo1, "GET", f"/assets/0x{w.a2.hex()}")
    assert r.status_code == 404
    assert _raw(w, w.fo2, "GET", f"/assets/0x{w.a2.hex()}").status_code == 200
    assert _raw(w, w.dso, "GET", f"/assets/0x{w.a2.hex()}").status_code == 200  # its zone's DSO
    assert _raw(w, w.dso2, "GET", f"/assets/0x{w.a2.hex()}").status_code == 404
    assert _raw(w, w.fo1, "GET", f"/participants/{w.fo2.address}").status_code == 403
    assert _raw(w, w.admin, "GET", f"/participants/{w.fo2.address}").status_code == 200


def test_a_prepared_transaction_serves_only_whom_it_was_issued_to(w: World) -> None:
    before = (w.fo1.me(), w.fo2.me())
    prepared = w.fo1.request("POST", "/participants/me/withdrawals", json={"amount_ueur": 1})
    item = prepared["transactions"][0]
    by_fo2 = Account.sign_transaction(item["tx"], w.fo2._key).raw_transaction.hex()
    r = _raw(w, w.fo2, "POST", "/transactions", {"raw_tx": "0x" + by_fo2, "intent": item["intent"]})
    assert r.status_code == 403  # the intent was issued to FO1 for FO1's call
    r = _raw(w, w.fo1, "POST", "/transactions", {"raw_tx": "0x" + by_fo2, "intent": item["intent"]})
    assert r.status_code == 403  # signed by someone else
    tampered = dict(item["tx"], data=item["tx"]["data"][:-1] + "2")  # withdraw(2), not 1
    raw = Account.sign_transaction(tampered, w.fo1._key).raw_transaction.hex()
    r = _raw(w, w.fo1, "POST", "/transactions", {"raw_tx": "0x" + raw, "intent": item["intent"]})
    assert r.status_code == 403
    r = _raw(w, w.fo1, "POST", "/transactions", {"raw_tx": "0x1234", "intent": item["intent"]})
    assert r.status_code == 422 and _fields_named(r.json()) == {"raw_tx"}
    assert (w.fo1.me(), w.fo2.me()) == before


def test_a_call_the_contract_would_refuse_is_409_before_anything_is_signed(w: World) -> None:
    before = w.fo1.me()
    r = _raw(w, w.fo1, "POST", "/participants/me/withdrawals", {"amount_ueur": 10**18})
    assert r.status_code == 409 and r.json()["error"] == "EscrowInsufficientFree"
    assert w.fo1.me() == before


# --- roles ---------------------------------------------------------------------------


def test_only_a_dso_posts_needs_publishes_zones_and_prequalifies(w: World) -> None:
    need = {"zone": "T1", "direction": "up", "buyer_role": "DSO", "budget_ueur": 1,
            "quantity_w": [1_000]}  # fmt: skip
    for c in (w.fo1, w.oracle, w.metering):
        assert _raw(w, c, "POST", f"/sessions/{w.session_b}/needs", need).status_code == 403
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_b}/needs", {**need, "buyer_role": "TSO"})
    assert r.status_code == 403
    assert _raw(w, w.fo1, "POST", "/zones", {"zone": "X"}).status_code == 403
    path = f"/assets/0x{w.a1.hex()}/prequalification"
    assert _raw(w, w.fo1, "POST", path, {"prequalified": True}).status_code == 403
    r = _raw(w, w.dso2, "POST", path, {"prequalified": False})  # a DSO, not of zone T1
    assert r.status_code == 403 and r.json()["type"].endswith("not-zone-dso")
    assert _raw(w, w.fo1, "POST", "/sessions", {}).status_code in (403, 422)
    assert w.dso.need(w.session_b, 0)["budget_ueur"] == str(10**10)  # > 2^53 possible: a string
    assert _raw(w, w.fo1, "GET", f"/assets/0x{w.a1.hex()}").json()["prequalified"] is True


def test_only_the_metering_operator_records_delivery(w: World) -> None:
    body = {"deliveries": [{"award_index": 0, "delivered_w": 1}], "evidence_hash": "0x" + "11" * 32}
    for c in (w.fo1, w.dso, w.oracle):
        r = _raw(w, c, "POST", f"/sessions/{w.session_a}/metering", body)
        assert r.status_code == 403 and r.json()["type"].endswith("role-required")


def test_only_the_oracle_commits_results_and_only_the_admin_grants(w: World) -> None:
    body = {"input_hash": "0x" + "11" * 32, "result_hash": "0x" + "22" * 32, "awards": []}
    for c in (w.fo1, w.dso, w.metering):
        assert _raw(w, c, "POST", f"/sessions/{w.session_a}/result", body).status_code == 403
    r = _raw(w, w.fo1, "POST", f"/participants/{w.fo1.address}/roles", {"role": "ORACLE"})
    assert r.status_code == 403
    r = _raw(w, w.fo1, "POST", f"/participants/{w.fo1.address}/mints", {"amount_ueur": 1})
    assert r.status_code == 403
    r = _raw(w, w.fo1, "POST", f"/sessions/{w.session_a}/attestations",
             {"result_hash": "0x" + "22" * 32})  # fmt: skip
    assert r.status_code == 403
    assert "ORACLE" not in w.fo1.me()["roles"]


# --- fields a client does not own ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sessions/{b}/bids", {"status": "committed"}, "status"),
        ("/sessions/{b}/bids", {"seller": "0x" + "11" * 20}, "seller"),
        ("/sessions/{b}/bids", {"bid_id": "0x" + "11" * 32}, "bid_id"),
        ("/sessions/{a}/bids/{bid}/reveal", {"awarded_w": 3_000}, "awarded_w"),
        ("/sessions/{a}/bids/{bid}/reveal", {"status": "revealed"}, "status"),
        # a row's need pays payment_ueur (the oracle's to set: shared payments); the buyer
        # is the need's and the seller the bid's, never the client's
        ("/sessions/{a}/result", {"awards": [{"buyer": "0x" + "11" * 20}]}, "awards.0.buyer"),
        ("/sessions/{a}/result", {"awards": [{"seller": "0x" + "11" * 20}]}, "awards.0.seller"),
        ("/sessions/{b}/coordination", {"operator": "0x" + "11" * 20}, "operator"),
        ("/sessions/{b}/coordination", {"zones": [{"id": "T1", "dso": "x"}]}, "zones.0.dso"),
        ("/sessions/{a}/result", {"status": "final"}, "status"),
        ("/assets", {"prequalified": True}, "prequalified"),
        ("/assets", {"manager": "0x" + "11" * 20}, "manager"),
        ("/sessions", {"operator": "0x" + "11" * 20}, "operator"),
        ("/sessions/{b}/needs", {"committed_ueur": 0}, "committed_ueur"),
        ("/sessions/{a}/metering", {"settled": True}, "settled"),
    ],
)
def test_a_field_the_client_does_not_own_is_422_naming_it(
    w: World, path: str, body: dict[str, Any], field: str
) -> None:
    bid = w.fo1.bid_id_of(w.session_a, w.bids["A-FO1"])
    url = path.format(a=w.session_a, b=w.session_b, bid=bid)
    caller = {"/sessions/{a}/result": w.oracle, "/sessions/{a}/metering": w.metering,
              "/sessions": w.oracle, "/sessions/{b}/needs": w.dso,
              "/sessions/{b}/coordination": w.oracle}.get(path, w.fo1)  # fmt: skip
    before = len(w.fo1.bids(w.session_b))
    r = _raw(w, caller, "POST", url, body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert field in _fields_named(problem), problem
    assert problem["status"] == 422 and problem["type"].endswith("invalid-input")
    assert len(w.fo1.bids(w.session_b)) == before


# --- bad input, rate limits -----------------------------------------------------------


ASSET = {"asset_id": "0x" + "11" * 32, "asset_type": "load", "p_max_w": 1, "zone": "T1"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sessions/0", None),
        ("GET", "/sessions/999999", None),
        ("GET", "/sessions/281474976710656", None),
        ("GET", "/sessions/abc", None),
        ("GET", "/sessions/{b}/bids/0x12", None),
        ("GET", "/sessions/{b}/needs/99", None),
        ("GET", "/assets/0x" + "00" * 32, None),
        ("POST", "/sessions/{b}/bids", {"commitment": "0x", "nonce": -1}),
        ("POST", "/sessions/{b}/bids", [1, 2, 3]),
        ("POST", "/sessions/{b}/settlements", {"from_index": 99}),
        ("POST", "/sessions/{b}/releases", {}),
        ("POST", "/participants/me/deposits", {"amount_ueur": 0}),
        ("POST", "/assets", {**ASSET, "p_min_w": 2}),  # above p_max_w
        ("POST", "/assets", {**ASSET, "zone": "\u00e9" * 17}),  # 34 bytes of UTF-8
        ("POST", "/transactions", {"raw_tx": "0x" + "ff" * 40, "intent": "x"}),
    ],
)
def test_bad_input_is_a_4xx_problem_and_changes_nothing(
    w: World, method: str, path: str, body: Any
) -> None:
    before = (w.fo1.me(), len(w.fo1.bids(w.session_b)))
    r = _raw(w, w.fo1, method, path.format(b=w.session_b), body)
    assert 400 <= r.status_code < 500, r.text
    assert (w.fo1.me(), len(w.fo1.bids(w.session_b))) == before


def test_a_malformed_body_is_422(w: World) -> None:
    r = w.api["client"].post(
        f"/sessions/{w.session_b}/bids", content=b"{not json",
        headers={"Authorization": f"Bearer {w.fo1.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


def test_rate_limits_answer_429_with_retry_after(w: World) -> None:
    state = w.api["app"].state
    saved = state.token_buckets, state.ip_buckets
    try:
        state.token_buckets = TokenBuckets(0.01, 3)
        codes = [_raw(w, w.fo1, "GET", "/participants/me").status_code for _ in range(5)]
        assert codes[:3] == [200] * 3 and codes[3:] == [429] * 2
        r = _raw(w, w.fo1, "GET", "/participants/me")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["type"].endswith("rate-limited")
        assert _raw(w, w.fo2, "GET", "/participants/me").status_code == 200  # per token
        state.token_buckets = saved[0]
        state.ip_buckets = TokenBuckets(0.01, 2)
        codes = [w.api["client"].post("/auth/nonce").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        state.token_buckets, state.ip_buckets = saved


@pytest.fixture
def w(world: World) -> World:
    return world
