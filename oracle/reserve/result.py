"""Reserve results: the clearing (`flexmarket.reserve-result/1`) and the settlement
(`flexmarket.reserve-settlement/1`), sealed as every result is (`oracle.result.SealedDocument`:
`input_hash` and `result_hash` outside the hashed body)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from oracle.result import SealedDocument


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ReserveAward(_Frozen):
    offer: str
    version: int
    aggregator: str
    quantity_w: int
    availability_price_eur_per_mw_h: int
    utilisation_price_eur_per_mwh: int
    availability_ueur: int  # every day of the period
    budget_ueur: int  # availability and every activation at its longest (the escrow)
    collateral_ueur: int


class ReserveRejection(_Frozen):
    offer: str
    reason: str


class ReserveResult(SealedDocument):
    schema_: Literal["flexmarket.reserve-result/1"] = Field(
        default="flexmarket.reserve-result/1", alias="schema")
    tender: str
    product: str
    zone: str
    direction: Literal["up", "down"]
    awards: list[ReserveAward]
    rejected: list[ReserveRejection]
    awarded_w: int
    unmet_w: int
    expected_cost_x240: int  # µEUR / 240, exact: the clearing's objective
    budget_ueur: int


class ActivationOutcome(_Frozen):
    activation: str
    status: Literal["delivered", "failed", "inability", "rejected"]
    reason: str | None
    power_w: int
    requested_wh: int
    delivered_wh: int
    delivered_w: list[int]  # per 15-minute interval, capped at power_w
    utilisation_ueur: int
    penalty_ueur: int


class AwardSettlement(_Frozen):
    offer: str
    aggregator: str
    days_paid: int
    availability_ueur: int
    utilisation_ueur: int
    penalty_ueur: int  # taken from the collateral (capped at it), paid to the buyer
    failures: int
    terminated_by: str | None  # the activation whose failure ended the contract
    activations: list[ActivationOutcome]
    paid_ueur: int  # availability + utilisation, from the buyer's escrow
    refund_ueur: int  # what the buyer's escrow gets back of this award's budget


class ReserveSettlement(SealedDocument):
    schema_: Literal["flexmarket.reserve-settlement/1"] = Field(
        default="flexmarket.reserve-settlement/1", alias="schema")
    tender: str
    meter_hash: str
    reserve_result_hash: str
    awards: list[AwardSettlement]
    paid_ueur: int
    penalty_ueur: int
    refund_ueur: int
