"""The reference exchange's HTTP API (refmarkets.exchange), in process for the input rules,
and its command as its own process for bad arguments: 4xx naming the field, never a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from refmarkets.background import generate
from refmarkets.exchange import AuctionConfig, create_app
from refmarkets.web import parse_members

ROOT = Path(__file__).resolve().parents[2]
CONFIG = AuctionConfig("DA-1", "Reference Exchange",
                       datetime.fromisoformat("2026-05-26T00:00:00+02:00"), 24, 60,
                       -50_000, 400_000)
MEMBER = {"Authorization": "Bearer k-member"}
OTHER = {"Authorization": "Bearer k-other"}
OPERATOR = {"Authorization": "Bearer k-operator"}


@pytest.fixture
def client():
    app = create_app(CONFIG, generate(1, 24, 60, -50_000, 400_000),
                     {"flexmarket": "k-member", "rival": "k-other"}, "k-operator")
    return TestClient(app, raise_server_exceptions=False)


def order(**change):
    return {"client_order_id": "O1", "side": "sell", "mtu": 17, "quantity_w": 40_000,
            "limit_ct_per_mwh": 9_000, **change}


def post(client, *orders, headers=MEMBER):
    return client.post("/auctions/DA-1/orders", json={"orders": list(orders)}, headers=headers)


def test_orders_in_then_close_then_results_and_own_trades_only(client):
    assert post(client, order(), order(client_order_id="O2", side="buy", mtu=3)).status_code == 201
    assert post(client, order(client_order_id="R1"), headers=OTHER).status_code == 201
    assert client.get("/auctions/DA-1/results").status_code == 409  # not cleared yet
    closed = client.post("/auctions/DA-1/close", headers=OPERATOR)
    assert closed.status_code == 200
    prices = closed.json()["prices_ct_per_mwh"]
    results = client.get("/auctions/DA-1/results").json()
    assert results["prices_ct_per_mwh"] == prices and len(results["curves"]) == 24
    trades = client.get("/auctions/DA-1/trades", headers=MEMBER).json()["trades"]
    assert [t["client_order_id"] for t in trades] == ["O1", "O2"]  # not the rival's R1
    o1 = trades[0]
    assert o1["accepted_w"] == (40_000 if prices[17] > 9_000 else 0)
    assert o1["payment_ueur"] == o1["accepted_w"] * 60 * prices[17] // 6000


@pytest.mark.parametrize(("change", "status", "field"), [
    ({"mtu": 24}, 422, "orders.0.mtu"),
    ({"limit_ct_per_mwh": 400_001}, 422, "orders.0.limit_ct_per_mwh"),
    ({"quantity_w": 0}, 422, "orders.0.quantity_w"),
    ({"quantity_w": "40000"}, 422, "orders.0.quantity_w"),
    ({"side": "hold"}, 422, "orders.0.side"),
    ({"extra": 1}, 422, "orders.0.extra"),
])
def test_a_bad_order_is_refused_naming_its_field_and_nothing_is_kept(client, change, status,
                                                                     field):
    r = post(client, order(client_order_id="OK"), order(**change))  # the second is bad
    assert r.status_code == status
    assert [e["field"] for e in r.json()["errors"]] == [field.replace("orders.0", "orders.1")]
    assert client.get("/auctions/DA-1/orders", headers=MEMBER).json()["orders"] == []


def test_keys_roles_phases_and_no_order_changed(client):
    assert post(client, order(), headers={}).status_code == 401
    assert post(client, order(), headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/auctions/DA-1/close", headers=MEMBER).status_code == 403
    assert client.get("/auctions/DA-2").status_code == 404
    assert post(client, order()).status_code == 201
    again = post(client, order(quantity_w=1_000))  # the same id: never changed
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == \
        "orders.0.client_order_id"
    assert post(client, order(client_order_id="O1"), headers=OTHER).status_code == 201  # its own
    assert client.post("/auctions/DA-1/close", headers=OPERATOR).status_code == 200
    assert post(client, order(client_order_id="late")).status_code == 409
    assert client.post("/auctions/DA-1/close", headers=OPERATOR).status_code == 409
    held = client.get("/auctions/DA-1/orders", headers=MEMBER).json()["orders"]
    assert [(o["client_order_id"], o["quantity_w"]) for o in held] == [("O1", 40_000)]


def test_members_are_parsed_naming_a_bad_entry():
    assert parse_members("a=1, b=2") == {"a": "1", "b": "2"}
    with pytest.raises(ValueError, match="REFMARKETS_MEMBERS: 'b'"):
        parse_members("a=1,b")


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--delivery-start", "2026-05-26"], {}, "--delivery-start"),
    (["--floor", "10", "--cap", "5"], {}, "--floor/--cap"),
    (["--background", "/nonexistent.json"], {}, "/nonexistent.json"),
    ([], {"REFMARKETS_OPERATOR_KEY": ""}, "REFMARKETS_OPERATOR_KEY"),
])
def test_the_command_exits_2_naming_the_bad_argument(args, env, message):
    run = subprocess.run(
        [sys.executable, "-m", "refmarkets.exchange", "--port", "1", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "REFMARKETS_OPERATOR_KEY": "k", **env})
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr
