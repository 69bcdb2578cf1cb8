"""Grid inputs over HTTP (issue 19): the session operator publishes a session's grid inputs
(`POST /sessions/{id}/grid` with `{"grid": ...}`: the route checks the grid object, 422
naming the field, and prepares one `publishGrid` transaction per 64 KiB part, signed and
submitted in order);
anyone signed in reads what was published (`GET`); nobody else publishes (403), nor after
gate closure (409), nor a second time (409 FlexMarketGridExists); a body above
`max_body_bytes` is 413 naming `body`. The indexer projects the publication (parts received
of their count, the hash of the joined bytes). On a real anvil."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from oracle.canonical import keccak_hex
from oracle.grid.published import GRID_PART_BYTES, grid_json
from oracle.grid_spec import GridSpec
from python_client.http import HttpClient
from tests.api.conftest import participant
from verifier.indexer import run_indexer
from verifier.store import Database

PROBLEM = "application/problem+json"
PHASE_S = 120


def _grid(cuts: int) -> dict[str, Any]:
    return {
        "simbench_code": "1-LV-semiurb4--2-sw", "time_step": 14012,
        "inputs": {
            "model_hash": "0x" + "11" * 32, "profiles_hash": "0x" + "22" * 32,
            "assets": [{"id": "0x" + "33" * 32, "bus": 4, "p_max_w": 50_000}],
            "zones": [{"id": "T1", "element": "trafo 0", "limit_w": 400_000,
                       "forecast_w": [250_000]}],
            "cuts": [{"slot": 0, "element": f"line {i}", "kind": "loading",
                      "terms": [[4, 1_234_567_890 + i]], "rhs": 99_000_000_000_000}
                     for i in range(cuts)],
        },
    }  # fmt: skip


@pytest.fixture(scope="module")
def people(api: dict[str, Any]) -> dict[str, HttpClient]:
    c = {"admin": participant(api, 0), "operator": participant(api, 1),
         "dso": participant(api, 3), "other": participant(api, 5)}  # fmt: skip
    for client in c.values():
        client.sign_in()
    c["admin"].grant_role(c["operator"].address, "ORACLE")
    c["admin"].grant_role(c["dso"].address, "DSO")
    return c


def _now(api: dict[str, Any]) -> int:
    return int(api["w3"].eth.get_block("latest")["timestamp"])


def _open(api: dict[str, Any], operator: HttpClient) -> dict[str, Any]:
    now = _now(api)
    sid = operator.open_session({
        "market_id": "grid-test", "product": "congestion", "pricing": "pay_as_bid",
        "slot_count": 1, "slot_minutes": 15,
        "delivery_start": now + 4 * PHASE_S, "bidding_end": now + PHASE_S,
        "reveal_deadline": now + 2 * PHASE_S, "clearing_deadline": now + 3 * PHASE_S,
        "min_bid_w": 1, "granularity_w": 1, "bid_bond_ueur": 1, "collateral_ueur_per_w": 1,
        "shortfall_penalty_eur_per_mw": 1, "tolerance_bps": 0,
        "unmet_penalty_eur_per_mw": 10**12, "attestation_quorum": 1,
    })  # fmt: skip
    return operator.session(sid)


def _raw(api: dict[str, Any], c: HttpClient, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {c.token}", **kw.pop("headers", {})}
    r = api["client"].request(method, path, headers=headers, **kw)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
    return r


def _field(r: Any) -> str:
    return str(r.json()["errors"][0]["field"])


def test_the_operator_publishes_in_parts_and_the_indexer_projects_it(
    api: dict[str, Any], people: dict[str, HttpClient], tmp_path: Path
) -> None:
    operator, other = people["operator"], people["other"]
    session = _open(api, operator)
    sid = session["session_id"]
    path = f"/sessions/{sid}/grid"
    r = _raw(api, other, "GET", path)
    assert r.status_code == 404
    grid = _grid(1_800)  # ~170 KB canonical: 3 parts
    body = grid_json(GridSpec.model_validate_json(json.dumps(grid)))
    assert 2 * GRID_PART_BYTES < len(body) < 3 * GRID_PART_BYTES
    # nobody but the session's operator (the DSO and the admin neither)
    for who in (other, people["dso"], people["admin"]):
        r = _raw(api, who, "POST", path, json={"grid": grid})
        assert r.status_code == 403 and _field(r) == "session_id", r.text
    mined = operator.write(path, {"grid": grid})
    assert [e["name"] for t in mined for e in t["events"]] == ["GridPublished"] * 3
    assert [e["args"]["partIndex"] for t in mined for e in t["events"]] == [0, 1, 2]
    read = _raw(api, other, "GET", path).json()
    assert read["complete"] is True and read["part_count"] == 3
    assert [p["part_index"] for p in read["parts"]] == [0, 1, 2]
    assert read["size_bytes"] == len(body) and read["joined_hash"] == keccak_hex(body)
    assert read["grid"] == json.loads(body) and read["operator"] == operator.address
    # a second time: the contract refuses (409 naming its error), nothing sent
    r = _raw(api, operator, "POST", path, json={"grid": grid})
    assert r.status_code == 409 and r.json()["error"] == "FlexMarketGridExists", r.text

    # the indexer: which sessions published grid inputs, parts of count, the joined hash
    deployment = json.loads(Path(api["settings"].deployment_file).read_text())
    db_url = f"sqlite:///{tmp_path}/index.sqlite3"
    run_indexer(api["chain"].url, db_url, deployment)
    with Database(db_url) as db:
        rows = db.query("SELECT session_id, parts, part_count, complete, size_bytes, "
                        "joined_hash FROM v_grid_publications")  # fmt: skip
    assert [tuple(x) for x in rows] == [(sid, 3, 3, 1, len(body), keccak_hex(body))]


def test_bad_grid_inputs_are_422_naming_the_field_and_nothing_is_published(
    api: dict[str, Any], people: dict[str, HttpClient]
) -> None:
    operator = people["operator"]
    session = _open(api, operator)
    sid = session["session_id"]
    path = f"/sessions/{sid}/grid"
    good = _grid(2)
    inputs = good["inputs"]
    bad: list[tuple[Any, str]] = [
        ({k: v for k, v in good.items() if k != "inputs"}, "inputs"),
        ({**good, "inputs": {**inputs, "model_hash": "0x12"}}, "inputs.model_hash"),
        ({**good, "inputs": {**inputs, "cuts": [{**inputs["cuts"][0], "rhs": 1.5}]}},
         "inputs.cuts.0.rhs"),
        ({**good, "inputs": {**inputs, "cuts": [{**inputs["cuts"][0], "kind": "x"}]}},
         "inputs.cuts.0.kind"),
        ({**good, "inputs": {**inputs, "cuts": [{**inputs["cuts"][0], "terms": []}]}},
         "inputs.cuts.0.terms"),
        ({**good, "colour": "red"}, "colour"),
        ({**good, "loading_limit_percent": 0}, "loading_limit_percent"),
    ]  # fmt: skip
    for body, field in bad:
        r = _raw(api, operator, "POST", path, json={"grid": body})
        assert r.status_code == 422 and _field(r) == f"grid.{field}", (field, r.text)
    for body, field in (([good], "body"), ({"grid": [good]}, "grid"), ({}, "grid"),
                        ({"grid": good, "x": 1}, "x")):  # fmt: skip
        r = _raw(api, operator, "POST", path, json=body)
        assert r.status_code == 422 and _field(r) == field, (field, r.text)
    # too large for the API's body limit: 413 naming body (the SDK publishes such grids)
    huge = _grid(7_000)  # ~0.6 MB
    assert len(json.dumps(huge)) > api["settings"].max_body_bytes
    r = _raw(api, operator, "POST", path, json={"grid": huge})
    assert r.status_code == 413 and _field(r) == "body", r.text
    assert _raw(api, operator, "GET", path).status_code == 404  # nothing published
    # after gate closure: 409 naming the session
    api["chain"].warp_to(session["bidding_end"])
    api["app"].state.gateway.forget_clock()
    r = _raw(api, operator, "POST", path, json={"grid": good})
    assert r.status_code == 409 and r.json()["type"].endswith("bidding-closed"), r.text
    assert _field(r) == "session_id"
