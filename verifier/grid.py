"""A replica's grid checks of a session cleared with published grid inputs (issue 19).

Every node (no network model needed):

- clears the rebuilt session with the published cuts (`oracle.grid.published.clear_published`,
  through `oracle.clearing.clear_scenario`), as the oracle did;
- checks the committed awards against every cut it cleared with: an award set that pushes a
  line or a voltage past a published cut is infeasible (`grid: line 34 slot 45 loading: …`).

A node that can load the model the inputs name (a DSO node: SimBench ships with the
`simbench` package; a `file` model must be at the published path) also

- re-derives every published input from the model (`oracle.grid.published.rederive`): the
  model's and the profiles' hashes, the assets' ratings, the zones' forecasts, each cut's
  coefficients and rhs, and that no cut the screening needs is missing;
- runs the AC power flow of every slot of the committed schedule (`ac_check`): the awards may
  not push an element past its limit (and past the forecast) by more than the cut margin.

`FLEXMARKET_GRID_MODEL=0` makes a node skip the model (a node without the DSO's data); it
then says so in its notes. Loaded models are cached by identity across sessions
(`oracle.grid.published.load_model`: in memory, and on disk under build/grid-cache).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

MODEL_ENV = "FLEXMARKET_GRID_MODEL"


def uses_model() -> bool:
    return os.environ.get(MODEL_ENV, "1").strip() not in ("0", "false", "no", "")


def check_grid(
    scenario: Any, awards_w: dict[str, int], cuts: Sequence[Any], report: Any
) -> None:
    """Fill `report.grid` and fail the report on any grid violation (see the module)."""
    from oracle.grid.published import ac_check, cut_violations, rederive

    spec = scenario.grid
    t0 = time.perf_counter()
    summary: dict[str, Any] = {
        "model": spec.simbench_code or spec.file,
        "model_hash": spec.inputs.model_hash,
        "published_cuts": len(spec.inputs.cuts),
        "cuts_used": len(cuts),
    }
    for v in cut_violations(cuts, awards_w):
        report.fail(f"infeasible: {v}")
    if not uses_model():
        summary["rederived"] = False
        report.notes.append(f"grid: {MODEL_ENV}=0: published cuts not re-derived, no AC check")
        report.grid = summary
        return
    t1 = time.perf_counter()
    derived = rederive(scenario)
    t2 = time.perf_counter()
    for v in derived.violations or []:
        report.fail(v)
    report.notes.extend(derived.notes or [])
    summary["rederived"] = derived.model is not None and not derived.violations
    if derived.model is not None:
        violations, notes, figures = ac_check(scenario, derived.model, derived.solver, awards_w,
                                              derived.forecast)
        for v in violations:
            report.fail(v)
        report.notes.extend(notes)
        summary["ac"] = figures
    t3 = time.perf_counter()
    report.timings_s.update({"grid_cuts": t1 - t0, "grid_rederive": t2 - t1, "grid_ac": t3 - t2})
    report.grid = summary
