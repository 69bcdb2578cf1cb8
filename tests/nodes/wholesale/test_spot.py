"""The spot intermediary against the reference exchange running as its own process
(nodes.wholesale): the adapter, forwarding, import, verification; tampered results rejected,
each violation naming its MTU or order."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nodes.wholesale.adapter import ExchangeError, ExchangeResults, HttpExchangeAdapter
from nodes.wholesale.launch import start_reference_exchange
from nodes.wholesale.spot import IntermediaryError, ResultsRejected, SpotIntermediary
from oracle.wholesale import WholesaleFileError, verify_results
from oracle.wholesale.orders import parse_orders

ROOT = Path(__file__).resolve().parents[3]


def book_data(**change):
    orders = []
    for k in range(24):  # one sell and one buy in every MTU, in and out of the money
        orders.append({"id": f"S{k}", "participant": f"AG{k % 3}", "zone": "F1", "side": "sell",
                       "mtu": k, "quantity_w": 30_000, "limit_ct_per_mwh": 2_000 + 800 * k})
        orders.append({"id": f"B{k}", "participant": f"AG{k % 2}", "zone": "F2", "side": "buy",
                       "mtu": k, "quantity_w": 20_000, "limit_ct_per_mwh": 30_000 - 900 * k})
    orders.append({"id": "BIG", "participant": "AG1", "zone": "F1", "side": "sell", "mtu": 0,
                   "quantity_w": 90_000, "limit_ct_per_mwh": 0})  # curtailed to 20 kW
    orders.append({"id": "NOPE", "participant": "AG1", "zone": "F7", "side": "sell", "mtu": 0,
                   "quantity_w": 1_000, "limit_ct_per_mwh": 0})  # refused: unknown zone
    data = {"schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
            "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
            "mtu_minutes": 60, "mtus": 24, "volume_step_w": 1000,
            "zones": [{"id": "F1", "max_sell_w": 50_000, "max_buy_w": 50_000},
                      {"id": "F2", "max_sell_w": 50_000, "max_buy_w": 50_000}],
            "orders": orders}
    data.update(change)
    return data


@pytest.fixture(scope="module")
def round_():
    """One auction on a fresh exchange: forwarded, closed, imported."""
    with start_reference_exchange(seed=2) as exchange:
        node = SpotIntermediary(parse_orders(book_data()), exchange.adapter())
        decision = node.check()
        book_hash = node.forward()
        held = httpx.get(f"{exchange.url}/auctions/DA-1/orders",
                         headers={"Authorization": f"Bearer {exchange.member_key}"}).json()
        with pytest.raises(IntermediaryError, match="already forwarded"):
            node.forward()
        exchange.close_auction()
        results = node.import_results()
        yield {"exchange": exchange, "node": node, "decision": decision, "held": held,
               "book_hash": book_hash, "results": results}


def test_the_exchange_holds_exactly_the_forwarded_orders(round_):
    held = [(o["client_order_id"], o["quantity_w"]) for o in round_["held"]["orders"]]
    assert held == [(o.id, o.quantity_w) for o in round_["decision"].forwarded]
    assert ("BIG", 20_000) in held and "NOPE" not in dict(held)


def test_honest_results_pass_checks_1_to_5(round_):
    node, results = round_["node"], round_["results"]
    verdict = node.accept(results)
    assert verdict.ok and verdict.book_hash == round_["book_hash"]
    assert len(results.orders) == 49
    assert {o.participant for o in results.orders} == {"AG0", "AG1", "AG2"}
    # the orders span the price: some accepted, some not
    accepted = [o.accepted_w > 0 for o in results.orders]
    assert any(accepted) and not all(accepted)
    assert verdict.to_json()["checks"] == [1, 2, 3, 4, 5]


def test_after_gate_closure_nothing_is_taken_or_changed(round_):
    adapter = round_["exchange"].adapter()
    order = round_["decision"].forwarded[0]
    with pytest.raises(ExchangeError) as exc:
        adapter.submit([order.model_copy(update={"quantity_w": 1_000})])
    assert exc.value.status == 409


class Tampering:
    """An adapter between the node and the exchange that alters the results in transit."""

    def __init__(self, inner, alter):
        self.inner, self.alter = inner, alter

    def auction(self):
        return self.inner.auction()

    def submit(self, orders):
        raise AssertionError("not used")

    def results(self):
        answer = self.inner.results()
        return self.alter(json.loads(json.dumps(dataclasses.asdict(answer))))


def as_answer(d):
    from nodes.wholesale.adapter import Trade

    return ExchangeResults(d["prices_ct_per_mwh"], d["curves"],
                           [Trade(**t) for t in d["trades"]])


def trade(d, oid):
    return next(t for t in d["trades"] if t["id"] == oid)


def in_money(round_):
    r = round_["results"]
    return next(o for o in r.orders if o.accepted_w == o.quantity_w
                and o.limit_ct_per_mwh != r.prices_ct_per_mwh[o.mtu])


def tamper(d, round_, how):
    o = in_money(round_)
    t = trade(d, o.id)
    if how == "price":
        d["prices_ct_per_mwh"][5] += 500
    elif how == "accepted":
        t["accepted_w"] -= 1_000
    elif how == "payment":
        t["payment_ueur"] += 1
    elif how == "quantity":
        t["quantity_w"] += 1_000
        t["accepted_w"] += 1_000
    elif how == "foreign":
        d["trades"].append({**t, "id": "GHOST"})
    elif how == "lost":
        d["trades"].remove(t)
    elif how == "curve":
        side = "supply" if t["side"] == "sell" else "demand"
        curve = d["curves"][t["mtu"]][side]
        for pair in curve:
            if pair[0] == t["limit_ct_per_mwh"]:
                pair[1] -= 1
    return as_answer(d), o


@pytest.mark.parametrize(("how", "check", "where"), [
    ("price", 2, "mtu 5"),
    ("accepted", 3, "orders[{o}]"),
    ("payment", 4, "orders[{o}]"),
    ("quantity", 5, "orders[{o}]"),
    ("foreign", 5, "orders[GHOST]"),
    ("lost", 5, "orders[{o}]"),
    ("curve", 1, "mtu {mtu} {side} at {limit} ct/MWh"),
])
def test_tampered_results_are_rejected_naming_the_mtu_or_order(round_, how, check, where):
    node = round_["node"]
    holder = {}

    def alter(d):
        answer, holder["o"] = tamper(d, round_, how)
        return answer

    spy = SpotIntermediary(node.book, Tampering(round_["exchange"].adapter(), alter))
    assert spy.resume() == round_["decision"]  # the same forwarded book
    results = spy.import_results()
    o = holder["o"]
    want = where.format(o=o.id, mtu=o.mtu, side="supply" if o.side == "sell" else "demand",
                        limit=o.limit_ct_per_mwh)
    with pytest.raises(ResultsRejected) as exc:
        spy.accept(results)
    assert (check, want) in [(v.check, v.where) for v in exc.value.violations]


def test_a_results_answer_that_is_not_well_formed_is_refused_naming_the_field(round_):
    node = round_["node"]

    def alter(d):
        d["prices_ct_per_mwh"].pop()
        return as_answer(d)

    spy = SpotIntermediary(node.book, Tampering(round_["exchange"].adapter(), alter))
    spy.resume()
    with pytest.raises(WholesaleFileError, match="prices_ct_per_mwh"):
        spy.import_results()


def test_the_node_forwards_only_to_the_books_open_auction():
    with start_reference_exchange(seed=2, mtus=96, mtu_minutes=15) as exchange:
        node = SpotIntermediary(parse_orders(book_data()), exchange.adapter())
        with pytest.raises(IntermediaryError, match="mtus: the exchange says 96, the book 24"):
            node.forward()
        wrong_key = HttpExchangeAdapter(exchange.url, "DA-1", "not-the-key")
        with pytest.raises(ExchangeError) as exc:
            wrong_key.submit(list(parse_orders(book_data()).orders[:1]))
        assert exc.value.status == 403
        quarter = parse_orders(book_data(mtus=96, mtu_minutes=15))
        ok = SpotIntermediary(quarter, exchange.adapter())
        ok.forward()
        exchange.close_auction()
        late = SpotIntermediary(quarter, exchange.adapter())
        with pytest.raises(IntermediaryError, match="the auction is closed"):
            late.forward()
        verdict = ok.verify(ok.import_results())
        assert verdict.ok, verdict.violations
        assert verify_results(verdict.results) == []


def test_forward_command_writes_results_that_verify(tmp_path):
    path, out = tmp_path / "book.json", tmp_path / "results.json"
    path.write_text(json.dumps(book_data()))
    run = subprocess.run([sys.executable, "-m", "flexmarket.cli", "wholesale", "forward",
                          str(path), "--seed", "2", "--out", str(out), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=180)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["ok"] and doc["orders"] == 49
    check = subprocess.run([sys.executable, "-m", "flexmarket.cli", "wholesale", "verify",
                            str(out), "--json"], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
    assert check.returncode == 0 and json.loads(check.stdout)["results_hash"] == \
        doc["results_hash"]
