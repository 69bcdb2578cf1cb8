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
of the grid's day; MTUs must be whole multiples of 15 minutes within that day. The mFRR
bids get the same check per quarter (`decide_mfrr`): up as less load, down as more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from oracle.capacity.limits import capacity_zones, check_allocation, load_day
from oracle.grid.errors import GridError
from oracle.grid.model import STEP_MINUTES, STEPS_PER_DAY, GridModel
from oracle.grid.powerflow import AcSolver
from oracle.wholesale.mfrr import LocalBid, MfrrBook, MfrrDecision, aggregate
from oracle.wholesale.orders import (
    Direction,
    FlowFailure,
    GridDecision,
    GridRef,
    OrderBook,
    grid_check,
    refuse_failing,
)


class _Gridded(Protocol):
    """What the AC check needs of a book (an order book, an mFRR bid book)."""

    @property
    def delivery_start(self) -> datetime: ...

    @property
    def grid(self) -> GridRef | None: ...

    @property
    def zone_ids(self) -> list[str]: ...

    @property
    def periods(self) -> tuple[int, int]:  # (minutes, count)
        ...


def steps_of(book: _Gridded) -> tuple[int, int]:
    """(first profile step, steps per period); GridError naming the field when the book's
    periods do not fit the grid's day of 15-minute steps."""
    minutes, count = book.periods
    if minutes % STEP_MINUTES:
        raise GridError(f"mtu_minutes: {minutes} is not a multiple of the grid's "
                        f"{STEP_MINUTES}-minute steps")
    start = book.delivery_start
    first = (start.hour * 60 + start.minute) // STEP_MINUTES
    per_period = minutes // STEP_MINUTES
    if (start.hour * 60 + start.minute) % STEP_MINUTES or first + count * per_period > \
            STEPS_PER_DAY:
        raise GridError(f"delivery_start: {count} periods of {minutes} min from "
                        f"{start.time()} do not fit in the grid's day of 15-minute steps")
    return first, per_period


def check_zones(book: _Gridded, model: GridModel) -> None:
    """Every zone of the book is a zone of the grid model (GridError naming it)."""
    if book.grid is None:
        raise GridError("grid: the book names no grid model")
    known = {z.id for z in capacity_zones(model, book.grid.zones)}
    for i, z in enumerate(book.zone_ids):
        if z not in known:
            raise GridError(f"zones[{i}].id: {z!r} is not a {book.grid.zones} zone of grid "
                            f"{model.name} with loads (e.g. {', '.join(sorted(known)[:3])})")


def load_grid(book: _Gridded) -> tuple[GridModel, AcSolver]:
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


def failing_periods(book: _Gridded, model: GridModel, solver: AcSolver,
                    added: Mapping[tuple[str, int], int]) -> dict[int, str]:
    """The periods whose power flow fails with `added` watts of load (zone, period; less
    load negative) on the forecast, each with the first element out of its limits."""
    if book.grid is None:
        raise GridError("grid: the book names no grid model")
    first, per_period = steps_of(book)
    rows: dict[str, list[int]] = {}
    for (zone, period), w in sorted(added.items()):
        row = rows.setdefault(zone, [0] * (book.periods[1] * per_period))
        for s in range(period * per_period, (period + 1) * per_period):
            row[s] += w
    if not rows:
        return {}
    allocation: dict[str, Any] = {"allocations": [
        {"zone": z, "allocated_w": w} for z, w in sorted(rows.items())]}
    found = check_allocation(model, allocation, solver, zones=book.grid.zones,
                             first_slot=first)
    failed: dict[int, str] = {}
    for slot, violations in sorted(found.items()):
        period = slot // per_period
        if period not in failed:
            v = violations[0]
            label = model.step_labels[first + slot][-5:]
            unit = " pu" if v.element.startswith("bus") else " %"
            failed[period] = f"{v.element} at {v.value:.2f}{unit} in {label}"
    return failed


def ac_failures(book: OrderBook, decision: GridDecision, model: GridModel,
                solver: AcSolver | None = None) -> list[FlowFailure]:
    """The MTUs and directions whose power flow fails with the decision's forwarded orders
    (sells as less load, buys as more), MTU order, sells first."""
    solver = solver or AcSolver(model)
    out: list[FlowFailure] = []
    sides: tuple[Direction, Direction] = ("sell", "buy")
    for side in sides:
        added: dict[tuple[str, int], int] = defaultdict(int)
        for o in decision.forwarded:
            if o.side == side:
                added[o.zone, o.mtu] += -o.quantity_w if side == "sell" else o.quantity_w
        failed = failing_periods(book, model, solver, added)
        out += [FlowFailure(mtu, side, reason) for mtu, reason in sorted(failed.items())]
    return sorted(out, key=lambda f: (f.mtu, f.side != "sell"))


def mfrr_ac_failures(book: MfrrBook, admitted: Sequence[LocalBid], model: GridModel,
                     solver: AcSolver | None = None) -> list[tuple[int, str, str]]:
    """(quarter, direction, reason) whose power flow fails with every admitted bid of that
    direction activated (up as less load, down as more)."""
    solver = solver or AcSolver(model)
    out: list[tuple[int, str, str]] = []
    for direction in ("up", "down"):
        added: dict[tuple[str, int], int] = defaultdict(int)
        for x in admitted:
            if x.direction == direction:
                added[x.zone, x.quarter] += -x.quantity_w if direction == "up" else x.quantity_w
        failed = failing_periods(book, model, solver, added)
        out += [(q, direction, reason) for q, reason in sorted(failed.items())]
    return sorted(out)


def _model_of(book: _Gridded, grid: tuple[GridModel, AcSolver] | None
              ) -> tuple[GridModel, AcSolver]:
    """The book's grid model and solver: `grid` when loaded (its zones checked), else
    loaded."""
    if grid is None:
        return load_grid(book)
    check_zones(book, grid[0])
    return grid


def decide(book: OrderBook, grid: tuple[GridModel, AcSolver] | None = None) -> GridDecision:
    """The whole grid check of a book, the one rule every node runs: the zone limits, then,
    when the book names a grid, the AC check (`grid`: its model and solver when already
    loaded, else loaded here)."""
    decision = grid_check(book)
    if book.grid is None:
        return decision
    model, solver = _model_of(book, grid)
    return refuse_failing(book, decision, ac_failures(book, decision, model, solver))


def decide_mfrr(book: MfrrBook, grid: tuple[GridModel, AcSolver] | None = None
                ) -> MfrrDecision:
    """The mFRR bids' grid check and aggregation: the zone limits, then, when the book names
    a grid, the AC check of every admitted bid of a quarter and direction activated at
    once; the bids of a failing one are refused before the products are made."""
    decision = aggregate(book)
    if book.grid is None:
        return decision
    model, solver = _model_of(book, grid)
    return aggregate(book, mfrr_ac_failures(book, decision.admitted, model, solver))
