"""The clearing engine: the cheapest awards that meet the needs, on HiGHS.

A pure function from a scenario to a result, built from small named steps
(PyPSA's habit): `define_award_variables`, `define_need_constraints`,
`define_cut_constraints`, then `relax_and_round` (or the integer MILP where that
proves nothing), then exact integer post-processing (`allocate`, `price_awards`).

The model. Every valid bid b gets one integer variable: a binary y_b for an
indivisible bid (award q_b * y_b), or k_b in {0} u [kmin_b, K_b] (award
granularity * k_b; semi-integer when a minimum quantity applies). Bids that
may serve exactly the same requests are interchangeable inside a slot, so the
split of awards among requests is modelled per *eligibility class* (bids of
one direction with the same set of eligible requests), not per bid. In a slot
whose needs must all be met, the split is not modelled at all: the engine
states the slot's Hall conditions (for every closed, connected set of requests,
the classes that may serve it supply at least its need), pure covering rows over
award columns, rounded up and coefficient-tightened: the exact projection of the
split, and a tighter LP. Where there would be too many such sets, or unmet
needs are priced, a class with one eligible request feeds that request's need
row directly and a class with several gets continuous split variables
x[class, request, slot]. Either way it is exact: a feasible split per class
exists iff one per bid exists.

Solving. Independent parts (no common request) are separate MILPs, solved on
the machine's cores (oracle.parallel). A part that is one covering knapsack
(indivisible bids only, every row over the same bids) is solved exactly by
dynamic programming (`single_cover_dp`); the others by `relax_and_round`, or
the integer MILP where that proves nothing. Wide integer columns reach HiGHS as
digits (`expand_wide_integers`: HiGHS's root reduced-cost fixing is quadratic
in a column's range); for the same reason unmet columns are continuous (their
optimum is integral for integer awards anyway).

Unmet needs. When the penalty exceeds the cost of every bid together
(`lexicographic` regime, the default penalty in practice), leaving a watt
unmet is never worth any saving, so the engine first computes the least unmet
per slot with every bid fully awarded (an integer max-flow), then minimises
the award cost subject to that: no huge penalty coefficient enters the MILP.
Otherwise the penalty enters the objective as written.

Exactness. Objective values of integer award vectors are integers (µEUR), so
a proven absolute gap below 1 µEUR is the exact optimum. Sessions above
`exact_max_bids` valid bids are solved to a relative gap of `GAP_LIMIT` and
the result states it in `mip_gap`. The solver runs single-threaded with a
fixed seed and no time limit in the decision path: same input, same awards.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

from oracle.errors import SolverError
from oracle.flow import bipartite_max_flow
from oracle.parallel import Model, Outcome, solve_all
from oracle.result import Award, Rejected, Result, Unmet
from oracle.rules import ValidBid, bid_serves, validate_bids
from oracle.scenario import Scenario, per_slot

EXACT_MAX_BIDS = 2500
GAP_LIMIT = "0.0001"  # the relative gap guaranteed above EXACT_MAX_BIDS, as stated in results


@dataclass(frozen=True)
class LinearCut:
    """A linear constraint on awards in one slot: sum(coef * award_w) <= rhs.

    Terms name bids; a term whose bid is not active in `slot` (or not valid)
    is ignored. Used by grid validation (PTDF and voltage sensitivities).
    """

    name: str
    slot: int
    terms: tuple[tuple[str, float], ...]
    rhs: float


@dataclass(frozen=True)
class Need:
    request: int  # index in scenario.requests
    slot: int
    quantity_w: int


@dataclass
class Session:
    """The engine's view of a scenario: valid bids and per-slot needs."""

    scenario: Scenario
    bids: list[ValidBid]  # valid bids in tie-break rank order
    needs: dict[tuple[int, int], int]  # (request, slot) -> W, positive only
    eligible: dict[str, tuple[int, ...]]  # bid id -> requests it may serve (with some need)

    @property
    def n_slots(self) -> int:
        return self.scenario.market.slots


@dataclass
class Milp:
    """A MILP under construction: columns, then rows as sparse (col, coef) lists."""

    cost: list[int] = field(default_factory=list)  # µEUR per unit of the column
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    kind: list[highspy.HighsVarType] = field(default_factory=list)
    row_cols: list[list[int]] = field(default_factory=list)
    row_coefs: list[list[float]] = field(default_factory=list)
    row_lower: list[float] = field(default_factory=list)
    row_upper: list[float] = field(default_factory=list)
    # bookkeeping
    award_col: dict[str, int] = field(default_factory=dict)  # bid id -> column
    award_unit_w: dict[str, int] = field(default_factory=dict)  # W per unit of that column
    need_row: dict[tuple[int, int], int] = field(default_factory=dict)
    unmet_col: dict[tuple[int, int], int] = field(default_factory=dict)

    def add_col(self, cost: int, lo: float, hi: float, kind: highspy.HighsVarType) -> int:
        self.cost.append(cost)
        self.lower.append(lo)
        self.upper.append(hi)
        self.kind.append(kind)
        return len(self.cost) - 1

    def add_row(self, cols: list[int], coefs: list[float], lo: float, hi: float) -> int:
        self.row_cols.append(cols)
        self.row_coefs.append(coefs)
        self.row_lower.append(lo)
        self.row_upper.append(hi)
        return len(self.row_lower) - 1


@dataclass(frozen=True)
class Solution:
    awards_w: dict[str, int]  # bid id -> awarded W (zero awards omitted)
    exact: bool


# --------------------------------------------------------------------------- session


def build_session(scenario: Scenario) -> tuple[Session, list[Rejected]]:
    """The engine's view of a scenario (valid bids, needs, eligibility) and its rejections.

    Computed once per scenario object: the clearing, the payer rule (`oracle.payers`), the
    grid and coordination steps and a replica's checks of one session all read the same
    session, and validating every bid again was most of a replica's extra time on easy
    sessions (issue 13 item 3). Scenarios are frozen; the cache holds the last
    SESSION_CACHE scenario objects by identity (a copy is built afresh); a Session refers
    to its scenario, so a weak reference would never expire. The Session is shared:
    callers read it and never change it."""
    for cached, session, rejected in _SESSIONS:
        if cached is scenario:
            return session, list(rejected)
    session, fresh = _build_session(scenario)
    _SESSIONS.insert(0, (scenario, session, tuple(fresh)))
    del _SESSIONS[SESSION_CACHE:]
    return session, fresh


