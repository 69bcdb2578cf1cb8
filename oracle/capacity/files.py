"""Capacity market files (`flexmarket.capacity/1`, `../shared/spec/capacity.md`): the strict
models and the validation rules.

A file that is malformed (types, unknown fields, duplicate ids, sizes of the DSO's own
data, `allocated`/`releases` in a DAM file) raises `CapacityFileError` naming every field:
nothing is cleared. A *request* that breaks a market rule is not an error: `validate`
rejects it with a reason (the spec's rules 1-5) and the market clears without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex
from oracle.errors import DocumentError
from oracle.jsonio import parse_model, read_document

CAPACITY_SCHEMA = "flexmarket.capacity/1"
WATTS_LIMIT = 10**12
"""1 TW: beyond any feeder; keeps every sum and product exact (price x W x slots < 2**127)."""
PRICE_LIMIT = 10**12
REQUESTING_ROLES = ("aggregator", "prosumer")

Id = Annotated[str, Field(min_length=1, max_length=200)]
Watts = Annotated[int, Field(ge=-WATTS_LIMIT, le=WATTS_LIMIT)]
NonNegWatts = Annotated[int, Field(ge=0, le=WATTS_LIMIT)]
PerSlot = Watts | list[Watts]
NonNegPerSlot = NonNegWatts | list[NonNegWatts]
Price = Annotated[int, Field(ge=-PRICE_LIMIT, le=PRICE_LIMIT)]


class CapacityFileError(DocumentError):
    """A capacity file is not well formed (every problem with its field path)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Market(_Strict):
    id: Id
    phase: Literal["DAM", "IDM"] = "DAM"
    mechanism: Literal["premium", "social_equity"]
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid"
    social_rule: Literal["fcfs", "largest_first", "pro_rata"] = "fcfs"
    start: AwareDatetime
    slot_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    slots: Annotated[int, Field(ge=1, le=10_000)] = 96
    granularity_w: Annotated[int, Field(ge=1, le=WATTS_LIMIT)] = 1
    reserve_price_eur_per_mw_slot: Annotated[int, Field(ge=0, le=PRICE_LIMIT)] = 0
    gate_closure: AwareDatetime | None = None


class Participant(_Strict):
    id: Id
    role: Literal["DSO", "aggregator", "prosumer"]


class Zone(_Strict):
    id: Id
    capacity_w: NonNegPerSlot


class Allocated(_Strict):
    request: Id
    participant: Id
    zone: Id
    allocated_w: NonNegPerSlot


class Release(_Strict):
    request: Id
    quantity_w: NonNegPerSlot
    submitted_at: AwareDatetime


class Request(_Strict):
    id: Id
    participant: Id
    zone: Id
    quantity_w: PerSlot
    divisible: bool = True
    min_quantity_w: NonNegWatts | None = None
    price_eur_per_mw_slot: Price = 0
    submitted_at: AwareDatetime


