"""Common coupling is never worse than sequential: the sequential award set, each stage's
purchases counted for that stage, is feasible for the common model (a watt may count once
per layer), so the common optimum costs at most as much, penalty on unmet watts included.
With every need met in both, that is the payments alone."""

import pytest
from coordination_helpers import coordinated, objective
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ZONES = ("Z", "Y")


@st.composite
def sessions(draw):
    slots = draw(st.integers(1, 3))
    s = {
        "schema": "flexmarket.scenario/1", "name": "random coordination",
        "market": {"id": "P", "start": "2026-01-01T00:00:00+00:00", "slots": slots,
                   "granularity_w": 100},
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "TSO1", "role": "TSO"},
                         {"id": "BRP1", "role": "BRP"}, {"id": "A", "role": "aggregator"}],
        "zones": [], "assets": [], "requests": [], "bids": [],
        "unmet_penalty_eur_per_mw": draw(st.sampled_from([10**12, 3_000_000])),
    }
    for z in ZONES:
        zone = {"id": z}
        if draw(st.booleans()):
            zone["limit_w"] = 10_000
            zone["forecast_w"] = [draw(st.integers(80, 120)) * 100 for _ in range(slots)]
        s["zones"].append(zone)
    for i in range(draw(st.integers(1, 6))):
        z, d = draw(st.sampled_from(ZONES)), draw(st.sampled_from(["up", "down"]))
        q = draw(st.integers(1, 30)) * 100
        first = draw(st.integers(0, slots - 1))
        s["assets"].append({"id": f"a{i}", "manager": "A", "type": "load", "p_max_w": q,
                            "zone": z})
        s["bids"].append({"id": f"b{i}", "seller": "A", "zone": z, "direction": d,
                          "quantity_w": q, "divisible": draw(st.booleans()),
                          "price_eur_per_mw": draw(st.integers(1, 20)) * 100_000,
                          "slots": list(range(first, draw(st.integers(first, slots - 1)) + 1)),
                          "assets": [f"a{i}"]})
    # a zone never needs both directions in one slot (a scenario file saying so is refused):
    # each zone's needs go one way, system-wide needs either way
    zone_direction = {z: draw(st.sampled_from(["up", "down"])) for z in ZONES}
    for i in range(draw(st.integers(1, 4))):
        buyer = draw(st.sampled_from(["DSO1", "TSO1", "BRP1"]))
        zone = draw(st.sampled_from(ZONES)) if buyer == "DSO1" else None
        direction = (zone_direction[zone] if zone is not None
                     else draw(st.sampled_from(["up", "down"])))
        s["requests"].append({
            "id": f"r{i}", "buyer": buyer, "zone": zone, "direction": direction,
            "quantity_w": [draw(st.integers(0, 25)) * 100 for _ in range(slots)]})
    s["market"]["priority"] = draw(st.permutations(["DSO", "TSO", "BRP"]))
    return s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_common_never_costs_more_than_sequential(s):
    seq = coordinated(s, "sequential")
    com = coordinated(s, "common")
    assert objective(s, com) <= objective(s, seq)
    if not seq.unmet and not com.unmet:
        assert com.total_cost_ueur <= seq.total_cost_ueur


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_model_reductions_keep_the_optimum(s):
    """The coordination MILP leaves out need rows other layers imply and bounds unmet per
    group of needs sharing bids, not per slot (oracle.coordination.model). The plain
    model, every need row stated and unmet priced by the penalty in the objective, must
    reach the same optimum (awards may differ where optima tie)."""
    from oracle.coordination import model

    reduced = coordinated(s, "common")
    plain_define = model.define_layered_need_constraints

    def plain(m, session, layer_of, penalty, floor=None):
        plain_define(m, session, layer_of, penalty, None)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model, "define_layered_need_constraints", plain)
        mp.setattr(model, "implied_need_rows", lambda *a: set())
        full = coordinated(s, "common")
    assert objective(s, reduced) == objective(s, full)


@pytest.mark.parametrize(("dso_w", "tso_w"), [(2500, 100), (100, 2500), (1200, 1200)])
def test_a_larger_need_is_never_taken_as_implied_by_a_smaller_one(dso_w, tso_w):
    """One divisible bid, a DSO need in its zone and a TSO need in the same slot: under
    common coupling one activation serves both, so the award is the larger need, whichever
    row the model leaves out as implied."""
    s = {
        "schema": "flexmarket.scenario/1", "name": "implied rows",
        "market": {"id": "P", "start": "2026-01-01T00:00:00+00:00", "slots": 1,
                   "granularity_w": 100},
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "TSO1", "role": "TSO"},
                         {"id": "A", "role": "aggregator"}],
        "zones": [{"id": "Z"}],
        "assets": [{"id": "a0", "manager": "A", "type": "load", "p_max_w": 3000, "zone": "Z"}],
        "requests": [
            {"id": "r0", "buyer": "DSO1", "zone": "Z", "direction": "up", "quantity_w": [dso_w]},
            {"id": "r1", "buyer": "TSO1", "zone": None, "direction": "up", "quantity_w": [tso_w]},
        ],
        "bids": [{"id": "b0", "seller": "A", "zone": "Z", "direction": "up", "quantity_w": 3000,
                  "divisible": True, "price_eur_per_mw": 100_000, "assets": ["a0"]}],
        "unmet_penalty_eur_per_mw": 10**12,
    }
    result = coordinated(s, "common")
    assert result.unmet == []
    assert [(a.bid, a.quantity_w) for a in result.awards] == [("b0", max(dso_w, tso_w))]