SESSION_CACHE = 2  # scenarios whose Session is kept (the one being cleared and verified)
_SESSIONS: list[tuple[Scenario, Session, tuple[Rejected, ...]]] = []


def _build_session(scenario: Scenario) -> tuple[Session, list[Rejected]]:
    valid, rejections = validate_bids(scenario)
    n = scenario.market.slots
    needs: dict[tuple[int, int], int] = {}
    for r, req in enumerate(scenario.requests):
        for t, q in enumerate(per_slot(req.quantity_w, n) or []):
            if q > 0:
                needs[(r, t)] = q
    # requests by (direction, zone); zone None = system-wide
    by_dir_zone: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for r, req in enumerate(scenario.requests):
        by_dir_zone[(req.direction, req.zone)].append(r)
    eligible: dict[str, tuple[int, ...]] = {}
    for bid in valid:
        reqs = sorted(by_dir_zone.get((bid.direction, bid.zone), []) +
                      by_dir_zone.get((bid.direction, None), []))
        ok = tuple(r for r in reqs if bid_serves(bid, scenario.requests[r]))
        if any((r, t) in needs for r in ok for t in bid.slots):
            eligible[bid.id] = ok
    session = Session(
        scenario=scenario,
        bids=sorted(valid, key=lambda b: b.rank),
        needs=needs,
        eligible=eligible,
    )
    return session, [Rejected(bid=r.bid, reason=r.reason) for r in rejections]


def least_unmet_per_slot(session: Session) -> dict[int, int]:
    """Unmet watts per slot with every eligible bid fully awarded: a floor for any award set."""
    full = {b.id: b.quantity_w for b in session.bids if b.id in session.eligible}
    unmet = allocate(session, full)
    per_slot_total: dict[int, int] = defaultdict(int)
    for (_, t), w in unmet.items():
        per_slot_total[t] += w
    return dict(per_slot_total)


# --------------------------------------------------------------------------- model steps


