"""Solving independent MILPs on the machine's cores, with the same answer as one by one.

The clearing engine splits a session into parts that share no request (nor grid cut)
and solves each as its own MILP. Each solve is deterministic on its own (HiGHS
single-threaded, fixed seed, no time limit in the decision path), so running some
parts in a worker process changes only the wall time, never the awards: parts are
assigned to processes by a fixed rule (largest first, to the least loaded) and
results are collected by part index.

Workers are plain subprocesses running this file (no `multiprocessing`: it would
re-import the caller's main module, which scripts without a main guard cannot
survive), started on first use and kept for later calls. They speak length-prefixed
pickles of plain dicts over their stdin/stdout. A worker that fails to start or dies
is replaced by solving its parts here: same answers, only slower.
`FLEXMARKET_WORKERS=1` solves everything in the calling process.

This module imports only the standard library, numpy and highspy, so that a worker
starts fast (it is run as a script, outside the `oracle` package).
"""

from __future__ import annotations

import atexit
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import IO, Any

import highspy
import numpy as np

SAFETY_TIME_LIMIT_S = 3600.0  # never binding in practice; reaching it is an error, not a result
PRESOLVE_RULE_PARALLEL = 1 << 13  # HiGHS presolve rule "parallel rows and columns"
FEASIBILITY_JUMP_MIN_COLS = 1000  # HiGHS's feasibility jump heuristic only on models this wide
PARALLEL_MIN_COLS = 300  # use workers only when the parts besides the largest hold this many
# columns in all (many small parts are worth sharing out too: 50 parts of 89 columns)

# A model is a dict: cost, lower, upper, kind (HighsVarType values), row_lower, row_upper,
# start, index, value (column-wise matrix), rel_gap, abs_gap, and optionally start_values
# and merge_parallel (let presolve merge parallel columns: only when there are no digits).
Model = dict[str, Any]
# An outcome is a dict: status ("Optimal" when solved), values, objective, dual_bound, gap.
Outcome = dict[str, Any]


# HighsVarType by value, built once: constructing one per column cost ~4 µs (a tenth of the
# solver's wall time on sessions of many small parts)
_VAR_TYPES = {int(k): k for k in highspy.HighsVarType.__members__.values()}


def run_highs(model: Model, log: bool = False) -> Outcome:
    """Solve one MILP with HiGHS: single-threaded, fixed seed, to the model's gap."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(model["cost"]), len(model["row_lower"])
    lp.col_cost_ = np.asarray(model["cost"], dtype=float)
    lp.col_lower_ = np.asarray(model["lower"], dtype=float)
    lp.col_upper_ = np.asarray(model["upper"], dtype=float)
    lp.row_lower_ = np.asarray(model["row_lower"], dtype=float)
    lp.row_upper_ = np.asarray(model["row_upper"], dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(model["start"], dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(model["index"], dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(model["value"], dtype=float)
    lp.integrality_ = [_VAR_TYPES[k] for k in np.asarray(model["kind"]).tolist()]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", log or bool(os.environ.get("FLEXMARKET_HIGHS_LOG")))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("time_limit", SAFETY_TIME_LIMIT_S)
    # The engine writes wide integer columns as digits, which are parallel columns:
    # HiGHS's presolve would merge them back (see engine.expand_wide_integers).
    if not model.get("merge_parallel", False):
        h.setOptionValue("presolve_rule_off", PRESOLVE_RULE_PARALLEL)
    # HiGHS 1.15's feasibility jump costs a near-fixed ~10-40 ms per solve (load 1-6); on
    # the many small parts of a session (50 parts of 20-150 columns: bench-clear's ties
    # and scarce) it was most of the solver time and found nothing cheaper (the same
    # awards without it on every session measured but one equal-cost choice among ties:
    # docs/files.md, session 6). Wide models keep it.
    if len(model["cost"]) < FEASIBILITY_JUMP_MIN_COLS:
        h.setOptionValue("mip_heuristic_run_feasibility_jump", False)
    h.setOptionValue("mip_rel_gap", float(model["rel_gap"]))
    h.setOptionValue("mip_abs_gap", float(model["abs_gap"]))
    h.passModel(lp)
    if model.get("start_values") is not None:
        sol = highspy.HighsSolution()
        sol.col_value = [float(v) for v in model["start_values"]]
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    return {
        "status": h.modelStatusToString(h.getModelStatus()),
        "values": list(h.getSolution().col_value),
        "objective": float(info.objective_function_value),
        "dual_bound": float(info.mip_dual_bound),
        "gap": float(info.mip_gap),
    }


# --------------------------------------------------------------------------- wire


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("worker stream closed")
    (size,) = struct.unpack("<Q", head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker stream truncated")
    return pickle.loads(data)


def worker_main() -> None:
    """A worker: solve every list of models received, answer with their outcomes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            models = _receive(stdin)
        except EOFError:
            return
        _send(stdout, [run_highs(m) for m in models])


