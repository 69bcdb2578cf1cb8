"""Request (`XCreate`) and response (`XPublic`) bodies. Integers everywhere, units in
names; hex strings for bytes32 and addresses; labels (zones, markets) as UTF-8 text of at
most 32 bytes (a label that is not UTF-8, registered on chain outside the API, as `0x` and
64 hex digits: `python_client.hashing.label_text`). A client never sends a field it does
not own: no status, no award, no seller (the seller is the signed-in address).

Integers that can exceed 2^53 (JavaScript's exact range: nonces, slot masks, prices in
EUR/MW up to 2^64 - 1, amounts in µEUR) are the `U56` ... `U256` types: accepted as a JSON
integer or as a decimal string (`"18446744073709551615"`: digits only, no sign, no
leading zero), always answered as a decimal string, and described so in OpenAPI (`anyOf`
integer or string with a pattern on input, a string with the pattern on output)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)

from python_client.hashing import label

Hex32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
HexData = Annotated[str, StringConstraints(pattern=r"^0x([0-9a-fA-F]{2})+$", max_length=262146)]


def _not_zero(v: str) -> str:
    if int(v, 16) == 0:
        raise ValueError("must not be zero (the hash of the evidence)")
    return v


# a bytes32 that must not be zero: the metering evidence hash (FlexMarketEvidenceMissing)
EvidenceHash = Annotated[Hex32, AfterValidator(_not_zero)]


def _label_fits(v: str) -> str:
    try:
        label(v)
    except ValueError as exc:
        raise ValueError(
            "longer than 32 bytes in UTF-8 (or, for a label that is not UTF-8, not 0x and "
            "64 hex digits)"
        ) from exc
    return v


# UTF-8 text of at most 32 bytes, or 0x and 64 hex digits (the bytes32 itself)
Label = Annotated[str, StringConstraints(min_length=1, max_length=66), AfterValidator(_label_fits)]
U16 = Annotated[int, Field(ge=0, le=2**16 - 1)]
U32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
U40 = Annotated[int, Field(ge=0, le=2**40 - 1)]
U48 = Annotated[int, Field(ge=1, le=2**48 - 1)]

DECIMAL_PATTERN = r"^(0|[1-9][0-9]{0,77})$"
_DECIMAL = re.compile(DECIMAL_PATTERN)


def _from_decimal(value: Any) -> Any:
    """A decimal string as its integer (anything else goes on to the strict int check)."""
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            raise ValueError("not a decimal integer (digits only, no sign, no leading zero)")
        return int(value)
    return value


def _schema_in(bits: int) -> WithJsonSchema:
    """OpenAPI of such an input: a JSON integer or a decimal string."""
    number = {"type": "integer", "minimum": 0, "maximum": 2**bits - 1}
    string = {"type": "string", "pattern": DECIMAL_PATTERN,
              "description": f"decimal integer, 0 to 2^{bits} - 1"}  # fmt: skip
    return WithJsonSchema({"anyOf": [number, string]}, mode="validation")


# An unsigned integer that may exceed 2^53: in as a JSON integer or a decimal string,
# out as a decimal string.
_IN = BeforeValidator(_from_decimal)
_OUT = PlainSerializer(str, return_type=str, when_used="json")
_OUT_SCHEMA = WithJsonSchema(
    {"type": "string", "pattern": DECIMAL_PATTERN, "description": "decimal integer"},
    mode="serialization",
)
U56 = Annotated[int, _IN, Field(ge=0, le=2**56 - 1), _OUT, _schema_in(56), _OUT_SCHEMA]
U64 = Annotated[int, _IN, Field(ge=0, le=2**64 - 1), _OUT, _schema_in(64), _OUT_SCHEMA]
U72 = Annotated[int, _IN, Field(ge=0, le=2**72 - 1), _OUT, _schema_in(72), _OUT_SCHEMA]
U96 = Annotated[int, _IN, Field(ge=0, le=2**96 - 1), _OUT, _schema_in(96), _OUT_SCHEMA]
U112 = Annotated[int, _IN, Field(ge=0, le=2**112 - 1), _OUT, _schema_in(112), _OUT_SCHEMA]
U256 = Annotated[int, _IN, Field(ge=0, le=2**256 - 1), _OUT, _schema_in(256), _OUT_SCHEMA]
# an amount read from the chain (a balance, a payment): a decimal string in every answer
BigOut = U256
Role = Literal["DSO", "TSO", "BRP", "AGGREGATOR", "ORACLE", "VALIDATOR", "METERING"]


class Strict(BaseModel):
    """A request body: no unknown field (a field the client does not own is named in the
    422), and no coercion (`false` is not 0, `"1"` is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- sign-in
class NoncePublic(BaseModel):
    nonce: str
    domain: str
    uri: str
    chain_id: int
    expires_at: int
    statement: str


class SignInCreate(Strict):
    message: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    signature: Signature


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: int
    address: str
    roles: list[str]


# --- participants
class ParticipantPublic(BaseModel):
    address: str
    roles: list[str]
    free_ueur: BigOut
    locked_ueur: BigOut
    token_ueur: BigOut
    failures: int
    suspended: bool


class RoleGrantCreate(Strict):
    role: Role


class AmountCreate(Strict):
    amount_ueur: Annotated[U112, Field(ge=1)]


class DeploymentPublic(BaseModel):
    chain_id: int
    block_number: int  # the chain's head when asked, and its time (sessions are set from it)
    block_timestamp: int
    contracts: dict[str, str]
    relay_domain: dict[str, Any]


# --- prepared and relayed transactions
class PreparedTx(BaseModel):
    tx: dict[str, Any]
    function: str
    intent: str


class PreparedPublic(BaseModel):
    sender: str
    transactions: list[PreparedTx]
    submit: str


class TransactionCreate(Strict):
    raw_tx: HexData  # the signed transaction, RLP (legacy EIP-155) or typed (EIP-1559)
    intent: Annotated[str, StringConstraints(min_length=1, max_length=200)]  # as prepared


class EventPublic(BaseModel):
    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


class TxPublic(BaseModel):
    tx_hash: str
    block_number: int
    events: list[EventPublic]


class TxStatusPublic(BaseModel):
    """A broadcast transaction: `pending` until mined, then `mined` (its events) or
    `reverted`."""

    tx_hash: str
    status: Literal["pending", "mined", "reverted"]
    block_number: int | None
    events: list[EventPublic]
    status_url: str


# --- assets and zones
class ZoneCreate(Strict):
    zone: Label
    limit_w: U64 = 0


class AssetCreate(Strict):
    asset_id: Hex32  # keyed hash of the meter code: the code never reaches the API
    asset_type: Literal["load", "generation", "storage"]
    p_max_w: Annotated[int, Field(ge=1, le=2**32 - 1)]
    p_min_w: U32 = 0
    zone: Label
    owner: Address | None = None  # default: the signed-in aggregator


class AssetPublic(BaseModel):
    asset_id: str
    owner: str
    manager: str
    asset_type: str
    p_max_w: int
    p_min_w: int
    zone: str
    prequalified: bool


class PrequalificationCreate(Strict):
    prequalified: bool = True


# --- sessions and needs
class SessionCreate(Strict):
    market_id: Label
    product: Label = "PowerMax"
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid"
    slot_count: Annotated[int, Field(ge=1, le=256)]
    slot_minutes: Annotated[int, Field(ge=1, le=2**16 - 1)] = 15
    delivery_start: U40
    bidding_end: U40
    reveal_deadline: U40
    clearing_deadline: U40
    min_bid_w: U40 = 0
    granularity_w: Annotated[int, Field(ge=1, le=2**32 - 1)] = 1
    price_floor_eur_per_mw: U64 = 0
    price_cap_eur_per_mw: U64 = 2**64 - 1
    unmet_penalty_eur_per_mw: U64 = 0
    bid_bond_ueur: U64 = 0
    collateral_ueur_per_w: U56 = 0
    shortfall_penalty_eur_per_mw: U64 = 0
    tolerance_bps: Annotated[int, Field(ge=0, le=10_000)] = 0
    # at least the market's minimum quorum (>= 1): every result is checked by validators
    attestation_quorum: Annotated[int, Field(ge=1, le=255)] = 1
    # 0: derived (python_client.records.default_deadlines); after them no money stays locked
    attestation_deadline: U40 = 0
    delivery_deadline: U40 = 0
    correction_window_s: Annotated[int, Field(ge=0, le=2**24 - 1)] = 0


class SessionPublic(BaseModel):
    session_id: int
    operator: str
    bidding_end: int
    reveal_deadline: int
    clearing_deadline: int
    delivery_start: int
    slot_count: int
    slot_minutes: int
    pricing: str
    attestation_quorum: int
    result_status: str
    need_count: int
    award_count: int
    settled_count: int
    phase: str


class NeedCreate(Strict):
    zone: Label | None = None  # None: system-wide
    direction: Literal["up", "down"]
    buyer_role: Literal["DSO", "TSO", "BRP"]
    max_price_eur_per_mw: U64 = 2**64 - 1
    budget_ueur: U96
    # one value (every slot) or one per slot; [] a balancing need: a DSO's system-wide
    # budget for counter-activations (balance_dso), asking for no watts
    quantity_w: Annotated[list[U40], Field(max_length=256)]


class NeedPublic(BaseModel):
    session_id: int
    need_index: int
    buyer: str
    zone: str | None  # None: system-wide
    direction: str
    buyer_role: str
    quantity_w: list[int]  # one value (every slot) or one per slot, as posted
    balancing: bool  # a balancing need (no quantities): a DSO's budget for counter-activations
    max_price_eur_per_mw: BigOut
    budget_ueur: BigOut
    committed_ueur: BigOut
    released: bool


# --- bids (relayed, signed by the seller)
class JoinCreate(Strict):
    added_bids: Annotated[int, Field(ge=1, le=2**16 - 1)]
    nonce: U256
    deadline: U256
    signature: Signature


class BidCommitCreate(Strict):
    commitment: Hex32
    nonce: U256
    deadline: U256
    signature: Signature


class BidRevealCreate(Strict):
    zone: Label
    direction: Literal["up", "down"]
    divisible: bool
    quantity_w: U40
    min_quantity_w: U40 = 0
    price_eur_per_mw: U64
    slot_mask: U256
    asset_ids: Annotated[list[Hex32], Field(min_length=1, max_length=64)]
    salt: Hex32
    nonce: U256
    deadline: U256
    signature: Signature


class BidPublic(BaseModel):
    bid_id: str
    session_id: int
    seller: str
    status: str  # queued | committed | failed (relay) ; revealed | forfeited | released (chain)
    relay_tx_hash: str | None = None
    relay_error: str | None = None
    quantity_w: int | None = None
    price_eur_per_mw: BigOut | None = None
    awarded_w: int | None = None


# --- results, attestations, metering, settlements
class AwardCreate(Strict):
    """A result row. With `quantity_w > 0` it opens an award and charges `payment_ueur` of
    it (default: all of it, `quantity_w * price_eur_per_mw`) to its need; with
    `quantity_w == 0` it is a share row: `payment_ueur` more of the award opened before it
    (same bid, lower need index) charged to its own need. An award's rows add up to its
    payment (the contract checks it: shared payments, TSO-DSO sessions)."""

    bid_id: Hex32
    need_index: U16
    quantity_w: U40
    price_eur_per_mw: U64
    payment_ueur: U72 | None = None


class ResultCreate(Strict):
    input_hash: Hex32
    result_hash: Hex32
    awards: Annotated[list[AwardCreate], Field(max_length=500)]
    last_page: bool = True


class SharePublic(BaseModel):
    """What one need (and so its buyer) pays of an award."""

    need_index: int
    buyer: str
    payment_ueur: BigOut


class AwardPublic(BaseModel):
    award_index: int
    bid_id: str
    seller: str
    buyer: str  # the buyer of the award's own need
    need_index: int
    quantity_w: int
    delivered_w: int
    delivered: bool
    settled: bool
    payment_ueur: BigOut  # the whole payment to the seller
    # who pays it: the award's own need first (the payment less the share rows), then each
    # share row (TSO-DSO sessions); they add up to payment_ueur
    shares: list[SharePublic]


class ResultPublic(BaseModel):
    session_id: int
    status: str
    input_hash: str
    result_hash: str
    awards: list[AwardPublic]


class AttestationCreate(Strict):
    result_hash: Hex32
    dispute: bool = False  # True: dispute (result_hash is then the reason's hash)


class DeliveryCreate(Strict):
    award_index: U32
    delivered_w: U40


class MeteringCreate(Strict):
    deliveries: Annotated[list[DeliveryCreate], Field(min_length=1, max_length=500)]
    evidence_hash: EvidenceHash


class CorrectionCreate(Strict):
    """A recorded delivery corrected within the session's correction window."""

    delivered_w: U40
    evidence_hash: EvidenceHash


class SettlementCreate(Strict):
    from_index: U32 = 0
    count: Annotated[int, Field(ge=1, le=500)] = 100


class ReleaseCreate(Strict):
    need_index: U16 | None = None
    seller: Address | None = None


class SettlementPartPublic(BaseModel):
    """One buyer's part of a settled award (`ShareSettled`; the award's `AwardSettled` when
    it is not shared): paid to the seller, refunded, and its part of the penalty."""

    need_index: int
    buyer: str
    payment_ueur: BigOut
    refund_ueur: BigOut
    penalty_ueur: BigOut


class AwardSettlementPublic(BaseModel):
    award_index: int
    bid_id: str
    seller: str
    quantity_w: int
    payment_ueur: BigOut  # committed: the whole payment
    shares: list[SharePublic]  # who pays it (as in the result)
    settled: bool
    paid_ueur: BigOut  # to the seller (AwardSettled; 0 until settled)
    refund_ueur: BigOut
    penalty_ueur: BigOut
    settled_tx_hash: str | None
    parts: list[SettlementPartPublic]  # each buyer's part once settled, else []


class BuyerPaymentPublic(BaseModel):
    """A buyer's money in a session's awards: its shares, then what settlement did."""

    buyer: str
    committed_ueur: BigOut  # its shares of the committed awards
    paid_ueur: BigOut  # to sellers, in the awards settled so far
    refund_ueur: BigOut
    penalty_ueur: BigOut  # received from sellers' collateral


class SettlementsPublic(BaseModel):
    session_id: int
    block_number: int  # every figure is read at this block
    status: str
    award_count: int
    settled_count: int
    awards: list[AwardSettlementPublic]
    buyers: list[BuyerPaymentPublic]


# --- TSO-DSO coordination inputs (published by the session operator)
JsonInt = Annotated[int, Field(ge=0, le=2**53 - 1)]  # exact in any JSON reader
PerSlotW = JsonInt | Annotated[list[JsonInt], Field(min_length=1, max_length=256)]


class CoordinationZone(Strict):
    id: Label  # a zone registered on chain
    forecast_w: PerSlotW | None = None
    limit_w: PerSlotW | None = None
    red_slots: (
        Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(max_length=256)] | None
    ) = None


class CoordinationCreate(Strict):
    """The scenario's coordination fields (docs/coordination.md); a field left out (or
    null) is not published, and the oracle and validators use its default."""

    coupling: Literal["sequential", "common"] | None = None
    priority: (
        Annotated[list[Literal["DSO", "TSO", "BRP"]], Field(min_length=1, max_length=3)] | None
    ) = None
    balance_dso: bool | None = None
    zones: Annotated[list[CoordinationZone], Field(max_length=1000)] | None = None


class CoordinationPublic(BaseModel):
    session_id: int
    operator: str
    coordination: dict[str, Any] | None  # the published JSON (None: not a JSON object)
    canonical: str  # the bytes on chain, as UTF-8 text
    tx_hash: str
    block_number: int