def define_award_variables(m: Milp, session: Session) -> None:
    """One integer column per bid that may serve a need, in tie-break rank order."""
    g = session.scenario.market.granularity_w
    for bid in session.bids:
        if bid.id not in session.eligible:
            continue
        if not bid.divisible or bid.min_quantity_w >= bid.quantity_w:
            col = m.add_col(bid.price_eur_per_mw * bid.quantity_w, 0, 1,
                            highspy.HighsVarType.kInteger)
            m.award_unit_w[bid.id] = bid.quantity_w
        else:
            k_max = bid.quantity_w // g
            k_min = -(-bid.min_quantity_w // g)
            kind = highspy.HighsVarType.kSemiInteger if k_min > 1 else highspy.HighsVarType.kInteger
            col = m.add_col(bid.price_eur_per_mw * g, k_min if k_min > 1 else 0, k_max, kind)
            m.award_unit_w[bid.id] = g
        m.award_col[bid.id] = col


def _classes(session: Session) -> dict[tuple[int, ...], list[ValidBid]]:
    classes: dict[tuple[int, ...], list[ValidBid]] = defaultdict(list)
    for bid in session.bids:
        if bid.id in session.eligible:
            classes[session.eligible[bid.id]].append(bid)
    return classes


HALL_SETS_LIMIT = 256  # closed request sets per slot before falling back to split variables


def hall_sets(
    requests: Sequence[int], classes: Sequence[tuple[int, ...]], limit: int = HALL_SETS_LIMIT
) -> list[tuple[tuple[int, ...], tuple[int, ...]]] | None:
    """The request sets whose Hall condition must be stated for one slot, or None if too many.

    `classes[i]` lists the requests (with a need in the slot) class i may serve. Awards can
    meet every need of the slot iff for every request set Q the classes eligible for some
    request of Q supply at least Q's need (Gale/Hall for an uncapacitated transportation
    problem). Only *closed* sets (every request whose classes all serve Q is in Q) and
    *connected* ones (not two parts with disjoint classes) are needed: the others are
    dominated or sums of smaller ones. Returns (requests of Q, classes serving Q) pairs.
    """
    served_by = {r: frozenset(i for i, e in enumerate(classes) if r in e) for r in requests}
    if any(not c for c in served_by.values()):
        return None

    def closure(cls: frozenset[int]) -> tuple[int, ...]:
        return tuple(r for r in requests if served_by[r] <= cls)

    seen: dict[frozenset[int], tuple[int, ...]] = {}
    stack: list[frozenset[int]] = []
    for r in requests:
        cls = served_by[r]
        if cls not in seen:
            seen[cls] = closure(cls)
            stack.append(cls)
    while stack:
        cls = stack.pop()
        members = seen[cls]
        for r in requests:
            if r in members or not served_by[r] & cls:
                continue
            grown = cls | served_by[r]
            if grown not in seen:
                if len(seen) >= limit:
                    return None
                seen[grown] = closure(grown)
                stack.append(grown)
    return sorted(((q, tuple(sorted(c))) for c, q in seen.items()), key=lambda qc: (len(qc[1]), qc))


def _cover_row(m: Milp, terms: list[tuple[int, int]], need_w: int, g: int) -> int:
    """sum(unit_w * col) >= need_w over award columns only, in units of g: the need is rounded
    up (Chvatal-Gomory) and no column counts for more than the need (coefficient tightening)."""
    need_units = -(-need_w // g)
    per_col: dict[int, int] = defaultdict(int)
    for col, unit_w in terms:
        per_col[col] += unit_w // g
    cols = sorted(per_col)
    coefs = [float(min(per_col[c], need_units)) for c in cols]
    return m.add_row(cols, coefs, float(need_units), np.inf)


def define_need_constraints(
    m: Milp, session: Session, penalty: int, lexicographic: bool, unmet_floor: dict[int, int],
    hall: bool = True,
) -> None:
    """For every slot, the awards must be able to meet the slot's needs (less unmet).

    In a slot whose needs must all be met (the lexicographic regime with no unavoidable
    unmet), the engine states the Hall conditions of the slot's transportation problem,
    pure covering rows over award columns, when there are few: that is the exact
    projection of the split, with no continuous split variables and tighter rows.
    Otherwise (or when there would be too many sets), it splits: eligibility classes
    with one request feed its row directly; classes with several get split variables
    bounded by the class's awards in that slot, and unmet columns take the rest.
    """
    g = session.scenario.market.granularity_w
    need_slots: dict[int, list[int]] = defaultdict(list)
    for r, t in sorted(session.needs):
        need_slots[t].append(r)
    # slot -> class (eligible requests) -> award terms (column, W per unit), in the slots
    # with a need only (the others are never read)
    supply: dict[int, dict[tuple[int, ...], list[tuple[int, int]]]] = defaultdict(dict)
    for reqs, bids in _classes(session).items():
        for bid in bids:
            term = (m.award_col[bid.id], m.award_unit_w[bid.id])
            for t in bid.slots:
                if t in need_slots:
                    supply[t].setdefault(reqs, []).append(term)

    for t in sorted(need_slots):
        slot_reqs = need_slots[t]
        at_t = sorted(supply.get(t, {}).items())
        targets = [tuple(r for r in cls if (r, t) in session.needs) for cls, _ in at_t]
        hard = lexicographic and unmet_floor.get(t, 0) == 0
        sets = hall_sets(slot_reqs, targets) if hard and hall else None
        if sets is not None:
            for q_reqs, q_classes in sets:
                terms = [term for i in q_classes for term in at_t[i][1]]
                need_w = sum(session.needs[(r, t)] for r in q_reqs)
                row = _cover_row(m, terms, need_w, g)
                if len(q_reqs) == 1:
                    m.need_row[(q_reqs[0], t)] = row
            continue
        _split_slot(m, session, t, slot_reqs, at_t, targets, penalty, lexicographic, hard,
                    unmet_floor.get(t, 0))


def _split_slot(
    m: Milp, session: Session, t: int, reqs: list[int],
    at_t: list[tuple[tuple[int, ...], list[tuple[int, int]]]], targets: list[tuple[int, ...]],
    penalty: int, lexicographic: bool, hard: bool, floor: int,
) -> None:
    """The split formulation of one slot's needs (see define_need_constraints)."""
    g = session.scenario.market.granularity_w
    rows: dict[int, tuple[list[int], list[float]]] = {r: ([], []) for r in reqs}
    direct: dict[int, list[tuple[int, int]]] = {r: [] for r in reqs}
    for (_, terms), tg in zip(at_t, targets, strict=True):
        if not tg:
            continue
        if len(tg) == 1:
            direct[tg[0]].extend(terms)
            continue
        split_cols = []
        for r in tg:
            x = m.add_col(0, 0.0, float(session.needs[(r, t)]), highspy.HighsVarType.kContinuous)
            split_cols.append(x)
            rows[r][0].append(x)
            rows[r][1].append(1.0)
        m.add_row(split_cols + [c for c, _ in terms],
                  [1.0] * len(split_cols) + [-float(w) for _, w in terms], -np.inf, 0.0)
    unmet_cols = []
    for r in reqs:
        q = session.needs[(r, t)]
        cols, coefs = rows[r]
        if hard and not cols:
            m.need_row[(r, t)] = _cover_row(m, direct[r], q, g)
            continue
        cols = cols + [c for c, _ in direct[r]]
        coefs = coefs + [float(w) for _, w in direct[r]]
        if not hard:
            # continuous: for integer awards the least unmet is integral anyway (a
            # transportation problem with integer data), so every optimum still costs a
            # whole number of objective units and a gap below one unit is exactness.
            # As integer columns (ranges of up to a need's watts) they made HiGHS's root
            # reduced-cost fixing quadratic in the range: a 37-column part took 3 s
            # instead of 0.05 s (issue 13's "tiny parts that take 23 s").
            u = m.add_col(0 if lexicographic else penalty, 0.0, float(q),
                          highspy.HighsVarType.kContinuous)
            m.unmet_col[(r, t)] = u
            unmet_cols.append(u)
            cols, coefs = cols + [u], coefs + [1.0]
        m.need_row[(r, t)] = m.add_row(cols, coefs, float(q), np.inf)
    if lexicographic and unmet_cols:
        m.add_row(unmet_cols, [1.0] * len(unmet_cols), -np.inf, float(floor))


def define_cut_constraints(m: Milp, session: Session, cuts: Sequence[LinearCut]) -> None:
    """Grid cuts: sum(coef * award_w) <= rhs over the bids active in the cut's slot."""
    if not cuts:
        return
    active = {b.id: set(b.slots) for b in session.bids}
    for cut in cuts:
        cols, coefs = [], []
        for bid_id, coef in cut.terms:
            if bid_id in m.award_col and cut.slot in active[bid_id]:
                cols.append(m.award_col[bid_id])
                coefs.append(coef * m.award_unit_w[bid_id])
        if cols:
            m.add_row(cols, coefs, -np.inf, cut.rhs)
        elif cut.rhs < 0:
            raise SolverError(f"grid cut {cut.name!r} cannot be met by any award (rhs {cut.rhs})")


def objective_unit(m: Milp) -> int:
    """Greatest common divisor of the (integer µEUR) objective coefficients.

    Every objective value is a multiple of it, so HiGHS works on costs divided
    by it (better numerics) and a proven gap below one unit is the optimum.
    """
    unit = 0
    for c in m.cost:
        unit = math.gcd(unit, int(c))
    return unit or 1


DIGIT_MAX = 32  # integer columns of a wider range are written in digits: expand_wide_integers


@dataclass
class HighsModel:
    """Column-wise arrays for HiGHS, and how to read the Milp's columns back from its values."""

    cost: list[float]
    lower: list[float]
    upper: list[float]
    kind: list[highspy.HighsVarType]
    columns: list[list[tuple[int, float]]]  # per column: (row, coef)
    row_lower: list[float]
    row_upper: list[float]
    digits: dict[int, list[tuple[int, int]]]  # Milp column -> [(HiGHS column, weight)]
    # with no digits: the matrix as column-wise (start, index, value) arrays, `columns` empty
    csc: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _csc(m: Milp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Milp's rows as column-wise arrays: per column, its entries in row order (the
    order the per-column lists of expand_wide_integers have)."""
    n_col = len(m.cost)
    lengths = [len(c) for c in m.row_cols]
    cols = np.fromiter((c for row in m.row_cols for c in row), dtype=np.int64,
                       count=sum(lengths))
    vals = np.fromiter((v for row in m.row_coefs for v in row), dtype=float, count=len(cols))
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    order = np.argsort(cols, kind="stable")  # rows ascending within a column
    start = np.zeros(n_col + 1, dtype=np.int32)
    np.cumsum(np.bincount(cols, minlength=n_col), out=start[1:])
    return start, rows[order].astype(np.int32), vals[order]


def expand_wide_integers(m: Milp, unit: int, digit_max: int = DIGIT_MAX) -> HighsModel:
    """The Milp for HiGHS, with every integer column of range above DIGIT_MAX written as
    digits: k = sum(F**i * d_i), 0 <= d_i < F (top digit up to k_max // F**top), plus
    sum <= k_max when the digits could exceed it. The LP relaxation is unchanged (the
    digits span exactly [0, k_max]); a semi-integer k in {0} u [k_min, k_max] gets an
    on/off binary z with k_min z <= k <= k_max z.

    Why: HiGHS's root reduced-cost fixing stores a "lurking bound" per value of every
    integer column and inserts them in quadratic time in the range; with award columns of
    hundreds of granularity units this dominated the root cut loop (over 80 % of the time).
    Digits keep every range small. HiGHS's presolve would merge the digits back (they are
    parallel columns): `oracle.parallel.run_highs` switches that presolve rule off.
    """
    n_col = len(m.cost)
    integer = (highspy.HighsVarType.kInteger, highspy.HighsVarType.kSemiInteger)
    if not any(
        m.kind[j] in integer and math.isfinite(m.upper[j]) and m.upper[j] > digit_max
        and (m.kind[j] == highspy.HighsVarType.kSemiInteger or m.lower[j] == 0)
        for j in range(n_col)
    ):
        return HighsModel(
            cost=[c // unit for c in m.cost], lower=list(m.lower), upper=list(m.upper),
            kind=list(m.kind), columns=[], row_lower=list(m.row_lower),
            row_upper=list(m.row_upper), digits={}, csc=_csc(m),
        )
    columns: list[list[tuple[int, float]]] = [[] for _ in range(n_col)]
    for i, (cols, coefs) in enumerate(zip(m.row_cols, m.row_coefs, strict=True)):
        for c, v in zip(cols, coefs, strict=True):
            columns[c].append((i, v))
    hm = HighsModel(
        cost=[c // unit for c in m.cost], lower=list(m.lower), upper=list(m.upper),
        kind=list(m.kind), columns=columns, row_lower=list(m.row_lower),
        row_upper=list(m.row_upper), digits={},
    )
    for j in range(n_col):
        semi = m.kind[j] == highspy.HighsVarType.kSemiInteger
        if m.kind[j] not in integer or not math.isfinite(m.upper[j]):
            continue  # continuous, or unbounded above (no range to split into digits)
        k_max = int(m.upper[j])
        if k_max <= digit_max or (not semi and m.lower[j] != 0):
            continue
        k_min = int(m.lower[j]) if semi else 0
        levels = 1
        while -(-(k_max + 1) // DIGIT_MAX ** levels) > DIGIT_MAX:
            levels += 1
        base = 2
        while base ** (levels + 1) <= k_max:  # smallest base whose levels+1 digits reach k_max
            base += 1
        weights = [base ** i for i in range(levels + 1)]
        tops = [base - 1] * levels + [k_max // weights[-1]]
        cols = [j] + [len(hm.cost) + i for i in range(levels)]
        for i, (w, top) in enumerate(zip(weights, tops, strict=True)):
            entries = [(row, v * w) for row, v in columns[j]]
            if i == 0:
                hm.cost[j], hm.lower[j], hm.upper[j] = m.cost[j] // unit, 0.0, float(top)
                hm.kind[j] = highspy.HighsVarType.kInteger
                hm.columns[j] = entries
            else:
                hm.cost.append(m.cost[j] // unit * w)
                hm.lower.append(0.0)
                hm.upper.append(float(top))
                hm.kind.append(highspy.HighsVarType.kInteger)
                hm.columns.append(entries)
        hm.digits[j] = list(zip(cols, weights, strict=True))
        reach = sum(w * top for w, top in zip(weights, tops, strict=True))
        if semi:
            z = len(hm.cost)
            hm.cost.append(0)
            hm.lower.append(0.0)
            hm.upper.append(1.0)
            hm.kind.append(highspy.HighsVarType.kInteger)
            hm.columns.append([])
            for bound, lo, hi in ((k_max, -np.inf, 0.0), (k_min, 0.0, np.inf)):
                row = len(hm.row_lower)
                hm.row_lower.append(lo)
                hm.row_upper.append(hi)
                for c, w in hm.digits[j]:
                    hm.columns[c].append((row, float(w)))
                hm.columns[z].append((row, -float(bound)))
        elif reach > k_max:
            row = len(hm.row_lower)
            hm.row_lower.append(-np.inf)
            hm.row_upper.append(float(k_max))
            for c, w in hm.digits[j]:
                hm.columns[c].append((row, float(w)))
    return hm


def highs_arrays(hm: HighsModel, exact: bool) -> Model:
    """The model as oracle.parallel passes it to HiGHS (column-wise arrays)."""
    if hm.csc is not None:
        start_a, index_a, value_a = hm.csc
    else:
        start, index, value = [0], [], []
        for entries in hm.columns:
            for i, v in entries:
                index.append(i)
                value.append(v)
            start.append(len(index))
        start_a = np.asarray(start, dtype=np.int32)
        index_a = np.asarray(index, dtype=np.int32)
        value_a = np.asarray(value, dtype=float)
    return {
        "cost": np.asarray(hm.cost, dtype=float),
        "lower": np.asarray(hm.lower, dtype=float),
        "upper": np.asarray(hm.upper, dtype=float),
        "kind": np.asarray([int(k) for k in hm.kind], dtype=np.int8),
        "row_lower": np.asarray(hm.row_lower, dtype=float),
        "row_upper": np.asarray(hm.row_upper, dtype=float),
        "start": start_a,
        "index": index_a,
        "value": value_a,
        # exact: objectives are integer multiples of the unit, a gap below one is the optimum
        "rel_gap": 0.0 if exact else float(GAP_LIMIT),
        "abs_gap": 0.999 if exact else 0.0,
    }


def column_values(m: Milp, hm: HighsModel, outcome: Outcome) -> dict[int, float]:
    """The Milp's column values from HiGHS's (digits summed back)."""
    if outcome["status"] != "Optimal":
        raise SolverError(f"HiGHS ended with status {outcome['status']}")
    values = outcome["values"]
    out = dict(enumerate(values[: len(m.cost)]))
    for j, digits in hm.digits.items():
        out[j] = float(sum(round(values[c]) * w for c, w in digits))
    return out


def split_milp(m: Milp) -> list[tuple[Milp, list[int]]]:
    """The independent blocks of a Milp (no row joins them), each with its columns' indices
    in `m`. A column in no row is a block of its own. Bookkeeping maps are not carried."""
    parent = list(range(len(m.cost)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for cols in m.row_cols:
        if cols:
            root = find(cols[0])
            for c in cols[1:]:
                other = find(c)
                if other != root:
                    parent[other] = root
    members: dict[int, list[int]] = defaultdict(list)
    for j in range(len(m.cost)):
        members[find(j)].append(j)
    row_of_block: dict[int, list[int]] = defaultdict(list)
    for i, cols in enumerate(m.row_cols):
        if cols:
            row_of_block[find(cols[0])].append(i)
    blocks = []
    for root, cols in sorted(members.items(), key=lambda kv: kv[1][0]):
        index = {j: k for k, j in enumerate(cols)}
        b = Milp(
            cost=[m.cost[j] for j in cols], lower=[m.lower[j] for j in cols],
            upper=[m.upper[j] for j in cols], kind=[m.kind[j] for j in cols],
        )
        for i in row_of_block.get(root, []):
            b.add_row([index[c] for c in m.row_cols[i]], list(m.row_coefs[i]),
                      m.row_lower[i], m.row_upper[i])
        blocks.append((b, cols))
    return blocks


def solve_many(milps: Sequence[Milp], exact: bool) -> list[dict[int, float]]:
    """Column values of each Milp's optimum (exact or within GAP_LIMIT; wide integers as
    digits), each Milp split into its independent blocks, the blocks solved
    on the machine's cores (oracle.parallel: same answers as one by one)."""
    blocks = [(i, b, cols) for i, m in enumerate(milps) for b, cols in split_milp(m)]
    models = [expand_wide_integers(b, objective_unit(b)) for _, b, _ in blocks]
    outcomes = solve_all([highs_arrays(hm, exact) for hm in models])
    values: list[dict[int, float]] = [{} for _ in milps]
    for (i, b, cols), hm, outcome in zip(blocks, models, outcomes, strict=True):
        for k, v in column_values(b, hm, outcome).items():
            values[i][cols[k]] = v
    return values


# --------------------------------------------------------------------------- exact post-processing


def read_awards(m: Milp, values: dict[int, float]) -> dict[str, int]:
    awards = {}
    for bid_id, col in m.award_col.items():
        units = round(values[col])
        if abs(values[col] - units) > 1e-5:
            raise SolverError(f"bid {bid_id}: non-integral award {values[col]!r}")
        if units:
            awards[bid_id] = units * m.award_unit_w[bid_id]
    return awards


def allocate(session: Session, awards_w: dict[str, int]) -> dict[tuple[int, int], int]:
    """Unmet watts per (request, slot) once `awards_w` is split by an integer max-flow."""
    need_slots: dict[int, list[int]] = defaultdict(list)
    for (r, t) in sorted(session.needs):
        need_slots[t].append(r)
    by_class_slot: dict[int, dict[tuple[int, ...], int]] = defaultdict(lambda: defaultdict(int))
    for bid in session.bids:
        w = awards_w.get(bid.id, 0)
        if w and bid.id in session.eligible:
            cls = session.eligible[bid.id]
            for t in bid.slots:
                if t in need_slots:  # the others are never read
                    by_class_slot[t][cls] += w
    unmet: dict[tuple[int, int], int] = {}
    for t, reqs in sorted(need_slots.items()):
        classes = sorted(by_class_slot.get(t, {}).items())
        supplies = [w for _, w in classes]
        demands = [session.needs[(r, t)] for r in reqs]
        pos = {r: j for j, r in enumerate(reqs)}
        edges = [(i, pos[r]) for i, (cls, _) in enumerate(classes) for r in cls if r in pos]
        received = [0] * len(reqs)
        if len({i for i, _ in edges}) == len(edges):
            # no class may serve two of the slot's requests: every maximum flow is the
            # same, each request receiving what its own classes offer, up to its need
            for i, j in edges:
                received[j] += supplies[i]
            received = [min(w, d) for w, d in zip(received, demands, strict=True)]
        else:
            for (_, j), f in bipartite_max_flow(supplies, demands, edges).items():
                received[j] += f
        for j, r in enumerate(reqs):
            if demands[j] - received[j]:
                unmet[(r, t)] = demands[j] - received[j]
    return unmet


def price_awards(session: Session, awards_w: dict[str, int]) -> list[Award]:
    """Payments: the bid's price (pay-as-bid) or the highest accepted price of its zone and
    direction (uniform). Sorted by bid id."""
    bids = {b.id: b for b in session.bids}
    uniform = session.scenario.market.pricing == "uniform"
    clearing: dict[tuple[str, str], int] = {}
    for bid_id in awards_w:
        b = bids[bid_id]
        key = (b.zone, b.direction)
        clearing[key] = max(clearing.get(key, b.price_eur_per_mw), b.price_eur_per_mw)
    out = []
    for bid_id in sorted(awards_w):
        b = bids[bid_id]
        price = clearing[(b.zone, b.direction)] if uniform else b.price_eur_per_mw
        w = awards_w[bid_id]
        out.append(Award(bid=bid_id, seller=b.seller, quantity_w=w, price_eur_per_mw=price,
                         payment_ueur=w * price))
    return out


# --------------------------------------------------------------------------- entry point


def bid_groups(
    bids: Sequence[ValidBid], eligible: Mapping[str, tuple[int, ...]],
    cuts: Sequence[LinearCut] = (),
) -> tuple[list[list[ValidBid]], Callable[[object], object]]:
    """Eligible bids grouped so that no request (`("r", index)`) nor grid cut joins two
    groups, each group in the order of `bids`, groups in the order of their first bid;
    and the union-find's `find` (a bid `("b", id)` or a request to its group's root)."""
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: object, b: object) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for bid in bids:
        for r in eligible.get(bid.id, ()):
            union(("b", bid.id), ("r", r))
    for cut in cuts:
        ids = [b for b, _ in cut.terms if b in eligible]
        for other in ids[1:]:
            union(("b", ids[0]), ("b", other))
    groups: dict[object, list[ValidBid]] = defaultdict(list)
    for bid in bids:
        if bid.id in eligible:
            groups[find(("b", bid.id))].append(bid)
    return list(groups.values()), find


