"""Malformed scenario files: a clear message naming the field, exit code 2, nothing cleared."""

import json

import pytest
from oracle_helpers import ROOT, flech
from terminal import flexmarket

from oracle import ScenarioError, clear, load_scenario, parse_scenario


def problems_of(data):
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return dict(info.value.problems)


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (lambda d: d["bids"][2].update(quantity_w="15400"), "bids[2].quantity_w", "valid integer"),
        (lambda d: d["bids"][1].update(quantity_w=12.5), "bids[1].quantity_w", "valid integer"),
        (
            lambda d: d["bids"][0].update(price_eur_per_mw=True),
            "bids[0].price_eur_per_mw",
            "valid integer",
        ),
        (
            lambda d: d["bids"][0].update(quantity_w=-1),
            "bids[0].quantity_w",
            "greater than or equal",
        ),
        (lambda d: d["bids"][0].update(colour="red"), "bids[0].colour", "unknown field"),
        (lambda d: d.update(extra=1), "extra", "unknown field"),
        (lambda d: d["market"].pop("start"), "market.start", "Field required"),
        (lambda d: d["market"].update(start="2014-12-01T16:30:00"), "market.start", "timezone"),
        (lambda d: d["market"].update(pricing="vickrey"), "market.pricing", "pay_as_bid"),
        (lambda d: d["requests"][0].update(direction="sideways"), "requests[0].direction", "'up'"),
        (lambda d: d["participants"][1].update(role="king"), "participants[1].role", "aggregator"),
        (lambda d: d.update(schema="flexmarket.scenario/2"), "schema", "flexmarket.scenario/1"),
        (lambda d: d["bids"][1].update(id="FO1B1"), "bids[1].id", "duplicate id 'FO1B1'"),
        (lambda d: d["assets"][3].update(id="FO1-EV1"), "assets[3].id", "duplicate id"),
        (
            lambda d: d["assets"][0].update(manager="FO9"),
            "assets[0].manager",
            "unknown participant 'FO9'",
        ),
        (lambda d: d["assets"][0].update(zone="T9"), "assets[0].zone", "unknown zone 'T9'"),
        (lambda d: d["assets"][0].update(p_min_w=5000), "assets[0].p_min_w", "above p_max_w"),
        (lambda d: d["requests"][0].update(buyer="FO1"), "requests[0].buyer", "not a buyer"),
        (lambda d: d["requests"][0].update(buyer="X"), "requests[0].buyer", "unknown participant"),
        (lambda d: d["requests"][0].update(zone="T2"), "requests[0].zone", "unknown zone 'T2'"),
        (
            lambda d: d["requests"][0].update(quantity_w=[1000] * 3),
            "requests[0].quantity_w",
            "has 3 values, the market has 14 slots",
        ),
        (lambda d: d["zones"][0].update(limit_w=[1, 2]), "zones[0].limit_w", "has 2 values"),
        (
            lambda d: d["market"].update(price_cap_eur_per_mw=-1),
            "market.price_cap_eur_per_mw",
            "below price_floor",
        ),
    ],
)
def test_malformed_field_is_named(mutate, path, message):
    data = flech()
    mutate(data)
    problems = problems_of(data)
    assert path in problems, problems
    assert message in problems[path]


def test_every_problem_is_reported_at_once():
    data = flech()
    data["bids"][0]["quantity_w"] = "x"
    data["bids"][2]["oops"] = 1
    assert {"bids[0].quantity_w", "bids[2].oops"} <= set(problems_of(data))


def test_bad_json_is_an_error():
    with pytest.raises(ScenarioError, match="invalid JSON"):
        parse_scenario('{"schema": "flexmarket.scenario/1",')


def test_unknown_bid_references_are_rejections_not_errors():
    data = flech()
    data["bids"][0]["seller"] = "FO9"
    data["bids"][1]["zone"] = "T9"
    result = clear(parse_scenario(data))  # a valid file: the bids are rejected when cleared
    reasons = {r.bid: r.reason for r in result.rejected}
    assert reasons["FO1B1"].startswith("seller FO9 is not a registered participant")
    assert reasons["FO2B1"].startswith("zone T9 does not exist")
    assert not {"FO1B1", "FO2B1"} & {a.bid for a in result.awards}


