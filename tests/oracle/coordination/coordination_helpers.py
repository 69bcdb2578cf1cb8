"""Helpers for the coordination tests: small multi-buyer scenarios, cleared and checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oracle import Result, Scenario, check, parse_scenario
from oracle.coordination import check_coordinated, clear_coordinated

ROOT = Path(__file__).resolve().parents[3]
THREE_AREAS = ROOT / "examples" / "tso_dso_three_areas.json"


def three_areas() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(THREE_AREAS.read_text())
    return data


def coordinated(scenario: Scenario | dict[str, Any], coupling: str | None = None) -> Result:
    """Clear with coordination and run both checkers: every result a test sees is checked."""
    s = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    result = clear_coordinated(s, coupling=coupling)
    assert check_coordinated(s, result) == []
    base = check(s, result)
    if (coupling or s.market.coupling) == "common":
        # a watt counted for two buyers is what common coupling is for; the rest holds
        base = [v for v in base if v.where != "unmet"]
    assert base == [], base
    return result


def session(slots: int = 1, **market: Any) -> dict[str, Any]:
    """A DSO and a TSO buying from aggregators A and B in zones Z and Y."""
    m = {"id": "M", "start": "2026-01-01T00:00:00+00:00", "slots": slots, "granularity_w": 100}
    m.update(market)
    return {
        "schema": "flexmarket.scenario/1",
        "name": "coordination test",
        "market": m,
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "TSO1", "role": "TSO"},
                         {"id": "BRP1", "role": "BRP"},
                         {"id": "A", "role": "aggregator"}, {"id": "B", "role": "aggregator"}],
        "zones": [{"id": "Z"}, {"id": "Y"}],
        "assets": [],
        "requests": [],
        "bids": [],
    }


def bid(s: dict[str, Any], bid_id: str, quantity_w: int, price: int, *, zone: str = "Z",
        direction: str = "up", seller: str = "A", **extra: Any) -> None:
    asset = f"{bid_id}-asset"
    s["assets"].append({"id": asset, "manager": seller, "type": "load",
                        "p_max_w": quantity_w, "zone": zone})
    s["bids"].append({"id": bid_id, "seller": seller, "zone": zone, "direction": direction,
                      "quantity_w": quantity_w, "price_eur_per_mw": price, "assets": [asset],
                      "submitted_at": f"2025-12-31T10:{len(s['bids']):02d}:00+00:00", **extra})


def need(s: dict[str, Any], req_id: str, quantity_w: int | list[int], *, buyer: str = "DSO1",
         zone: str | None = "Z", direction: str = "up", **extra: Any) -> None:
    s["requests"].append({"id": req_id, "buyer": buyer, "zone": zone, "direction": direction,
                          "quantity_w": quantity_w, **extra})


def awards(result: Result) -> dict[str, int]:
    return {a.bid: a.quantity_w for a in result.awards}


def objective(scenario: dict[str, Any], result: Result) -> int:
    """What clearing minimises: payments plus the penalty on unmet watts."""
    penalty = scenario.get("unmet_penalty_eur_per_mw", 1_000_000_000_000)
    return result.total_cost_ueur + penalty * sum(u.quantity_w for u in result.unmet)
