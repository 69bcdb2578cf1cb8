"""The capacity checker (oracle.capacity.check_capacity): every clearing result passes it,
and each kind of tampering is caught and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capacity_helpers import cap_file, req

from oracle.capacity import check_capacity, clear_capacity, load_capacity, parse_capacity

ROOT = Path(__file__).resolve().parents[3]


def wheres(data, result):
    return [v.where for v in check_capacity(parse_capacity(data), result)]


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "capacity").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_example_result_passes(path):
    f = load_capacity(path)
    assert check_capacity(f, clear_capacity(f)) == []


@pytest.mark.parametrize("mechanism,extra", [
    ("premium", {"pricing": "uniform", "reserve_price_eur_per_mw_slot": 1}),
    ("premium", {}), ("social_equity", {"social_rule": "fcfs"}),
    ("social_equity", {"social_rule": "largest_first"}),
    ("social_equity", {"social_rule": "pro_rata"}),
])
def test_results_of_every_mechanism_pass(mechanism, extra):
    data = cap_file(mechanism, capacity=[100, 40], granularity=10, **extra)
    data["requests"] = [req("A", 60, price=5, minute=1), req("B", [50, 30], price=3, minute=2),
                        req("C", 40, price=4, minute=3, min_quantity_w=30),
                        req("LOW", 10, price=0, minute=4)]
    f = parse_capacity(data)
    assert check_capacity(f, clear_capacity(f)) == []


def tampered(data, change):
    f = parse_capacity(data)
    doc = json.loads(clear_capacity(f).to_json())
    change(doc)
    from oracle.capacity import CapacityResult

    return CapacityResult.model_validate(doc).sealed(doc["input_hash"])


def test_over_allocation_wrong_payment_and_remaining_are_named():
    data = cap_file(capacity=100)
    data["requests"] = [req("A", 60, price=5), req("B", 60, price=3, minute=1)]

    def more(doc):
        doc["allocations"][1]["allocated_w"] = [60, 60]  # B: 60 instead of 40
    found = wheres(data, tampered(data, more))
    assert "zone F1 slot 0" in found and "allocations[B].payment_ueur" in found
    assert "remaining_w[F1][0]" in found and "welfare_ueur" in found


def test_a_rule_breaker_allocated_and_a_valid_request_rejected_are_named():
    data = cap_file(capacity=100, reserve_price_eur_per_mw_slot=4)
    data["requests"] = [req("A", 60, price=5), req("CHEAP", 30, price=3, minute=1)]

    def swap(doc):
        doc["rejected"] = [{"request": "A", "reason": "made up"}]
        doc["allocations"].append({"request": "CHEAP", "participant": "AG1", "zone": "F1",
                                   "allocated_w": [30, 30], "payment_ueur": 180})
    found = wheres(data, tampered(data, swap))
    assert "allocations[CHEAP]" in found and "rejected[CHEAP]" in found
    assert "rejected[A]" in found


def test_an_indivisible_request_in_part_and_a_step_below_the_minimum():
    data = cap_file(capacity=100)
    data["requests"] = [req("IND", [40, 40], price=5, divisible=False),
                        req("MIN", 50, price=4, minute=1, min_quantity_w=30)]

    def part(doc):
        for a in doc["allocations"]:
            a["allocated_w"] = [40, 0] if a["request"] == "IND" else [50, 20]
    found = wheres(data, tampered(data, part))
    assert "allocations[IND].allocated_w" in found
    assert "allocations[MIN].allocated_w[1]" in found


def test_unused_capacity_while_someone_is_short_and_price_order_are_caught():
    data = cap_file(capacity=100)
    data["requests"] = [req("HIGH", 80, price=9), req("LOW", 80, price=1, minute=1)]

    def worse(doc):
        for a in doc["allocations"]:
            a["allocated_w"] = [20, 20] if a["request"] == "HIGH" else [60, 60]
            a["payment_ueur"] = sum(a["allocated_w"]) * (9 if a["request"] == "HIGH" else 1)
        doc["welfare_ueur"] = doc["total_payment_ueur"] = 40 * 9 + 120
        doc["remaining_w"]["F1"] = [20, 20]
    found = wheres(data, tampered(data, worse))
    assert found.count("zone F1 slot 0") >= 2  # spare capacity, and HIGH short while LOW got


def test_a_changed_hash_is_named():
    data = cap_file(capacity=100)
    data["requests"] = [req("A", 60, price=5)]
    f = parse_capacity(data)
    result = clear_capacity(f).model_copy(update={"result_hash": "0x" + "00" * 32})
    assert [v.where for v in check_capacity(f, result)] == ["result_hash"]
