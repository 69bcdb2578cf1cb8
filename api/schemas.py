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
from typing import Annotated, Any, ClassVar, Literal

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

from python_client.contract_types import NO_LIMIT
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


# --- OpenAPI: every field's description (one home: a name means the same in every body),
# with its unit; and an example of every request body (its class's EXAMPLE).
A = "0x" + "ab" * 20  # an address in the examples
H = "0x" + "12" * 32  # a bytes32 in the examples
SIG = "0x" + "34" * 65  # a signature in the examples
FIELDS: dict[str, str] = {
    "access_token": "the bearer token: send it as `Authorization: Bearer <token>`",
    "added_bids": "how many more bids to lock a bid bond for (count)",
    "address": "an Ethereum address (0x and 40 hex digits, checksummed in answers)",
    "amount_ueur": "an amount of the settlement token, in µEUR (1 EUR = 10^6 µEUR)",
    "args": "the event's arguments by name (integers beyond 2^53 as decimal strings, "
    "bytes as 0x hex)",
    "asset_id": "the asset's id: a keyed hash of its meter code, bytes32 (0x and 64 hex "
    "digits); the code itself never reaches the API",
    "asset_ids": "the assets (asset_id, bytes32) that deliver the bid",
    "asset_type": "load, generation or storage",
    "attestation_deadline": "unix time (s) by which validators attest the result; 0: derived "
    "from the clearing deadline",
    "attestation_quorum": "attestations needed to finalise a result (count)",
    "award_count": "awards in the session's result (count)",
    "award_index": "an award's index in the session's result (0-based)",
    "awarded_w": "watts awarded to the bid (W), once the result is committed",
    "awards": "the result's award rows, in award order",
    "balance_dso": "TSO-DSO sessions: whether the DSO's balancing need pays counter-activations",
    "balancing": "a balancing need (no quantities): a DSO's budget for counter-activations",
    "bid_bond_ueur": "bond locked per bid at join, in µEUR (forfeited if not revealed)",
    "bid_id": "the bid's id, bytes32 (0x and 64 hex digits)",
    "bids": "the revealed leaves of the batch, strictly ascending `index` (at most 1,000)",
    "bid_count": "how many sealed bids (leaves) the batch holds (count)",
    "bidding_end": "unix time (s) when sealed bids close",
    "block_number": "a block number of the chain",
    "block_timestamp": "the block's time, unix time (s)",
    "budget_ueur": "the most the need may pay in all, in µEUR",
    "batch_id": "the batch's id: keccak256(abi.encode(seller, root)), bytes32",
    "buyer": "the buyer's address (the account that posted the need)",
    "buyer_role": "the role the need is posted as: DSO, TSO or BRP",
    "buyers": "each buyer's money in the session's awards",
    "canonical": "the coordination inputs exactly as stored on chain (canonical JSON text)",
    "chain_id": "the chain's EIP-155 id",
    "commitments": "the batch's sealed-bid commitments in leaf order, each bytes32 as for a "
    "single commit (at most 4,096)",
    "clearing_deadline": "unix time (s) by which the oracle commits the result",
    "collateral_ueur_per_w": "collateral locked per awarded watt, in µEUR per W",
    "committed_ueur": "money committed to awards, in µEUR",
    "contracts": "the deployed contracts' addresses by name",
    "coordination": "the published coordination inputs as a JSON object (null: not an object)",
    "correction_window_s": "seconds after delivery in which metering may be corrected; 0: "
    "the default",
    "count": "at most this many awards in one call (count)",
    "coupling": "TSO-DSO coupling: sequential (DSO first) or common (one clearing)",
    "deadline": "unix time (s) after which the signed message is refused",
    "first_bid_id": "the id of the batch's leaf 0; leaf i's id is keccak256(abi.encode("
    "batch_id, i))",
    "delivered": "whether metering has reported the award's delivery",
    "delivered_w": "watts metered as delivered (W)",
    "deliveries": "metered deliveries, one per award (an award at most once)",
    "delivery_deadline": "unix time (s) after which undelivered awards are settled as "
    "failed; 0: derived",
    "delivery_start": "unix time (s) when the first slot starts",
    "direction": "up (more generation or less load) or down",
    "dispute": "true: a dispute (result_hash is then the hash of the reason)",
    "divisible": "whether the bid may be awarded in part (down to min_quantity_w)",
    "domain": "the host the sign-in message must name (EIP-4361 domain)",
    "error": "the contract's custom error name",
    "error_args": "the contract error's arguments, as text",
    "events": "the decoded events the transaction emitted, in log order",
    "evidence_hash": "hash of the metering evidence kept off chain, bytes32",
    "expires_at": "unix time (s) when it expires",
    "failures": "delivery failures counted against the participant (count)",
    "forecast_w": "the zone's forecast, in W: one value for every slot or one per slot",
    "free_ueur": "money free to lock or withdraw, in µEUR",
    "from_index": "the first award index to settle (0-based)",
    "followed_block": "the last block the API's chain follower has read (relay nonces, "
    "role changes)",
    "follower_lag_blocks": "blocks the chain follower is behind the node's head",
    "function": "the contract function the transaction calls",
    "granularity_w": "bid quantities must be multiples of this, in W",
    "head_block": "the chain node's latest block number",
    "id": "a zone registered on chain (its label)",
    "input_hash": "hash of the clearing's input (bids, needs, parameters), bytes32",
    "intent": "the intent the API issued with the prepared transaction (single use, 10 minutes)",
    "last_page": "false: more award pages follow in later calls",
    "limit_w": "the zone's limit, in W (per slot where a list)",
    "locked_ueur": "money locked in bonds, budgets and collateral, in µEUR",
    "log_index": "the log's index in its block",
    "manager": "the address that manages the asset (bids with it)",
    "market_id": "the market's label (UTF-8 text of at most 32 bytes)",
    "max_price_eur_per_mw": "the highest price the need pays, in EUR per MW (per slot)",
    "message": "the EIP-4361 (Sign-In with Ethereum) message that was signed",
    "min_bid_w": "the smallest bid quantity accepted, in W",
    "index": "the bid's leaf index in its batch (0-based)",
    "min_quantity_w": "a divisible bid's smallest part, in W (0: any)",
    "name": "the event's name",
    "need_count": "needs posted in the session (count)",
    "need_index": "a need's index in its session (0-based)",
    "nonce": "a single-use number: the sign-in nonce, or the relay nonce of a signed bid "
    "message (decimal string beyond 2^53)",
    "operator": "the address that opened the session",
    "owner": "the asset's owner address (default: the signed-in aggregator)",
    "p_max_w": "the asset's maximum power, in W",
    "p_min_w": "the asset's minimum power, in W",
    "paid_ueur": "paid to sellers, in µEUR",
    "parts": "each buyer's part of the settled award (empty until settled)",
    "payment_ueur": "payment to the seller, in µEUR",
    "penalty_ueur": "penalty taken from the seller's collateral, in µEUR",
    "phase": "bidding, reveal, clearing or after_clearing (from the chain's clock)",
    "prequalified": "whether the zone's DSO has prequalified the asset",
    "price_cap_eur_per_mw": "the highest bid price accepted, in EUR per MW",
    "price_eur_per_mw": "price, in EUR per MW (per slot)",
    "price_floor_eur_per_mw": "the lowest bid price accepted, in EUR per MW",
    "pricing": "pay_as_bid or uniform",
    "priority": "TSO-DSO sessions: the order in which buyer roles are served",
    "product": "the product's label (UTF-8 text of at most 32 bytes)",
    "quantity_w": "power, in W (watts)",
    "raw_tx": "the signed transaction, 0x hex (legacy EIP-155 or typed EIP-1559)",
    "reason": "why it is refused",
    "red_slots": "slots (0-based) in which the zone is congested",
    "refund_ueur": "refunded to the buyer, in µEUR",
    "relay_domain": "the EIP-712 domain of relayed messages (name, version, chainId, "
    "verifyingContract)",
    "relay_error": "why relaying failed (status failed)",
    "relay_tx_hash": "the relayed transaction's hash",
    "released": "whether the need's unspent budget was released",
    "result_hash": "hash of the clearing's result, bytes32",
    "result_status": "none, committing, pending, final, disputed or voided",
    "reveal_deadline": "unix time (s) when reveals close",
    "role": "a role: DSO, TSO, BRP, AGGREGATOR, ORACLE, VALIDATOR or METERING",
    "roles": "the roles the address holds",
    "root": "the Merkle root of the batch's leaves (python_client.batches), bytes32",
    "salt": "the secret salt of the sealed bid, bytes32",
    "seller": "the seller's address (the aggregator that bid)",
    "sender": "the address that must sign the transactions",
    "session_id": "the session's id (from 1)",
    "settled": "whether the award is settled",
    "settled_count": "awards settled (count)",
    "settled_tx_hash": "the settling transaction's hash",
    "shares": "who pays the award: its own need first, then each share row",
    "shortfall_penalty_eur_per_mw": "penalty for undelivered power, in EUR per MW",
    "signature": "the signature, 0x and 130 hex digits (r, s, v)",
    "slot_count": "slots in the session (count)",
    "slot_mask": "the slots the bid offers, bit i for slot i (decimal string beyond 2^53)",
    "slot_minutes": "length of a slot, in minutes",
    "statement": "the statement the sign-in message must carry",
    "status": "the state it is in",
    "status_url": "where to follow the transaction (GET)",
    "store": "the API's database (sign-in nonces, relayed bids): ok when it answers",
    "submit": "where to send the signed transactions (POST, one at a time)",
    "suspended": "whether the participant is suspended from bidding",
    "token_type": "always bearer",
    "token_ueur": "settlement tokens held by the address (not deposited), in µEUR",
    "tolerance_bps": "delivery tolerance, in basis points (1/100 %)",
    "transactions": "the unsigned transactions, to sign and submit in order",
    "tx": "the unsigned transaction (to, data, value, gas, gasPrice, nonce, chainId)",
    "tx_hash": "a transaction's hash",
    "unmet_penalty_eur_per_mw": "the oracle's price of unmet need, in EUR per MW",
    "uri": "the URI the sign-in message must name",
    "zone": "a zone's label (UTF-8 text of at most 32 bytes; none: system-wide)",
    "zones": "per-zone coordination inputs",
}


