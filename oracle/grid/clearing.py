"""Network-constrained clearing: linear grid cuts, AC validation, iterate.

1. The forecast of every slot is solved (AC) and linearised: sensitivities of
   every branch loading and bus voltage to injection at the buses of the bids'
   assets (`oracle.grid.sensitivity`).
2. A bid's award shifts the net injection of its assets' buses by
   +award (`up`) or -award (`down`), split among its assets in proportion to
   their `p_max_w` (equally if all are zero); reactive power is unchanged.
3. For each slot, every element that some combination of the active bids
   could push past its limit (screening with the sensitivities) gets a
   `LinearCut`: predicted loading (or voltage) after the awards <= limit less
   a margin. An element already past its limit gets a cut that forces the
   relief, but never more than all the relieving bids together can give (so
   the engine stays feasible; `grid_check.ok` then reports what is left).
4. `oracle.clear(scenario, cuts)`, then an AC power flow of every slot of the
   cleared schedule. Where it still finds a violation, a new cut linearised
   at the cleared point is added (the margin doubles each round) and the
   market is cleared again, at most `MAX_ROUNDS` times.

The result carries `grid_check` (figures as decimal strings, see
`oracle.grid.figures`): `{"ok", "before", "after", "slots", "rounds", "cuts"}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracle.engine import LinearCut, build_session, clear
from oracle.grid.errors import GridError
from oracle.grid.figures import Limits, figures, slot_ok, violations_mask
from oracle.grid.model import STEP_MINUTES, GridModel, build_model
from oracle.grid.powerflow import AcResult, AcSolver
from oracle.grid.sensitivity import Sensitivities, sensitivities
from oracle.grid.units import w_to_mw
from oracle.result import Result
from oracle.scenario import Scenario

MARGIN_PERCENT = 0.5  # loading cuts aim this many points below the limit
MARGIN_PU = 0.001  # voltage cuts aim this far inside the band
VM_SCALE = 1000.0  # voltage cuts are written in thousandths of a pu (better-scaled rows)
MAX_ROUNDS = 6
MIN_COEF = 1e-12


@dataclass(frozen=True)
class GridCase:
    """A scenario's grid: the model at the market's slots, its solver, limits and asset buses."""

    model: GridModel
    solver: AcSolver
    limits: Limits
    asset_bus: dict[str, int]  # asset id -> bus position


@dataclass(frozen=True)
class BidInjection:
    """How one watt awarded to a bid changes bus injections."""

    bid: str
    slots: tuple[int, ...]
    buses: tuple[int, ...]  # bus positions
    mw_per_mw: tuple[float, ...]  # signed share of the award at each bus (direction applied)
    quantity_w: int


def grid_case(scenario: Scenario, base_dir: Path | None = None) -> GridCase:
    """Build the grid model a scenario names in its `grid` object."""
    spec = scenario.grid
    if spec is None:
        raise GridError("grid: the scenario has no grid object")
    market = scenario.market
    model = build_model(
        spec.simbench_code or spec.file or "",
        day=spec.day, time_step=spec.time_step, start=market.start,
        n_steps=market.slots, storage=spec.storage, base_dir=base_dir,
    )
    if model.step_labels[0] != "static" and market.slot_minutes != STEP_MINUTES:
        raise GridError(f"market.slot_minutes: {market.slot_minutes} does not match the grid "
                        f"profiles ({STEP_MINUTES} minutes)")
    asset_bus = {}
    for i, asset in enumerate(scenario.assets):
        if asset.bus is None:
            raise GridError(f"assets[{i}].bus: asset {asset.id} has no bus; a scenario with a grid "
                            "needs every asset's bus")
        asset_bus[asset.id] = model.bus_position(asset.bus, f"assets[{i}].bus")
    limits = Limits(
        loading_percent=float(spec.loading_limit_percent),
        vm_min_pu=spec.vm_min_per_mille / 1000.0,
        vm_max_pu=spec.vm_max_per_mille / 1000.0,
    )
    return GridCase(model=model, solver=AcSolver(model), limits=limits, asset_bus=asset_bus)


def bid_injections(scenario: Scenario, case: GridCase) -> list[BidInjection]:
    """The injection pattern of every bid whose assets are all on the grid."""
    assets = {a.id: a for a in scenario.assets}
    out = []
    for bid in scenario.bids:
        if not bid.assets or any(a not in assets for a in bid.assets):
            continue  # the engine rejects it
        sign = 1.0 if bid.direction == "up" else -1.0
        p_max = [assets[a].p_max_w for a in bid.assets]
        total = sum(p_max)
        shares: dict[int, float] = {}
        for a, p in zip(bid.assets, p_max, strict=True):
            share = p / total if total > 0 else 1.0 / len(bid.assets)
            bus = case.asset_bus[a]
            shares[bus] = shares.get(bus, 0.0) + sign * share
        slots = tuple(bid.slots) if bid.slots is not None else tuple(range(scenario.market.slots))
        slots = tuple(t for t in slots if 0 <= t < scenario.market.slots)
        buses = tuple(sorted(shares))
        out.append(BidInjection(bid=bid.id, slots=slots, buses=buses,
                                mw_per_mw=tuple(shares[b] for b in buses),
                                quantity_w=bid.quantity_w))
    return out


def _eligible(scenario: Scenario) -> set[str]:
    """Bids that get an award variable in the engine (valid, and able to serve some request)."""
    session, _ = build_session(scenario)
    return set(session.eligible)


def injection_mw(model: GridModel, injections: Sequence[BidInjection],
                 awards_w: dict[str, int]) -> NDArray[np.float64]:
    """Extra injection [T, n_bus] (MW) of a schedule."""
    extra = np.zeros((model.n_steps, model.n_bus))
    for inj in injections:
        w = awards_w.get(inj.bid, 0)
        if w == 0:
            continue
        p = w_to_mw(w)
        for bus, share in zip(inj.buses, inj.mw_per_mw, strict=True):
            extra[list(inj.slots), bus] += p * share
    return extra


def _coefficients(sens: Sensitivities, row: int, injections: Sequence[BidInjection],
                  slot: int) -> tuple[list[BidInjection], NDArray[np.float64], NDArray[np.float64]]:
    """Active bids in a slot, and their loading (% per W) and voltage (pu per W) coefficients."""
    active = [inj for inj in injections if slot in inj.slots]
    n_e = sens.loading.shape[1]
    n_b = sens.vm.shape[1]
    c_load = np.zeros((len(active), n_e))
    c_vm = np.zeros((len(active), n_b))
    for i, inj in enumerate(active):
        for bus, share in zip(inj.buses, inj.mw_per_mw, strict=True):
            j = sens.column(bus)
            c_load[i] += share * sens.loading[row, :, j] / 1e6
            c_vm[i] += share * sens.vm[row, :, j] / 1e6
    return active, c_load, c_vm


def _cut(name: str, slot: int, bids: Sequence[BidInjection], coef: NDArray[np.float64],
         value_now: float, bound: float, awards_w: dict[str, int],
         eligible: set[str]) -> LinearCut | None:
    """sum coef*a <= bound - value_now + sum coef*a_now, relaxed to what the bids can reach."""
    terms = []
    lowest = 0.0  # smallest reachable sum(coef * a)
    highest = 0.0
    at_now = 0.0
    for inj, c in zip(bids, coef, strict=True):
        if inj.bid not in eligible or abs(c) < MIN_COEF:
            continue  # no award variable (its award stays zero), or no effect
        at_now += c * awards_w.get(inj.bid, 0)
        terms.append((inj.bid, float(c)))
        lowest += min(0.0, c * inj.quantity_w)
        highest += max(0.0, c * inj.quantity_w)
    rhs = bound - value_now + at_now
    if highest <= rhs:
        return None  # no combination of awards can violate it
    if not terms:
        return None
    if lowest > rhs:  # cannot be met: ask for all the relief there is
        rhs = lowest + 1e-9 * max(1.0, abs(lowest))
    return LinearCut(name=name, slot=slot, terms=tuple(terms), rhs=float(rhs))


def build_cuts(case: GridCase, injections: Sequence[BidInjection], sens: Sensitivities,
               slots: Sequence[int], awards_w: dict[str, int], eligible: set[str],
               margin: float = 1.0, only: set[tuple[int, str]] | None = None,
               tag: str = "") -> list[LinearCut]:
    """Cuts for `slots` (row i of `sens` is slot slots[i]) around the point `awards_w`.

    `only` restricts them to (slot, element) pairs; `margin` scales the margins.
    """
    m, lim = case.model, case.limits
    cuts: list[LinearCut] = []
    load_bound = lim.loading_percent - MARGIN_PERCENT * margin
    vmax = (lim.vm_max_pu - MARGIN_PU * margin) * VM_SCALE
    vmin = (lim.vm_min_pu + MARGIN_PU * margin) * VM_SCALE
    for row, t in enumerate(slots):
        bids, c_load, c_vm = _coefficients(sens, row, injections, t)
        if not bids:
            continue
        for e, label in enumerate(m.branch_label):
            if only is not None and (t, label) not in only:
                continue
            cut = _cut(f"{label} slot {t} loading{tag}", t, bids, c_load[:, e],
                       float(sens.base.loading_percent[row, e]), load_bound, awards_w, eligible)
            if cut:
                cuts.append(cut)
        for b in range(m.n_bus):
            label = f"bus {int(m.bus_index[b])}"
            if only is not None and (t, label) not in only:
                continue
            vm_now = float(sens.base.vm_pu[row, b]) * VM_SCALE
            for kind, sign, bound in (("max", 1.0, vmax), ("min", -1.0, -vmin)):
                cut = _cut(f"{label} slot {t} vm {kind}{tag}", t, bids,
                           sign * c_vm[:, b] * VM_SCALE, sign * vm_now, bound, awards_w, eligible)
                if cut:
                    cuts.append(cut)
    return cuts


def _violated(case: GridCase, ac: AcResult) -> set[tuple[int, str]]:
    over, high, low = violations_mask(ac, case.limits)
    out = {(int(t), case.model.branch_label[e]) for t, e in zip(*np.nonzero(over), strict=True)}
    for mask in (high, low):
        out |= {(int(t), f"bus {int(case.model.bus_index[b])}")
                for t, b in zip(*np.nonzero(mask), strict=True)}
    return out


def grid_check(case: GridCase, before: AcResult, after: AcResult, rounds: int,
               n_cuts: int) -> dict[str, Any]:
    m = case.model
    return {
        "ok": bool(slot_ok(after, case.limits).all()),
        "before": figures(m, before),
        "after": figures(m, after),
        "slots": [
            {"slot": t, "before": figures(m, before, np.asarray([t])),
             "after": figures(m, after, np.asarray([t]))}
            for t in range(m.n_steps)
        ],
        "rounds": rounds,
        "cuts": n_cuts,
    }


def clear_with_grid(scenario: Scenario, *, base_dir: Path | None = None,
                    case: GridCase | None = None, max_rounds: int = MAX_ROUNDS) -> Result:
    """Clear a scenario that has a `grid`: cuts, AC validation of every slot, iterate."""
    case = case or grid_case(scenario, base_dir)
    m = case.model
    injections = bid_injections(scenario, case)
    eligible = _eligible(scenario)
    buses = sorted({b for inj in injections for b in inj.buses})
    all_slots = list(range(m.n_steps))
    if buses:
        sens = sensitivities(case.solver, m.p_mw, m.q_mvar, buses)
        before = sens.base
        cuts = build_cuts(case, injections, sens, all_slots, {}, eligible)
    else:
        before = case.solver.solve_model()
        cuts = []
    result = clear(scenario, cuts)
    rounds = 1
    while True:
        awards = {a.bid: a.quantity_w for a in result.awards}
        p_after = m.p_mw - injection_mw(m, injections, awards)  # load convention
        after = case.solver.solve(p_after, m.q_mvar)
        bad = _violated(case, after)
        if not bad or not buses or rounds >= max_rounds:
            break
        slots = sorted({t for t, _ in bad})
        sens_t = sensitivities(case.solver, p_after[slots], m.q_mvar[slots], buses)
        new = build_cuts(case, injections, sens_t, slots, awards, eligible,
                         margin=2.0 ** rounds, only=bad, tag=f" round {rounds + 1}")
        if not new:
            break  # nothing the bids can still change
        cuts.extend(new)
        result = clear(scenario, cuts)
        rounds += 1
    check = grid_check(case, before, after, rounds, len(cuts))
    return result.model_copy(update={"grid_check": check}).sealed(result.input_hash)
