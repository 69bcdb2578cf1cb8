"""The wholesale record on chain (FlexWholesale on anvil, through web3 and the ABI only):
the intermediary records grid rows, the book before gate closure and the results after;
replicas re-check checks 1-5 against the chain and the published files and attest."""

from __future__ import annotations

import pytest

from nodes.wholesale.launch import start_reference_exchange
from nodes.wholesale.ledger import WholesaleLedger, auction_id, replica_check
from nodes.wholesale.spot import SpotIntermediary
from oracle.wholesale import parse_results
from oracle.wholesale.orders import parse_orders
from python_client.chain import Wallet, connect
from python_client.errors import TransactionReverted
from python_client.localchain import start_chain


def book_data():
    orders = [{"id": f"O{k}", "participant": f"AG{k % 3}", "zone": f"T0-L{k % 2}",
               "side": "sell" if k % 3 else "buy", "mtu": k % 24, "quantity_w": 20_000,
               "limit_ct_per_mwh": 1_000 + 700 * k} for k in range(30)]
    return {"schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
            "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
            "mtu_minutes": 60, "mtus": 24, "volume_step_w": 1000,
            "zones": [{"id": "T0-L0", "max_sell_w": 30_000, "max_buy_w": 30_000},
                      {"id": "T0-L1", "max_sell_w": 30_000, "max_buy_w": 30_000}],
            "orders": orders}


@pytest.fixture(scope="module")
def recorded():
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        admin, intermediary, v1, v2, v3 = (Wallet(w3, k) for k in keys[:5])
        address = WholesaleLedger.deploy(w3, admin, intermediary.address,
                                         [v1.address, v2.address, v3.address], 2)
        ledger = WholesaleLedger(w3, address, intermediary)
        book = parse_orders(book_data())
        now = int(w3.eth.get_block("latest")["timestamp"])
        aid = ledger.open_auction(book, now + 60)
        with start_reference_exchange(seed=3) as exchange:
            node = SpotIntermediary(book, exchange.adapter())
            decision = node.check()
            ledger.commit_book(aid, book, decision)  # fixed before the book goes out
            node.forward()
            chain.warp_to(now + 61)  # gate closure (a test may move a local chain's clock)
            exchange.close_auction()
            results = node.accept(node.import_results()).results
        ledger.commit_results(aid, results)
        yield {"w3": w3, "address": address, "ledger": ledger, "book": book, "aid": aid,
               "results": results, "validators": (v1, v2, v3), "intermediary": intermediary,
               "decision": decision}


def test_the_chain_holds_the_book_grid_rows_and_results(recorded):
    ledger, aid = recorded["ledger"], recorded["aid"]
    record = ledger.record(aid)
    d, book = recorded["decision"], recorded["book"]
    assert "0x" + record.book_hash.hex() == d.book_hash(book)
    assert "0x" + record.results_hash.hex() == recorded["results"].results_hash()
    assert record.orders == len(d.forwarded) and record.grid_rows == len(d.records)
    assert record.order_rows == len(recorded["results"].orders) == record.orders
    assert ledger.grid_rows(aid) == [(r.zone, r.mtu, r.sell_w, r.buy_w) for r in d.records]
    assert aid == auction_id(book)


def test_the_book_cannot_change_after_it_was_fixed(recorded):
    ledger, aid = recorded["ledger"], recorded["aid"]
    with pytest.raises(TransactionReverted) as exc:
        ledger.commit_book(aid, recorded["book"], recorded["decision"])
    assert exc.value.error in ("FlexWholesaleGateClosed", "FlexWholesaleBookCommitted")


def test_replicas_agree_on_honest_files_and_dispute_tampered_ones(recorded):
    w3, address, book = recorded["w3"], recorded["address"], recorded["book"]
    v1, v2, v3 = recorded["validators"]
    results = recorded["results"]
    r1 = WholesaleLedger(w3, address, v1)
    assert replica_check(r1, book, results) == []
    # a tampered copy of the results (a price moved one tick): hash and check 2 both say so
    data = results.canonical()
    data["prices_ct_per_mwh"][5] += 1
    tampered = parse_results(data)
    found = replica_check(r1, book, tampered)
    assert {(v.check, v.where) for v in found} >= {(5, "auction"), (2, "mtu 5")}
    # two sells' payments swapped (the totals unchanged): their rows on chain say otherwise
    data = results.canonical()
    sells = [o for o in data["orders"] if o["side"] == "sell" and o["payment_ueur"]]
    a, b = sells[0], next(o for o in sells if o["payment_ueur"] != sells[0]["payment_ueur"])
    a["payment_ueur"], b["payment_ueur"] = b["payment_ueur"], a["payment_ueur"]
    found = {(v.check, v.where) for v in replica_check(r1, book, parse_results(data))}
    assert {(4, f"orders[{a['id']}]"), (4, f"orders[{b['id']}]")} <= found
    # a tampered book (one order's limit): its forwarded orders do not hash as on chain
    other = book_data()
    other["orders"][1]["limit_ct_per_mwh"] += 1
    assert [v.message for v in replica_check(r1, parse_orders(other), results)
            if v.check == 5][0].startswith("the book hash on chain")
    aid = recorded["aid"]
    r1.attest(aid, results.results_hash(), True)
    WholesaleLedger(w3, address, v2).attest(aid, results.results_hash(), True)
    assert recorded["ledger"].record(aid).agreeing == 2
    r3 = WholesaleLedger(w3, address, v3)
    r3.attest(aid, tampered.results_hash(), not replica_check(r3, book, tampered))
    assert recorded["ledger"].record(aid).disputed