def _document(schema: dict[str, Any], cls: type) -> None:
    """Fill in each property's description from FIELDS and the body's example."""
    for name, prop in schema.get("properties", {}).items():
        if name in FIELDS:  # a type's own description (U64: decimal string) kept after
            own = prop.get("description")
            prop["description"] = FIELDS[name] + (f" ({own})" if own else "")
    example = getattr(cls, "EXAMPLE", None)
    if example is not None:
        schema["examples"] = [example]


class Documented(BaseModel):
    """A body in the OpenAPI document: fields described (FIELDS), an EXAMPLE if a request."""

    model_config = ConfigDict(json_schema_extra=_document)
    EXAMPLE: ClassVar[dict[str, Any] | None] = None


class Strict(Documented):
    """A request body: no unknown field (a field the client does not own is named in the
    422), and no coercion (`false` is not 0, `"1"` is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- sign-in
class NoncePublic(Documented):
    nonce: str
    domain: str
    uri: str
    chain_id: int
    expires_at: int
    statement: str


class SignInCreate(Strict):
    EXAMPLE = {
        "message": "localhost:8000 wants you to sign in with your Ethereum account:\n"
        f"{A}\n\nSign in to the flexmarket participant API.\n\nURI: http://localhost:8000\n"
        "Version: 1\nChain ID: 31337\nNonce: 3f1c9a0b7d2e4c65\n"
        "Issued At: 2026-12-03T18:00:00Z\nExpiration Time: 2026-12-03T18:05:00Z",
        "signature": SIG,
    }
    message: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    signature: Signature


class TokenPublic(Documented):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: int
    address: str
    roles: list[str]


# --- participants
class ParticipantPublic(Documented):
    address: str
    roles: list[str]
    free_ueur: BigOut
    locked_ueur: BigOut
    token_ueur: BigOut
    failures: int
    suspended: bool


class RoleGrantCreate(Strict):
    EXAMPLE = {"role": "AGGREGATOR"}
    role: Role


class AmountCreate(Strict):
    EXAMPLE = {"amount_ueur": "1000000000"}
    amount_ueur: Annotated[U112, Field(ge=1)]


class DeploymentPublic(Documented):
    chain_id: int
    block_number: int  # the chain's head when asked, and its time (sessions are set from it)
    block_timestamp: int
    contracts: dict[str, str]
    relay_domain: dict[str, Any]


class HealthPublic(Documented):
    status: Literal["ok"]
    chain_id: int
    head_block: int
    followed_block: int
    follower_lag_blocks: int
    store: Literal["ok"]


# --- prepared and relayed transactions
class PreparedTx(Documented):
    tx: dict[str, Any]
    function: str
    intent: str


class PreparedPublic(Documented):
    sender: str
    transactions: list[PreparedTx]
    submit: str


class TransactionCreate(Strict):
    EXAMPLE = {
        "raw_tx": "0x02f86b827a6980843b9aca00850ba43b7400830186a094" + "ab" * 20 + "80c0",
        "intent": "1796320000." + "cd" * 32,
    }
    raw_tx: HexData  # the signed transaction, RLP (legacy EIP-155) or typed (EIP-1559)
    intent: Annotated[str, StringConstraints(min_length=1, max_length=200)]  # as prepared


class EventPublic(Documented):
    name: str
    args: dict[str, Any]
    block_number: int
    tx_hash: str
    log_index: int


class TxPublic(Documented):
    tx_hash: str
    block_number: int
    events: list[EventPublic]


class TxStatusPublic(Documented):
    """A broadcast transaction: `pending` until mined, then `mined` (its events) or
    `reverted`."""

    tx_hash: str
    status: Literal["pending", "mined", "reverted"]
    block_number: int | None
    events: list[EventPublic]
    status_url: str


# --- assets and zones
class ZoneCreate(Strict):
    EXAMPLE = {"zone": "T1", "limit_w": 5_000_000}
    zone: Label
    limit_w: U64 = 0


class AssetCreate(Strict):
    EXAMPLE = {
        "asset_id": H,
        "asset_type": "storage",
        "p_max_w": 250_000,
        "p_min_w": 0,
        "zone": "T1",
    }
    asset_id: Hex32  # keyed hash of the meter code: the code never reaches the API
    asset_type: Literal["load", "generation", "storage"]
    p_max_w: Annotated[int, Field(ge=1, le=2**32 - 1)]
    p_min_w: U32 = 0
    zone: Label
    owner: Address | None = None  # default: the signed-in aggregator


class AssetPublic(Documented):
    asset_id: str
    owner: str
    manager: str
    asset_type: str
    p_max_w: int
    p_min_w: int
    zone: str
    prequalified: bool


class PrequalificationCreate(Strict):
    EXAMPLE = {"prequalified": True}
    prequalified: bool = True


# --- sessions and needs
class SessionCreate(Strict):
    EXAMPLE = {
        "market_id": "day-ahead",
        "product": "PowerMax",
        "pricing": "pay_as_bid",
        "slot_count": 96,
        "slot_minutes": 15,
        "delivery_start": 1796400000,
        "bidding_end": 1796320000,
        "reveal_deadline": 1796323600,
        "clearing_deadline": 1796327200,
        "bid_bond_ueur": "1000000",
        "collateral_ueur_per_w": "10",
        "attestation_quorum": 1,
    }
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
    price_cap_eur_per_mw: U64 = NO_LIMIT
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


class SessionPublic(Documented):
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
    EXAMPLE = {
        "zone": "T1",
        "direction": "up",
        "buyer_role": "DSO",
        "max_price_eur_per_mw": "200",
        "budget_ueur": "500000000",
        "quantity_w": [2_000_000],
    }
    zone: Label | None = None  # None: system-wide
    direction: Literal["up", "down"]
    buyer_role: Literal["DSO", "TSO", "BRP"]
    max_price_eur_per_mw: U64 = NO_LIMIT
    budget_ueur: U96
    # one value (every slot) or one per slot; [] a balancing need: a DSO's system-wide
    # budget for counter-activations (balance_dso), asking for no watts
    quantity_w: Annotated[list[U40], Field(max_length=256)]


class NeedPublic(Documented):
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
    EXAMPLE = {"added_bids": 4, "nonce": "7", "deadline": "1796320000", "signature": SIG}
    added_bids: Annotated[int, Field(ge=1, le=2**16 - 1)]
    nonce: U256
    deadline: U256
    signature: Signature


class BidCommitCreate(Strict):
    EXAMPLE = {"commitment": H, "nonce": "8", "deadline": "1796320000", "signature": SIG}
    commitment: Hex32
    nonce: U256
    deadline: U256
    signature: Signature


class BidRevealCreate(Strict):
    EXAMPLE = {
        "zone": "T1",
        "direction": "up",
        "divisible": True,
        "quantity_w": 250_000,
        "min_quantity_w": 50_000,
        "price_eur_per_mw": "120",
        "slot_mask": "15",
        "asset_ids": [H],
        "salt": "0x" + "56" * 32,
        "nonce": "9",
        "deadline": "1796323600",
        "signature": SIG,
    }
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


class BatchCommitCreate(Strict):
    """A seller's batch of sealed bids, signed once (`CommitBatch`: the root and the count)."""

    EXAMPLE = {"root": H, "commitments": [H, "0x" + "13" * 32], "nonce": "10",
               "deadline": "1796320000", "signature": SIG}  # fmt: skip
    root: Hex32
    commitments: Annotated[list[Hex32], Field(min_length=1, max_length=4_096)]
    nonce: U256
    deadline: U256
    signature: Signature


