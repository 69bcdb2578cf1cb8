"""The reserve demo's files (issue 14 item 5): a PowerCut Urgent tender for June 2016 (the
SimBench year) on transformer T1, two aggregators whose assets' meter data are a month of
SimBench load profiles, and the DSO's activations of the cheaper award: one delivered, one
inability signal, then shortfalls until the fourth failure ends the contract.

The profiles are an input (`profiles`: asset -> Wh per quarter hour of local time, June) so
the files are built the same way from SimBench (`simbench_profiles`, the command) or from
any series (the tests). The aggregator's response during an activation is written into the
meter data: each asset lowers its consumption below its last quarter hour before the
activation (the `meter_before` baseline's reference) by its share of the requested power
times the response, never below zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from oracle.metering.meterdata import INTERVALS_PER_DAY

FIRST_DAY = date(2016, 6, 1)
DAYS = 30
OFFSET = timezone(timedelta(hours=2))  # German summer time, as SimBench's profiles
ASSETS = {"AGG1": [f"AGG1-B{i}" for i in range(1, 9)], "AGG2": [f"AGG2-B{i}" for i in range(1, 7)]}
YEARLY_WH = 40_000_000  # each asset: 40 MWh a year (a block of flats, a small business)


@dataclass(frozen=True)
class Step:
    id: str
    offer: str
    day: int  # of June
    start: str  # local HH:MM
    minutes: int
    power_w: int
    response_percent: int  # of the requested power the aggregator delivers
    inability_minutes_before: int | None = None
    notice_minutes: int = 25


STEPS = (
    Step("A1", "O1", 6, "18:00", 60, 15_000, 115),
    Step("A2", "O1", 9, "18:30", 60, 15_000, 0, inability_minutes_before=20),
    Step("A3", "O1", 14, "17:30", 60, 20_000, 40),
    Step("B1", "O2", 15, "19:00", 60, 10_000, 120),
    Step("A4", "O1", 20, "18:00", 45, 20_000, 30),
    Step("A5", "O1", 23, "19:00", 60, 20_000, 50),
    Step("A6", "O1", 27, "18:00", 60, 15_000, 110),
)


def simbench_profiles(code: str = "1-LV-semiurb4--0-sw") -> dict[str, list[int]]:
    """June's Wh per quarter hour for every demo asset, from the SimBench grid's load profiles
    (each normalised to a yearly sum of `YEARLY_WH`; assets take the profiles in turn)."""
    import simbench

    net = simbench.get_simbench_net(code)
    load = net.profiles["load"]
    columns = [c for c in load.columns if str(c).endswith("_pload")]
    times = [str(t) for t in load["time"]]
    first = times.index(f"{FIRST_DAY:%d.%m.%Y} 00:00")
    rows = range(first, first + DAYS * INTERVALS_PER_DAY)
    out: dict[str, list[int]] = {}
    names = [a for assets in ASSETS.values() for a in assets]
    for k, asset in enumerate(names):
        series = [float(v) for v in load[columns[k % len(columns)]]]
        total = sum(series)
        out[asset] = [round(series[r] / total * YEARLY_WH) for r in rows]
    return out


def _at(day: int, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(FIRST_DAY.year, FIRST_DAY.month, day, h, m, tzinfo=OFFSET)


def demo_files(profiles: Mapping[str, list[int]], steps: Sequence[Step] = STEPS
               ) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(reserve file, activations file, meter data CSV) of the demo (or of other `steps`)."""
    reserve: dict[str, Any] = {
        "schema": "flexmarket.reserve/1",
        "name": "PowerCut Urgent on T1, June 2016 evenings (SimBench meter data)",
        "tender": {
            "id": "T1-PowerCutUrgent-2016-06", "product": "PowerCut_Urgent", "buyer": "DSO1",
            "zone": "T1", "direction": "up", "period_start": _at(1, "00:00").isoformat(),
            "days": DAYS, "daily_start_minute": 17 * 60, "daily_end_minute": 21 * 60,
            "quantity_w": 30_000, "max_quantity_w": 32_000, "granularity_w": 100,
            "notice_minutes": 15, "min_activation_minutes": 30,
            "max_activation_minutes": 120, "max_activations": 8, "expected_activations": 4,
            "expected_activation_minutes": 60, "availability_price_cap_eur_per_mw_h": 60,
            "utilisation_price_cap_eur_per_mwh": 500, "tolerance_percent": 10,
            "shortfall_penalty_eur_per_mwh": 600, "inability_penalty_eur_per_mw": 150,
            "collateral_eur_per_mw": 1500, "max_failures": 4,
            "baseline": {"method": "meter_before"},
            "gate_closure": datetime(2016, 5, 30, 12, 0, tzinfo=OFFSET).isoformat(),
        },
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "AGG1", "role": "aggregator"},
                         {"id": "AGG2", "role": "aggregator"}],
        "offers": [
            {"id": "O1", "aggregator": "AGG1", "quantity_w": 20_000, "min_quantity_w": 5_000,
             "availability_price_eur_per_mw_h": 30, "utilisation_price_eur_per_mwh": 280,
             "assets": ASSETS["AGG1"],
             "submitted_at": datetime(2016, 5, 27, 9, 0, tzinfo=OFFSET).isoformat()},
            {"id": "O2", "aggregator": "AGG2", "quantity_w": 12_000,
             "availability_price_eur_per_mw_h": 42, "utilisation_price_eur_per_mwh": 320,
             "assets": ASSETS["AGG2"],
             "submitted_at": datetime(2016, 5, 27, 10, 0, tzinfo=OFFSET).isoformat()},
        ],
    }
    series = {a: list(v) for a, v in profiles.items()}
    activations = []
    for s in steps:
        start = _at(s.day, s.start)
        row: dict[str, Any] = {
            "id": s.id, "offer": s.offer,
            "requested_at": (start - timedelta(minutes=s.notice_minutes)).isoformat(),
            "start": start.isoformat(), "duration_minutes": s.minutes, "power_w": s.power_w}
        if s.inability_minutes_before is not None:
            row["inability_at"] = (start - timedelta(minutes=s.inability_minutes_before)
                                   ).isoformat()
        else:
            row["acknowledged_at"] = (start - timedelta(minutes=s.notice_minutes - 2)
                                      ).isoformat()
        activations.append(row)
        assets = ASSETS["AGG1" if s.offer == "O1" else "AGG2"]
        first = (s.day - 1) * INTERVALS_PER_DAY + (start.hour * 60 + start.minute) // 15
        share_wh = s.power_w * s.response_percent // 100 // len(assets) // 4
        for asset in assets:
            before = series[asset][first - 1]
            for q in range(s.minutes // 15):
                series[asset][first + q] = max(0, before - share_wh)
    lines = ["asset_id,interval_start,net_import_wh"]
    for asset in sorted(series):
        for j, wh in enumerate(series[asset]):
            moment = _at(1, "00:00") + timedelta(minutes=15 * j)
            lines.append(f"{asset},{moment.isoformat()},{wh}")
    return reserve, {"schema": "flexmarket.reserve-activations/1",
                     "tender": reserve["tender"]["id"], "activations": activations}, \
        "\n".join(lines) + "\n"
