"""Who pays is verified (issue 11 §3): one payer rule for every session (`oracle.payers`),
applied by the oracle service, the demo and every replica.

Two DSOs buy in one session: DSO-A has a need in its zone T1, DSO-B a system-wide need (the
contracts let a DSO post zonal needs only in its own zones); both needs may be served by
either bid of T1. The payer rule serves DSO-A first (its need was posted first) with the
cheaper bid X, DSO-B with Y: each pays for the watts its own need received. A commit that
swaps the payers (X charged to DSO-B's need, Y to DSO-A's) is accepted by the contract (each
need may pay either bid, budgets hold) and disputed by the validators; the honest one is
attested, final and settled, each DSO paying exactly its share. Before issue 11 the demo
charged both awards to the first eligible need and no node checked who pays."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from nodes.demo import DEPOSIT_UEUR, run_session
from nodes.rows import award_rows
from oracle import clear, load_scenario, parse_scenario
from oracle.payers import payer_shares
from python_client.localchain import start_chain
from python_client.records import AwardRow
from tests.nodes.shares_chain_helpers import recording
from verifier.rebuild import rebuild
from verifier.verify import verify_chain

X_UEUR = 10_000 * 100_000  # 1,000 EUR
Y_UEUR = 10_000 * 200_000  # 2,000 EUR

TWO_DSOS: dict[str, Any] = {
    "schema": "flexmarket.scenario/1",
    "name": "two DSOs buying in one session",
    "market": {"id": "T1-two-dsos", "product": "PowerMax", "pricing": "pay_as_bid",
               "start": "2026-01-05T17:00:00+00:00", "slot_minutes": 15, "slots": 2,
               "min_bid_w": 1_000, "granularity_w": 100},
    "participants": [{"id": "DSO-A", "role": "DSO"}, {"id": "DSO-B", "role": "DSO"},
                     {"id": "AG1", "role": "aggregator"}],
    "zones": [{"id": "T1", "limit_w": 100_000}],
    "assets": [{"id": f"AG1-EV{i}", "manager": "AG1", "type": "load", "p_max_w": 10_000,
                "p_min_w": 0, "zone": "T1"} for i in (1, 2)],
    "requests": [
        {"id": "rA", "buyer": "DSO-A", "zone": "T1", "direction": "up", "quantity_w": 10_000},
        {"id": "rB", "buyer": "DSO-B", "zone": None, "direction": "up", "quantity_w": 10_000},
    ],
    "bids": [
        {"id": "X", "seller": "AG1", "zone": "T1", "direction": "up", "quantity_w": 10_000,
         "divisible": False, "price_eur_per_mw": 100_000, "assets": ["AG1-EV1"],
         "submitted_at": "2026-01-05T10:00:00+00:00"},
        {"id": "Y", "seller": "AG1", "zone": "T1", "direction": "up", "quantity_w": 10_000,
         "divisible": False, "price_eur_per_mw": 200_000, "assets": ["AG1-EV2"],
         "submitted_at": "2026-01-05T10:01:00+00:00"},
    ],
    "unmet_penalty_eur_per_mw": 10_000_000,
}  # fmt: skip


def _clear(scenario: Mapping[str, Any]) -> dict[str, Any]:
    return clear(load_scenario(dict(scenario))).to_json_dict()


def _by_bid(shares: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {}
    for row in shares:
        out.setdefault(row["bid"], []).append((row["buyer"], row["payment_ueur"]))
    return out


def test_the_payer_rule_serves_buyers_in_need_order_whatever_the_participant_order() -> None:
    scenario = parse_scenario(TWO_DSOS)
    result = clear(scenario)
    assert {a.bid for a in result.awards} == {"X", "Y"}
    expected = {"X": [("DSO-A", X_UEUR)], "Y": [("DSO-B", Y_UEUR)]}
    assert _by_bid(payer_shares(scenario, result)) == expected
    # the participants listed the other way round: the order of the needs decides (on
    # chain the participants of a rebuilt session come in need order), not the listing
    swapped = copy.deepcopy(TWO_DSOS)
    swapped["participants"][:2] = swapped["participants"][1::-1]
    other = parse_scenario(swapped)
    assert _by_bid(payer_shares(other, clear(other))) == expected


def test_each_dso_pays_its_own_share_and_the_service_commits_the_same_rows() -> None:
    reports: list[Any] = []
    with start_chain("anvil", accounts=16) as local:
        out = run_session(copy.deepcopy(TWO_DSOS), _clear, local, validate=recording(reports))
        deployment = {"chain_id": out["chain"]["chain_id"], "contracts": out["chain"]["contracts"]}
        sid = out["chain"]["session_id"]
        state = rebuild(local.url, out["chain"]["contracts"])
        after = verify_chain(local.url, deployment, sessions=[sid])
    (report,) = reports
    assert report.ok, report.render()
    v = out["verification"]
    assert v["ok"] and v["status"] == "Final", v
    assert out["chain"]["payments_ueur"] == {"DSO-A": X_UEUR, "DSO-B": Y_UEUR}
    assert out["chain"]["balances_ueur"]["DSO-B"] == DEPOSIT_UEUR - Y_UEUR
    assert after.ok, after.render()
    # the oracle service, clearing the session rebuilt from the chain, charges the same needs
    rec = state.sessions[sid]
    rebuilt = parse_scenario(state.scenario(sid))
    rows = award_rows(rebuilt, rec.needs, clear(rebuilt))
    committed = [(a.bid, a.need, a.quantity_w, a.price_eur_per_mw, a.payment_ueur)
                 for a in rec.awards]  # fmt: skip
    assert [(r.bid, r.need, r.quantity_w, r.price_eur_per_mw,
             r.quantity_w * r.price_eur_per_mw if r.charged_ueur is None else r.charged_ueur)
            for r in rows] == committed  # fmt: skip
    needs = out["chain"]["needs"]  # X (100,000 EUR/MW) from rA's need, Y from rB's
    assert {a.price_eur_per_mw: (a.need, a.shares) for a in rec.awards} == {
        100_000: (needs["rA"], []), 200_000: (needs["rB"], [])}  # fmt: skip


def _swap_payers(rows: list[AwardRow], needs: dict[str, int]) -> list[AwardRow]:
    """DSO-B's need charged for what DSO-A's need received, and the other way round."""
    a, b = needs["rA"], needs["rB"]
    swap = {a: b, b: a}
    return [dataclasses.replace(r, need_index=swap[r.need_index]) for r in rows]


def test_a_commit_that_swaps_the_payers_is_disputed() -> None:
    reports: list[Any] = []
    out = run_session(copy.deepcopy(TWO_DSOS), _clear, "anvil", validate=recording(reports),
                      tamper_rows=_swap_payers)  # fmt: skip
    v = out["verification"]
    assert not v["ok"] and v["status"] == "Disputed" and v["disputes"] == 1, v
    (report,) = reports
    (session,) = report.sessions
    assert not session.ok
    shares = [x for x in session.violations if x.startswith("shares: ")]
    assert len(shares) == 4 and session.violations == shares, session.violations
    assert any(f"pays {Y_UEUR} µEUR on chain, its share is 0 µEUR" in x for x in shares), shares
    assert any(f"pays 0 µEUR on chain, its share is {X_UEUR} µEUR" in x for x in shares), shares
    assert "settle" not in out["chain"]["tx"]  # nothing paid
