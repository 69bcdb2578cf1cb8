"""Reserve clearing on HiGHS and its independent checker (its own exact search)."""

from __future__ import annotations

import random

import pytest
from reserve_helpers import RESERVE, offer, reserve_doc

from oracle.reserve import check_reserve, clear_reserve, load_reserve, parse_reserve
from oracle.reserve.checker import best_by_search


def small(offers, quantity_w=10_000, **tender):
    doc = reserve_doc()
    doc["tender"].update({"quantity_w": quantity_w, "max_quantity_w": None,
                          "granularity_w": 1000, **tender})
    doc["participants"] = [{"id": "DSO1", "role": "DSO"}, {"id": "A", "role": "aggregator"}]
    doc["offers"] = offers
    return parse_reserve(doc)


def test_the_example_buys_the_least_expected_cost_and_passes_the_checker():
    f = load_reserve(RESERVE)
    r = clear_reserve(f)
    assert [(a.offer, a.version, a.quantity_w) for a in r.awards] == [("O1", 2, 20_000),
                                                                       ("O2", 1, 20_000)]
    # 30 days x 16 quarters: availability A x 28,800, 3 activations of 60 min: U x 720 (/240)
    assert r.expected_cost_x240 == 20_000 * (35 * 28_800 + 300 * 720) \
        + 20_000 * (38 * 28_800 + 350 * 720)
    o1 = r.awards[0]
    assert o1.availability_ueur == 30 * (35 * 20_000 * 16 // 4) == 84_000_000
    assert o1.budget_ueur == 84_000_000 + 8 * 300 * (20_000 * 8 // 4)
    assert o1.collateral_ueur == 1000 * 20_000
    assert r.unmet_w == 0 and r.budget_ueur == sum(a.budget_ueur for a in r.awards)
    assert check_reserve(f, r) == []
    assert r.result_hash == clear_reserve(load_reserve(RESERVE)).result_hash


def test_indivisible_offers_are_all_or_nothing_and_never_above_max_quantity():
    f = small([offer("D", "A", 6000, 10, 100), offer("I", "A", 8000, 1, 1, divisible=False)],
              quantity_w=7000, max_quantity_w=7000)
    r = clear_reserve(f)
    assert [(a.offer, a.quantity_w) for a in r.awards] == [("D", 6000)]
    assert r.unmet_w == 1000  # the cheap indivisible 8 kW would exceed max_quantity_w
    assert check_reserve(f, r) == []
    f2 = small([offer("D", "A", 6000, 10, 100), offer("I", "A", 8000, 1, 1, divisible=False)],
               quantity_w=7000, max_quantity_w=8000)
    assert [(a.offer, a.quantity_w) for a in clear_reserve(f2).awards] == [("I", 8000)]


def test_fewer_unmet_watts_come_before_a_lower_cost():
    f = small([offer("C", "A", 4000, 1, 1), offer("E", "A", 10_000, 50, 400, divisible=False)],
              quantity_w=10_000)
    r = clear_reserve(f)
    assert [a.offer for a in r.awards] == ["E"] and r.unmet_w == 0


def test_a_minimum_quantity_is_zero_or_at_least_the_minimum():
    f = small([offer("M", "A", 10_000, 1, 1, min_quantity_w=5000),
               offer("X", "A", 10_000, 30, 300)], quantity_w=3000, max_quantity_w=10_000)
    r = clear_reserve(f)
    assert check_reserve(f, r) == []
    got = {a.offer: a.quantity_w for a in r.awards}
    # M at its minimum 5 kW costs 5,000 x (1 x 28,800 + 720) < 3 kW of X
    assert got == {"M": 5000}


def test_equal_costs_go_to_the_earlier_offer():
    late = offer("A1", "A", 10_000, 20, 200, submitted_at="2026-05-28T10:00:00+02:00")
    early = offer("Z9", "A", 10_000, 20, 200, submitted_at="2026-05-27T10:00:00+02:00")
    r = clear_reserve(small([late, early], quantity_w=10_000))
    assert [a.offer for a in r.awards] == ["Z9"]


@pytest.mark.parametrize("seed", range(12))
def test_random_markets_are_optimal_for_the_checkers_own_search(seed):
    rng = random.Random(seed)
    offers = []
    for i in range(rng.randint(1, 7)):
        divisible = rng.random() < 0.6
        q = rng.randint(1, 12) * 1000
        extra = {"divisible": divisible}
        if divisible and rng.random() < 0.4:
            extra["min_quantity_w"] = rng.randint(1, q // 1000) * 1000
        offers.append(offer(f"O{i}", "A", q, rng.randint(0, 60), rng.randint(0, 500), **extra))
    f = small(offers, quantity_w=rng.randint(1, 30) * 1000,
              max_quantity_w=None if rng.random() < 0.5 else 35_000)
    r = clear_reserve(f)
    assert check_reserve(f, r) == []
    best = best_by_search(f, [o for o in f.offers])
    assert best == (r.unmet_w, r.expected_cost_x240)


def tampered(r, **changes):
    return r.model_copy(update=changes).sealed(r.input_hash)


def test_the_checker_finds_a_tampered_award_price_and_money():
    f = load_reserve(RESERVE)
    r = clear_reserve(f)
    a0 = r.awards[0]
    bad = tampered(r, awards=[a0.model_copy(update={"quantity_w": 30_000})] + r.awards[1:])
    wheres = {v.where for v in check_reserve(f, bad)}
    assert "awards[O1].quantity_w" in wheres and "awards[O1].money" in wheres
    bad = tampered(r, awards=[a0.model_copy(update={"utilisation_price_eur_per_mwh": 500})]
                   + r.awards[1:])
    assert any("prices differ" in v.message for v in check_reserve(f, bad))
    bad = tampered(r, awards=[a0.model_copy(update={"budget_ueur": a0.budget_ueur + 1})]
                   + r.awards[1:])
    assert {v.where for v in check_reserve(f, bad)} >= {"awards[O1].money", "budget_ueur"}


def test_the_checker_finds_a_dearer_feasible_result():
    f = load_reserve(RESERVE)
    r = clear_reserve(f)
    from oracle.reserve.clearing import award_of
    from oracle.reserve.files import validate

    valid = {o.id: o for o in validate(f)[0]}
    awards = [award_of(f, valid["O1"], 25_000), award_of(f, valid["O3"], 15_000)]
    dearer = r.model_copy(update={
        "awards": awards,
        "expected_cost_x240": 25_000 * (35 * 28_800 + 300 * 720)
        + 15_000 * (45 * 28_800 + 250 * 720),
        "budget_ueur": sum(a.budget_ueur for a in awards)}).sealed(r.input_hash)
    violations = check_reserve(f, dearer)
    assert [v.where for v in violations] == ["optimality"]


def test_the_checker_finds_broken_hashes_and_rejections():
    f = load_reserve(RESERVE)
    r = clear_reserve(f)
    assert {v.where for v in check_reserve(f, r.model_copy(update={"result_hash": "0x00"}))} \
        == {"result_hash"}
    assert "input_hash" in {v.where for v in check_reserve(f, r.sealed("0x" + "1" * 64))}
    assert "rejected" in {v.where for v in check_reserve(f, tampered(r, rejected=[]))}