def components(session: Session, cuts: Sequence[LinearCut] = ()) -> list[Session]:
    """Split a session into independent parts: bids that never serve a common request,
    nor share a grid cut, can be optimised separately (a smaller MILP each, and exact
    B&B on a part does not multiply with the others' trees)."""
    # rank order: each group's first bid fixes the group order
    groups, find = bid_groups(session.bids, session.eligible, cuts)
    root_of = {r: find(("r", r)) for r in {r for r, _ in session.needs}}
    needs_of: dict[object, dict[tuple[int, int], int]] = defaultdict(dict)
    for k, q in session.needs.items():  # in the session's order, as before
        needs_of[root_of[k[0]]][k] = q
    parts = []
    for bids in groups:
        root = find(("b", bids[0].id))
        parts.append(Session(
            scenario=session.scenario,
            bids=bids,
            needs=needs_of.get(root, {}),
            eligible={b.id: session.eligible[b.id] for b in bids},
        ))
    return parts


def build_part_model(part: Session, cuts: Sequence[LinearCut], hall: bool = True) -> Milp:
    """The MILP of one independent part (`hall`: see define_need_constraints)."""
    penalty = part.scenario.unmet_penalty_eur_per_mw
    # Raising one bid to its full quantity costs at most max(q * p) and, when any unmet
    # is avoidable, avoids at least one watt (max-flow is submodular in the supplies):
    # above that penalty, minimal unmet comes first (no penalty coefficient in the MILP).
    # Grid cuts may forbid the full awards the floor assumes: then the penalty is used.
    lexicographic = not cuts and penalty > max(
        (max(b.price_eur_per_mw, 0) * b.quantity_w for b in part.bids), default=0
    )
    floor = least_unmet_per_slot(part) if lexicographic else {}
    m = Milp()
    define_award_variables(m, part)
    define_need_constraints(m, part, penalty, lexicographic, floor, hall)
    define_cut_constraints(m, part, cuts)
    return m


