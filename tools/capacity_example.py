"""Build examples/capacity/semiurb4_ev_evening.json: a premium DAM for the evening EV peak
(17:00-21:00, slots 68-83 of the day) on the feeders of SimBench 1-LV-semiurb4--2-sw on
2016-05-26, with the zones' capacity from `flexmarket capacity-limits` (granularity 100 W)
and EV, heat-pump and home-battery requests that exceed it in the late slots.

    .venv/bin/python tools/capacity_example.py   # rewrites the file (deterministic)
"""

from __future__ import annotations

import json
from pathlib import Path

from oracle.capacity.limits import compute_limits, load_day

GRID, DAY = "1-LV-semiurb4--2-sw", "2016-05-26"
FIRST, SLOTS, GRANULARITY = 68, 16, 100  # 17:00, four hours
OUT = Path(__file__).resolve().parents[1] / "examples" / "capacity" / "semiurb4_ev_evening.json"


def build() -> dict[str, object]:
    model, solver = load_day(GRID, DAY)
    limits = compute_limits(model, solver, granularity_w=GRANULARITY)
    zones = [{"id": z["id"], "capacity_w": z["capacity_w"][FIRST:FIRST + SLOTS]}
             for z in limits.zones_json()]
    ids = [z["id"] for z in zones]  # T0-L9, T0-L24, T0-L33

    def ramp(peak: int, start: int) -> list[int]:
        return [0] * start + [peak] * (SLOTS - start)

    requests = [
        {"id": "AG1-EV-L24", "participant": "AG1", "zone": ids[1], "quantity_w": ramp(110_000, 2),
         "divisible": True, "min_quantity_w": 11_000, "price_eur_per_mw_slot": 310,
         "submitted_at": "2016-05-25T09:05:00+02:00"},
        {"id": "AG2-EV-L24", "participant": "AG2", "zone": ids[1], "quantity_w": ramp(88_000, 4),
         "divisible": True, "price_eur_per_mw_slot": 260,
         "submitted_at": "2016-05-25T09:40:00+02:00"},
        {"id": "P1-HP-L24", "participant": "P1", "zone": ids[1], "quantity_w": 9_000,
         "divisible": False, "price_eur_per_mw_slot": 400,
         "submitted_at": "2016-05-25T10:00:00+02:00"},
        {"id": "AG1-EV-L9", "participant": "AG1", "zone": ids[0], "quantity_w": ramp(150_000, 0),
         "divisible": True, "price_eur_per_mw_slot": 300,
         "submitted_at": "2016-05-25T09:06:00+02:00"},
        {"id": "AG2-BAT-L9", "participant": "AG2", "zone": ids[0], "quantity_w": ramp(40_000, 8),
         "divisible": True, "price_eur_per_mw_slot": 180,
         "submitted_at": "2016-05-25T11:00:00+02:00"},
        {"id": "AG1-EV-L33", "participant": "AG1", "zone": ids[2], "quantity_w": ramp(200_000, 0),
         "divisible": True, "price_eur_per_mw_slot": 290,
         "submitted_at": "2016-05-25T09:07:00+02:00"},
        {"id": "AG2-EV-L33", "participant": "AG2", "zone": ids[2], "quantity_w": 45_000,
         "divisible": False, "price_eur_per_mw_slot": 240,
         "submitted_at": "2016-05-25T09:50:00+02:00"},
    ]
    return {
        "schema": "flexmarket.capacity/1",
        "name": f"Evening EV peak on the feeders of {GRID}, {DAY} 17:00-21:00 (premium "
                f"DAM; zones from flexmarket capacity-limits, profile steps {FIRST}-"
                f"{FIRST + SLOTS - 1})",
        "market": {"id": "CAP-SEMIURB4-2016-05-26-EVENING", "phase": "DAM",
                   "mechanism": "premium", "pricing": "pay_as_bid",
                   "start": "2016-05-26T17:00:00+02:00", "slot_minutes": 15, "slots": SLOTS,
                   "granularity_w": GRANULARITY, "reserve_price_eur_per_mw_slot": 50,
                   "gate_closure": "2016-05-25T12:00:00+02:00"},
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "AG1", "role": "aggregator"},
                         {"id": "AG2", "role": "aggregator"}, {"id": "P1", "role": "prosumer"}],
        "zones": zones,
        "requests": requests,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=1) + "\n")
    print(f"wrote {OUT}")