class BatchedBidReveal(Strict):
    """One revealed leaf of a batch: its index and the fields its commitment hashed."""

    EXAMPLE = {k: v for k, v in BidRevealCreate.EXAMPLE.items()
               if k not in ("nonce", "deadline", "signature")} | {"index": 0}  # fmt: skip
    index: U16
    zone: Label
    direction: Literal["up", "down"]
    divisible: bool
    quantity_w: U40
    min_quantity_w: U40 = 0
    price_eur_per_mw: U64
    slot_mask: U256
    asset_ids: Annotated[list[Hex32], Field(min_length=1, max_length=64)]
    salt: Hex32


class BatchRevealCreate(Strict):
    """Leaves of a batch revealed in one relayed call (`RevealBatch`, signed over the bids'
    rows: `python_client.batches.bids_hash`)."""

    EXAMPLE = {"bids": [BatchedBidReveal.EXAMPLE], "nonce": "11", "deadline": "1796323600",
               "signature": SIG}  # fmt: skip
    bids: Annotated[list[BatchedBidReveal], Field(min_length=1, max_length=1_000)]
    nonce: U256
    deadline: U256
    signature: Signature


class BatchPublic(Documented):
    batch_id: str
    session_id: int
    seller: str
    root: str
    bid_count: int
    status: str  # queued | committed | failed
    relay_tx_hash: str | None = None
    relay_error: str | None = None
    first_bid_id: str


