"""oracle.engine.allocate reads only the slots with a need (issue 13): the unmet watts are
those of a plain per-slot max-flow over every slot of every awarded bid."""

import random
from collections import defaultdict

from oracle import clear, parse_scenario
from oracle.engine import Session, allocate, build_session
from oracle.flow import bipartite_max_flow
from oracle.synthetic import random_session


def _reference_unmet(session: Session, awards_w: dict[str, int]) -> dict[tuple[int, int], int]:
    """Every slot of every awarded bid, one max-flow per slot with a need: no shortcut."""
    supply: dict[int, dict[tuple[int, ...], int]] = defaultdict(lambda: defaultdict(int))
    for bid in session.bids:
        if awards_w.get(bid.id) and bid.id in session.eligible:
            for t in bid.slots:
                supply[t][session.eligible[bid.id]] += awards_w[bid.id]
    unmet = {}
    for t in sorted({t for _, t in session.needs}):
        reqs = sorted(r for r, s in session.needs if s == t)
        classes = sorted(supply[t].items())
        edges = [(i, reqs.index(r)) for i, (cls, _) in enumerate(classes) for r in cls
                 if r in reqs]
        demands = [session.needs[(r, t)] for r in reqs]
        received = [0] * len(reqs)
        for (_, j), f in bipartite_max_flow([w for _, w in classes], demands, edges).items():
            received[j] += f
        for j, r in enumerate(reqs):
            if demands[j] > received[j]:
                unmet[(r, t)] = demands[j] - received[j]
    return unmet


def test_allocate_equals_a_max_flow_over_every_slot():
    for seed in range(8):
        scenario = parse_scenario(random_session(60, n_slots=24, n_zones=3, seed=seed))
        session, _ = build_session(scenario)
        rng = random.Random(seed)
        g = scenario.market.granularity_w
        awards = {b.id: rng.choice((0, b.quantity_w, b.quantity_w // g // 2 * g))
                  for b in session.bids}
        assert allocate(session, awards) == _reference_unmet(session, awards)


def test_the_cleared_unmet_rows_are_the_reference_max_flow_of_the_awards():
    scenario = parse_scenario(random_session(80, n_slots=24, n_zones=3, seed=5))
    result = clear(scenario)
    session, _ = build_session(scenario)
    awards = {a.bid: a.quantity_w for a in result.awards}
    ids = [r.id for r in scenario.requests]
    expected = {(ids[r], t): w for (r, t), w in _reference_unmet(session, awards).items()}
    assert {(u.request, u.slot): u.quantity_w for u in result.unmet} == expected
