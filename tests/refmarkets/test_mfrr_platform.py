"""The reference mFRR platform (refmarkets.mfrr): merit-order activation of the seeded
need, indivisible bids whole or skipped, pay as cleared; its API's input rules."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from refmarkets.mfrr import Bid, PlatformConfig, clear, create_app

MW = 1_000_000
CONFIG = PlatformConfig("Reference mFRR", datetime.fromisoformat("2026-05-26T17:00:00+02:00"),
                        4, -999_999_900, 999_999_900)
MEMBER = {"Authorization": "Bearer k-member"}
OPERATOR = {"Authorization": "Bearer k-operator"}


def test_merit_order_with_an_indivisible_bid_that_does_not_fit_skipped():
    bids = [Bid("c", "up", 0, 3 * MW, 300, True), Bid("a", "up", 0, 2 * MW, 100, True),
            Bid("i", "up", 0, 4 * MW, 150, False), Bid("b", "up", 0, 2 * MW, 200, True)]
    r = clear(bids, 5 * MW, -10**6, 10**6)
    # a 2 MW, then i (4 MW) does not fit the 3 MW left: skipped, b 2 MW, c 1 MW of 3
    assert r.activated == {"a": 2 * MW, "i": 0, "b": 2 * MW, "c": MW}
    assert (r.activated_w, r.price_ct_per_mwh) == (5 * MW, 300)
    assert clear(bids, 0, -10**6, 10**6).price_ct_per_mwh == 0


@pytest.fixture
def client():
    return TestClient(create_app(CONFIG, 1, {"flexmarket": "k-member"}, "k-operator"),
                      raise_server_exceptions=False)


def bid(**change):
    return {"client_bid_id": "P1", "direction": "up", "quarter": 1, "quantity_w": 2 * MW,
            "price_ct_per_mwh": 100, "divisible": True, **change}


@pytest.mark.parametrize(("change", "field"), [
    ({"quantity_w": 1_500_000}, "bids.0.quantity_w"),
    ({"quarter": 4}, "bids.0.quarter"),
    ({"direction": "sideways"}, "bids.0.direction"),
    ({"divisible": "yes"}, "bids.0.divisible"),
])
def test_a_bad_bid_is_refused_naming_its_field(client, change, field):
    r = client.post("/bids", json={"bids": [bid(**change)]}, headers=MEMBER)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_a_cheap_bid_is_activated_and_paid_as_cleared(client):
    assert client.post("/bids", json={"bids": [bid()]}, headers=MEMBER).status_code == 201
    assert client.post("/bids", json={"bids": [bid()]}, headers=MEMBER).status_code == 409
    assert client.get("/activations", headers=MEMBER).status_code == 409  # gate open
    assert client.post("/close", headers=MEMBER).status_code == 403
    assert client.post("/close", headers=OPERATOR).status_code == 200
    assert client.post("/bids", json={"bids": [bid(client_bid_id="late")]},
                       headers=MEMBER).status_code == 409
    results = {(r["quarter"], r["direction"]): r for r in client.get("/results").json()["results"]}
    q1 = results[1, "up"]
    assert q1["need_w"] > 2 * MW  # seed 1: 39 MW up in quarter 1
    [a] = client.get("/activations", headers=MEMBER).json()["activations"]
    assert a["activated_w"] == 2 * MW and a["price_ct_per_mwh"] == q1["price_ct_per_mwh"]
    assert a["payment_ueur"] == 2 * MW * 15 * q1["price_ct_per_mwh"] // 6000
