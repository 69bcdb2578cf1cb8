"""The right clearing for a scenario, in one place (`flexmarket clear`, the demo, the oracle
service and every replica node use it).

- a `grid` with published inputs (a session on chain, issue 19): the engine with the
  published cuts, no network model (`oracle.grid.published.clear_published`);
- a `grid` without them (a scenario file): cuts derived from the model, AC validation of
  every slot, more cuts where it finds a violation (`oracle.grid.clearing.clear_with_grid`);
- TSO-DSO coordination (several buyer roles, zone safety, red slots, coordination fields):
  `oracle.coordination.clear_coordinated`;
- otherwise the engine alone (`oracle.clear`).
"""

from __future__ import annotations

from pathlib import Path

from oracle.result import Result
from oracle.scenario import Scenario


def clear_scenario(scenario: Scenario, base_dir: Path | None = None) -> Result:
    """Clear `scenario` the way its fields ask for (see the module docstring); `base_dir`:
    where a grid `file` is looked up (the scenario file's folder)."""
    if scenario.grid is not None:
        if scenario.grid.inputs is not None:
            from oracle.grid.published import clear_published

            return clear_published(scenario)[0]
        from oracle.grid.clearing import clear_with_grid

        return clear_with_grid(scenario, base_dir=base_dir)
    from oracle.coordination import clear_coordinated, needs_coordination

    if needs_coordination(scenario):
        return clear_coordinated(scenario)
    from oracle import clear

    return clear(scenario)