INTEGRAL_TOL = 1e-6  # a relaxed award within this of an integer is that integer
RELAXED_GAP = 8e-5  # the relaxed MILPs' gap: the rest of GAP_LIMIT is left to the rounding


def _relaxed(m: Milp) -> Milp:
    """`m` with every award column of a divisible bid continuous (semi-continuous with a
    minimum quantity): indivisible bids stay binary. A relaxation: its optimum and every
    dual bound of it bound the integer optimum from below."""
    integer, semi = highspy.HighsVarType.kInteger, highspy.HighsVarType.kSemiInteger
    awards = set(m.award_col.values())
    kind = list(m.kind)
    for j in awards:
        if kind[j] == integer and m.upper[j] > 1:
            kind[j] = highspy.HighsVarType.kContinuous
        elif kind[j] == semi:
            kind[j] = highspy.HighsVarType.kSemiContinuous
    return Milp(cost=m.cost, lower=m.lower, upper=m.upper, kind=kind, row_cols=m.row_cols,
                row_coefs=m.row_coefs, row_lower=m.row_lower, row_upper=m.row_upper,
                award_col=m.award_col, award_unit_w=m.award_unit_w, need_row=m.need_row,
                unmet_col=m.unmet_col)


def _rounding(m: Milp, relaxed: Milp, values: dict[int, float]) -> Milp:
    """`m` with the relaxed solution's on/off decisions fixed: each indivisible bid's binary,
    each minimum-quantity bid on (at least its minimum) or off. Divisible quantities stay
    free integers; rounding the relaxed ones up is feasible for every covering row."""
    lower, upper, kind = list(m.lower), list(m.upper), list(m.kind)
    for j in m.award_col.values():
        v = values[j]
        if relaxed.kind[j] == highspy.HighsVarType.kSemiContinuous:
            if v < 0.5:
                upper[j] = 0.0
            kind[j] = highspy.HighsVarType.kInteger
            lower[j] = 0.0 if v < 0.5 else m.lower[j]
        elif relaxed.kind[j] == m.kind[j]:  # binary: fixed
            lower[j] = upper[j] = float(round(v))
    return Milp(cost=m.cost, lower=lower, upper=upper, kind=kind, row_cols=m.row_cols,
                row_coefs=m.row_coefs, row_lower=m.row_lower, row_upper=m.row_upper,
                award_col=m.award_col, award_unit_w=m.award_unit_w, need_row=m.need_row,
                unmet_col=m.unmet_col)


