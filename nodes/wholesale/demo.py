"""`flexmarket wholesale demo`: one wholesale day on a local chain (issue 16 item 5, the
wholesale part): a seeded order book of three aggregators in two zones is grid-checked,
its rows and hash go on chain before gate closure, it is forwarded to the reference
exchange (its own process), the results are imported, verified, recorded, and three
replica nodes re-check them against the chain and attest; then local balancing bids are
aggregated into mFRR products, forwarded to the reference mFRR platform (its own process)
and its activations split back to the local bids. Everything printed is also returned as
one JSON document.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from nodes.wholesale.launch import start_reference_exchange, start_reference_mfrr
from nodes.wholesale.ledger import WholesaleLedger, replica_check
from nodes.wholesale.mfrr import MfrrIntermediary
from nodes.wholesale.spot import SpotIntermediary
from oracle.wholesale.mfrr import MfrrBook, parse_bids
from oracle.wholesale.orders import OrderBook, parse_orders
from python_client.chain import Wallet, connect
from python_client.localchain import start_chain

ZONES = ("T0-L24", "T0-L33")
GATE_S = 120  # the book's gate closes this long after the auction is opened on chain


def day_book(seed: int) -> OrderBook:
    """Three aggregators' day-ahead orders in two zones (seeded)."""
    rng = random.Random(seed)
    orders = []
    for k in range(40):
        side = "sell" if rng.random() < 0.6 else "buy"
        orders.append({"id": f"O{k + 1}", "participant": f"AG{k % 3 + 1}",
                       "zone": ZONES[k % 2], "side": side, "mtu": rng.randrange(24),
                       "quantity_w": rng.randrange(5, 40) * 1000,
                       "limit_ct_per_mwh": rng.randrange(0, 25_000, 100)})
    return parse_orders({
        "schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
        "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
        "mtu_minutes": 60, "mtus": 24, "volume_step_w": 1000,
        "zones": [{"id": z, "max_sell_w": 60_000, "max_buy_w": 50_000} for z in ZONES],
        "orders": orders})


def balancing_book(seed: int) -> MfrrBook:
    """Local up/down balancing bids for four quarters from 17:00 (seeded)."""
    rng = random.Random(seed)
    bids = [{"id": f"L{k + 1}", "participant": f"AG{k % 3 + 1}", "zone": ZONES[k % 2],
             "direction": "up" if k % 3 else "down", "quarter": k % 4,
             "quantity_w": rng.randrange(2, 9) * 100_000,
             "price_ct_per_mwh": rng.randrange(500, 9_000, 10), "divisible": k % 5 != 0}
            for k in range(24)]
    return parse_bids({
        "schema": "flexmarket.mfrr-bids/1", "platform": "Reference mFRR",
        "delivery_start": "2026-05-26T17:00:00+02:00", "quarters": 4,
        "zones": [{"id": ZONES[0], "max_up_w": 2_000_000, "max_down_w": 1_000_000},
                  {"id": ZONES[1], "max_up_w": 1_500_000, "max_down_w": 0}],
        "bids": bids})


def run_demo(seed: int = 1, say: Callable[[str], None] = print) -> dict[str, Any]:
    book, bids = day_book(seed), balancing_book(seed)
    out: dict[str, Any] = {"schema": "flexmarket.wholesale-demo/1", "seed": seed}
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        admin, intermediary, *validators = (Wallet(w3, k) for k in chain.dev_private_keys[:5])
        address = WholesaleLedger.deploy(w3, admin, intermediary.address,
                                         [v.address for v in validators], 2)
        ledger = WholesaleLedger(w3, address, intermediary)
        say(f"chain {chain.url}: FlexWholesale at {address}, 3 validators, quorum 2")
        now = int(w3.eth.get_block("latest")["timestamp"])
        aid = ledger.open_auction(book, now + GATE_S)
        with start_reference_exchange(seed=seed) as exchange:
            say(f"reference exchange on {exchange.url} (own process, seed {seed})")
            node = SpotIntermediary(book, exchange.adapter())
            decision = node.check()
            say(f"grid check: {len(decision.forwarded)} of {len(book.orders)} orders go out, "
                f"{len(decision.requested_w)} curtailed, {len(decision.refused)} refused")
            for r in decision.refused:
                say(f"  refused {r.order_id}: {r.reason}")
            ledger.commit_book(aid, book, decision)
            say(f"on chain before gate closure: {len(decision.records)} grid rows, book "
                f"{decision.book_hash(book)}")
            node.forward()
            chain.warp_to(now + GATE_S + 1)  # the demo's local chain: to gate closure
            prices = exchange.close_auction()
            say(f"gate closed; prices {min(prices)}..{max(prices)} ct/MWh")
            verdict = node.accept(node.import_results())
        results = verdict.results
        ledger.commit_results(aid, results)
        accepted = sum(1 for o in results.orders if o.accepted_w)
        say(f"results {results.results_hash()}: checks 1-5 hold; {accepted} of "
            f"{len(results.orders)} orders accepted; recorded on chain")
        attestations = []
        for i, v in enumerate(validators):
            replica = WholesaleLedger(w3, address, v)
            found = replica_check(replica, book, results)
            replica.attest(aid, results.results_hash(), not found)
            attestations.append({"validator": v.address, "agrees": not found})
            say(f"replica {i + 1}: {'agrees' if not found else f'{len(found)} violations'}")
        record = ledger.record(aid)
        say(f"results {'final' if record.agreeing >= 2 and not record.disputed else 'open'} "
            f"({record.agreeing} agreeing)")
        out["spot"] = {**verdict.to_json(), "grid_check": decision.to_json(book),
                       "attestations": attestations, "chain": {
                           "url": chain.url, "contract": address,
                           "agreeing": record.agreeing, "disputed": record.disputed}}
    with start_reference_mfrr(seed=seed) as platform:
        say(f"reference mFRR platform on {platform.url} (own process)")
        m = MfrrIntermediary(bids, platform.adapter())
        agg = m.forward()
        say(f"mFRR: {len(agg.products)} products from {len(agg.admitted)} local bids "
            f"({len(agg.refused)} refused by the zone limits)")
        platform.close_gate()
        mv = m.accept(m.activations())
        for s in mv.splits:
            if s.activated_w:
                say(f"  activated {s.bid} ({s.participant}, {s.zone}) {s.direction} quarter "
                    f"{s.quarter}: {s.activated_w:,} W, {s.payment_ueur / 1e6:,.2f} EUR")
        out["mfrr"] = {**agg.to_json(), **mv.to_json()}
    return out
