"""Result files (`flexmarket.result/1`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SealedDocument(BaseModel):
    """A result document sealed by two hashes (`input_hash` of what was cleared,
    `result_hash` of its body): the one rule for every kind of result (flexibility,
    capacity, ...). The body is the document without the two hashes and without the
    `OPTIONAL` keys that are unset; `result_hash` is keccak256 of its canonical JSON."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()
    input_hash: str = ""
    result_hash: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def body(self) -> dict[str, Any]:
        """The result as a JSON object, without the two hashes, extensions omitted when unset."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        for key in ("input_hash", "result_hash"):
            data.pop(key)
        for key in self.OPTIONAL:
            if data[key] is None:
                data.pop(key)
        return data

    def compute_result_hash(self) -> str:
        return keccak_hex(canonical_json(self.body()))

    def sealed(self, input_hash: str) -> Self:
        """This result with both hashes filled in."""
        unsealed = self.model_copy(update={"input_hash": input_hash, "result_hash": ""})
        return unsealed.model_copy(update={"result_hash": unsealed.compute_result_hash()})

    def to_json_dict(self) -> dict[str, Any]:
        data = self.body()
        data["input_hash"] = self.input_hash
        data["result_hash"] = self.result_hash
        return data

    def to_json(self) -> str:
        """Canonical JSON text of the whole result (what `--json` prints)."""
        return canonical_json(self.to_json_dict()).decode("utf-8")


class Award(_Frozen):
    bid: str
    seller: str
    quantity_w: int
    price_eur_per_mw: int
    payment_ueur: int


class Rejected(_Frozen):
    bid: str
    reason: str


class Unmet(_Frozen):
    request: str
    slot: int
    quantity_w: int


class Result(SealedDocument):
    schema_: Literal["flexmarket.result/1"] = Field(default="flexmarket.result/1", alias="schema")
    market: str
    pricing: Literal["pay_as_bid", "uniform"]
    awards: list[Award]
    rejected: list[Rejected]
    unmet: list[Unmet]
    total_cost_ueur: int
    # Present only when the optimum is not proven exact: the relative gap guaranteed.
    mip_gap: str | None = None
    # Extensions filled by the grid check and TSO-DSO coordination.
    grid_check: dict[str, Any] | None = None
    conflicts: list[dict[str, Any]] | None = None
    # TSO-DSO coordination (docs/coordination.md): each award's payment per buyer, and
    # the coupling used with the zones' traffic light.
    shares: list[dict[str, Any]] | None = None
    coordination: dict[str, Any] | None = None
    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "mip_gap", "grid_check", "conflicts", "shares", "coordination")