class BidPublic(Documented):
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

    EXAMPLE = {"bid_id": H, "need_index": 0, "quantity_w": 250_000, "price_eur_per_mw": "120"}

    bid_id: Hex32
    need_index: U16
    quantity_w: U40
    price_eur_per_mw: U64
    payment_ueur: U72 | None = None


class ResultCreate(Strict):
    EXAMPLE = {
        "input_hash": H,
        "result_hash": "0x" + "78" * 32,
        "awards": [
            {"bid_id": H, "need_index": 0, "quantity_w": 250_000, "price_eur_per_mw": "120"}
        ],
        "last_page": True,
    }
    input_hash: Hex32
    result_hash: Hex32
    awards: Annotated[list[AwardCreate], Field(max_length=500)]
    last_page: bool = True


class SharePublic(Documented):
    """What one need (and so its buyer) pays of an award."""

    need_index: int
    buyer: str
    payment_ueur: BigOut


class AwardPublic(Documented):
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


class ResultPublic(Documented):
    session_id: int
    status: str
    input_hash: str
    result_hash: str
    awards: list[AwardPublic]


class AttestationCreate(Strict):
    EXAMPLE = {"result_hash": H, "dispute": False}
    result_hash: Hex32
    dispute: bool = False  # True: dispute (result_hash is then the reason's hash)


