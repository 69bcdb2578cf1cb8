"""The clearing engine: the cheapest awards that meet the needs, on HiGHS.

A pure function from a scenario to a result, built from small named steps
(PyPSA's habit): `define_award_variables`, `define_split_variables`,
`define_need_constraints`, `define_cut_constraints`, then `solve`, then exact
integer post-processing (`allocate`, `price_awards`).

The model. Every valid bid b gets one integer variable: a binary y_b for an
indivisible bid (award q_b * y_b), or k_b in {0} u [kmin_b, K_b] (award
granularity * k_b; semi-integer when a minimum quantity applies). Bids that
may serve exactly the same requests are interchangeable inside a slot, so the
split of awards among requests is modelled per *eligibility class* (bids of
one direction with the same set of eligible requests), not per bid: a class
with one eligible request feeds that request's need row directly; a class
with several gets continuous split variables x[class, request, slot]. This
keeps the model to a few thousand rows for 10,000 bids over 96 slots, and it
is exact: a feasible split per class exists iff one per bid exists.

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

from oracle.errors import SolverError
from oracle.flow import bipartite_max_flow
from oracle.result import Award, Rejected, Result, Unmet
from oracle.rules import ValidBid, validate_bids
from oracle.scenario import Scenario, per_slot

EXACT_MAX_BIDS = 2000
GAP_LIMIT = "0.0001"  # the relative gap guaranteed above EXACT_MAX_BIDS, as stated in results
SAFETY_TIME_LIMIT_S = 3600.0  # never binding in practice; reaching it is an error, not a result


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
        ok = tuple(
            r for r in reqs
            if (cap := scenario.requests[r].max_price_eur_per_mw) is None
            or bid.price_eur_per_mw <= cap
        )
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
            col = m.add_col(bid.price_eur_per_mw * bid.quantity_w, 0, 1, highspy.HighsVarType.kInteger)
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


def define_need_constraints(
    m: Milp, session: Session, penalty: int, lexicographic: bool, unmet_floor: dict[int, int]
) -> None:
    """For every request and slot: supply reaching it + unmet >= need.

    Eligibility classes with one request feed its row directly; classes with
    several get split variables bounded by the class's awards in that slot.
    """
    terms: dict[tuple[int, int], tuple[list[int], list[float]]] = {
        key: ([], []) for key in session.needs
    }
    for reqs, bids in _classes(session).items():
        active: dict[int, list[ValidBid]] = defaultdict(list)
        for bid in bids:
            for t in bid.slots:
                active[t].append(bid)
        for t in sorted(active):
            targets = [r for r in reqs if (r, t) in session.needs]
            if not targets:
                continue
            if len(targets) == 1:
                cols, coefs = terms[(targets[0], t)]
                for bid in active[t]:
                    cols.append(m.award_col[bid.id])
                    coefs.append(float(m.award_unit_w[bid.id]))
                continue
            # split variables: sum_r x[r] - sum_b award_b <= 0
            split_cols = []
            for r in targets:
                x = m.add_col(0, 0.0, float(session.needs[(r, t)]), highspy.HighsVarType.kContinuous)
                split_cols.append(x)
                terms[(r, t)][0].append(x)
                terms[(r, t)][1].append(1.0)
            cols = split_cols + [m.award_col[b.id] for b in active[t]]
            coefs = [1.0] * len(split_cols) + [-float(m.award_unit_w[b.id]) for b in active[t]]
            m.add_row(cols, coefs, -np.inf, 0.0)

    g = session.scenario.market.granularity_w
    award_cols = set(m.award_col.values())
    unmet_by_slot: dict[int, list[int]] = defaultdict(list)
    for (r, t), q in sorted(session.needs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cols, coefs = terms[(r, t)]
        if lexicographic and unmet_floor.get(t, 0) == 0 and all(c in award_cols for c in cols):
            # Only awards feed this row, all in multiples of g: divide by g and round the
            # need up (a Chvatal-Gomory strengthening), and no bid counts for more than it.
            need_units = -(-q // g)
            coefs = [min(c / g, float(need_units)) for c in coefs]
            m.need_row[(r, t)] = m.add_row(cols, coefs, float(need_units), np.inf)
            continue
        if not lexicographic or unmet_floor.get(t, 0) > 0:
            # integer: optimal unmet is integral anyway, and an all-integer objective
            # lets HiGHS round its dual bound (exactness at an absolute gap below 1)
            u = m.add_col(0 if lexicographic else penalty, 0.0, float(q),
                          highspy.HighsVarType.kInteger)
            m.unmet_col[(r, t)] = u
            unmet_by_slot[t].append(u)
            cols, coefs = cols + [u], coefs + [1.0]
        m.need_row[(r, t)] = m.add_row(cols, coefs, float(q), np.inf)
    if lexicographic:
        for t, us in sorted(unmet_by_slot.items()):
            m.add_row(us, [1.0] * len(us), -np.inf, float(unmet_floor[t]))


def define_cut_constraints(m: Milp, session: Session, cuts: Sequence[LinearCut]) -> None:
    """Grid cuts: sum(coef * award_w) <= rhs over the bids active in the cut's slot."""
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


