"""The DSO's available capacity per zone and slot, by AC power flow on a SimBench grid
(`flexmarket capacity-limits`, `../shared/spec/capacity.md` "Where the capacity comes from").

For every zone (a feeder of `oracle.grid.model`: the buses reached through one line leaving
a transformer's LV bus, the zones `flexmarket needs` uses; or with `zones="trafo"` the whole
network behind a transformer) and every slot of the day, the capacity is the extra load, in
integer watts, that can be added in the zone on top of the forecast (the SimBench profiles
of that day) while every line and transformer stays at or below 100 % loading and every bus
voltage within 0.9-1.1 pu, by AC power flow (`oracle.grid.powerflow`, lightsim2grid).

- **Spreading rule.** Added load of W watts in a zone is W / n at each of the zone's n
  *load buses* (buses with an in-service load element), active power only (cos phi = 1: EV
  chargers and heat pumps). A zone without a load bus gets no capacity (nothing to connect).
- **Alone, then together.** First each zone alone (the others at the forecast): the largest
  integer number of granularity steps that passes, by doubling then bisection on every zone
  and slot in one batch of power flows per step. Capacities that are all used at once share
  the transformer and the upstream voltage, so then, in every slot where the zones at their
  lone capacities fail together, every zone gets the same share k / 2^24 of its lone
  capacity, the largest k that passes (bisection): allocations that use all of the
  capacity at once keep the grid within limits (`check_allocation`).
- **Forecast already outside the limits** (reverse flow from PV and batteries at noon): an
  element the forecast already has past its limit may not be made worse by more than the
  grid check's tolerance (`AC_TOL_PERCENT`, `AC_TOL_PU` of `oracle.grid.published`); every
  other element keeps to its limit. Added load that relieves such an overload is not held
  back by it (the overload itself is the flexibility market's need).
- **Exactness.** Every figure is an integer of watts, rounded down to the market's
  granularity; the power flows run with a margin of `SOLVER_MARGIN_PERCENT` points and
  `SOLVER_MARGIN_PU` so that a re-check in another batch (another warm start) passes.
  Deterministic: the same grid and day give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from oracle.grid.errors import GridError
from oracle.grid.figures import Limits
from oracle.grid.model import STEPS_PER_DAY, GridModel
from oracle.grid.needs import check_grid_arguments
from oracle.grid.powerflow import AcResult, AcSolver
from oracle.grid.published import AC_TOL_PERCENT, AC_TOL_PU
from oracle.grid.units import w_to_mw

ZoneKind = Literal["feeder", "trafo"]
LIMITS = Limits()  # what the capacity must respect, and what the AC check enforces
SOLVER_MARGIN_PERCENT = 1e-4
SOLVER_MARGIN_PU = 1e-6
SHARE_BITS = 24  # the common share of the lone capacities: k / 2**SHARE_BITS
MAX_W = 10**12  # oracle.capacity.files.WATTS_LIMIT: no zone's capacity goes beyond it

@dataclass(frozen=True)
class CapacityZone:
    """A zone of the capacity market and the bus positions its added load is spread over."""

    id: str
    load_buses: tuple[int, ...]


@dataclass(frozen=True)
class CapacityLimits:
    model: GridModel
    zones: list[CapacityZone]
    capacity_w: dict[str, list[int]]  # zone id -> per slot
    lone_w: dict[str, list[int]]  # each zone alone (before the common share)
    shared_slots: list[int]  # slots where the common share is below 1

    def zones_json(self) -> list[dict[str, Any]]:
        """The `zones` array of a `flexmarket.capacity/1` file."""
        return [{"id": z.id, "capacity_w": self.capacity_w[z.id]} for z in self.zones]


@dataclass(frozen=True)
class SlotViolation:
    slot: int
    element: str  # "line 24", "trafo 0", "bus 40"
    value: float  # loading % or vm pu


def capacity_zones(model: GridModel, kind: ZoneKind = "feeder") -> list[CapacityZone]:
    """The grid model's zones of `kind`, each with its load buses (model order)."""
    load = model.net.load
    live = load[load.in_service.astype(bool)]
    load_buses = {model.bus_position(int(b)) for b in live.bus}
    out = []
    for z in model.zones:
        if z.kind != kind:
            continue
        buses = tuple(b for b in z.buses if b in load_buses)
        if buses:
            out.append(CapacityZone(z.id, buses))
    return out


