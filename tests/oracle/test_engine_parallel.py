"""oracle.parallel: parts solved in worker processes answer exactly as in the caller."""

import random

import numpy as np

from oracle import parallel


def _cover_model(n: int, seed: int) -> parallel.Model:
    """min c.y, sum(a_i y_i) >= b over n binaries: a small covering knapsack."""
    rng = random.Random(seed)
    a = [rng.randint(5, 40) for _ in range(n)]
    return {
        "cost": np.asarray([rng.randint(10, 99) * w for w in a], dtype=float),
        "lower": np.zeros(n), "upper": np.ones(n), "kind": np.ones(n, dtype=np.int8),
        "row_lower": np.asarray([sum(a) / 3]), "row_upper": np.asarray([np.inf]),
        "start": np.arange(n + 1, dtype=np.int32), "index": np.zeros(n, dtype=np.int32),
        "value": np.asarray(a, dtype=float), "rel_gap": 0.0, "abs_gap": 0.999,
    }


def test_many_small_parts_are_shared_with_a_worker_and_answer_as_in_process(monkeypatch):
    """Four parts of 100 columns (none of 300): the parts besides the largest hold 300
    columns, so half of them go to a worker; outcomes equal the in-process solves."""
    models = [_cover_model(100, seed) for seed in range(4)]
    monkeypatch.setenv("FLEXMARKET_WORKERS", "2")
    sent: list[int] = []
    real_send = parallel._send

    def counting_send(stream, obj):
        sent.append(len(obj))
        real_send(stream, obj)

    monkeypatch.setattr(parallel, "_send", counting_send)
    shared = parallel.solve_all(models)
    assert sent == [2]
    alone = [parallel.run_highs(m) for m in models]
    assert [(o["status"], o["objective"], o["values"]) for o in shared] == [
        (o["status"], o["objective"], o["values"]) for o in alone]


def test_parts_too_small_in_all_stay_in_the_caller(monkeypatch):
    models = [_cover_model(50, seed) for seed in range(3)]  # 100 columns besides the largest
    monkeypatch.setenv("FLEXMARKET_WORKERS", "2")
    monkeypatch.setattr(parallel, "_send", lambda *_: (_ for _ in ()).throw(AssertionError))
    assert all(o["status"] == "Optimal" for o in parallel.solve_all(models))


def test_a_worker_that_cannot_be_written_to_is_replaced_by_solving_here(monkeypatch):
    """The models are written to a worker from a thread; when that write fails, the worker
    is stopped and its parts are solved in the caller: same outcomes."""
    models = [_cover_model(100, seed) for seed in range(4)]
    monkeypatch.setenv("FLEXMARKET_WORKERS", "2")

    def broken(stream, obj):
        raise BrokenPipeError("worker gone")

    monkeypatch.setattr(parallel, "_send", broken)
    shared = parallel.solve_all(models)
    alone = [parallel.run_highs(m) for m in models]
    assert [o["values"] for o in shared] == [o["values"] for o in alone]


def test_started_workers_answer_and_are_reused(monkeypatch):
    """start_workers starts every worker and waits for its answer; solve_all then uses the
    same processes (no new one) and answers as in the caller."""
    monkeypatch.setenv("FLEXMARKET_WORKERS", "2")
    parallel.start_workers()
    started = list(parallel._WORKERS)
    assert started and all(w.poll() is None for w in started)
    models = [_cover_model(100, seed) for seed in range(4)]
    shared = parallel.solve_all(models)
    assert started == parallel._WORKERS
    alone = [parallel.run_highs(m) for m in models]
    assert [o["values"] for o in shared] == [o["values"] for o in alone]