class CapacityFile(_Strict):
    schema_: Literal["flexmarket.capacity/1"] = Field(alias="schema")
    name: str
    market: Market
    participants: list[Participant] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    allocated: list[Allocated] = Field(default_factory=list)
    releases: list[Release] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def canonical(self) -> dict[str, Any]:
        """The file with every default filled in: what `input_hash` covers."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    def input_hash(self) -> str:
        return keccak_hex(canonical_json(self.canonical(), integers_checked=True))


def per_slot(value: int | list[int], slots: int) -> list[int]:
    return list(value) if isinstance(value, list) else [value] * slots


def _problems(f: CapacityFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    slots = f.market.slots

    def unique(kind: str, ids: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, x in enumerate(ids):
            if x in seen:
                problems.append((f"{kind}[{i}].id", f"{x!r} again ({kind}[{seen[x]}])"))
            seen.setdefault(x, i)

    unique("participants", [p.id for p in f.participants])
    unique("zones", [z.id for z in f.zones])
    unique("requests", [r.id for r in f.requests])
    for i, z in enumerate(f.zones):
        if isinstance(z.capacity_w, list) and len(z.capacity_w) != slots:
            problems.append((f"zones[{i}].capacity_w", f"has {len(z.capacity_w)} values, the "
                             f"market has {slots} slots"))
    if f.market.phase == "DAM":
        for kind in ("allocated", "releases"):
            if getattr(f, kind):
                problems.append((kind, "not allowed in a DAM file (IDM only)"))
    zones = {z.id for z in f.zones}
    held = {a.request for a in f.allocated}
    request_ids = {r.id for r in f.requests}
    for i, a in enumerate(f.allocated):
        if a.zone not in zones:
            problems.append((f"allocated[{i}].zone", f"unknown zone {a.zone!r}"))
        if isinstance(a.allocated_w, list) and len(a.allocated_w) != slots:
            problems.append((f"allocated[{i}].allocated_w", f"has {len(a.allocated_w)} "
                             f"values, the market has {slots} slots"))
        if a.request in request_ids:
            problems.append((f"allocated[{i}].request", f"{a.request!r} is a request of this "
                             "file (allocated entries are earlier rounds' holdings)"))
    unique("allocated", [a.request for a in f.allocated])
    for i, r in enumerate(f.releases):
        if r.request not in held and r.request not in request_ids:
            problems.append((f"releases[{i}].request", f"{r.request!r} is neither an allocated "
                             "entry nor a request of this file"))
        if isinstance(r.quantity_w, list) and len(r.quantity_w) != slots:
            problems.append((f"releases[{i}].quantity_w", f"has {len(r.quantity_w)} values, "
                             f"the market has {slots} slots"))
    return problems


def parse_capacity(data: str | bytes | Mapping[str, Any]) -> CapacityFile:
    """Parse a capacity file; raise `CapacityFileError` listing every problem."""
    return parse_model(CapacityFile, data, CapacityFileError, _problems)


def load_capacity(path: str | Path) -> CapacityFile:
    return parse_capacity(read_document(path, CapacityFileError))


@dataclass(frozen=True)
class ValidRequest:
    """A request that passed the rules, with its per-slot quantities and its place in the
    tie-break order (earlier `submitted_at`, then the smaller id)."""

    id: str
    participant: str
    zone: str
    quantity_w: tuple[int, ...]
    divisible: bool
    min_quantity_w: int  # in a slot: 0, or at least this (granularity when not given)
    price: int  # µEUR per W per slot (premium; 0 for social equity)
    submitted_at: datetime
    rank: int

    @property
    def total_w(self) -> int:
        return sum(self.quantity_w)


def order_key(submitted_at: datetime, rid: str) -> tuple[datetime, str]:
    """The one tie-break order of the capacity market: earlier submission, then smaller id."""
    return (submitted_at, rid)


def validate(f: CapacityFile) -> tuple[list[ValidRequest], dict[str, str]]:
    """The spec's rules 1-5: the valid requests (in tie-break order) and a reason for each
    rejected one."""
    m = f.market
    roles = {p.id: p.role for p in f.participants}
    zones = {z.id for z in f.zones}
    rejected: dict[str, str] = {}
    kept: list[tuple[Request, tuple[int, ...]]] = []
    premium = m.mechanism == "premium"
    for r in f.requests:
        reasons = []
        role = roles.get(r.participant)
        if role is None:
            reasons.append(f"participant {r.participant} is not registered")
        elif role not in REQUESTING_ROLES:
            reasons.append(f"participant {r.participant} is a {role}: only aggregators and "
                           "prosumers request capacity")
        if r.zone not in zones:
            reasons.append(f"zone {r.zone} does not exist")
        q = per_slot(r.quantity_w, m.slots)
        if len(q) != m.slots:
            reasons.append(f"quantity_w has {len(q)} values, the market has {m.slots} slots")
        elif any(v < 0 for v in q):
            t = next(t for t, v in enumerate(q) if v < 0)
            reasons.append(f"quantity_w {q[t]} in slot {t} is negative")
        elif any(v % m.granularity_w for v in q):
            t = next(t for t, v in enumerate(q) if v % m.granularity_w)
            reasons.append(f"quantity_w {q[t]} in slot {t} is not a multiple of granularity_w "
                           f"{m.granularity_w}")
        if premium and r.price_eur_per_mw_slot < m.reserve_price_eur_per_mw_slot:
            reasons.append(f"price_eur_per_mw_slot {r.price_eur_per_mw_slot} is below the "
                           f"reserve price {m.reserve_price_eur_per_mw_slot}")
        if m.phase == "DAM" and m.gate_closure is not None and r.submitted_at > m.gate_closure:
            reasons.append(f"submitted at {r.submitted_at.isoformat()}, after gate closure "
                           f"{m.gate_closure.isoformat()}")
        if not premium and m.social_rule == "pro_rata" and not r.divisible:
            reasons.append("pro_rata cannot honour an indivisible (all-or-nothing) request")
        if reasons:
            rejected[r.id] = "; ".join(reasons)
        else:
            kept.append((r, tuple(q)))
    kept.sort(key=lambda rq: order_key(rq[0].submitted_at, rq[0].id))
    valid = [
        ValidRequest(
            r.id, r.participant, r.zone, q, r.divisible,
            max(r.min_quantity_w or m.granularity_w, m.granularity_w) if r.divisible else 0,
            r.price_eur_per_mw_slot if premium else 0, r.submitted_at, rank)
        for rank, (r, q) in enumerate(kept)
    ]
    return valid, rejected