def _spread(model: GridModel, zones: list[CapacityZone]) -> NDArray[np.float64]:
    """[n_zone, n_bus]: MW at each bus per MW added in each zone (the spreading rule)."""
    m = np.zeros((len(zones), model.n_bus))
    for i, z in enumerate(zones):
        m[i, list(z.load_buses)] = 1.0 / len(z.load_buses)
    return m


def _solve(solver: AcSolver, model: GridModel, slots: NDArray[np.int64],
           added_w: NDArray[np.int64], spread: NDArray[np.float64]) -> AcResult:
    """AC power flow of the forecast of `slots` (rows) plus added_w [rows, n_zone] watts."""
    p = model.p_mw[slots] + w_to_mw(added_w) @ spread
    return solver.solve(p, model.q_mvar[slots])


@dataclass(frozen=True)
class Bounds:
    """Per slot, how far each element may go: its limit, or for one the forecast already
    has past its limit, the forecast's value plus AC_TOL (not made worse)."""

    loading_max: NDArray[np.float64]  # [T, n_branch]
    vm_max: NDArray[np.float64]  # [T, n_bus]
    vm_min: NDArray[np.float64]

    @staticmethod
    def of(forecast: AcResult, margin: bool) -> Bounds:
        lf = np.nan_to_num(forecast.loading_percent)
        vf = np.nan_to_num(forecast.vm_pu, nan=1.0)
        lim, hi, lo = LIMITS.loading_percent, LIMITS.vm_max_pu, LIMITS.vm_min_pu
        m_pct, m_pu = (SOLVER_MARGIN_PERCENT, SOLVER_MARGIN_PU) if margin else (0.0, 0.0)
        return Bounds(
            loading_max=np.where(lf > lim, lf + AC_TOL_PERCENT, lim) - m_pct,
            vm_max=np.where(vf > hi, vf + AC_TOL_PU, hi) - m_pu,
            vm_min=np.where(vf < lo, vf - AC_TOL_PU, lo) + m_pu,
        )

    def passes(self, ac: AcResult, slots: NDArray[np.int64]) -> NDArray[np.bool_]:
        loading = np.nan_to_num(ac.loading_percent, nan=np.inf)
        vm = np.nan_to_num(ac.vm_pu, nan=np.inf)
        ok: NDArray[np.bool_] = (
            ac.converged
            & (loading <= self.loading_max[slots]).all(axis=1)
            & (vm <= self.vm_max[slots]).all(axis=1)
            & (vm >= self.vm_min[slots]).all(axis=1)
        )
        return ok


def _ok(solver: AcSolver, model: GridModel, bounds: Bounds, slots: NDArray[np.int64],
        added_w: NDArray[np.int64], spread: NDArray[np.float64]) -> NDArray[np.bool_]:
    if len(slots) == 0:
        return np.zeros(0, dtype=bool)
    return bounds.passes(_solve(solver, model, slots, added_w, spread), slots)


