"""The scenario's optional `grid` object: an extension of flexmarket.scenario/1.

A scenario with a `grid` is cleared against the DSO's network model: the
engine gets linear grid constraints and every slot of the cleared schedule is
checked with an AC power flow (`oracle.grid.clearing`). The object names the
model, which profile time step is market slot 0, and how assets without a
profile of their own are treated. Assets reach the model through their own
`bus` field (a pandapower bus index, or a bus name). See docs/grid.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NonNegInt = Annotated[int, Field(ge=0)]


class GridSpec(BaseModel):
    """Which grid model, and which operating point, a scenario is cleared against."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    simbench_code: str | None = None
    """A SimBench grid code, e.g. "1-LV-semiurb4--2-sw" (the `simbench` package ships it)."""
    file: str | None = None
    """A pandapower JSON file, relative to the scenario file (or absolute)."""
    day: str | None = None
    """"YYYY-MM-DD": market slot 0 is the profile step of the market start on that day."""
    time_step: NonNegInt | None = None
    """Profile time step of market slot 0 (instead of `day`)."""
    storage: Literal["setpoint", "profile"] = "setpoint"
    """Storage operating point: the model's set-point (DSO feed-in planning case) or profiles."""
    loading_limit_percent: Annotated[int, Field(ge=1, le=200)] = 100
    """Highest allowed loading of a line or transformer."""
    vm_min_per_mille: Annotated[int, Field(ge=500, le=1000)] = 900
    """Lowest allowed bus voltage, in thousandths of a pu (EN 50160: 0.9 pu)."""
    vm_max_per_mille: Annotated[int, Field(ge=1000, le=1500)] = 1100
    """Highest allowed bus voltage, in thousandths of a pu (EN 50160: 1.1 pu)."""

    @model_validator(mode="after")
    def _one_source(self) -> GridSpec:
        if (self.simbench_code is None) == (self.file is None):
            raise ValueError("give exactly one of simbench_code or file")
        if self.day is not None and self.time_step is not None:
            raise ValueError("give at most one of day or time_step")
        if self.day is not None:
            try:
                dt.date.fromisoformat(self.day)
            except ValueError as exc:
                raise ValueError(f"day {self.day!r} is not a date YYYY-MM-DD") from exc
        return self
