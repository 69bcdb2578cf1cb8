"""Shared by the TSO-DSO sessions on chain (test_tso_dso_chain, test_balance_dso_chain)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from nodes.validator import validate_session
from oracle.coordination import clear_coordinated
from oracle.scenario import load_scenario
from verifier.verify import verify_chain


def clear_dict(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """The coordinated result of a scenario dict, as JSON."""
    return clear_coordinated(load_scenario(dict(scenario))).to_json_dict()


def recording(reports: list[Any]) -> Any:
    """validate_session, after keeping a replica's report of the session."""

    def validate(url: str, deployment: Mapping[str, Any], sid: int, keys: list[str]) -> Any:
        reports.append(verify_chain(url, deployment, sessions=[sid]))
        return validate_session(url, deployment, sid, keys)

    return validate


def per_buyer(shares: list[dict[str, Any]]) -> dict[str, int]:
    """µEUR per buyer over a result's share rows."""
    out: dict[str, int] = defaultdict(int)
    for row in shares:
        out[row["buyer"]] += int(row["payment_ueur"])
    return dict(out)


def assert_paid_as_shared(chain: dict[str, Any], expected: dict[str, Any], deposit: int) -> None:
    """The demo's `chain` object of a shared session: each buyer's escrow paid exactly its
    shares of `expected` (the off-chain result), each seller was paid once per award, the
    whole payment, and everything else went back (balances = deposit -/+ those)."""
    want = per_buyer(expected["shares"])
    assert chain["payments_ueur"] == want
    assert sum(want.values()) == expected["total_cost_ueur"]
    for buyer in ("DSO1", "TSO1"):
        assert chain["balances_ueur"][buyer] == deposit - want[buyer]
    for seller in ("AG1", "AG2", "AG3"):
        paid = sum(a["payment_ueur"] for a in expected["awards"] if a["seller"] == seller)
        assert chain["balances_ueur"][seller] == deposit + paid, seller
