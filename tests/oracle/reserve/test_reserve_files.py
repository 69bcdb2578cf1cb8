"""Reserve files: strict parsing naming every field; the offers' versions, cancellation,
gate closure and rules."""

from __future__ import annotations

import json

import pytest
from reserve_helpers import RESERVE, reserve_doc

from oracle.reserve import ReserveFileError, load_reserve, parse_reserve, validate


def problems_of(doc) -> list[tuple[str, str]]:
    with pytest.raises(ReserveFileError) as exc:
        parse_reserve(doc)
    return exc.value.problems


def test_the_example_parses_and_its_hash_covers_the_defaults():
    f = load_reserve(RESERVE)
    assert f.tender.baseline.method == "meter_before"
    assert f.canonical()["tender"]["granularity_w"] == 100
    doc = reserve_doc()
    doc["tender"]["notice_minutes"] = 15  # the default written out: same input
    assert parse_reserve(doc).input_hash() == f.input_hash()
    doc["tender"]["notice_minutes"] = 30
    assert parse_reserve(doc).input_hash() != f.input_hash()


def test_a_wrong_type_names_its_field():
    doc = reserve_doc()
    doc["tender"]["quantity_w"] = "40000"
    doc["offers"][2]["availability_price_eur_per_mw_h"] = 1.5
    fields = [p for p, _ in problems_of(doc)]
    assert "tender.quantity_w" in fields
    assert "offers[2].availability_price_eur_per_mw_h" in fields


def test_a_key_given_twice_is_an_error_never_the_last_wins():
    text = RESERVE.read_text().replace('"quantity_w": 40000,',
                                       '"quantity_w": 40000, "quantity_w": 4000000,')
    assert problems_of(text) == [("tender.quantity_w", "key given twice")]


def test_unknown_fields_and_huge_numbers_are_refused():
    doc = reserve_doc()
    doc["tender"]["quantity_kw"] = 40
    doc["offers"][0]["quantity_w"] = 10**13
    doc["offers"][1]["utilisation_price_eur_per_mwh"] = 2**32
    got = dict(problems_of(doc))
    assert got["tender.quantity_kw"] == "unknown field"
    assert "offers[0].quantity_w" in got and "offers[1].utilisation_price_eur_per_mwh" in got


@pytest.mark.parametrize(("field", "value", "message"), [
    ("daily_start_minute", 1021, "quarter hours"),
    ("daily_end_minute", 1000, "not after"),
    ("max_activation_minutes", 300, "longer than the daily window"),
    ("min_activation_minutes", 0, "above 0"),
    ("max_quantity_w", 1000, "below quantity_w"),
    ("expected_activations", 9, "above max_activations"),
    ("period_start", "2026-06-01T12:00:00+02:00", "local midnight"),
    ("gate_closure", "2026-06-01T00:00:01+02:00", "after period_start"),
])
def test_tender_rules_name_the_field(field, value, message):
    doc = reserve_doc()
    doc["tender"][field] = value
    got = dict(problems_of(doc))
    assert message in got[f"tender.{field}"]


def test_a_version_given_twice_and_a_changed_aggregator_are_errors():
    doc = reserve_doc()
    doc["offers"].append(dict(doc["offers"][1]))
    doc["offers"].append(dict(doc["offers"][1], version=3, aggregator="AGG2"))
    got = dict(problems_of(doc))
    assert "version 2 again" in got["offers[8].version"]
    assert "cannot change its aggregator" in got["offers[9].aggregator"]


def test_baseline_parameters_are_checked():
    doc = reserve_doc()
    doc["tender"]["baseline"] = {"method": "meter_before", "x": 4}
    assert "takes no x" in dict(problems_of(doc))["tender.baseline"]


def test_versions_cancellation_gate_closure_and_caps():
    valid, rejected = validate(load_reserve(RESERVE))
    by_id = {o.id: o for o in valid}
    assert sorted(by_id) == ["O1", "O2", "O3"]
    assert (by_id["O1"].version, by_id["O1"].availability_price) == (2, 35)  # the modification
    assert rejected["O4"] == "cancelled (version 2)"
    assert "above the cap 60" in rejected["O5"]
    assert "after gate closure" in rejected["O6"]
    # tie-break order: earlier submission of the version in force
    assert [o.id for o in valid] == ["O2", "O3", "O1"]


def test_a_late_modification_leaves_the_earlier_version_in_force():
    doc = reserve_doc()
    doc["offers"].append(dict(doc["offers"][1], version=3, availability_price_eur_per_mw_h=1,
                              submitted_at="2026-05-30T00:00:00+02:00"))
    valid, rejected = validate(parse_reserve(doc))
    assert {o.id: o.version for o in valid}["O1"] == 2 and "O1" not in rejected


@pytest.mark.parametrize(("change", "reason"), [
    ({"aggregator": "DSO1"}, "only aggregators"),
    ({"aggregator": "AGG9"}, "not registered"),
    ({"quantity_w": 15050}, "not a multiple of granularity_w 100"),
    ({"min_quantity_w": 20000}, "above quantity_w"),
    ({"assets": []}, "names no asset"),
])
def test_an_offer_breaking_a_rule_is_rejected_with_its_reason(change, reason):
    doc = reserve_doc()
    doc["offers"][3].update(change)  # O3
    _, rejected = validate(parse_reserve(json.dumps(doc)))
    assert reason in rejected["O3"]
