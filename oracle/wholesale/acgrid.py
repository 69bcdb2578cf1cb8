"""The AC power-flow part of the spot intermediary's grid check (issue 16 item 1), where
the DSO's grid model exists: the book's zones are zones of a SimBench grid and its `grid`
names the profile day.

For each MTU and direction, the grid at the day's forecast with every forwarded order of
that direction accepted at once (sells as less load, buys as more, each zone's watts
spread over its load buses as `oracle.capacity.limits` spreads capacity) must keep every
line and transformer within 100 % loading and every bus within 0.9-1.1 pu, in every
15-minute profile step the MTU covers: `oracle.capacity.limits.check_allocation`, the one
AC check of an allocation (pandapower model, lightsim2grid power flow). An element the
forecast already has past its limit may not be made worse (the same tolerance).

MTU t starts at profile step `(delivery_start's local time) / 15 min + t * mtu_minutes / 15`
of the grid's day; MTUs must be whole multiples of 15 minutes within that day.
"""

from __future__ import annotations

from typing import Any

from oracle.capacity.limits import capacity_zones, check_allocation, load_day
from oracle.grid.errors import GridError
from oracle.grid.model import STEP_MINUTES, STEPS_PER_DAY, GridModel
from oracle.grid.powerflow import AcSolver
from oracle.wholesale.orders import (
    Direction,
    FlowFailure,
    GridDecision,
    OrderBook,
    grid_check,
    refuse_failing,
)


def steps_of(book: OrderBook) -> tuple[int, int]:
    """(first profile step, steps per MTU); GridError naming the field when the auction
    does not fit the grid's day of 15-minute steps."""
    if book.mtu_minutes % STEP_MINUTES:
        raise GridError(f"mtu_minutes: {book.mtu_minutes} is not a multiple of the grid's "
                        f"{STEP_MINUTES}-minute steps")
    start = book.delivery_start
    first = (start.hour * 60 + start.minute) // STEP_MINUTES
    per_mtu = book.mtu_minutes // STEP_MINUTES
    if (start.hour * 60 + start.minute) % STEP_MINUTES or first + book.mtus * per_mtu > \
            STEPS_PER_DAY:
        raise GridError(f"delivery_start: {book.mtus} MTUs of {book.mtu_minutes} min from "
                        f"{start.time()} do not fit in the grid's day of 15-minute steps")
    return first, per_mtu


def check_zones(book: OrderBook, model: GridModel) -> None:
    """Every zone of the book is a zone of the grid model (GridError naming it)."""
    if book.grid is None:
        raise GridError("grid: the book names no grid model")
    known = {z.id for z in capacity_zones(model, book.grid.zones)}
    for i, z in enumerate(book.zones):
        if z.id not in known:
            raise GridError(f"zones[{i}].id: {z.id!r} is not a {book.grid.zones} zone of grid "
                            f"{model.name} with loads (e.g. {', '.join(sorted(known)[:3])})")


def load_grid(book: OrderBook) -> tuple[GridModel, AcSolver]:
    """The model of the book's grid and day (cached as every grid session caches it)."""
    if book.grid is None:
        raise GridError("grid: the book names no grid model")
    try:
        model, solver = load_day(book.grid.code, book.grid.day)
    except GridError as exc:  # load_day names its command's options: name the book's fields
        msg = str(exc).replace("--grid:", "grid.code:", 1).replace("--day:", "grid.day:", 1)
        raise GridError(msg) from exc
    steps_of(book)
    check_zones(book, model)
    return model, solver


def ac_failures(book: OrderBook, decision: GridDecision, model: GridModel,
                solver: AcSolver | None = None) -> list[FlowFailure]:
    """The MTUs and directions whose power flow fails with the decision's forwarded orders,
    each with the first element out of its limits (MTU order, sells first)."""
    if book.grid is None:
        raise GridError("grid: the book names no grid model")
    first, per_mtu = steps_of(book)
    solver = solver or AcSolver(model)
    out: list[FlowFailure] = []
    sides: tuple[Direction, Direction] = ("sell", "buy")
    for side in sides:
        sign = -1 if side == "sell" else 1
        added: dict[str, list[int]] = {}
        for o in decision.forwarded:
            if o.side != side:
                continue
            row = added.setdefault(o.zone, [0] * (book.mtus * per_mtu))
            for s in range(o.mtu * per_mtu, (o.mtu + 1) * per_mtu):
                row[s] += sign * o.quantity_w
        if not added:
            continue
        allocation: dict[str, Any] = {"allocations": [
            {"zone": z, "allocated_w": w} for z, w in sorted(added.items())]}
        found = check_allocation(model, allocation, solver, zones=book.grid.zones,
                                 first_slot=first)
        failed: dict[int, str] = {}
        for slot, violations in sorted(found.items()):
            mtu = slot // per_mtu
            if mtu not in failed:
                v = violations[0]
                label = model.step_labels[first + slot][-5:]
                unit = " pu" if v.element.startswith("bus") else " %"
                failed[mtu] = f"{v.element} at {v.value:.2f}{unit} in {label}"
        out += [FlowFailure(mtu, side, reason) for mtu, reason in sorted(failed.items())]
    return sorted(out, key=lambda f: (f.mtu, f.side != "sell"))


def decide(book: OrderBook, grid: tuple[GridModel, AcSolver] | None = None) -> GridDecision:
    """The whole grid check of a book, the one rule every node runs: the zone limits, then,
    when the book names a grid, the AC check (`grid`: its model and solver when already
    loaded, else loaded here)."""
    decision = grid_check(book)
    if book.grid is None:
        return decision
    if grid is None:
        grid = load_grid(book)
    model, solver = grid
    check_zones(book, model)
    return refuse_failing(book, decision, ac_failures(book, decision, model, solver))
