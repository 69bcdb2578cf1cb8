"""Typed records of the SDK: the frozen dataclasses a participant writes to the contracts.

The contracts' enums, constants and view records are generated from the compiled contracts
into python_client/contract_types.py (the one mirror); the enums and NO_LIMIT are re-exported
here for the SDK's callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from python_client.contract_types import NO_LIMIT as NO_LIMIT
from python_client.contract_types import AssetType as AssetType
from python_client.contract_types import BidStatus as BidStatus
from python_client.contract_types import BuyerRole as BuyerRole
from python_client.contract_types import Direction as Direction
from python_client.contract_types import Pricing as Pricing
from python_client.contract_types import ResultStatus as ResultStatus

ZERO32 = b"\0" * 32  # system-wide zone


def default_deadlines(
    reveal_deadline: int, clearing_deadline: int, delivery_start: int, slot_count: int,
    slot_minutes: int,
) -> tuple[int, int]:
    """(attestation_deadline, delivery_deadline) of a session that does not set them: one
    clearing phase (clearing_deadline - reveal_deadline) after the clearing deadline for the
    attestations, and one more after the later of that and the end of delivery for the
    metering. After them no money stays locked for want of an attestation or a meter reading
    (docs/contracts.md, Deadlines)."""
    phase = clearing_deadline - reveal_deadline
    attestation = clearing_deadline + phase
    delivery_end = delivery_start + slot_count * slot_minutes * 60
    return attestation, max(attestation, delivery_end) + phase


@dataclass(frozen=True)
class SessionParams:
    """A session; deadlines in Unix seconds (see contracts/types/FlexTypes.sol). The
    attestation quorum must be at least the market's minimum (1 unless the admin raised it);
    `attestation_deadline` and `delivery_deadline` of 0 are set by :func:`default_deadlines`;
    `correction_window_s`: seconds during which the metering operator may correct a recorded
    delivery (settlement waits for them)."""

    market_id: bytes
    product: bytes
    pricing: Pricing
    slot_count: int
    slot_minutes: int
    delivery_start: int
    bidding_end: int
    reveal_deadline: int
    clearing_deadline: int
    min_bid_w: int = 0
    granularity_w: int = 1
    price_floor_eur_per_mw: int = 0
    price_cap_eur_per_mw: int = NO_LIMIT
    unmet_penalty_eur_per_mw: int = 0
    bid_bond_ueur: int = 0
    collateral_ueur_per_w: int = 0
    shortfall_penalty_eur_per_mw: int = 0
    tolerance_bps: int = 0
    attestation_quorum: int = 1
    attestation_deadline: int = 0
    delivery_deadline: int = 0
    correction_window_s: int = 0

    def deadlines(self) -> tuple[int, int]:
        """(attestation_deadline, delivery_deadline), defaults filled in."""
        attestation, delivery = default_deadlines(
            self.reveal_deadline, self.clearing_deadline, self.delivery_start, self.slot_count,
            self.slot_minutes,
        )  # fmt: skip
        attestation = self.attestation_deadline or attestation
        return attestation, self.delivery_deadline or max(delivery, attestation + 1)

    def as_tuple(self) -> tuple[object, ...]:
        attestation_deadline, delivery_deadline = self.deadlines()
        return (
            self.market_id, self.product, int(self.pricing), self.slot_count, self.slot_minutes,
            self.delivery_start, self.bidding_end, self.reveal_deadline, self.clearing_deadline,
            self.min_bid_w, self.granularity_w, self.price_floor_eur_per_mw,
            self.price_cap_eur_per_mw, self.unmet_penalty_eur_per_mw, self.bid_bond_ueur,
            self.collateral_ueur_per_w, self.shortfall_penalty_eur_per_mw, self.tolerance_bps,
            self.attestation_quorum, attestation_deadline, delivery_deadline,
            self.correction_window_s,
        )  # fmt: skip


@dataclass(frozen=True)
class NeedParams:
    session_id: int
    zone: bytes  # ZERO32 = system-wide
    direction: Direction
    buyer_role: BuyerRole
    budget_ueur: int
    quantity_w: tuple[int, ...]  # one value (every slot) or one per slot
    max_price_eur_per_mw: int = NO_LIMIT

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.session_id, self.zone, int(self.direction), int(self.buyer_role),
            self.max_price_eur_per_mw, self.budget_ueur, list(self.quantity_w),
        )  # fmt: skip


@dataclass(frozen=True)
class BidFields:
    """A sealed bid's fields; `asset_ids` strictly ascending (see :meth:`sorted_assets`)."""

    zone: bytes
    direction: Direction
    divisible: bool
    quantity_w: int
    price_eur_per_mw: int
    slot_mask: int
    asset_ids: tuple[bytes, ...]
    salt: bytes
    min_quantity_w: int = 0

    @staticmethod
    def sorted_assets(asset_ids: list[bytes]) -> tuple[bytes, ...]:
        return tuple(sorted(set(asset_ids)))

    def reveal_tuple(self, session_id: int) -> tuple[object, ...]:
        return (
            session_id, self.zone, int(self.direction), self.divisible, self.quantity_w,
            self.min_quantity_w, self.price_eur_per_mw, self.slot_mask, list(self.asset_ids),
            self.salt,
        )  # fmt: skip


@dataclass(frozen=True)
class AwardRow:
    """A result row (contracts/types/FlexTypes.sol `Award`): with `quantity_w > 0` an award
    whose need pays `charged_ueur` of its `quantity_w * price_eur_per_mw` (None: all of it);
    with `quantity_w == 0` a share row charging `charged_ueur` more of the award just before
    it (same bid) to its own need (payments shared between buyers, issue 7)."""

    bid_id: bytes
    need_index: int
    quantity_w: int
    price_eur_per_mw: int
    charged_ueur: int | None = None

    @property
    def payment_ueur(self) -> int:
        if self.charged_ueur is None:
            return self.quantity_w * self.price_eur_per_mw
        return self.charged_ueur

    def as_tuple(self) -> tuple[object, ...]:
        return (self.bid_id, self.need_index, self.quantity_w, self.price_eur_per_mw,
                self.payment_ueur)  # fmt: skip

    def sort_key(self) -> tuple[int, int]:
        return (int.from_bytes(self.bid_id, "big"), self.need_index)


@dataclass(frozen=True)
class ChainEvent:
    """A decoded log: event name, its arguments, and where it was emitted."""

    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int


@dataclass
class GasLog:
    """Largest and total gas per call kind (function name)."""

    largest: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, gas_used: int) -> None:
        self.largest[kind] = max(self.largest.get(kind, 0), gas_used)
        self.total[kind] = self.total.get(kind, 0) + gas_used
        self.count[kind] = self.count.get(kind, 0) + 1
