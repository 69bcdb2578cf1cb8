"""The scenario's optional `grid` object: an extension of flexmarket.scenario/1.

A scenario with a `grid` is cleared against the DSO's network model: the
engine gets linear grid constraints and every slot of the cleared schedule is
checked with an AC power flow (`oracle.grid.clearing`). The object names the
model, which profile time step is market slot 0, and how assets without a
profile of their own are treated. Assets reach the model through their own
`bus` field (a pandapower bus index, or a bus name). See docs/grid.md.

A session on chain carries its grid inputs (`inputs`, issue 19): what the DSO published
before gate closure (the model's hash, the profiles' hash, the zones' forecasts, each
asset's bus and rating, the linear cuts), so that every node clears the same session
with the same cuts without the network model (`oracle.grid.published`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

NonNegInt = Annotated[int, Field(ge=0)]
Hash32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
MAX_CUTS = 100_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class GridAsset(_Strict):
    """An asset on the grid: where it connects and how much it can move (screening)."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    bus: NonNegInt
    """pandapower bus index."""
    p_max_w: NonNegInt


class ZoneForecast(_Strict):
    """A zone's forecast: the flow through its feeding element, W at nominal voltage."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    element: str
    limit_w: NonNegInt
    forecast_w: list[NonNegInt]


class GridCut(_Strict):
    """One published linear cut: sum(coef * injection_w at bus) <= rhs in one slot.

    Rows are in percent of loading (`loading`) or thousandths of a pu (`vm_max`, and
    `vm_min` with the sign turned), integers in 1e-12 of the row unit (coefficients per W
    of net injection at the bus), see oracle.grid.published.SCALE."""

    slot: NonNegInt
    element: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["loading", "vm_max", "vm_min"]
    terms: Annotated[list[tuple[NonNegInt, int]], Field(min_length=1)]
    rhs: int


class GridInputs(_Strict):
    """The grid inputs of a session as published on chain (canonical JSON of the `grid`
    object that holds them)."""

    model_hash: Hash32
    """keccak256 of the network model (oracle.grid.published.model_hash)."""
    profiles_hash: Hash32
    """keccak256 of the forecast operating points of the session's slots, in W and var."""
    assets: list[GridAsset]
    zones: list[ZoneForecast]
    cuts: Annotated[list[GridCut], Field(max_length=MAX_CUTS)]


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
    inputs: GridInputs | None = None
    """The published grid inputs: the session is cleared with these cuts (issue 19)."""

    @model_serializer(mode="wrap")
    def _without_empty_inputs(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # scenarios without published inputs keep the bytes (and input_hash) they had
        data: dict[str, object] = handler(self)
        if data.get("inputs") is None:
            data.pop("inputs", None)
        return data

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
        if self.inputs is not None:
            ids = [a.id for a in self.inputs.assets]
            if len(set(ids)) != len(ids):
                raise ValueError("inputs.assets: an asset is listed twice")
        return self
