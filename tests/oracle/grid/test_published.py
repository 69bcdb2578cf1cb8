"""The grid inputs a session publishes (issue 19), one test per input: what every node clears
with, and what a node holding the model finds when one of them is not the model's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import oracle.grid.published as published
from oracle import ScenarioError, parse_scenario
from oracle.canonical import canonical_json
from oracle.grid.clearing import clear_with_grid
from oracle.grid.published import (
    ac_check,
    build_inputs,
    clear_published,
    cut_violations,
    grid_json,
    rederive,
)
from tests.oracle.grid.conftest import EXAMPLE
from tests.oracle.grid.small_grid import small_scenario
from verifier.rebuild import RebuildError, SessionRecord

FILE_INPUT_HASH = "0x4491d199a0d5bcea903318dcb0a7b4d81dc653f3b28272b32892bd09076d3df0"


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text()))


@pytest.fixture(scope="module")
def grid(raw: dict[str, Any]) -> dict[str, Any]:
    """The example's grid object as the DSO publishes it (the scenario's asset ids)."""
    return json.loads(grid_json(build_inputs(parse_scenario(raw))))


def _with(raw: dict[str, Any], grid: dict[str, Any]) -> Any:
    return parse_scenario({**raw, "grid": grid})


def test_the_inputs_pin_the_profile_step_and_name_the_model(grid: dict[str, Any]) -> None:
    assert grid["simbench_code"] == "1-LV-semiurb4--2-sw" and grid["storage"] == "setpoint"
    assert grid["time_step"] == 14012 and "day" not in grid  # 2016-05-26 00:00, not chain time
    inputs = grid["inputs"]
    for key in ("model_hash", "profiles_hash"):
        assert inputs[key].startswith("0x") and len(inputs[key]) == 66
    assert [z["id"] for z in inputs["zones"]][:2] == ["T0", "T0-L9"]
    assert len(inputs["assets"]) == 20 and all(isinstance(a["bus"], int) for a in inputs["assets"])
    cut = inputs["cuts"][0]
    assert set(cut) == {"slot", "element", "kind", "terms", "rhs"}
    assert {c["kind"] for c in inputs["cuts"]} <= {"loading", "vm_max", "vm_min"}
    assert any(c["element"] == "line 34" for c in inputs["cuts"])  # the congested cable


def test_the_published_bytes_are_canonical_integers(grid: dict[str, Any]) -> None:
    body = grid_json(grid)
    assert body == canonical_json(json.loads(body))  # integers only, sorted keys
    assert len(body) < 400_000


def test_files_without_published_inputs_keep_their_hashes(raw: dict[str, Any]) -> None:
    assert parse_scenario(raw).input_hash() == FILE_INPUT_HASH


def test_every_node_clears_the_published_cuts_as_the_model_clearing_does(
    raw: dict[str, Any], grid: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = clear_with_grid(parse_scenario(raw))

    def no_model(*_: Any, **__: Any) -> Any:
        raise AssertionError("clearing with published cuts needs no network model")

    monkeypatch.setattr(published, "load_model", no_model)
    first, cuts = clear_published(_with(raw, grid))
    again, _ = clear_published(_with(raw, json.loads(grid_json(grid))))
    assert {a.bid: a.quantity_w for a in first.awards} == {
        a.bid: a.quantity_w for a in reference.awards}
    assert first.result_hash == again.result_hash  # the same bytes: the same result
    assert first.grid_check is None  # no AC figures: a node without the model agrees
    assert cut_violations(cuts, {a.bid: a.quantity_w for a in first.awards}) == []


def test_an_award_set_that_breaks_a_published_cut_is_named(
    raw: dict[str, Any], grid: dict[str, Any]
) -> None:
    result, cuts = clear_published(_with(raw, grid))
    awards = {a.bid: a.quantity_w for a in result.awards}
    dropped = max(awards, key=lambda b: awards[b])
    found = cut_violations(cuts, {**awards, dropped: 0})  # less relief than the cable needs
    assert found and all(v.startswith("grid: line 3") for v in found[:1])
    assert "break a published cut" in found[0]


def test_a_bid_whose_asset_is_not_on_the_published_grid_gets_no_award(
    raw: dict[str, Any], grid: dict[str, Any]
) -> None:
    result, _ = clear_published(_with(raw, grid))
    bids = {b["id"]: b for b in raw["bids"]}
    awarded = result.awards[0].bid
    asset = bids[awarded]["assets"][0]
    g = copy.deepcopy(grid)
    g["inputs"]["assets"] = [a for a in g["inputs"]["assets"] if a["id"] != asset]
    again, cuts = clear_published(_with(raw, g))
    assert all(bids[a.bid]["assets"][0] != asset for a in again.awards)
    assert any(f"asset {asset} is not on the published grid" in p.cut.name for p in cuts)


def test_a_node_with_the_model_rederives_every_published_input(
    raw: dict[str, Any], grid: dict[str, Any]
) -> None:
    found = rederive(_with(raw, grid))
    assert found.violations == [] and found.notes == [] and found.model is not None


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(g: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node: Any = g
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value(node[int(last) if last.isdigit()
                                                                 else last])
    return change


def _drop_cut(g: dict[str, Any]) -> None:
    g["inputs"]["cuts"] = [c for c in g["inputs"]["cuts"]
                           if not (c["element"] == "line 34" and c["slot"] == 45)]


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (_set("inputs.model_hash", lambda _: "0x" + "ab" * 32), "grid.inputs.model_hash"),
        (_set("inputs.profiles_hash", lambda _: "0x" + "cd" * 32), "grid.inputs.profiles_hash"),
        (_set("time_step", lambda t: t + 96), "grid.inputs.profiles_hash"),  # another day
        (_set("inputs.assets.0.p_max_w", lambda p: p + 1000), "grid.inputs.assets[0].p_max_w"),
        (_set("inputs.assets.0.bus", lambda b: 38 if b != 38 else 39), "grid.inputs.cuts"),
        (_set("inputs.zones.2.forecast_w", lambda f: [x + 5000 for x in f]),
         "grid.inputs.zones[2].forecast_w"),
        (_set("loading_limit_percent", lambda _: 120), "].rhs: "),  # the limits
        (_set("inputs.cuts.0.rhs", lambda r: r * 2 + 10**12), "grid.inputs.cuts[0].rhs"),
        (_set("inputs.cuts.0.terms", lambda t: [[b, c * 2] for b, c in t]),
         "grid.inputs.cuts[0].terms"),
        (_set("inputs.cuts.0.element", lambda _: "line 999"), "is not a row of the model"),
        (_drop_cut, "grid.inputs.cuts: line 34 slot 45 loading is not published"),
    ],
    ids=["model-hash", "profiles-hash", "time-step", "asset-rating", "asset-bus",
         "zone-forecast", "limits", "cut-rhs", "cut-coefficient", "cut-element", "cut-missing"],
)
def test_a_published_input_that_is_not_the_models_is_found(
    raw: dict[str, Any], grid: dict[str, Any], change: Callable[[dict[str, Any]], None],
    finding: str,
) -> None:
    g = copy.deepcopy(grid)
    change(g)
    found = rederive(_with(raw, g))
    assert any(finding in v for v in found.violations or []), found.violations


def test_the_ac_check_finds_an_award_that_overloads_a_line(small_grid_file: Path) -> None:
    raw = small_scenario(small_grid_file)
    g = json.loads(grid_json(build_inputs(parse_scenario(raw))))
    scenario = _with(raw, g)
    found = rederive(scenario)
    assert found.violations == []
    bad, _, figures = ac_check(scenario, found.model, found.solver, {"B-BAT": 80_000})
    assert len(bad) == 1 and bad[0].startswith("grid: AC check: line 1 slot 0 loading 11")
    assert figures["ok"] is False
    good, notes, figures = ac_check(scenario, found.model, found.solver, {"B-SHOP": 40_000})
    assert good == [] and notes == [] and figures["ok"] is True


def test_malformed_published_inputs_are_refused_naming_the_field(
    raw: dict[str, Any], grid: dict[str, Any]
) -> None:
    g = copy.deepcopy(grid)
    g["inputs"]["cuts"][0]["rhs"] = 1.5
    with pytest.raises(ScenarioError, match=r"grid\.inputs\.cuts\[0\]\.rhs"):
        _with(raw, g)
    g = copy.deepcopy(grid)
    g["inputs"]["cuts"][0]["note"] = "x"
    with pytest.raises(ScenarioError, match=r"grid\.inputs\.cuts\[0\]\.note: unknown field"):
        _with(raw, g)
    g = copy.deepcopy(grid)
    g["inputs"]["assets"].append(dict(g["inputs"]["assets"][0]))
    with pytest.raises(ScenarioError, match="listed twice"):
        _with(raw, g)


def _record(grid: bytes) -> SessionRecord:
    params = {"marketId": "0x" + "00" * 32, "product": "0x" + "00" * 32, "pricing": 0,
              "deliveryStart": 1_700_000_000, "slotMinutes": 15, "slotCount": 1, "minBidW": 0,
              "granularityW": 1, "priceFloorEurPerMw": 0, "priceCapEurPerMw": 2**64 - 1,
              "unmetPenaltyEurPerMw": 1}
    rec = SessionRecord(1, "0x" + "11" * 20, params, 1)
    rec.grid = "0x" + grid.hex()
    return rec


def test_a_published_grid_that_is_not_a_json_object_with_inputs_is_a_rebuild_error() -> None:
    with pytest.raises(RebuildError, match="published grid is not JSON"):
        _record(b"\xff not json").scenario(31337, "0x" + "22" * 20)
    with pytest.raises(RebuildError, match="an object with inputs expected"):
        _record(b'{"simbench_code":"x"}').scenario(31337, "0x" + "22" * 20)
    body = _record(b'{"inputs":{},"simbench_code":"x"}').scenario(31337, "0x" + "22" * 20)
    assert body["grid"] == {"inputs": {}, "simbench_code": "x"}  # parsed (and checked) later


def test_models_are_cached_in_memory_and_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: dict[str, Any]
) -> None:
    monkeypatch.setenv(published.CACHE_ENV, str(tmp_path))
    key = published.ModelKey("1-LV-semiurb4--2-sw", 14012, None, 0, 4, "setpoint")
    monkeypatch.setattr(published, "_MODELS", {})
    model, solver = published.load_model(key)
    assert published.load_model(key)[0] is model  # in memory
    assert len(list(tmp_path.glob("*.pickle"))) == 1
    monkeypatch.setattr(published, "_MODELS", {})  # a new process: from the disk

    def no_build(*_: Any, **__: Any) -> Any:
        raise AssertionError("built again")

    monkeypatch.setattr("oracle.grid.model.build_model", no_build)
    again, _ = published.load_model(key)
    assert published.model_hash(again) == published.model_hash(model)
    assert published.profiles_hash(again) == published.profiles_hash(model)


def test_demo_exits_1_when_the_validators_do_not_make_the_result_final(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import nodes.demo as demo
    from flexmarket.cli import demo_exit_code, main

    assert demo_exit_code({"verification": {"ok": True}}) == 0
    assert demo_exit_code({}) == 0  # no validator nodes
    out: dict[str, Any] = {}

    def fake_run(raw: Any, clear: Any, chain: Any, **kwargs: Any) -> dict[str, Any]:
        return out

    monkeypatch.setattr(demo, "run_session", fake_run)
    out.update({"verification": {"ok": False}})
    assert main(["demo", "--json"]) == 1
