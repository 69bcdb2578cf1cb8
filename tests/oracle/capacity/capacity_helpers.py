"""Small capacity files for the tests."""

from __future__ import annotations

from typing import Any


def cap_file(mechanism: str = "premium", *, phase: str = "DAM", slots: int = 2,
             capacity: int | list[int] = 100, granularity: int = 1, **market: Any
             ) -> dict[str, Any]:
    return {
        "schema": "flexmarket.capacity/1", "name": "test",
        "market": {"id": "CAP-1", "phase": phase, "mechanism": mechanism,
                   "start": "2026-05-26T00:00:00+02:00", "slots": slots,
                   "granularity_w": granularity, **market},
        "participants": [{"id": "DSO", "role": "DSO"}, {"id": "AG1", "role": "aggregator"},
                         {"id": "AG2", "role": "aggregator"}, {"id": "P1", "role": "prosumer"}],
        "zones": [{"id": "F1", "capacity_w": capacity}, {"id": "F2", "capacity_w": capacity}],
        "requests": [],
    }


def req(rid: str, quantity: int | list[int], *, price: int = 0, minute: int = 0,
        participant: str = "AG1", zone: str = "F1", **extra: Any) -> dict[str, Any]:
    return {"id": rid, "participant": participant, "zone": zone, "quantity_w": quantity,
            "price_eur_per_mw_slot": price,
            "submitted_at": f"2026-05-25T10:{minute:02d}:00+02:00", **extra}
