"""Capacity clearing (spec/capacity.md): every mechanism on hand-computed cases, and premium
against brute force on random small files."""

from __future__ import annotations

import itertools
import random

import pytest
from capacity_helpers import cap_file, req

from oracle.capacity import CapacityFileError, check_capacity, clear_capacity, parse_capacity


def clear(data):
    """Clear, and run the independent checker: every result a test produces is checked."""
    f = parse_capacity(data)
    result = clear_capacity(f)
    assert check_capacity(f, result) == []
    return result


def alloc(result):
    return {a.request: a.allocated_w for a in result.allocations}


def test_premium_greedy_by_price_then_earlier_request():
    data = cap_file(capacity=100)
    data["requests"] = [req("A", 60, price=5, minute=3), req("B", 60, price=9, minute=5),
                        req("C", 60, price=5, minute=1)]
    r = clear(data)
    assert alloc(r) == {"B": [60, 60], "C": [40, 40]}  # C before A: equal price, earlier
    assert {a.request: a.payment_ueur for a in r.allocations} == {"B": 1080, "C": 400}
    assert r.welfare_ueur == 1480 and r.total_payment_ueur == 1480
    assert r.remaining_w == {"F1": [0, 0], "F2": [100, 100]}


def test_premium_indivisible_and_minimum_take_the_milp_to_the_best_welfare():
    data = cap_file(capacity=[100, 100])
    data["requests"] = [req("BIG", 70, price=10, divisible=False),
                        req("M1", 50, price=8, min_quantity_w=50),
                        req("M2", 50, price=8, min_quantity_w=50, minute=1)]
    r = clear(data)
    # BIG + nothing else fitting a 50 W minimum: 1,400; M1 + M2: 1,600
    assert alloc(r) == {"M1": [50, 50], "M2": [50, 50]} and r.welfare_ueur == 1600


def test_uniform_price_is_the_lowest_allocated_where_someone_is_short():
    data = cap_file(capacity=[100, 200], pricing="uniform", reserve_price_eur_per_mw_slot=2)
    data["requests"] = [req("A", 80, price=9), req("B", 80, price=4, minute=1)]
    r = clear(data)
    assert alloc(r) == {"A": [80, 80], "B": [20, 80]}
    assert r.clearing_prices == {"F1": [4, 2], "F2": [2, 2]}  # slot 1: nobody short
    assert {a.request: a.payment_ueur for a in r.allocations} == {"A": 80 * 4 + 80 * 2,
                                                                  "B": 20 * 4 + 80 * 2}


def test_social_fcfs_largest_first_and_minimum():
    data = cap_file("social_equity", capacity=100, social_rule="fcfs")
    data["requests"] = [req("A", 30, minute=1), req("B", 90, minute=2),
                        req("C", 50, minute=3, min_quantity_w=40), req("D", 10, minute=4,
                                                                       divisible=False)]
    assert alloc(clear(data)) == {"A": [30, 30], "B": [70, 70]}
    data["market"]["social_rule"] = "largest_first"
    assert alloc(clear(data)) == {"B": [90, 90], "A": [10, 10]}  # B, C (min 40: 0), A, D
    r = clear(data)
    assert r.total_payment_ueur == 0 and r.welfare_ueur == 0


def test_pro_rata_shares_by_request_and_hands_out_the_rest_step_by_step():
    data = cap_file("social_equity", capacity=[100, 1000], social_rule="pro_rata",
                    granularity=5)
    data["requests"] = [req("A", 100, minute=1), req("B", 100, minute=2),
                        req("C", 100, minute=3)]
    # slot 0: floor(100 * 100 / 300) = 33 -> 30 each, 10 left: 5 to A, 5 to B
    assert alloc(clear(data)) == {"A": [35, 100], "B": [35, 100], "C": [30, 100]}
    data["requests"].append(req("D", 10, minute=4, divisible=False))
    r = clear(data)
    assert r.rejected[0].request == "D" and "pro_rata" in r.rejected[0].reason


def test_rules_reject_with_a_reason_and_give_no_capacity():
    data = cap_file(capacity=100, reserve_price_eur_per_mw_slot=3,
                    gate_closure="2026-05-25T10:30:00+02:00", granularity=10)
    data["requests"] = [req("OK", 10, price=3), req("CHEAP", 10, price=2),
                        req("LATE", 10, price=5, minute=31), req("DSO", 10, price=5,
                                                                 participant="DSO"),
                        req("NOZONE", 10, price=5, zone="F9"), req("ODD", 15, price=5),
                        req("NEG", [-10, 10], price=5), req("LEN", [10, 10, 10], price=5)]
    r = clear(data)
    assert alloc(r) == {"OK": [10, 10]}
    reasons = {x.request: x.reason for x in r.rejected}
    assert "below the reserve price 3" in reasons["CHEAP"]
    assert "after gate closure" in reasons["LATE"]
    assert "is a DSO" in reasons["DSO"]
    assert "zone F9 does not exist" in reasons["NOZONE"]
    assert "not a multiple of granularity_w 10" in reasons["ODD"]
    assert "negative" in reasons["NEG"] and "has 3 values" in reasons["LEN"]


