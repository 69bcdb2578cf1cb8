"""A `balance_dso` TSO-DSO session on anvil, end to end (issue 7): the three-area case with
counter-activations. The DSO posts a balancing need per direction (no quantities: a budget
for counter-activations); the counter-activation D1C (15 kW down in T1, which no request
counted) is charged to its balancing down need, every other award to the requests' needs as
the engine's `shares` say; validators attest; each buyer's escrow pays exactly its shares,
sellers are paid once, every budget (the balancing needs' included) is released. A commit
that charges the counter-activation to another need, or an award that served requests to the
balancing need, is accepted by the contract (the sums and eligibility hold) and disputed by
the validators."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from shares_chain_helpers import assert_paid_as_shared, clear_dict, recording

from nodes.demo import DEPOSIT_UEUR, run_session
from nodes.rows import award_rows
from oracle.coordination import clear_coordinated
from oracle.scenario import parse_scenario
from python_client.chain import Contracts, Deployment, connect
from python_client.localchain import start_chain
from python_client.records import AwardRow
from verifier.rebuild import rebuild
from verifier.verify import verify_chain

ROOT = Path(__file__).resolve().parents[2]
BALANCED = json.loads((ROOT / "examples" / "tso_dso_three_areas_balanced.json").read_text())
D1C_PAYMENT = 15_000 * 60_000  # the counter-activation: 900 EUR
D1B = (4_000, 120_000)  # quantity, price: a down award the TSO's request counted


def test_the_example_is_the_three_area_case_with_balance_dso() -> None:
    plain = json.loads((ROOT / "examples" / "tso_dso_three_areas.json").read_text())
    plain["market"]["balance_dso"] = True
    assert {k: v for k, v in BALANCED.items() if k != "name"} == {
        k: v for k, v in plain.items() if k != "name"}  # fmt: skip
    result = clear_dict(BALANCED)
    counters = [r for r in result["shares"] if r["received_w_slots"] == 0]
    assert counters == [{"bid": "D1C", "buyer": "DSO1", "received_w_slots": 0,
                         "payment_ueur": D1C_PAYMENT}]  # fmt: skip


def test_a_balance_dso_session_charges_its_counter_activation_to_the_balancing_need() -> None:
    scenario = json.loads(json.dumps(BALANCED))
    expected = clear_dict(scenario)
    reports: list[Any] = []
    with start_chain("anvil", accounts=20) as local:
        out = run_session(scenario, clear_dict, local, validate=recording(reports))
        chain = out["chain"]
        deployment = {"chain_id": chain["chain_id"], "contracts": chain["contracts"]}
        sid = chain["session_id"]
        after = verify_chain(local.url, deployment, sessions=[sid])
        contracts = Contracts(connect(local.url), Deployment.from_json(deployment))
        needs = chain["needs"]
        views = {name: contracts.market.functions.need(sid, i).call() for name, i in needs.items()}
        state = rebuild(local.url, chain["contracts"])
    assert out["result_hash"] == expected["result_hash"]
    v = out["verification"]
    assert v["ok"] and v["status"] == "Final" and v["attestations"] == 3, v
    (report,) = reports
    assert report.ok, report.render()
    # the DSO's balancing needs: system-wide, flagged, the down one paid D1C exactly
    assert set(needs) == {"T2-CONG", "T3-CONG", "T3-PV", "TSO-UP", "TSO-DOWN",
                          "DSO1/balancing-up", "DSO1/balancing-down"}  # fmt: skip
    for name, (_, money) in views.items():
        assert money[3] is name.startswith("DSO1/balancing-"), name  # the balancing flag
        assert money[2] is True, name  # every budget released
    assert views["DSO1/balancing-down"][1][1] == D1C_PAYMENT  # committed: the counter-activation
    assert views["DSO1/balancing-up"][1][1] == 0
    assert views["DSO1/balancing-down"][0][1] == 0  # system-wide
    # each buyer's escrow paid exactly its shares, the counter-activation with the DSO's
    assert_paid_as_shared(chain, expected, DEPOSIT_UEUR)
    assert after.ok, after.render()
    (session,) = after.sessions
    assert session.settlements["checked"] == len(expected["awards"])
    assert session.settlements["mismatches"] == []
    # the session rebuilt from chain: the balancing needs are no requests, but known; the
    # oracle service's rows from it charge the counter-activation to the balancing need
    rec = state.sessions[sid]
    assert rec.balancing_needs == {needs["DSO1/balancing-up"], needs["DSO1/balancing-down"]}
    rebuilt = parse_scenario(state.scenario(sid))
    assert len(rebuilt.requests) == 5 and rebuilt.market.balance_dso
    own = clear_coordinated(rebuilt)
    assert own.total_cost_ueur == expected["total_cost_ueur"]
    rows = award_rows(rebuilt, rec.needs, own)
    on_balancing = [r for r in rows if r.need in rec.balancing_needs]
    assert [(r.need, r.quantity_w, r.charged_ueur) for r in on_balancing] == [
        (needs["DSO1/balancing-down"], 15_000, D1C_PAYMENT)]  # fmt: skip
    committed = []
    for a in rec.awards:
        committed.append((a.bid, a.need, a.quantity_w, a.parts()[0][2]))
        committed += [(a.bid, n, 0, amount) for n, _, amount in a.shares]
    assert sorted(committed) == sorted(
        (r.bid, r.need, r.quantity_w, r.charged_ueur) for r in rows)  # fmt: skip


def _counter_to_the_tso(rows: list[AwardRow], needs: dict[str, int]) -> list[AwardRow]:
    """D1C, the counter-activation, charged to the TSO's down need (eligible on chain:
    down, system-wide; its slots are not checked there)."""
    down = needs["DSO1/balancing-down"]
    return [dataclasses.replace(r, need_index=needs["TSO-DOWN"]) if r.need_index == down else r
            for r in rows]  # fmt: skip


def _award_to_the_balancing_need(rows: list[AwardRow], needs: dict[str, int]) -> list[AwardRow]:
    """D1B, which the TSO's down request counted, charged to the DSO's balancing down need."""
    hit = [r for r in rows if (r.quantity_w, r.price_eur_per_mw) == D1B]
    assert len(hit) == 1 and hit[0].need_index == needs["TSO-DOWN"]
    return [dataclasses.replace(r, need_index=needs["DSO1/balancing-down"]) if r in hit else r
            for r in rows]  # fmt: skip


@pytest.mark.parametrize(
    ("tamper", "violation"),
    [
        (_counter_to_the_tso, "is a counter-activation (no request counted its watts), "
                              "900000000 µEUR of it charged to need-4, not a balancing need"),
        (_award_to_the_balancing_need, "served requests, 480000000 µEUR of it charged to the "
                                       "balancing need need-6"),
    ],
)  # fmt: skip
def test_validators_dispute_a_balancing_need_charged_for_the_wrong_awards(
    tamper: Callable[[list[AwardRow], dict[str, int]], list[AwardRow]], violation: str
) -> None:
    reports: list[Any] = []
    out = run_session(json.loads(json.dumps(BALANCED)), clear_dict, "anvil",
                      validate=recording(reports), tamper_rows=tamper)  # fmt: skip
    assert out["chain"]["needs"]["TSO-DOWN"] == 4
    assert out["chain"]["needs"]["DSO1/balancing-down"] == 6
    v = out["verification"]
    assert not v["ok"] and v["status"] == "Disputed" and v["disputes"] == 1, v
    (report,) = reports
    assert not report.ok
    violations = report.sessions[0].violations
    balancing = [x for x in violations if x.startswith("balancing: ")]
    assert len(balancing) == 1 and violation in balancing[0], violations
    # the payment moved between buyers: the shares check says so as well
    assert all(x.startswith(("balancing: ", "shares: ")) for x in violations), violations
    assert "settle" not in out["chain"]["tx"]  # a disputed result is not paid
