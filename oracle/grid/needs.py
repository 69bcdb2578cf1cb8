"""Flexibility needs from the forecast (InterConnect steps 1 to 3): `flexmarket needs`.

For every slot of the day, an AC power flow of the forecast operating point
finds the overloaded lines and transformers and the voltages outside the band
(EN 50160: 0.9-1.1 pu). Each violation becomes a need in the zone that holds
it (the feeder of a line or bus; a transformer's need is system-wide within
the grid model, zone null, because every feeder behind it can relieve it):

- direction: the sign of the average sensitivity of the violated quantity to
  injection at the zone's buses; a loading that injection raises (reverse
  flow from PV) or a voltage above the band needs `down`, else `up`;
- quantity: the excess over the limit, less a margin (`MARGIN_PERCENT`
  points of loading, `MARGIN_PU` of voltage), divided by that average
  sensitivity, converted to W by the one rounding rule of `oracle.grid.units`.

Several violations of one zone, direction and slot need the largest of their
quantities. The needs are printed as the `zones` and `requests` of a scenario
file; the network-constrained clearing then checks the awards against the
exact AC model, so a need estimated a little short is corrected there.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from oracle.grid.errors import GridError
from oracle.grid.figures import Limits, decimal, figures, violations_mask
from oracle.grid.model import GridModel, build_model
from oracle.grid.powerflow import AcResult, AcSolver
from oracle.grid.sensitivity import sensitivities
from oracle.grid.units import mw_to_w

MARGIN_PERCENT = 0.5
MARGIN_PU = 0.001
Direction = Literal["up", "down"]
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Violation:
    slot: int
    element: str  # "line 34", "trafo 0", "bus 40"
    value: str  # loading % or vm pu, decimal string
    zone: str | None
    direction: Direction
    quantity_w: int


@dataclass
class Needs:
    model: GridModel
    forecast: AcResult
    violations: list[Violation]
    zones: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    figures: dict[str, Any] = field(default_factory=dict)


def zone_of_branch(model: GridModel, e: int) -> str | None:
    """The feeder that holds a line, or the zone a transformer feeds."""
    for z in model.zones:
        if z.branch == e:
            return z.id
    f, t = int(model.branch_from[e]), int(model.branch_to[e])
    for b in (t, f):
        zid = model.bus_zone[b]
        if zid is not None and model.zone(zid).kind == "feeder":
            return zid
    return model.bus_zone[t] or model.bus_zone[f]


def _request_zone(model: GridModel, zone_id: str | None) -> str | None:
    if zone_id is None or model.zone(zone_id).kind == "trafo":
        return None
    return zone_id


def find_needs(
    model: GridModel,
    solver: AcSolver | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    buyer: str = "DSO1",
) -> Needs:
    """The needs of a grid model's operating points (see the module docstring)."""
    solver = solver or AcSolver(model)
    ac = solver.solve_model()
    if not ac.converged.all():
        bad = [int(t) for t in np.flatnonzero(~ac.converged)]
        raise GridError(f"grid {model.name}: the power flow does not converge in slots {bad}")
    over, high, low = violations_mask(ac, limits)
    # (zone or None, kind-of-violation target) -> sensitivities over the zone's buses
    cases: list[tuple[int, str, float, str | None, Literal["loading", "vm"], int]] = []
    for t, e in zip(*np.nonzero(over), strict=True):
        cases.append((int(t), model.branch_label[e], float(ac.loading_percent[t, e]),
                      zone_of_branch(model, int(e)), "loading", int(e)))
    for mask in (high, low):
        for t, b in zip(*np.nonzero(mask), strict=True):
            cases.append((int(t), f"bus {int(model.bus_index[b])}", float(ac.vm_pu[t, b]),
                          model.bus_zone[b], "vm", int(b)))
    zone_buses = {z.id: z.buses for z in model.zones}
    all_buses = sorted({b for c in cases for b in zone_buses.get(c[3] or "", ())}
                       | {c[5] for c in cases if c[4] == "vm"})
    violations: list[Violation] = []
    if cases:  # else nothing to relieve, no sensitivities needed
        sens = sensitivities(solver, model.p_mw, model.q_mvar, all_buses)
    for t, element, value, zone_id, kind, idx in sorted(cases):
        buses = zone_buses.get(zone_id or "", (idx,) if kind == "vm" else ())
        cols = [sens.column(b) for b in buses]
        if kind == "loading":
            s = float(np.mean(sens.loading[t, idx, cols])) if cols else 0.0
            excess = value - (limits.loading_percent - MARGIN_PERCENT)
            shown = decimal(value, 2)
        else:
            s = float(np.mean(sens.vm[t, idx, cols])) if cols else 0.0
            bound = limits.vm_max_pu - MARGIN_PU if value > limits.vm_max_pu else (
                limits.vm_min_pu + MARGIN_PU)
            excess = value - bound
            shown = decimal(value, 4)
        if s == 0.0:
            raise GridError(f"grid {model.name}: {element} in slot {t} cannot be relieved by "
                            f"any injection in zone {zone_id}")
        direction: Direction = "down" if excess / s > 0 else "up"
        violations.append(Violation(slot=t, element=element, value=shown, zone=zone_id,
                                    direction=direction, quantity_w=mw_to_w(abs(excess / s))))

    per_request: dict[tuple[str | None, Direction], list[int]] = defaultdict(
        lambda: [0] * model.n_steps)
    for v in violations:
        q = per_request[(_request_zone(model, v.zone), v.direction)]
        q[v.slot] = max(q[v.slot], v.quantity_w)
    requests = []
    for (zid, direction), q in sorted(per_request.items(),
                                      key=lambda kv: (kv[0][0] or "", kv[0][1])):
        requests.append({
            "id": f"{zid or 'GRID'}-{direction}",
            "buyer": buyer,
            "zone": zid,
            "direction": direction,
            "quantity_w": q,
            "max_price_eur_per_mw": None,
        })
    zones = []
    for z in model.zones:
        flow = np.nan_to_num(ac.loading_percent[:, z.branch]) * z.rating_w / 100.0
        zones.append({"id": z.id, "limit_w": z.rating_w,
                      "forecast_w": [int(x) for x in np.rint(flow).astype(np.int64)]})
    return Needs(model=model, forecast=ac, violations=violations, zones=zones, requests=requests,
                 figures=figures(model, ac))