def relax_and_round(
    milps: Sequence[Milp], exact: bool
) -> tuple[list[dict[int, float] | None], list[Outcome], list[Outcome]]:
    """Each part's column values by relaxing, then rounding, or None where that proves
    nothing (the caller then solves that part's integer MILP itself).

    1. The relaxed MILP (`_relaxed`: divisible quantities continuous, on/off decisions
       still integer): its optimum, and any dual bound of it, bound the integer optimum
       from below. HiGHS handles it far better than columns of hundreds of granularity
       units (2,000 bids: ~1-2 s instead of ~4; 10,000: seconds instead of minutes).
    2. The integer MILP with the relaxed solution's on/off decisions fixed (`_rounding`),
       started from its quantities rounded up: every quantity a whole number of units.
    Where step 1's optimum is already integral in every award column (nearly every part of
    the bench families: bids' own sizes cover needs), it is the part's answer and step 2
    is not run (half the solves on sessions of many small parts; issue 13).
    A part's rounded awards are used when step 2's cost is proven close enough to step
    1's bound: exact, less than one objective unit above it (integer award vectors cost
    whole units, so nothing cheaper exists); otherwise within GAP_LIMIT of it (step 1
    then runs to RELAXED_GAP, leaving the rest to the rounding). A proof, not a hope;
    deterministic like every solve. Returns the values and both steps' outcomes.
    """
    relaxed = [_relaxed(m) for m in milps]
    models = [expand_wide_integers(r, objective_unit(r), 2**62) for r in relaxed]
    arrays = [highs_arrays(hm, exact) for hm in models]
    for a in arrays:
        a["merge_parallel"] = True  # no digits here
        if not exact:
            a["rel_gap"] = RELAXED_GAP
    first = solve_all(arrays)
    rounded: list[Milp] = []
    round_models: list[HighsModel] = []
    round_arrays: list[Model] = []
    decided: dict[int, dict[int, float]] = {}
    for i, (m, r, hm, o) in enumerate(zip(milps, relaxed, models, first, strict=True)):
        values = column_values(r, hm, o) if o["status"] == "Optimal" else None
        if values is not None and all(
            abs(values[j] - round(values[j])) <= INTEGRAL_TOL for j in m.award_col.values()
        ):
            # the relaxed optimum is already an integer award vector: feasible for `m`, at
            # the relaxed cost, which step 1 proved (to its gap): step 2 has nothing to add
            for j in m.award_col.values():
                values[j] = float(round(values[j]))
            decided[i] = values
            rounded.append(m)
            round_models.append(hm)
            round_arrays.append({})
            continue
        fixed = _rounding(m, r, values) if values is not None else m
        rm = expand_wide_integers(fixed, objective_unit(fixed), 2**62)
        a = highs_arrays(rm, exact)
        a["merge_parallel"] = True
        if not exact:
            a["rel_gap"] = 1e-7
        if values is not None:
            start = [values[j] for j in range(len(m.cost))]
            for j in m.award_col.values():
                start[j] = float(math.ceil(start[j] - 1e-9))
            a["start_values"] = start
        rounded.append(fixed)
        round_models.append(rm)
        round_arrays.append(a)
    todo = [i for i, o in enumerate(first) if o["status"] == "Optimal" and i not in decided]
    second: list[Outcome] = [{"status": "not run"} for _ in milps]
    for i, o in zip(todo, solve_all([round_arrays[i] for i in todo]), strict=True):
        second[i] = o
    for i in decided:
        second[i] = first[i]
    out: list[dict[int, float] | None] = []
    limit = float(GAP_LIMIT)
    for i, (fixed, rm, o1, o2) in enumerate(
        zip(rounded, round_models, first, second, strict=True)
    ):
        if i in decided:
            out.append(decided[i])
            continue
        if o2["status"] != "Optimal":
            out.append(None)
            continue
        excess = o2["objective"] - o1["dual_bound"]
        proven = excess < 1.0 if exact else excess <= limit * abs(o2["objective"])
        out.append(column_values(fixed, rm, o2) if proven else None)
    return out, first, second