def _lone(solver: AcSolver, model: GridModel, bounds: Bounds, zones: list[CapacityZone],
          spread: NDArray[np.float64], granularity_w: int) -> NDArray[np.int64]:
    """[n_zone, T] the largest multiple of the granularity each zone takes alone."""
    n_z, n_t = len(zones), model.n_steps
    max_steps = MAX_W // granularity_w
    # rows: zone-major, slot-minor (consecutive slots of a zone warm-start each other)
    slot_of = np.tile(np.arange(n_t), n_z)
    zone_of = np.repeat(np.arange(n_z), n_t)
    lo = np.zeros(n_z * n_t, dtype=np.int64)  # passes (0: the forecast, checked)
    hi = np.zeros(n_z * n_t, dtype=np.int64)  # fails; 0 = not found yet
    rating = {z.id: z.rating_w for z in model.zones}
    first = np.asarray([max(1, rating[z.id] // granularity_w) for z in zones], dtype=np.int64)
    probe = first[zone_of].copy()

    def ok(rows: NDArray[np.int64], steps: NDArray[np.int64]) -> NDArray[np.bool_]:
        added = np.zeros((len(rows), n_z), dtype=np.int64)
        added[np.arange(len(rows)), zone_of[rows]] = steps * granularity_w
        return _ok(solver, model, bounds, slot_of[rows], added, spread)

    # doubling: find a failing upper bound
    todo = np.arange(n_z * n_t)
    while len(todo):
        passed = ok(todo, probe[todo])
        lo[todo[passed]] = probe[todo[passed]]
        hi[todo[~passed]] = probe[todo[~passed]]
        todo = todo[passed]
        at_cap = probe[todo] >= max_steps
        lo[todo[at_cap]] = max_steps
        todo = todo[~at_cap]
        probe[todo] = np.minimum(probe[todo] * 2, max_steps)
    # bisection: lo passes, hi fails
    todo = np.flatnonzero(hi - lo > 1)
    while len(todo):
        mid = (lo[todo] + hi[todo]) // 2
        passed = ok(todo, mid)
        lo[todo[passed]] = mid[passed]
        hi[todo[~passed]] = mid[~passed]
        todo = todo[hi[todo] - lo[todo] > 1]
    return (lo * granularity_w).reshape(n_z, n_t)


def _share(lone_w: NDArray[np.int64], k: NDArray[np.int64], granularity_w: int
           ) -> NDArray[np.int64]:
    """floor(lone * k / 2^SHARE_BITS) rounded down to the granularity ([rows, n_zone])."""
    scaled = (lone_w * k[:, None]) >> SHARE_BITS
    return (scaled // granularity_w) * granularity_w


def compute_limits(model: GridModel, solver: AcSolver | None = None, *,
                   zones: ZoneKind = "feeder", granularity_w: int = 1) -> CapacityLimits:
    """The capacity per zone and slot of a grid model's day (see the module docstring)."""
    if granularity_w < 1:
        raise GridError(f"--granularity: {granularity_w} is not a positive number of watts")
    solver = solver or AcSolver(model)
    czones = capacity_zones(model, zones)
    if not czones:
        raise GridError(f"--zones: grid {model.name} has no {zones} zone with a load")
    spread = _spread(model, czones)
    n_t = model.n_steps
    all_slots = np.arange(n_t)
    bounds = Bounds.of(solver.solve_model(), margin=True)
    lone = _lone(solver, model, bounds, czones, spread, granularity_w)  # [n_zone, T]
    lone_t = lone.T.copy()  # [T, n_zone]
    together = _ok(solver, model, bounds, all_slots, lone_t, spread)
    shared = np.flatnonzero(~together)
    cap = lone_t.copy()
    if len(shared):
        lo = np.zeros(len(shared), dtype=np.int64)  # share 0: the forecast, passes
        hi = np.full(len(shared), 1 << SHARE_BITS, dtype=np.int64)  # share 1: fails
        todo = np.arange(len(shared))
        while len(todo):
            mid = (lo[todo] + hi[todo]) // 2
            passed = _ok(solver, model, bounds, shared[todo],
                         _share(lone_t[shared[todo]], mid, granularity_w), spread)
            lo[todo[passed]] = mid[passed]
            hi[todo[~passed]] = mid[~passed]
            todo = todo[hi[todo] - lo[todo] > 1]
        cap[shared] = _share(lone_t[shared], lo, granularity_w)
    return CapacityLimits(
        model=model, zones=czones,
        capacity_w={z.id: [int(w) for w in cap[:, i]] for i, z in enumerate(czones)},
        lone_w={z.id: [int(w) for w in lone[i]] for i, z in enumerate(czones)},
        shared_slots=[int(t) for t in shared],
    )


def check_allocation(model: GridModel, zones_result: Any, solver: AcSolver | None = None, *,
                     zones: ZoneKind = "feeder", first_slot: int = 0
                     ) -> dict[int, list[SlotViolation]]:
    """The AC check of a capacity result: every allocation used at once (its watts as extra
    load in its zone, spread as `compute_limits` spreads it), on top of the forecast. The
    violations per slot (market slot t is profile step first_slot + t of the model's day);
    empty when the grid stays within 100 % loading and 0.9-1.1 pu everywhere.

    `zones_result` is a `CapacityResult` or its JSON dict (`allocations` with `zone` and
    `allocated_w`)."""
    data = zones_result.to_json_dict() if hasattr(zones_result, "to_json_dict") else zones_result
    solver = solver or AcSolver(model)
    czones = capacity_zones(model, zones)
    index = {z.id: i for i, z in enumerate(czones)}
    allocations = data["allocations"]
    n_slots = max((len(a["allocated_w"]) for a in allocations), default=0)
    if first_slot < 0 or first_slot + n_slots > model.n_steps:
        raise GridError(f"slots {first_slot}..{first_slot + n_slots - 1} are outside the "
                        f"model's {model.n_steps} steps")
    added = np.zeros((n_slots, len(czones)), dtype=np.int64)
    for i, a in enumerate(allocations):
        if a["zone"] not in index:
            raise GridError(f"allocations[{i}].zone: {a['zone']!r} is not a {zones} zone of "
                            f"grid {model.name}")
        added[:, index[a["zone"]]] += np.asarray(a["allocated_w"], dtype=np.int64)
    slots = np.arange(first_slot, first_slot + n_slots)
    spread = _spread(model, czones)
    forecast = _solve(solver, model, slots, np.zeros_like(added), spread)
    ac = _solve(solver, model, slots, added, spread)
    bounds = Bounds.of(forecast, margin=False)
    loading = np.nan_to_num(ac.loading_percent, nan=np.inf)
    vm = np.nan_to_num(ac.vm_pu, nan=1.0)
    out: dict[int, list[SlotViolation]] = {}
    for t in range(n_slots):
        found = [SlotViolation(t, model.branch_label[e], float(loading[t, e]))
                 for e in np.flatnonzero(loading[t] > bounds.loading_max[t])]
        found += [SlotViolation(t, f"bus {int(model.bus_index[b])}", float(vm[t, b]))
                  for b in np.flatnonzero((vm[t] > bounds.vm_max[t]) | (vm[t] < bounds.vm_min[t]))]
        if not ac.converged[t]:
            found.append(SlotViolation(t, "power flow does not converge", float("nan")))
        if found:
            out[t] = found
    return out


# --------------------------------------------------------------------------- the command


def load_day(grid: str, day: str) -> tuple[GridModel, AcSolver]:
    """The model of a SimBench code's day (96 slots) and its solver, cached as the grid
    sessions cache them (`oracle.grid.published.load_model`: in memory, and on disk under
    build/grid-cache). Bad input is a GridError naming the option, told before loading
    whenever it can be."""
    check_grid_arguments(grid, day)
    from oracle.grid.published import ModelKey, load_model

    try:
        model, solver = load_model(ModelKey(grid, None, day, 0, STEPS_PER_DAY, "setpoint"))
    except GridError as exc:
        msg = str(exc).replace("grid.day:", "--day:", 1).replace("grid:", "--grid:", 1)
        raise GridError(msg) from exc
    if model.step_labels[0] == "static":
        raise GridError(f"--grid: {grid} has no profiles: capacity-limits needs a day's "
                        "forecast")
    return model, solver


def render_text(limits: CapacityLimits) -> str:
    m = limits.model
    ids = [z.id for z in limits.zones]
    lines = [f"grid {m.name}: available capacity (W) per zone and slot, {m.step_labels[0][:10]}"
             f"; load spread over each zone's load buses ("
             + ", ".join(f"{z.id} {len(z.load_buses)}" for z in limits.zones) + ")"]
    lines.append(f"{'slot':>4} {'time':<5} " + " ".join(f"{i:>12}" for i in ids))
    for t in range(m.n_steps):
        label = m.step_labels[t][-5:]
        mark = " *" if t in limits.shared_slots else ""
        lines.append(f"{t:>4} {label:<5} "
                     + " ".join(f"{limits.capacity_w[i][t]:>12,}" for i in ids) + mark)
    lines.append("* the zones share the transformer or the voltage: each gets the same share "
                 "of what it could take alone")
    lines.append("min over slots: " + ", ".join(f"{i} {min(limits.capacity_w[i]):,} W"
                                                  for i in ids))
    return "\n".join(lines)
