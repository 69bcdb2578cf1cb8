"""mFRR forwarding rules (oracle.wholesale.mfrr): refusals naming the bid, zone limits,
aggregation into 1 MW standard products in merit order with linked indivisible parts,
disaggregation, and the checks of a platform's answer."""

from __future__ import annotations

import pytest

from oracle.wholesale import WholesaleFileError
from oracle.wholesale.mfrr import Activation, aggregate, check_activations, disaggregate, parse_bids

MW = 1_000_000


def book(bids, **change):
    data = {"schema": "flexmarket.mfrr-bids/1", "platform": "Reference mFRR",
            "delivery_start": "2026-05-26T17:00:00+02:00", "quarters": 4,
            "zones": [{"id": "F1", "max_up_w": 3 * MW, "max_down_w": [MW, 0, MW, MW]},
                      {"id": "F2", "max_up_w": 10 * MW, "max_down_w": 10 * MW}],
            "bids": [{"id": i, "participant": "AG1", "zone": z, "direction": d, "quarter": q,
                      "quantity_w": w, "price_ct_per_mwh": p, "divisible": div}
                     for i, z, d, q, w, p, div in bids]}
    data.update(change)
    return parse_bids(data)


def test_divisible_bids_become_one_mw_products_in_merit_order_priced_by_their_dearest_part():
    b = book([("A", "F2", "up", 0, 700_000, 5_000, True),
              ("B", "F2", "up", 0, 600_000, 3_000, True),
              ("C", "F2", "up", 0, 900_000, 4_000, True)])
    d = aggregate(b)
    assert [(p.id, p.quantity_w, p.price_ct_per_mwh, p.parts) for p in d.products] == [
        ("P-0-up-d-0", MW, 4_000, (("B", 600_000), ("C", 400_000))),
        ("P-0-up-d-1", MW, 5_000, (("C", 500_000), ("A", 500_000))),
    ]
    assert d.unforwarded == (("A", 200_000),)  # short of a step: stays local


def test_indivisible_bids_are_linked_whole_into_indivisible_products():
    b = book([("I1", "F2", "down", 1, 600_000, 2_000, False),
              ("I2", "F2", "down", 1, 900_000, 1_000, False),
              ("I3", "F2", "down", 1, 500_000, 3_000, False),
              ("I4", "F2", "down", 1, 300_000, 4_000, False)])
    d = aggregate(b)
    # merit order I2 0.9, I1 0.6 (1.5), I3 0.5 (2.0 MW: a product), I4 left
    assert [(p.quantity_w, p.divisible, p.price_ct_per_mwh, p.parts) for p in d.products] == [
        (2 * MW, False, 3_000, (("I2", 900_000), ("I1", 600_000), ("I3", 500_000)))]
    assert d.unforwarded == (("I4", 300_000),)
    assert disaggregate(d.products[0], 2 * MW) == [("I2", 900_000), ("I1", 600_000),
                                                   ("I3", 500_000)]


def test_zone_limits_curtail_divisible_refuse_indivisible_and_red_means_nothing():
    b = book([("A", "F1", "up", 0, 2 * MW, 1_000, True),
              ("B", "F1", "up", 0, 2 * MW, 1_000, True),  # 1 MW left: curtailed
              ("C", "F1", "up", 0, MW, 1_000, False),  # nothing left: refused
              ("D", "F1", "down", 1, MW, 1_000, True),  # traffic light red in quarter 1
              ("E", "F9", "up", 0, MW, 1_000, True),
              ("F", "F1", "up", 4, MW, 1_000, True),
              ("G", "F1", "up", 1, MW, 10**9 + 0, True)])
    d = aggregate(b)
    assert {x.id: x.quantity_w for x in d.admitted} == {"A": 2 * MW, "B": MW}
    reasons = {r.order_id: r.reason for r in d.refused}
    assert "indivisible bid needs 1000000 W" in reasons["C"]
    assert "may activate 0 W" in reasons["D"]
    assert "zone 'F9' is not a local zone" in reasons["E"]
    assert "quarter 4: the platform has quarters 0 to 3" in reasons["F"]
    assert "outside the floor" in reasons["G"]


def test_a_malformed_book_names_the_field():
    with pytest.raises(WholesaleFileError) as exc:
        book([("A", "F1", "up", 0, MW, 1, True), ("A", "F1", "up", 0, MW, 1, True)],
             zones=[{"id": "F1", "max_up_w": [1], "max_down_w": 0}])
    assert [w for w, _ in exc.value.problems] == ["bids[1].id", "zones[0].max_up_w"]


def answer(d, activated, price=6_000):
    out = []
    for p in d.products:
        w = activated.get(p.id, 0)
        out.append(Activation(p.id, w, price, w * 15 * price // 6000))
    return out


def test_a_right_answer_is_split_to_the_local_bids_in_merit_order():
    b = book([("A", "F2", "up", 0, 1_500_000, 5_000, True),
              ("B", "F2", "up", 0, 1_500_000, 3_000, True)])
    d = aggregate(b)
    splits, violations = check_activations(b, d, answer(d, {"P-0-up-d-0": MW,
                                                            "P-0-up-d-1": MW}))
    assert violations == []
    assert [(s.bid, s.activated_w, s.payment_ueur) for s in splits] == [
        ("B", MW, 15_000_000), ("B", 500_000, 7_500_000), ("A", 500_000, 7_500_000),
        ("A", 0, 0)]  # 3 MW make three products; the third is not activated
    by_bid: dict[str, int] = {}
    for s in splits:
        by_bid[s.bid] = by_bid.get(s.bid, 0) + s.activated_w
    assert by_bid == {"B": 1_500_000, "A": 500_000}  # the cheaper bid first, in full


@pytest.mark.parametrize(("alter", "check", "words"), [
    (lambda a: a.__class__(a.product, a.activated_w + 1_000_000, a.price_ct_per_mwh,
                           a.payment_ueur), 1, "activated 2000000 W of 1000000 W"),
    (lambda a: a.__class__(a.product, 500_000, a.price_ct_per_mwh, 500_000 * 15 * 6_000 // 6000),
     1, "not whole steps"),
    (lambda a: a.__class__(a.product, a.activated_w, 4_000, a.activated_w * 15 * 4_000 // 6000),
     2, "below its price 5000"),
    (lambda a: a.__class__(a.product, a.activated_w, a.price_ct_per_mwh, a.payment_ueur + 1),
     3, "payment"),
    (lambda a: a.__class__("GHOST", a.activated_w, a.price_ct_per_mwh, a.payment_ueur),
     1, "not one of our products"),
])
def test_a_wrong_answer_is_rejected_naming_the_product(alter, check, words):
    b = book([("A", "F2", "up", 0, MW, 5_000, True)])
    d = aggregate(b)
    acts = [alter(a) for a in answer(d, {"P-0-up-d-0": MW})]
    _, violations = check_activations(b, d, acts)
    assert any(v.check == check and words in v.message for v in violations), violations


def test_an_indivisible_product_partly_activated_is_rejected():
    b = book([("I1", "F2", "up", 0, MW, 1_000, False), ("I2", "F2", "up", 0, MW, 2_000, False)])
    d = aggregate(b)
    assert d.products[0].quantity_w == MW and len(d.products) == 2
    b2 = book([("I1", "F2", "up", 0, 2 * MW, 1_000, False)])
    d2 = aggregate(b2)
    _, violations = check_activations(b2, d2, answer(d2, {"P-0-up-i-0": MW}))
    assert [(v.check, v.where) for v in violations] == [(1, "products[P-0-up-i-0]")]
    assert "indivisible" in violations[0].message
