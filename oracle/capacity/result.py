"""Capacity results (`flexmarket.capacity-result/1`): canonical JSON and its hash, as
`oracle.result` for the flexibility market (`input_hash` and `result_hash` left out of the
hashed body; `clearing_prices` present with uniform pricing only)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from oracle.result import SealedDocument


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Allocation(_Frozen):
    request: str
    participant: str
    zone: str
    allocated_w: list[int]
    payment_ueur: int


class Rejection(_Frozen):
    request: str
    reason: str


class CapacityResult(SealedDocument):
    OPTIONAL: ClassVar[tuple[str, ...]] = ("clearing_prices",)
    schema_: Literal["flexmarket.capacity-result/1"] = Field(
        default="flexmarket.capacity-result/1", alias="schema")
    market: str
    phase: Literal["DAM", "IDM"]
    mechanism: Literal["premium", "social_equity"]
    allocations: list[Allocation]
    rejected: list[Rejection]
    clearing_prices: dict[str, list[int]] | None = None
    remaining_w: dict[str, list[int]]
    total_payment_ueur: int
    welfare_ueur: int
