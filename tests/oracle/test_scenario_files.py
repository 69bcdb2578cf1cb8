"""Malformed scenario files: a clear message naming the field, exit code 2, nothing cleared."""

import json
import subprocess
import sys

import pytest
from oracle_helpers import ROOT, flech

from oracle import ScenarioError, load_scenario, parse_scenario


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
    parse_scenario(data)  # valid file; the bids are rejected when cleared


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "flexmarket", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_cli_exits_2_naming_the_field_and_prints_no_result(tmp_path):
    data = flech()
    data["bids"][3 - 1]["quantity_w"] = "lots"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = run_cli("clear", str(bad), "--json")
    assert proc.returncode == 2
    assert "bids[2].quantity_w: Input should be a valid integer" in proc.stderr
    assert proc.stdout == ""


def test_cli_exits_2_on_a_missing_file(tmp_path):
    proc = run_cli("clear", str(tmp_path / "nope.json"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_cli_usage_error_exits_2():
    proc = run_cli("clear")
    assert proc.returncode == 2 and "FILE" in proc.stderr


def test_load_scenario_reads_the_example():
    s = load_scenario(ROOT / "examples" / "flech_powermax.json")
    assert s.market.slots == 14 and len(s.bids) == 3
