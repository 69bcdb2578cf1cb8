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
