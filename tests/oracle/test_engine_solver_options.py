"""oracle.parallel.run_highs: the options it sets, and exact answers with them (issue 13)."""

import itertools
import random

import highspy
import numpy as np

from oracle import parallel


def _cover_model(n: int, seed: int) -> parallel.Model:
    """min c.y, sum(a_i y_i) >= b over n binaries (a covering knapsack)."""
    rng = random.Random(seed)
    a = [rng.randint(5, 40) for _ in range(n)]
    return {
        "cost": np.asarray([rng.randint(10, 99) * w for w in a], dtype=float),
        "lower": np.zeros(n), "upper": np.ones(n), "kind": np.ones(n, dtype=np.int8),
        "row_lower": np.asarray([sum(a) / 3]), "row_upper": np.asarray([np.inf]),
        "start": np.arange(n + 1, dtype=np.int32), "index": np.zeros(n, dtype=np.int32),
        "value": np.asarray(a, dtype=float), "rel_gap": 0.0, "abs_gap": 0.999,
    }


def _brute_force(model: parallel.Model) -> float:
    n = len(model["cost"])
    best = np.inf
    for y in itertools.product((0, 1), repeat=n):
        if float(np.dot(model["value"], y)) >= model["row_lower"][0]:
            best = min(best, float(np.dot(model["cost"], y)))
    return best


def test_small_models_are_solved_exactly_without_feasibility_jump():
    for seed in range(6):
        model = _cover_model(12, seed)
        outcome = parallel.run_highs(model)
        assert outcome["status"] == "Optimal"
        assert outcome["objective"] == _brute_force(model)


def test_feasibility_jump_is_off_only_below_the_column_threshold(monkeypatch):
    seen: list[tuple[int, object]] = []
    real = highspy.Highs.setOptionValue

    def spy(self, name, value):
        if name == "mip_heuristic_run_feasibility_jump":
            seen.append((self.getNumCol(), value))
        return real(self, name, value)

    monkeypatch.setattr(highspy.Highs, "setOptionValue", spy)
    small = parallel.run_highs(_cover_model(30, 1))
    wide = parallel.run_highs(_cover_model(parallel.FEASIBILITY_JUMP_MIN_COLS, 2))
    assert small["status"] == wide["status"] == "Optimal"
    # set once, before the model is passed (no columns yet), for the small model only
    assert seen == [(0, False)]
