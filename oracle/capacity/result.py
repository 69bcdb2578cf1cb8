"""Capacity results (`flexmarket.capacity-result/1`): canonical JSON and its hash, as
`oracle.result` for the flexibility market (`input_hash` and `result_hash` left out of the
hashed body; `clearing_prices` present with uniform pricing only)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex


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


class CapacityResult(_Frozen):
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
    input_hash: str = ""
    result_hash: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        for key in ("input_hash", "result_hash"):
            data.pop(key)
        if data["clearing_prices"] is None:
            data.pop("clearing_prices")
        return data

    def compute_result_hash(self) -> str:
        return keccak_hex(canonical_json(self.body()))

    def sealed(self, input_hash: str) -> CapacityResult:
        unsealed = self.model_copy(update={"input_hash": input_hash, "result_hash": ""})
        return unsealed.model_copy(update={"result_hash": unsealed.compute_result_hash()})

    def to_json_dict(self) -> dict[str, Any]:
        data = self.body()
        data["input_hash"] = self.input_hash
        data["result_hash"] = self.result_hash
        return data

    def to_json(self) -> str:
        return canonical_json(self.to_json_dict()).decode("utf-8")