def test_idm_processes_releases_and_requests_in_time_order():
    data = cap_file("premium", phase="IDM", capacity=100)
    data["allocated"] = [{"request": "D7", "participant": "AG2", "zone": "F1",
                          "allocated_w": [80, 80]}]
    data["requests"] = [req("EARLY", 50, price=9, minute=1), req("LATE", 50, price=1, minute=3)]
    data["releases"] = [{"request": "D7", "quantity_w": [40, 0],
                         "submitted_at": "2026-05-25T10:02:00+02:00"},
                        {"request": "D7", "quantity_w": [0, 90],
                         "submitted_at": "2026-05-25T10:02:00+02:00"}]
    r = clear(data)
    # EARLY finds 20 W; D7 hands back 40 W in slot 0; LATE then finds 40 W in slot 0
    assert alloc(r) == {"EARLY": [20, 20], "LATE": [40, 0]}
    assert {a.request: a.payment_ueur for a in r.allocations} == {"EARLY": 360, "LATE": 40}
    assert r.remaining_w["F1"] == [0, 0]
    assert [x.request for x in r.rejected] == ["D7"] and "90 W in slot 1" in r.rejected[0].reason


def test_allocated_and_releases_are_not_allowed_in_a_dam_file():
    data = cap_file()
    data["releases"] = [{"request": "X", "quantity_w": 1,
                         "submitted_at": "2026-05-25T10:02:00+02:00"}]
    with pytest.raises(CapacityFileError) as info:
        parse_capacity(data)
    assert ("releases", "not allowed in a DAM file (IDM only)") in info.value.problems


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["market"].pop("mechanism"), "market.mechanism"),
    (lambda d: d["zones"][0].update(capacity_w=[1, 2, 3]), "zones[0].capacity_w"),
    (lambda d: d["zones"][0].update(capacity_w=-1), "zones[0].capacity_w"),
    (lambda d: d["requests"].append(dict(d["requests"][0])), "requests[1].id"),
    (lambda d: d["requests"][0].update(colour=1), "requests[0].colour"),
    (lambda d: d["requests"][0].update(quantity_w="10"), "requests[0].quantity_w"),
])
def test_a_malformed_file_names_the_field(mutate, field):
    data = cap_file()
    data["requests"] = [req("A", 10)]
    mutate(data)
    with pytest.raises(CapacityFileError) as info:
        parse_capacity(data)
    assert field in [p for p, _ in info.value.problems], info.value.problems


def brute_force(data):
    """Every allocation of a small premium file: the largest welfare, then the most for the
    earliest request, then the next (the spec's preference for earlier submissions)."""
    f = parse_capacity(data)
    g = f.market.granularity_w
    reqs = sorted(f.requests, key=lambda r: (r.submitted_at, r.id))
    choices = []
    for r in reqs:
        q = r.quantity_w if isinstance(r.quantity_w, list) else [r.quantity_w] * f.market.slots
        if not r.divisible:
            choices.append([[0] * len(q), list(q)])
            continue
        lo = -(-(r.min_quantity_w or g) // g) * g
        per_slot = [[0] + list(range(max(lo, g), qt + 1, g)) for qt in q]
        choices.append([list(c) for c in itertools.product(*per_slot)])
    cap = data["zones"][0]["capacity_w"]
    best = None
    for combo in itertools.product(*choices):
        if any(sum(c[t] for c in combo) > cap[t] for t in range(f.market.slots)):
            continue
        welfare = sum(r.price_eur_per_mw_slot * sum(c) for r, c in zip(reqs, combo, strict=True))
        key = (welfare, tuple(sum(c) for c in combo))  # then earlier requests get more
        if best is None or key > best[0]:
            best = (key, combo)
    return best[0][0], {r.id: c for r, c in zip(reqs, best[1], strict=True) if any(c)}


@pytest.mark.parametrize("seed", range(80))
def test_premium_equals_brute_force_on_small_random_files(seed):
    rng = random.Random(seed)
    g = rng.choice([1, 5])
    data = cap_file(capacity=[rng.randrange(0, 8 * g, g) for _ in range(2)], granularity=g)
    for k in range(rng.randrange(1, 5)):
        extra = {}
        kind = rng.random()
        if kind < 0.35:
            extra["divisible"] = False
        elif kind < 0.6:
            extra["min_quantity_w"] = rng.randrange(1, 4 * g)
        top = 25 if g == 5 else 9  # brute force stays small: at most ~6 choices a slot
        data["requests"].append(req(f"R{k}", [rng.randrange(0, top, g) for _ in range(2)],
                                    price=rng.randrange(0, 4), minute=rng.randrange(3),
                                    **extra))
    welfare, want = brute_force(data)
    r = clear(data)
    assert r.welfare_ueur == welfare
    assert alloc(r) == want