# --------------------------------------------------------------------------- the command


def _slot_time(model: GridModel, t: int) -> str:
    label = model.step_labels[t]
    return label[-5:] if len(label) >= 5 else label


def render_text(needs: Needs) -> str:
    m = needs.model
    f = needs.figures
    lines = [
        f"grid {m.name}: {m.n_steps} slots from profile step {m.first_step} ({m.step_labels[0]})",
        f"forecast: max loading {f['max_loading_percent']} % ({f['element']}), "
        f"voltage {f['min_vm_pu']} .. {f['max_vm_pu']} pu",
    ]
    if not needs.requests:
        lines.append("no congestion: no needs")
        return "\n".join(lines)
    slots = sorted({v.slot for v in needs.violations})
    lines.append(f"{len(needs.violations)} violations in {len(slots)} slots")
    for r in needs.requests:
        q = r["quantity_w"]
        active = [t for t, w in enumerate(q) if w > 0]
        peak = max(q)
        zone = r["zone"] or "null (whole grid)"
        lines.append(f"request {r['id']}: zone {zone}, {r['direction']}, "
                     f"{len(active)} slots, peak {peak} W at slot {q.index(peak)}")
        for t in active:
            worst = [v for v in needs.violations if v.slot == t and v.direction == r["direction"]]
            why = ", ".join(f"{v.element} {v.value}" for v in worst)
            lines.append(f"  slot {t:3d} {_slot_time(m, t)}  {q[t]:>9d} W  ({why})")
    return "\n".join(lines)


def needs_json(needs: Needs) -> dict[str, Any]:
    return {
        "grid": needs.model.name,
        "first_step": needs.model.first_step,
        "slots": needs.model.n_steps,
        "forecast": needs.figures,
        "zones": needs.zones,
        "requests": needs.requests,
    }


# The shape of every SimBench code (`simbench.collect_all_simbench_codes()`, which takes
# seconds to import): version 1, voltage levels, type, LV part, scenario 0-2, switches.
_SIMBENCH_CODE = re.compile(
    r"1-(?:(?:EHV|HV|MV|LV)(?:HV|MV|LV)?|EHVHVMVLV|complete_data)-[a-z0-9_]+-[a-z0-9_]*-[0-2]"
    r"-(?:sw|no_sw)"
)


def check_grid_arguments(grid: str, day: str | None) -> None:
    """--grid and --day as far as they can be told without loading the grid (seconds): a
    GridError naming the option (`--day: ...`, `--grid: ...`)."""
    if day is not None:
        try:
            dt.date.fromisoformat(day)
        except ValueError:
            raise GridError(f"--day: {day!r} is not a date YYYY-MM-DD") from None
    problem = _argument_problem(grid, day)
    if problem is not None:
        raise GridError(problem)


def _argument_problem(grid: str, day: str | None) -> str | None:
    """What is wrong with --grid/--day that can be told without loading the grid: a file
    that does not exist, a name that is neither a file nor shaped like a SimBench code, a
    SimBench grid (always with profiles) without --day."""
    path = Path(grid)
    if grid.endswith(".json") or path.exists():
        return None if path.is_file() else f"--grid: file {grid!r} does not exist"
    if not _SIMBENCH_CODE.fullmatch(grid):
        return f"--grid: {grid!r} is neither a SimBench code nor a file"
    if day is None:
        return f"--day: {grid} has profiles: give the day, YYYY-MM-DD"
    return None


def needs_for_grid(grid: str, day: str | None, *, storage: Literal["setpoint", "profile"] =
                   "setpoint", buyer: str = "DSO1") -> Needs:
    """`flexmarket needs`: the needs of a SimBench code or pandapower file on a day. Bad
    input is a GridError naming the argument (`--grid: ...`, `--day: ...`), told before
    the grid is loaded (seconds) whenever it can be."""
    check_grid_arguments(grid, day)
    log = logging.getLogger(__name__)  # `flexmarket` shows it on a terminal
    log.info("loading the grid %s (SimBench: its profiles too; cached after the first time)",
             grid)  # fmt: skip
    try:
        model = build_model(grid, day=day, storage=storage)
        log.info("AC power flow over %d steps, then the needs per zone and slot",
                 len(model.step_labels))  # fmt: skip
        if day is None and model.step_labels[0] != "static":
            raise GridError(f"grid.day: {model.name} has profiles: give the day, YYYY-MM-DD")
        return find_needs(model, buyer=buyer)
    except GridError as exc:  # the scenario's field names are the command's arguments here
        msg = str(exc).replace("grid.day:", "--day:", 1).replace("grid:", "--grid:", 1)
        raise GridError(msg) from exc