class DeliveryCreate(Strict):
    EXAMPLE = {"award_index": 0, "delivered_w": 240_000}
    award_index: U32
    delivered_w: U40


class MeteringCreate(Strict):
    EXAMPLE = {"deliveries": [{"award_index": 0, "delivered_w": 240_000}], "evidence_hash": H}
    deliveries: Annotated[list[DeliveryCreate], Field(min_length=1, max_length=500)]
    evidence_hash: EvidenceHash


class CorrectionCreate(Strict):
    """A recorded delivery corrected within the session's correction window."""

    EXAMPLE = {"delivered_w": 230_000, "evidence_hash": H}

    delivered_w: U40
    evidence_hash: EvidenceHash


class SettlementCreate(Strict):
    EXAMPLE = {"from_index": 0, "count": 100}
    from_index: U32 = 0
    count: Annotated[int, Field(ge=1, le=500)] = 100


class ReleaseCreate(Strict):
    EXAMPLE = {"need_index": 0}
    need_index: U16 | None = None
    seller: Address | None = None


class SettlementPartPublic(Documented):
    """One buyer's part of a settled award (`ShareSettled`; the award's `AwardSettled` when
    it is not shared): paid to the seller, refunded, and its part of the penalty."""

    need_index: int
    buyer: str
    payment_ueur: BigOut
    refund_ueur: BigOut
    penalty_ueur: BigOut