def test_cli_exits_2_naming_the_field_and_prints_no_result(tmp_path):
    data = flech()
    data["bids"][3 - 1]["quantity_w"] = "lots"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = flexmarket("clear", str(bad), "--json")
    assert proc.returncode == 2
    assert "bids[2].quantity_w: Input should be a valid integer" in proc.stderr
    assert proc.stdout == ""


def test_cli_exits_2_on_a_missing_file(tmp_path):
    proc = flexmarket("clear", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_cli_usage_error_exits_2():
    proc = flexmarket("clear")
    assert proc.returncode == 2 and "FILE" in proc.stderr


def test_load_scenario_reads_the_example():
    s = load_scenario(ROOT / "examples" / "flech_powermax.json")
    assert s.market.slots == 14 and len(s.bids) == 3


# --- issue 11 item 14: a key given twice ------------------------------------------------


def test_a_key_given_twice_is_an_error_naming_it():
    text = json.dumps(flech())
    text = text.replace('"quantity_w": 12300', '"quantity_w": 1, "quantity_w": 12300', 1)
    problems = problems_of(text)
    assert problems == {"bids[0].quantity_w": "key given twice"}


def test_cli_exits_2_on_a_key_given_twice(tmp_path):
    bad = tmp_path / "dup.json"
    bad.write_text(json.dumps(flech()).replace('"name":', '"name": "x", "name":', 1))
    proc = flexmarket("clear", str(bad))
    assert proc.returncode == 2 and "name: key given twice" in proc.stderr
    assert proc.stdout == ""


# --- issue 11 item 16: integers the contracts or the solver cannot hold -------------------

from oracle.scenario import EXACT_MAX, FIELD_BOUNDS  # noqa: E402

# one mutation per bounded field: the value just above its bound
_ABOVE = {
    "market.slot_minutes": lambda d, v: d["market"].update(slot_minutes=v),
    "market.min_bid_w": lambda d, v: d["market"].update(min_bid_w=v),
    "market.granularity_w": lambda d, v: d["market"].update(granularity_w=v),
    "market.price_floor_eur_per_mw": lambda d, v: d["market"].update(price_floor_eur_per_mw=v),
    "market.price_cap_eur_per_mw": lambda d, v: d["market"].update(price_cap_eur_per_mw=v),
    "zones[].limit_w": lambda d, v: d["zones"][0].update(limit_w=v),
    "zones[].forecast_w": lambda d, v: d["zones"][0].update(forecast_w=v),
    "assets[].p_max_w": lambda d, v: d["assets"][0].update(p_max_w=v),
    "assets[].p_min_w": lambda d, v: d["assets"][0].update(p_min_w=v),
    "assets[].bus": lambda d, v: d["assets"][0].update(bus=v),
    "requests[].quantity_w": lambda d, v: d["requests"][0].update(quantity_w=v),
    "requests[].max_price_eur_per_mw": lambda d, v: d["requests"][0].update(max_price_eur_per_mw=v),
    "bids[].quantity_w": lambda d, v: d["bids"][0].update(quantity_w=v),
    "bids[].min_quantity_w": lambda d, v: d["bids"][0].update(min_quantity_w=v),
    "bids[].price_eur_per_mw": lambda d, v: d["bids"][0].update(price_eur_per_mw=v),
    "unmet_penalty_eur_per_mw": lambda d, v: d.update(unmet_penalty_eur_per_mw=v),
    "grid.time_step": lambda d, v: d.update(grid={"simbench_code": "x", "time_step": v}),
}


def test_every_bounded_field_has_a_test():
    assert set(_ABOVE) == set(FIELD_BOUNDS)


@pytest.mark.parametrize("field", sorted(FIELD_BOUNDS))
def test_an_integer_above_its_bound_is_an_error_naming_the_field(field):
    data = flech()
    highest = FIELD_BOUNDS[field][1]
    _ABOVE[field](data, highest + 1)
    path = field.replace("[]", "[0]")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    expected = f"{highest + 1} exceeds {highest}, the largest"
    assert any(p == path and m.startswith(expected) for p, m in info.value.problems), info.value


@pytest.mark.parametrize("field", ["bids[].price_eur_per_mw", "requests[].max_price_eur_per_mw",
                                   "market.price_floor_eur_per_mw", "assets[].bus"])
def test_an_integer_below_its_bound_is_an_error_naming_the_field(field):
    data = flech()
    lowest = FIELD_BOUNDS[field][0]
    _ABOVE[field](data, lowest - 1)
    assert f"is below {lowest}" in problems_of(data)[field.replace("[]", "[0]")]


def test_a_negative_bid_price_is_still_a_rejection_not_an_error():
    data = flech()
    data["bids"][0]["price_eur_per_mw"] = -5
    result = clear(parse_scenario(data))  # rule 4 rejects it (below the floor, at least 0)
    assert [(r.bid, r.reason) for r in result.rejected] == [
        ("FO1B1", "price_eur_per_mw -5 is below the floor 0")
    ]


def test_a_request_of_2_53_plus_1_w_is_refused_not_cleared_1_w_off():
    # HiGHS read 2**53 + 1 as 2**53: the result was 1 W off and oracle.check agreed
    data = flech()
    data["requests"][0]["quantity_w"] = 2**53 + 1
    assert "exceeds 1099511627775" in problems_of(data)["requests[0].quantity_w"]


def test_the_largest_quantities_clear_exactly():
    from oracle_helpers import cleared

    data = flech()
    top = FIELD_BOUNDS["bids[].quantity_w"][1]
    data["assets"][0]["p_max_w"] = FIELD_BOUNDS["assets[].p_max_w"][1]
    data["assets"].append(dict(data["assets"][0], id="BIG-2"))
    data["bids"] = [dict(data["bids"][0], quantity_w=2 * FIELD_BOUNDS["assets[].p_max_w"][1] - 1,
                         divisible=True, min_quantity_w=1, price_eur_per_mw=3,
                         assets=["FO1-EV1", "BIG-2"])]
    data["requests"][0]["quantity_w"] = 2 * FIELD_BOUNDS["assets[].p_max_w"][1] - 7
    data["market"].update(slots=1, granularity_w=1)
    assert top > data["requests"][0]["quantity_w"]
    result = cleared(data)
    assert result.awards[0].quantity_w == data["requests"][0]["quantity_w"]
    assert result.unmet == []


def test_watts_adding_up_beyond_2_53_are_refused():
    data = flech()
    data["market"]["slots"] = 8193  # 8193 slots of a 2**40 - 1 W need: above 2**53 W
    data["requests"][0]["quantity_w"] = FIELD_BOUNDS["requests[].quantity_w"][1]
    message = problems_of(data)["requests[0].quantity_w"]
    assert "above 2**53 = 9007199254740992" in message


def test_bid_value_beyond_2_53_is_refused_naming_the_largest_bid():
    data = flech()
    # 12,300 W at 2**56 + 1: 8.9e20 µEUR, 8.9e18 units of the costs' gcd (100), above 2**53
    data["bids"][1]["price_eur_per_mw"] = 2**56 + 1
    message = problems_of(data)["bids[1].price_eur_per_mw"]
    assert "the bids' value" in message and "common divisor 100: above 2**53" in message


def test_the_solver_bound_counts_in_units_of_the_costs_common_divisor():
    data = flech()
    # 2**53 µEUR of bids' value, but every cost a multiple of 100 * 2**10: 2**43 units, exact
    for b in data["bids"]:
        b["price_eur_per_mw"] = EXACT_MAX // (3 * 13_200) // 1024 * 1024
    scenario = parse_scenario(data)
    assert [b.price_eur_per_mw for b in scenario.bids] == [
        EXACT_MAX // (3 * 13_200) // 1024 * 1024
    ] * len(data["bids"])


def test_a_payment_beyond_what_the_contracts_store_is_refused():
    data = flech()
    data["bids"][0]["price_eur_per_mw"] = 2**64 - 1  # x 12,300 W: above uint72
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    assert ("bids[0].price_eur_per_mw", f"price * quantity_w = {(2**64 - 1) * 12_300} µEUR "
            f"exceeds {2**72 - 1}, the largest payment the contracts store (uint72)"
            ) in info.value.problems


def test_a_priced_penalty_whose_objective_exceeds_2_53_is_refused():
    data = flech()
    # the penalty is below the bids' value: it enters the objective, and 37,800 W x 14 slots
    # of unmet at 2**40 reach above 2**53
    data["unmet_penalty_eur_per_mw"] = 2**40
    data["bids"][0]["price_eur_per_mw"] = 2**40 // 12300 + 1
    assert "enters the objective" in problems_of(data)["unmet_penalty_eur_per_mw"]
    data["unmet_penalty_eur_per_mw"] = 10**12 * 10**3  # above the bids' value: left out
    assert "unmet_penalty_eur_per_mw" not in _problems_or_none(data)


def _problems_or_none(data):
    try:
        parse_scenario(data)
    except ScenarioError as exc:
        return dict(exc.problems)
    return {}


def test_cli_exits_2_on_2_70_w_naming_the_field(tmp_path):
    data = flech()
    data["bids"][2]["quantity_w"] = 2**70
    bad = tmp_path / "huge.json"
    bad.write_text(json.dumps(data))
    proc = flexmarket("clear", str(bad))
    assert proc.returncode == 2, proc.stderr
    assert "bids[2].quantity_w: 1180591620717411303424 exceeds 1099511627775" in proc.stderr
    assert "HiGHS" not in proc.stderr and proc.stdout == ""


def test_check_flags_a_scenario_it_cannot_check_exactly():
    from oracle import check, clear

    s = load_scenario(ROOT / "examples" / "flech_powermax.json")
    result = clear(s)
    request = s.requests[0].model_copy(update={"quantity_w": 2**53 + 1})
    bad = s.model_copy(update={"requests": [request]})
    where = {v.where: v.what for v in check(bad, result)}
    assert "exceeds 1099511627775" in where["scenario.requests[0].quantity_w"]


# --- issue 11 item 17: a zone needing up and down in one slot -----------------------------


def _with_down_request(data, quantity_w):
    data["requests"].append(dict(data["requests"][0], id="R-DOWN", direction="down",
                                 quantity_w=quantity_w))
    return data


def test_a_zone_needing_up_and_down_in_one_slot_is_an_error_naming_both():
    data = _with_down_request(flech(), [0] * 3 + [500] + [0] * 10)
    message = problems_of(data)["requests[1]"]
    assert "'R-DOWN' needs down in zone 'T1' in slot 3" in message
    assert "requests[0] 'T1-CAP-RED' needs up" in message


def test_up_and_down_in_different_slots_or_system_wide_are_fine():
    data = flech()
    data["requests"][0]["quantity_w"] = [37800] * 7 + [0] * 7
    _with_down_request(data, [0] * 7 + [500] * 7)
    scenario = parse_scenario(data)
    assert [(r.zone, r.direction) for r in scenario.requests] == [("T1", "up"), ("T1", "down")]
    data = flech()
    data["requests"][0]["zone"] = None
    _with_down_request(data, 500)
    data["requests"][1]["zone"] = None
    scenario = parse_scenario(data)  # a system-wide up and down need: no zone's contradiction
    assert [(r.zone, r.direction) for r in scenario.requests] == [(None, "up"), (None, "down")]


def test_cli_exits_2_on_contradictory_needs(tmp_path):
    bad = tmp_path / "both.json"
    bad.write_text(json.dumps(_with_down_request(flech(), 500)))
    proc = flexmarket("clear", str(bad), "--json")
    assert proc.returncode == 2
    assert "zone 'T1' in slot 0 (and 13 more slots)" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.json")))
def test_every_example_still_loads(name):
    scenario = load_scenario(ROOT / "examples" / name)
    raw = json.loads((ROOT / "examples" / name).read_text())
    assert [b.id for b in scenario.bids] == [b["id"] for b in raw["bids"]]
    assert [r.id for r in scenario.requests] == [r["id"] for r in raw["requests"]]
    assert scenario.market.slots == raw["market"]["slots"] > 0


def test_a_key_given_twice_deep_inside_is_named_with_its_path():
    text = json.dumps(flech())
    text = text.replace('"slot_minutes": 15', '"slot_minutes": 15, "slot_minutes": 5', 1)
    assert '"slot_minutes": 5' in text
    assert problems_of(text) == {"market.slot_minutes": "key given twice"}
    from oracle.jsonio import DuplicateKeyError, loads

    with pytest.raises(DuplicateKeyError) as info:
        loads('{"a": [{"b": 1}, {"c": {"d": 1, "d": 2}}]}')
    assert info.value.field == "a[1].c.d"
    assert loads('{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}
