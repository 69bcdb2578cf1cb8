"""The scenario's optional `grid` object (an extension of flexmarket.scenario/1).

Stub: the grid work (issue 6) owns and completes this model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class GridSpec(BaseModel):
    """Which grid model a scenario is cleared against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    simbench_code: str | None = None
    file: str | None = None
    day: str | None = None