# --------------------------------------------------------------------------- pool

_WORKERS: list[subprocess.Popen[bytes]] = []


def _processes() -> int:
    env = os.environ.get("FLEXMARKET_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 8))


def _worker(k: int) -> subprocess.Popen[bytes]:
    while len(_WORKERS) <= k:
        _WORKERS.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        ))
    w = _WORKERS[k]
    if w.poll() is not None:  # died: start a new one
        _WORKERS[k] = w = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
    return w


@atexit.register
def _stop_workers() -> None:
    for w in _WORKERS:
        try:
            if w.stdin:
                w.stdin.close()
            w.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort at exit
            w.kill()


def start_workers() -> None:
    """Start the worker processes now and wait until each answers (an empty batch), so that a
    caller clearing many sessions (a service, a benchmark) pays their start-up (~0.3 s idle,
    1-2 s on a loaded machine) before its first session instead of inside it. Optional:
    solve_all starts them on first use anyway. A worker that fails here is replaced then."""
    for k in range(_processes() - 1):
        w = _worker(k)
        try:
            if w.stdin is None or w.stdout is None:
                raise OSError("a worker without pipes")
            _send(w.stdin, [])
            _receive(w.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            w.kill()


def assign(sizes: list[int], processes: int) -> list[list[int]]:
    """Model indices per process: largest first, each to the least loaded (ties: lowest)."""
    bins: list[list[int]] = [[] for _ in range(processes)]
    load = [0] * processes
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        k = min(range(processes), key=lambda k: (load[k], k))
        bins[k].append(i)
        load[k] += sizes[i]
    return bins


def solve_all(models: list[Model]) -> list[Outcome]:
    """Every model solved; in worker processes as well when two or more are large."""
    sizes = [len(m["cost"]) for m in models]
    processes = min(_processes(), len(models))
    if processes < 2 or sum(sizes) - max(sizes) < PARALLEL_MIN_COLS:
        return [run_highs(m) for m in models]
    bins = assign(sizes, processes)
    outcomes: dict[int, Outcome] = {}
    sent: list[tuple[list[int], subprocess.Popen[bytes] | None]] = []
    writers: list[threading.Thread] = []
    failed: set[int] = set()  # positions in `sent` whose models could not be written

    def write(pos: int, stream: IO[bytes], batch: list[Model]) -> None:
        try:
            _send(stream, batch)
        except (OSError, ValueError):
            failed.add(pos)

    for k, idx in enumerate(bins[1:]):
        if not idx:
            continue
        try:
            started = _worker(k)
            if started.stdin is None:
                raise OSError("a worker without a pipe to its stdin")
            # written from a thread: a pipe holds 64 KB, so writing here would wait for a
            # worker still starting (~1 s on a loaded machine) before this process solves
            writers.append(threading.Thread(
                target=write, args=(len(sent), started.stdin, [models[i] for i in idx])))
            writers[-1].start()
            sent.append((idx, started))
        except (OSError, ValueError):
            sent.append((idx, None))
    for i in bins[0]:
        outcomes[i] = run_highs(models[i])
    for thread in writers:
        thread.join()
    for pos, (idx, w) in enumerate(sent):
        answer = None
        if w is not None and pos in failed:
            w.kill()
        elif w is not None:
            try:
                if w.stdout is None:
                    raise OSError("a worker without a pipe from its stdout")
                answer = _receive(w.stdout)
            except (OSError, EOFError, pickle.UnpicklingError):
                w.kill()
        if answer is None:
            answer = [run_highs(models[i]) for i in idx]
        outcomes.update(zip(idx, answer, strict=True))
    return [outcomes[i] for i in range(len(models))]


if __name__ == "__main__":
    worker_main()
