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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracle.engine import LinearCut, build_session, clear
from oracle.errors import SolverError
from oracle.grid.errors import GridError
from oracle.grid.figures import Limits, figures, slot_ok, violations_mask
from oracle.grid.model import STEP_MINUTES, GridModel
from oracle.grid.powerflow import AcResult, AcSolver
from oracle.grid.sensitivity import Sensitivities, sensitivities
from oracle.grid.units import w_to_mw
from oracle.result import Result
from oracle.rules import injection_sign
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
    from oracle.grid.published import load_model, model_key

    market = scenario.market
    model, solver = load_model(model_key(scenario, base_dir))  # cached by its identity
    if model.step_labels[0] != "static" and market.slot_minutes != STEP_MINUTES:
        raise GridError(f"market.slot_minutes: {market.slot_minutes} does not match the grid "
                        f"profiles ({STEP_MINUTES} minutes)")
    asset_bus = asset_buses(scenario, model)
    limits = Limits(
        loading_percent=float(spec.loading_limit_percent),
        vm_min_pu=spec.vm_min_per_mille / 1000.0,
        vm_max_pu=spec.vm_max_per_mille / 1000.0,
    )
    return GridCase(model=model, solver=solver, limits=limits, asset_bus=asset_bus)


def bid_injections(scenario: Scenario, case: GridCase) -> list[BidInjection]:
    """The injection pattern of every bid whose assets are all on the grid."""
    assets = {a.id: a for a in scenario.assets}
    out = []
    for bid in scenario.bids:
        if not bid.assets or any(a not in assets for a in bid.assets):
            continue  # the engine rejects it
        sign = float(injection_sign(bid.direction))
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


def _cuts_of(labels: Sequence[str], what: str, slot: int, bids: Sequence[BidInjection],
             coef: NDArray[np.float64], value_now: NDArray[np.float64], bound: float,
             quantity: NDArray[np.float64], a_now: NDArray[np.float64]) -> list[LinearCut]:
    """For each column e: sum_b coef[b,e]*a_b <= bound - value_now[e] + sum_b coef[b,e]*a_now_b.

    Columns that no combination of awards can violate get no cut (screening);
    a cut that no combination can meet asks for all the relief the bids have.
    """
    cq = coef * quantity[:, None]
    highest = np.maximum(cq, 0.0).sum(axis=0)
    lowest = np.minimum(cq, 0.0).sum(axis=0)
    rhs = bound - value_now + a_now @ coef
    cuts = []
    for e in (int(x) for x in np.flatnonzero(highest > rhs)):
        nz = [int(i) for i in np.flatnonzero(coef[:, e])]
        if len(nz) == 0:
            continue
        r = float(rhs[e])
        if lowest[e] > r:
            r = float(lowest[e]) + 1e-9 * max(1.0, abs(float(lowest[e])))
        cuts.append(LinearCut(name=f"{labels[e]} slot {slot} {what}", slot=slot,
                              terms=tuple((bids[i].bid, float(coef[i, e])) for i in nz), rhs=r))
    return cuts


def build_cuts(case: GridCase, injections: Sequence[BidInjection], sens: Sensitivities,
               slots: Sequence[int], awards_w: dict[str, int], eligible: set[str],
               margin: float = 1.0, only: set[tuple[int, str]] | None = None,
               tag: str = "") -> list[LinearCut]:
    """Cuts for `slots` (row i of `sens` is slot slots[i]) around the point `awards_w`.

    Only bids with an award variable in the engine (`eligible`) appear in cuts;
    `only` restricts the cuts to (slot, element) pairs; `margin` scales the margins.
    """
    m, lim = case.model, case.limits
    load_bound = lim.loading_percent - MARGIN_PERCENT * margin
    vmax = (lim.vm_max_pu - MARGIN_PU * margin) * VM_SCALE
    vmin = (lim.vm_min_pu + MARGIN_PU * margin) * VM_SCALE
    bids = [inj for inj in injections if inj.bid in eligible]
    if not bids:
        return []
    # shares[b, j]: MW injected at sensitivity column j per MW awarded to bid b
    shares = np.zeros((len(bids), len(sens.buses)))
    for i, inj in enumerate(bids):
        for bus, share in zip(inj.buses, inj.mw_per_mw, strict=True):
            shares[i, sens.column(bus)] += share
    quantity = np.asarray([inj.quantity_w for inj in bids], dtype=float)
    a_all = np.asarray([awards_w.get(inj.bid, 0) for inj in bids], dtype=float)
    bus_labels = [f"bus {int(b)}" for b in m.bus_index]
    cuts: list[LinearCut] = []
    for row, t in enumerate(slots):
        act = np.asarray([t in inj.slots for inj in bids])
        if not act.any():
            continue
        idx = np.flatnonzero(act)
        active = [bids[i] for i in idx]
        sh, q, a_now = shares[idx], quantity[idx], a_all[idx]
        c_load = sh @ sens.loading[row].T / 1e6  # [bids, branches] % per W
        c_vm = sh @ sens.vm[row].T / 1e6 * VM_SCALE  # [bids, buses] thousandths of pu per W
        c_load[np.abs(c_load) < MIN_COEF] = 0.0
        c_vm[np.abs(c_vm) < MIN_COEF] = 0.0
        keep_e = np.ones(len(m.branch_label), dtype=bool)
        keep_b = np.ones(m.n_bus, dtype=bool)
        if only is not None:
            keep_e = np.asarray([(t, lbl) in only for lbl in m.branch_label])
            keep_b = np.asarray([(t, lbl) in only for lbl in bus_labels])
        vm_now = sens.base.vm_pu[row] * VM_SCALE
        cuts += _cuts_of(m.branch_label, f"loading{tag}", t, active,
                         c_load * keep_e, sens.base.loading_percent[row], load_bound, q, a_now)
        cuts += _cuts_of(bus_labels, f"vm max{tag}", t, active,
                         c_vm * keep_b, vm_now, vmax, q, a_now)
        cuts += _cuts_of(bus_labels, f"vm min{tag}", t, active,
                         -c_vm * keep_b, -vm_now, -vmin, q, a_now)
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


def _clear_or_relax(scenario: Scenario, cuts: list[LinearCut]) -> Result:
    """Clear with the cuts; if relief cuts contradict each other (no award set can
    relieve one element without overloading another), turn every demand for relief
    (rhs < 0) into "no worse than the forecast" (rhs 0): the needs stay unmet where
    they must, and the grid check says which overload remains."""
    try:
        return clear(scenario, cuts)
    except SolverError:
        cuts[:] = [c if c.rhs >= 0 else replace(c, rhs=0.0) for c in cuts]
        return clear(scenario, cuts)


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
    result = _clear_or_relax(scenario, cuts)
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
        result = _clear_or_relax(scenario, cuts)
        rounds += 1
    check = grid_check(case, before, after, rounds, len(cuts))
    return result.model_copy(update={"grid_check": check}).sealed(result.input_hash)


def asset_buses(scenario: Scenario, model: GridModel) -> dict[str, int]:
    """Each asset's bus position in `model`; every asset of a grid scenario needs a bus
    (the model clearing and the published inputs place assets by this one rule)."""
    out = {}
    for i, asset in enumerate(scenario.assets):
        if asset.bus is None:
            raise GridError(f"assets[{i}].bus: asset {asset.id} has no bus; a scenario with a grid "
                            "needs every asset's bus")
        out[asset.id] = model.bus_position(asset.bus, f"assets[{i}].bus")
    return out