DP_MAX_CELLS = 20_000_000  # items x (rhs + 1) of the largest knapsack solved by DP


def single_cover_dp(m: Milp) -> tuple[dict[int, float], int] | None:
    """The exact optimum of a part that is one covering knapsack, by dynamic programming,
    or None when the part is not one (or too large).

    The part qualifies when every column is an award binary (indivisible bids) and every
    row covers the same columns: `sum(a_i * y_i) >= b` (Hall or need rows, coefficients
    tightened to min(a, b)). The row of largest b implies the others (a chosen bid with
    a_i >= b' covers a smaller b' alone; otherwise every coefficient is the same in both
    rows), so the part is min c.y subject to that one row: a knapsack that HiGHS's
    branch-and-bound took 1-2 s to prove on 100 bids (bench/families.py `knapsack`: every
    bid spans the one congested window), and a DP over the covered units solves in
    milliseconds. Exact, integers throughout; among optima the DP keeps, bid by bid in
    column (rank) order, a later bid only where it is strictly cheaper: one answer,
    whatever the machine. Returns (column values, objective in µEUR).
    """
    cols = set(m.award_col.values())
    if len(cols) != len(m.cost) or not m.row_cols:
        return None
    if any(m.kind[j] != highspy.HighsVarType.kInteger or m.lower[j] != 0 or m.upper[j] != 1
           for j in range(len(m.cost))):
        return None
    first = sorted(m.row_cols[0])
    for cols_i, hi in zip(m.row_cols, m.row_upper, strict=True):
        if hi != np.inf or sorted(cols_i) != first:
            return None
    big = max(range(len(m.row_lower)), key=lambda i: (m.row_lower[i], -i))
    b = int(math.ceil(m.row_lower[big] - 1e-9))
    coef = dict(zip(m.row_cols[big], m.row_coefs[big], strict=True))
    if b <= 0 or any(c != int(c) or c < 0 for c in coef.values()):
        return None
    items = sorted(coef)  # columns in rank order
    if len(items) * (b + 1) > DP_MAX_CELLS:
        return None
    inf = np.int64(2**62)
    dp = np.full(b + 1, inf, dtype=np.int64)  # least cost covering exactly k (b: at least b)
    dp[0] = 0
    take = np.zeros((len(items), b + 1), dtype=bool)
    from_full = np.zeros(len(items), dtype=np.int64)  # where the capped cell b came from
    for k, j in enumerate(items):
        a, c = min(int(coef[j]), b), int(m.cost[j])  # inf + c stays below 2**63
        new = dp.copy()
        if a < b:
            cand = dp[: b - a] + c
            better = cand < dp[a:b]
            take[k, a:b] = better
            np.minimum(cand, dp[a:b], out=new[a:b])
        src = b - a + int(np.argmin(dp[b - a:]))
        from_full[k] = src
        if dp[src] + c < dp[b]:
            take[k, b] = True
            new[b] = dp[src] + c
        dp = new
    if dp[b] >= inf:
        return None
    values = {j: 0.0 for j in range(len(m.cost))}
    cell = b
    for k in range(len(items) - 1, -1, -1):
        if take[k, cell]:
            values[items[k]] = 1.0
            a = min(int(coef[items[k]]), b)
            cell = int(from_full[k]) if cell == b else cell - a
    if cell != 0:  # the trace back through the table must end where it started
        raise SolverError(f"knapsack: the traced choice ends at cell {cell} of {b}, not 0")
    return values, int(dp[b])


