"""Helpers for the oracle tests: build small scenarios, clear and always check."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from oracle import Result, Scenario, check, clear, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
FLECH = ROOT / "examples" / "flech_powermax.json"


def flech() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FLECH.read_text())
    return data


def cleared(scenario: Scenario | dict[str, Any], **kwargs: Any) -> Result:
    """Clear and run the independent checker: every test that produces a result checks it."""
    s = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario)
    result = clear(s, **kwargs)
    violations = check(s, result)
    assert violations == [], violations
    return result


def market(**over: Any) -> dict[str, Any]:
    """A one-zone market skeleton: DSO1 buys, aggregators A and B sell, zone Z."""
    m = {"id": "M", "start": "2026-01-01T00:00:00+00:00", "slots": 1, "granularity_w": 100}
    m.update(over)
    return {
        "schema": "flexmarket.scenario/1",
        "name": "test",
        "market": m,
        "participants": [
            {"id": "DSO1", "role": "DSO"},
            {"id": "TSO1", "role": "TSO"},
            {"id": "A", "role": "aggregator"},
            {"id": "B", "role": "aggregator"},
        ],
        "zones": [{"id": "Z"}, {"id": "Y"}],
        "assets": [],
        "requests": [],
        "bids": [],
    }


def add_bid(
    s: dict[str, Any],
    bid_id: str,
    quantity_w: int,
    price: int,
    *,
    seller: str = "A",
    zone: str = "Z",
    direction: str = "up",
    p_max_w: int | None = None,
    p_min_w: int = 0,
    at: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Add a bid backed by one fresh asset of its own."""
    asset = f"{bid_id}-asset"
    s["assets"].append(
        {
            "id": asset,
            "manager": seller,
            "type": "load",
            "p_max_w": quantity_w if p_max_w is None else p_max_w,
            "p_min_w": p_min_w,
            "zone": zone,
        }
    )
    bid = {
        "id": bid_id,
        "seller": seller,
        "zone": zone,
        "direction": direction,
        "quantity_w": quantity_w,
        "price_eur_per_mw": price,
        "assets": [asset],
        "submitted_at": at or f"2025-12-31T10:{len(s['bids']):02d}:00+00:00",
    }
    bid.update(extra)
    s["bids"].append(bid)
    return bid


def add_request(
    s: dict[str, Any],
    req_id: str,
    quantity_w: int | list[int],
    *,
    zone: str | None = "Z",
    direction: str = "up",
    buyer: str = "DSO1",
    **extra: Any,
) -> None:
    s["requests"].append(
        {
            "id": req_id,
            "buyer": buyer,
            "zone": zone,
            "direction": direction,
            "quantity_w": quantity_w,
            **extra,
        }
    )


def clone(s: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(s)
