"""Metering over HTTP (issue 11 §5): the metering operator records a delivery and corrects
it within the session's correction window (`POST /sessions/{id}/metering/{award_index}/
correction`, a prepared transaction signed with its own key); settlement waits for the
window and pays the corrected value; after the window a correction is 409
`FlexMarketCorrectionWindowClosed`; a missing or zero evidence hash is 422 naming
`evidence_hash`; anyone without the METERING role is 403.

The session is built on a real anvil with the participants' own clients and cleared by the
oracle service (tests/verifier/verify_helpers.py), then served by the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nodes.service import OracleService
from nodes.validator import validate_once
from python_client.http import HttpClient
from python_client.localchain import start_chain
from tests.api.conftest import app_settings, checked_request, numbers
from tests.verifier.verify_helpers import Market, build_market

WINDOW_S = 60
EVIDENCE = "0x" + "ab" * 32
CORRECTED_EVIDENCE = "0x" + "cd" * 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with start_chain("anvil", accounts=12) as chain:
        tmp = tmp_path_factory.mktemp("metering")
        m = build_market(chain, tmp, {"s": {"correction_window_s": WINDOW_S}})
        OracleService(chain.url, m.oracle_key, m.deployment_file).step()
        for k in m.validator_keys[:3]:
            validate_once(chain.url, m.deployment_file, k, sessions=[m.sessions["s"]])
        assert m.status("s") == 3  # Final
        settings = app_settings(chain.url, m.deployment_file, m.keys[11], tmp)
        app = create_app(settings)
        with TestClient(app) as client:
            metering = HttpClient("http://testserver", m.keys[2], client=client)
            dso = HttpClient("http://testserver", m.keys[3], client=client)
            for c in (metering, dso):
                c.sign_in()
            yield {"market": m, "app": app, "client": client, "metering": metering, "dso": dso}


def _warp(s: dict[str, Any], seconds: int) -> None:
    """Move the fixture chain's clock (the test harness, not a participant)."""
    m: Market = s["market"]
    m.chain.warp_to(int(m.contracts.w3.eth.get_block("latest")["timestamp"]) + seconds)
    s["app"].state.gateway.forget_clock()


def _raw(s: dict[str, Any], c: HttpClient, path: str, body: Any) -> Any:
    return checked_request(s["client"], c, "POST", path, body)


def _fields_named(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem.get("errors", [])} | {problem.get("field")}


def test_record_correct_within_the_window_and_settle_the_corrected_value(
    setup: dict[str, Any],
) -> None:
    m: Market = setup["market"]
    metering: HttpClient = setup["metering"]
    dso: HttpClient = setup["dso"]
    sid = m.sessions["s"]
    awards = numbers(dso.result(sid))["awards"]
    quantity = {a["award_index"]: a["quantity_w"] for a in awards}
    payment = {a["award_index"]: a["payment_ueur"] for a in awards}
    assert sorted(quantity) == [0, 1]
    short = {i: q // 10 for i, q in quantity.items()}  # beyond the 5 % tolerance
    metering.record_deliveries(sid, short, EVIDENCE)
    url = f"/sessions/{sid}/metering/1/correction"

    # bad input: 4xx naming the field, nothing sent
    for body, field in (
        ({"delivered_w": quantity[1]}, "evidence_hash"),
        ({"delivered_w": quantity[1], "evidence_hash": "0x" + "00" * 32}, "evidence_hash"),
        ({"delivered_w": -1, "evidence_hash": EVIDENCE}, "delivered_w"),
        ({"delivered_w": quantity[1], "evidence_hash": EVIDENCE, "previous_w": 1}, "previous_w"),
    ):
        r = _raw(setup, metering, url, body)
        assert r.status_code == 422, r.text
        assert field in _fields_named(r.json()), r.json()
    r = _raw(setup, metering, f"/sessions/{sid}/metering", {
        "deliveries": [{"award_index": 0, "delivered_w": 1}], "evidence_hash": "0x" + "00" * 32})
    assert r.status_code == 422 and "evidence_hash" in _fields_named(r.json()), r.text
    # only the metering operator (role read from the chain)
    r = _raw(setup, dso, url, {"delivered_w": quantity[1], "evidence_hash": EVIDENCE})
    assert r.status_code == 403 and r.json()["type"].endswith("role-required"), r.text

    # the window is open: settlement waits, a correction goes through
    r = _raw(setup, dso, f"/sessions/{sid}/settlements", {"from_index": 0, "count": 2})
    assert r.status_code == 409 and r.json()["error"] == "FlexMarketCorrectionWindowOpen", r.text
    mined = metering.correct_delivery(sid, 1, quantity[1], CORRECTED_EVIDENCE)
    events = [e for tx in mined for e in tx["events"]]
    corrected = [e for e in events if e["name"] == "DeliveryCorrected"]
    assert len(corrected) == 1, events
    args = corrected[0]["args"]
    assert int(args["previousW"]) == short[1] and int(args["deliveredW"]) == quantity[1]

    # after the window: 409 naming the contract's error, nothing changed
    _warp(setup, WINDOW_S + 1)
    r = _raw(setup, metering, f"/sessions/{sid}/metering/0/correction",
             {"delivered_w": quantity[0], "evidence_hash": CORRECTED_EVIDENCE})  # fmt: skip
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "FlexMarketCorrectionWindowClosed", r.json()

    dso.settle(sid)
    settled = numbers(dso.settlements(sid))
    text = json.dumps(settled)
    by_index = {a["award_index"]: a for a in settled["awards"]}
    assert all(a["settled"] for a in by_index.values()), text
    # award 1: the corrected, full delivery, paid in full; award 0: the recorded shortfall
    assert _totals(by_index[1]) == (payment[1], 0, 0), text
    paid0, refund0, penalty0 = _totals(by_index[0])
    assert paid0 == payment[0] // quantity[0] * short[0] and refund0 == payment[0] - paid0
    assert penalty0 > 0


def _totals(award: dict[str, Any]) -> tuple[int, int, int]:
    return award["paid_ueur"], award["refund_ueur"], award["penalty_ueur"]


def test_the_correction_route_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    assert "/metering/{award_index}/correction" in text