def optimise(
    session: Session, cuts: Sequence[LinearCut] = (), *, exact_max_bids: int = EXACT_MAX_BIDS,
    stats: dict[str, object] | None = None,
) -> Solution:
    """The cost-minimal awards of a session (exact up to `exact_max_bids` valid bids).

    Each independent part is solved on its own (on several cores when there are
    several large parts: oracle.parallel); above `exact_max_bids` each part is within
    GAP_LIMIT of its optimum, hence so is their sum. Each part is first relaxed and
    rounded (`relax_and_round`); a part where that proves nothing is solved as an
    integer MILP (wide integers as digits in the exact regime).
    """
    exact = len(session.bids) <= exact_max_bids
    milps: list[Milp] = []
    for part in components(session, cuts):
        part_cuts: list[LinearCut] = []
        if cuts:
            ids = {b.id for b in part.bids}
            part_cuts = [c for c in cuts if any(b in ids for b, _ in c.terms)]
        # The Hall rows prove exact optima faster; for the gap regime's integer MILP
        # (the fallback) HiGHS's primal search did better on the split formulation
        # (10,000 bids: 212 s against over 480 s).
        milps.append(build_part_model(part, part_cuts, hall=exact))
    knapsacks = {i: k for i, m in enumerate(milps) if (k := single_cover_dp(m)) is not None}
    rest = [i for i in range(len(milps)) if i not in knapsacks]
    rest_values, rest_first, rest_second = relax_and_round([milps[i] for i in rest], exact)
    values: list[dict[int, float] | None] = [None] * len(milps)
    first: list[Outcome] = [{} for _ in milps]
    second: list[Outcome] = [{} for _ in milps]
    for i, (dp_values, cost_ueur) in knapsacks.items():  # exact: objective == bound
        u = objective_unit(milps[i])
        values[i] = dp_values
        first[i] = second[i] = {"status": "Optimal", "objective": cost_ueur / u,
                                "dual_bound": cost_ueur / u}
    for i, rv, o1, o2 in zip(rest, rest_values, rest_first, rest_second, strict=True):
        values[i], first[i], second[i] = rv, o1, o2
    undecided = [i for i, v in enumerate(values) if v is None]
    models = {i: expand_wide_integers(milps[i], objective_unit(milps[i]),
                                      DIGIT_MAX if exact else 2**62) for i in undecided}
    arrays = [highs_arrays(models[i], exact) for i in undecided]
    for a in arrays:
        a["merge_parallel"] = not exact  # digits only in the exact regime
    third = dict(zip(undecided, solve_all(arrays) if arrays else [], strict=True))
    awards: dict[str, int] = {}
    for i, m in enumerate(milps):
        decided = values[i]
        awards.update(read_awards(m, decided if decided is not None else
                                  column_values(m, models[i], third[i])))
    if stats is not None:
        units = [objective_unit(m) for m in milps]
        final = [third[i] if i in third else second[i] for i in range(len(milps))]
        bounds = [third[i]["dual_bound"] if i in third else first[i]["dual_bound"]
                  for i in range(len(milps))]
        objective = sum(o["objective"] * u for o, u in zip(final, units, strict=True))
        bound = sum(b * u for b, u in zip(bounds, units, strict=True))
        stats.update(
            parts=[(len(m.cost), len(m.row_lower)) for m in milps],
            method="integer MILP" if undecided else "relaxed MILP, then rounding",
            integer_milp_parts=len(undecided),
            knapsack_dp_parts=len(knapsacks),
            objective_ueur=objective,
            dual_bound_ueur=bound,
            proven_gap=(objective - bound) / max(abs(objective), 1.0),
        )
    return Solution(awards_w=awards, exact=exact)


def clear(
    scenario: Scenario, cuts: Sequence[LinearCut] = (), *, exact_max_bids: int = EXACT_MAX_BIDS,
    stats: dict[str, object] | None = None,
) -> Result:
    """Clear a scenario: awards, rejections, unmet needs, cost and hashes.

    `stats`, when given, receives solver figures (parts, objective and dual bound in
    µEUR, the proven relative gap): for benchmarks; the result does not depend on them.
    """
    session, rejected = build_session(scenario)
    solution = optimise(session, cuts, exact_max_bids=exact_max_bids, stats=stats)
    awards = price_awards(session, solution.awards_w)
    unmet = allocate(session, solution.awards_w)
    return sealed_result(scenario, awards, rejected, unmet,
                         mip_gap=None if solution.exact else GAP_LIMIT)  # fmt: skip


def sealed_result(
    scenario: Scenario, awards: list[Award], rejected: list[Rejected],
    unmet: Mapping[tuple[int, int], int], *, mip_gap: str | None, **extensions: Any,
) -> Result:  # fmt: skip
    """A clearing's result document, sealed with the scenario's input hash: the awards, the
    rejected bids, the unmet watts per (request index, slot) in that order, the total cost
    (the sum of the payments), the gap and any extension (conflicts, shares, coordination).
    One rule for every clearing (the plain engine, TSO-DSO coordination)."""
    requests = scenario.requests
    result = Result(
        market=scenario.market.id,
        pricing=scenario.market.pricing,
        awards=awards,
        rejected=rejected,
        unmet=[
            Unmet(request=requests[r].id, slot=t, quantity_w=w)
            for (r, t), w in sorted(unmet.items())
        ],
        total_cost_ueur=sum(a.payment_ueur for a in awards),
        mip_gap=mip_gap,
        **extensions,
    )
    return result.sealed(scenario.input_hash())