class AwardSettlementPublic(Documented):
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


class BuyerPaymentPublic(Documented):
    """A buyer's money in a session's awards: its shares, then what settlement did."""

    buyer: str
    committed_ueur: BigOut  # its shares of the committed awards
    paid_ueur: BigOut  # to sellers, in the awards settled so far
    refund_ueur: BigOut
    penalty_ueur: BigOut  # received from sellers' collateral


class SettlementsPublic(Documented):
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
    EXAMPLE = {"id": "T1", "forecast_w": 1_000_000, "limit_w": [800_000, 900_000], "red_slots": [0]}
    id: Label  # a zone registered on chain
    forecast_w: PerSlotW | None = None
    limit_w: PerSlotW | None = None
    red_slots: (
        Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(max_length=256)] | None
    ) = None


class CoordinationCreate(Strict):
    """The scenario's coordination fields (docs/coordination.md); a field left out (or
    null) is not published, and the oracle and validators use its default."""

    EXAMPLE = {
        "coupling": "sequential",
        "priority": ["DSO", "TSO"],
        "balance_dso": False,
        "zones": [{"id": "T1", "limit_w": 800_000, "red_slots": [0]}],
    }

    coupling: Literal["sequential", "common"] | None = None
    priority: (
        Annotated[list[Literal["DSO", "TSO", "BRP"]], Field(min_length=1, max_length=3)] | None
    ) = None
    balance_dso: bool | None = None
    zones: Annotated[list[CoordinationZone], Field(max_length=1000)] | None = None


class CoordinationPublic(Documented):
    session_id: int
    operator: str
    coordination: dict[str, Any] | None  # the published JSON (None: not a JSON object)
    canonical: str  # the bytes on chain, as UTF-8 text
    tx_hash: str
    block_number: int


# --- grid inputs of a grid-constrained session (issue 19; api/routes/grid.py)
class GridCreate(Strict):
    """The scenario's `grid` object with its published `inputs` (docs/grid.md), checked
    completely by `oracle.grid_spec.GridSpec` (422 naming `grid.<field>`)."""

    EXAMPLE = {
        "grid": {
            "simbench_code": "1-LV-semiurb4--2-sw", "time_step": 14012,
            "inputs": {
                "model_hash": "0x" + "11" * 32, "profiles_hash": "0x" + "22" * 32,
                "assets": [{"id": "0x" + "33" * 32, "bus": 4, "p_max_w": 50_000}],
                "zones": [{"id": "T1", "element": "trafo 0", "limit_w": 400_000,
                           "forecast_w": [250_000]}],
                "cuts": [{"slot": 0, "element": "line 3", "kind": "loading",
                          "terms": [[4, 1_234_567_890]], "rhs": 99_000_000_000_000}],
            },
        }
    }  # fmt: skip

    grid: dict[str, Any] = Field(
        description="the grid object: model (simbench_code or file), day or time_step, "
        "limits, and inputs (model_hash, profiles_hash, assets, zones, cuts)"
    )


class GridPartPublic(Documented):
    part_index: int = Field(description="position of the part (0 first)")
    size_bytes: int = Field(description="bytes of the part")
    tx_hash: str = Field(description="transaction that published it")
    block_number: int = Field(description="block it was mined in")


class GridPublic(Documented):
    session_id: int = Field(description="the session")
    operator: str = Field(description="the session operator, who published the parts")
    parts: list[GridPartPublic] = Field(description="the parts published so far, in order")
    part_count: int = Field(description="number of parts of the publication (part 0 fixed it)")
    complete: bool = Field(description="every part is published: the inputs are the session's")
    size_bytes: int = Field(description="bytes published so far, all parts joined")
    joined_hash: str | None = Field(
        description="keccak256 of the parts joined (null until complete)"
    )
    grid: dict[str, Any] | None = Field(
        description="the published grid object (null until complete, or if not a JSON object)"
    )