def solve(m: Milp, exact: bool) -> dict[int, float]:
    """Run HiGHS; column values of the optimum (exact or within GAP_LIMIT)."""
    lp = highspy.HighsLp()
    n_col, n_row = len(m.cost), len(m.row_lower)
    lp.num_col_, lp.num_row_ = n_col, n_row
    unit = objective_unit(m)
    lp.col_cost_ = np.asarray([c // unit for c in m.cost], dtype=float)
    lp.col_lower_ = np.asarray(m.lower, dtype=float)
    lp.col_upper_ = np.asarray(m.upper, dtype=float)
    lp.row_lower_ = np.asarray(m.row_lower, dtype=float)
    lp.row_upper_ = np.asarray(m.row_upper, dtype=float)
    # rows -> column-wise sparse matrix
    per_col: list[list[tuple[int, float]]] = [[] for _ in range(n_col)]
    for i, (cols, coefs) in enumerate(zip(m.row_cols, m.row_coefs, strict=True)):
        for c, v in zip(cols, coefs, strict=True):
            per_col[c].append((i, v))
    start, index, value = [0], [], []
    for entries in per_col:
        for i, v in entries:
            index.append(i)
            value.append(v)
        start.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=float)
    lp.integrality_ = m.kind

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", SAFETY_TIME_LIMIT_S)
    if exact:
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 0.999)  # objectives are integer multiples of `unit`
    else:
        h.setOptionValue("mip_rel_gap", float(GAP_LIMIT))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverError(f"HiGHS ended with status {h.modelStatusToString(status)}")
    values = h.getSolution().col_value
    return dict(enumerate(values))


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
    by_class_slot: dict[int, dict[tuple[int, ...], int]] = defaultdict(lambda: defaultdict(int))
    for bid in session.bids:
        w = awards_w.get(bid.id, 0)
        if w and bid.id in session.eligible:
            for t in bid.slots:
                by_class_slot[t][session.eligible[bid.id]] += w
    need_slots: dict[int, list[int]] = defaultdict(list)
    for (r, t) in sorted(session.needs):
        need_slots[t].append(r)
    unmet: dict[tuple[int, int], int] = {}
    for t, reqs in sorted(need_slots.items()):
        classes = sorted(by_class_slot.get(t, {}).items())
        supplies = [w for _, w in classes]
        demands = [session.needs[(r, t)] for r in reqs]
        pos = {r: j for j, r in enumerate(reqs)}
        edges = [(i, pos[r]) for i, (cls, _) in enumerate(classes) for r in cls if r in pos]
        flows = bipartite_max_flow(supplies, demands, edges)
        received = [0] * len(reqs)
        for (_, j), f in flows.items():
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


def components(session: Session, cuts: Sequence[LinearCut] = ()) -> list[Session]:
    """Split a session into independent parts: bids that never serve a common request,
    nor share a grid cut, can be optimised separately (a smaller MILP each, and exact
    B&B on a part does not multiply with the others' trees)."""
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

    for bid in session.bids:
        for r in session.eligible.get(bid.id, ()):
            union(("b", bid.id), ("r", r))
    for cut in cuts:
        ids = [b for b, _ in cut.terms if b in session.eligible]
        for other in ids[1:]:
            union(("b", ids[0]), ("b", other))
    groups: dict[object, list[ValidBid]] = defaultdict(list)
    for bid in session.bids:  # rank order: each group's first bid fixes the group order
        if bid.id in session.eligible:
            groups[find(("b", bid.id))].append(bid)
    parts = []
    for bids in groups.values():
        root = find(("b", bids[0].id))
        parts.append(Session(
            scenario=session.scenario,
            bids=bids,
            needs={k: q for k, q in session.needs.items() if find(("r", k[0])) == root},
            eligible={b.id: session.eligible[b.id] for b in bids},
        ))
    return parts


def optimise_part(part: Session, cuts: Sequence[LinearCut], exact: bool) -> dict[str, int]:
    """Cost-minimal awards of one independent part."""
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
    define_need_constraints(m, part, penalty, lexicographic, floor)
    define_cut_constraints(m, part, cuts)
    return read_awards(m, solve(m, exact))


def optimise(
    session: Session, cuts: Sequence[LinearCut] = (), *, exact_max_bids: int = EXACT_MAX_BIDS
) -> Solution:
    """The cost-minimal awards of a session (exact up to `exact_max_bids` valid bids).

    Each independent part is solved on its own; above `exact_max_bids` each part is
    within GAP_LIMIT of its optimum, hence so is their sum.
    """
    exact = len(session.bids) <= exact_max_bids
    awards: dict[str, int] = {}
    for part in components(session, cuts):
        ids = {b.id for b in part.bids}
        part_cuts = [c for c in cuts if any(b in ids for b, _ in c.terms)]
        awards.update(optimise_part(part, part_cuts, exact))
    return Solution(awards_w=awards, exact=exact)


def clear(
    scenario: Scenario, cuts: Sequence[LinearCut] = (), *, exact_max_bids: int = EXACT_MAX_BIDS
) -> Result:
    """Clear a scenario: awards, rejections, unmet needs, cost and hashes."""
    session, rejected = build_session(scenario)
    solution = optimise(session, cuts, exact_max_bids=exact_max_bids)
    awards = price_awards(session, solution.awards_w)
    unmet = allocate(session, solution.awards_w)
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
        mip_gap=None if solution.exact else GAP_LIMIT,
    )
    return result.sealed(scenario.input_hash())
