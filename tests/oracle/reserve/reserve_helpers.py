"""The reserve example as dicts to change in tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_DIR = ROOT / "examples" / "reserve"
RESERVE = EXAMPLE_DIR / "powercut_urgent_june.json"
ACTIVATIONS = EXAMPLE_DIR / "activations_june.json"
METER = EXAMPLE_DIR / "meter_june.csv"


def reserve_doc() -> dict[str, Any]:
    return copy.deepcopy(json.loads(RESERVE.read_text()))


def activations_doc() -> dict[str, Any]:
    return copy.deepcopy(json.loads(ACTIVATIONS.read_text()))


def offer(oid: str, aggregator: str, quantity_w: int, a: int, u: int, **extra: Any
          ) -> dict[str, Any]:
    return {"id": oid, "aggregator": aggregator, "quantity_w": quantity_w,
            "availability_price_eur_per_mw_h": a, "utilisation_price_eur_per_mwh": u,
            "assets": [f"{oid}-asset"], "submitted_at": "2026-05-27T10:00:00+02:00", **extra}
