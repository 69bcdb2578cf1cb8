"""Reserve market files (`flexmarket.reserve/1`): a DSO's tender for reserve flexibility
(PowerCut Urgent, Power Reserve, PowerCap) and the aggregators' offers, strict models and the
validation rules; and the activations file (`flexmarket.reserve-activations/1`) that the
settlement reads.

A malformed file (types, unknown fields, a key given twice, duplicate ids or versions, a
window that is not whole quarter hours) raises `ReserveFileError` naming every field: nothing
is cleared. An *offer* that breaks a market rule is not an error: `validate` rejects it with
a reason and the market clears without it.

Money and units (`docs/reserve.md`): availability is priced in EUR per MW per hour available
(= µEUR per W per hour), utilisation in EUR per MWh activated (= µEUR per Wh), penalties and
collateral in EUR per MW (= µEUR per W) or EUR per MWh (= µEUR per Wh): every payment is an
integer µEUR amount computed with one floor rule (`oracle.reserve.money`).
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
from oracle.metering.baseline import DEFAULT_X_OF_Y, LOOKBACK_DAYS, METHODS
from oracle.metering.meterdata import DAY_S, INTERVAL_S

RESERVE_SCHEMA = "flexmarket.reserve/1"
ACTIVATIONS_SCHEMA = "flexmarket.reserve-activations/1"
WATTS_LIMIT = 10**12
"""1 TW: beyond any reserve; with the price limits every product stays far inside uint256
and int64 sums (the contract takes uint64 watts and uint32 prices)."""
PRICE_LIMIT = 2**32 - 1
"""The contract's uint32 price fields."""
MAX_DAYS = 366
PRODUCTS = ("PowerCut_Urgent", "Power_Reserve", "PowerCap")
MINUTE_S = 60
QUARTER_MINUTES = INTERVAL_S // MINUTE_S

Id = Annotated[str, Field(min_length=1, max_length=200)]
Watts = Annotated[int, Field(ge=0, le=WATTS_LIMIT)]
Price = Annotated[int, Field(ge=0, le=PRICE_LIMIT)]
Minutes = Annotated[int, Field(ge=0, le=24 * 60)]
Percent = Annotated[int, Field(ge=0, le=100)]


class ReserveFileError(DocumentError):
    """A reserve file (or an activations file) is not well formed (every problem with its
    field path)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BaselineRule(_Strict):
    """How delivery is measured (`../shared/spec/metering.md`): `meter_before` by default,
    as ENTSO-E mFRR."""

    method: Literal["nominated", "high_x_of_y", "mid_x_of_y", "meter_before"] = "meter_before"
    x: Annotated[int, Field(ge=1, le=LOOKBACK_DAYS)] | None = None
    y: Annotated[int, Field(ge=1, le=LOOKBACK_DAYS)] | None = None
    adjust: bool = False


class Tender(_Strict):
    id: Id
    product: Literal["PowerCut_Urgent", "Power_Reserve", "PowerCap"]
    buyer: Id
    zone: Id
    direction: Literal["up", "down"]
    period_start: AwareDatetime
    """Local midnight of the first day of availability, with the offset every day uses."""
    days: Annotated[int, Field(ge=1, le=MAX_DAYS)]
    daily_start_minute: Minutes
    daily_end_minute: Minutes
    quantity_w: Annotated[int, Field(ge=1, le=WATTS_LIMIT)]
    max_quantity_w: Watts | None = None
    """The most the DSO buys (indivisible offers may cover more than `quantity_w`); the
    budget escrowed is computed from it. Default `quantity_w`."""
    granularity_w: Annotated[int, Field(ge=1, le=WATTS_LIMIT)] = 1
    notice_minutes: Minutes = 15
    min_activation_minutes: Minutes = 15
    max_activation_minutes: Minutes = 120
    max_activations: Annotated[int, Field(ge=1, le=10_000)]
    expected_activations: Annotated[int, Field(ge=0, le=10_000)]
    expected_activation_minutes: Minutes | None = None
    """Default `max_activation_minutes`."""
    availability_price_cap_eur_per_mw_h: Price
    utilisation_price_cap_eur_per_mwh: Price
    tolerance_percent: Percent = 10
    shortfall_penalty_eur_per_mwh: Price = 0
    inability_penalty_eur_per_mw: Price = 0
    collateral_eur_per_mw: Price = 0
    max_failures: Annotated[int, Field(ge=1, le=255)] = 4
    baseline: BaselineRule = BaselineRule()
    gate_closure: AwareDatetime


class Participant(_Strict):
    id: Id
    role: Literal["DSO", "aggregator"]


class Offer(_Strict):
    id: Id
    version: Annotated[int, Field(ge=1, le=2**32 - 1)] = 1
    aggregator: Id
    quantity_w: Watts
    divisible: bool = True
    min_quantity_w: Watts | None = None
    availability_price_eur_per_mw_h: Price
    utilisation_price_eur_per_mwh: Price
    assets: Annotated[list[Id], Field(max_length=10_000)]
    submitted_at: AwareDatetime
    cancelled: bool = False


class ReserveFile(_Strict):
    schema_: Literal["flexmarket.reserve/1"] = Field(alias="schema")
    name: str
    tender: Tender
    participants: list[Participant] = Field(default_factory=list)
    offers: list[Offer] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def canonical(self) -> dict[str, Any]:
        """The file with every default filled in: what `input_hash` covers."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    def input_hash(self) -> str:
        return keccak_hex(canonical_json(self.canonical(), integers_checked=True))


def unix_s(moment: datetime) -> int:
    """Whole Unix seconds of an aware time (the files' times are whole seconds)."""
    offset = moment.utcoffset()
    naive = moment.replace(tzinfo=None)
    seconds = int((naive - datetime(1970, 1, 1)).total_seconds())
    return seconds - int(offset.total_seconds()) if offset is not None else seconds


@dataclass(frozen=True)
class Period:
    """The tender's availability in Unix seconds: day d's window is
    `[start_s + d * DAY_S + daily_start_s, start_s + d * DAY_S + daily_end_s)`."""

    start_s: int
    offset_s: int
    days: int
    daily_start_s: int
    daily_end_s: int

    @classmethod
    def of(cls, t: Tender) -> Period:
        offset = t.period_start.utcoffset()
        return cls(unix_s(t.period_start), int(offset.total_seconds()) if offset else 0,
                   t.days, t.daily_start_minute * MINUTE_S, t.daily_end_minute * MINUTE_S)

    @property
    def quarters_per_day(self) -> int:
        return (self.daily_end_s - self.daily_start_s) // INTERVAL_S

    @property
    def end_s(self) -> int:
        """The end of the last day's window."""
        return self.window(self.days - 1)[1]

    def window(self, day: int) -> tuple[int, int]:
        base = self.start_s + day * DAY_S
        return base + self.daily_start_s, base + self.daily_end_s

    def day_of(self, moment_s: int) -> int | None:
        """The day whose window holds `moment_s`, None when outside every window."""
        day = (moment_s - self.start_s) // DAY_S
        if not 0 <= day < self.days:
            return None
        start, end = self.window(day)
        return day if start <= moment_s < end else None


def max_quantity_w(t: Tender) -> int:
    return t.quantity_w if t.max_quantity_w is None else t.max_quantity_w


def expected_minutes(t: Tender) -> int:
    return (t.max_activation_minutes if t.expected_activation_minutes is None
            else t.expected_activation_minutes)


def _problems(f: ReserveFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    t = f.tender
    p = "tender"
    if t.period_start.second or t.period_start.microsecond or t.period_start.hour \
            or t.period_start.minute:
        problems.append((f"{p}.period_start", f"{t.period_start.isoformat()} is not a local "
                         "midnight"))
    for name in ("daily_start_minute", "daily_end_minute", "notice_minutes",
                 "min_activation_minutes", "max_activation_minutes",
                 "expected_activation_minutes"):
        value = getattr(t, name)
        if value is not None and value % QUARTER_MINUTES:
            problems.append((f"{p}.{name}", f"{value} is not a whole number of quarter hours"))
    if t.daily_end_minute <= t.daily_start_minute:
        problems.append((f"{p}.daily_end_minute", f"{t.daily_end_minute} is not after "
                         f"daily_start_minute {t.daily_start_minute}"))
    if t.max_activation_minutes > t.daily_end_minute - t.daily_start_minute:
        problems.append((f"{p}.max_activation_minutes", f"{t.max_activation_minutes} is longer "
                         "than the daily window"))
    if not 0 < t.min_activation_minutes <= t.max_activation_minutes:
        problems.append((f"{p}.min_activation_minutes", f"{t.min_activation_minutes} must be "
                         f"above 0 and at most max_activation_minutes {t.max_activation_minutes}"))
    if t.gate_closure > t.period_start:
        problems.append((f"{p}.gate_closure", f"{t.gate_closure.isoformat()} is after "
                         f"period_start {t.period_start.isoformat()}"))
    if t.max_quantity_w is not None and t.max_quantity_w < t.quantity_w:
        problems.append((f"{p}.max_quantity_w", f"{t.max_quantity_w} is below quantity_w "
                         f"{t.quantity_w}"))
    if t.expected_activations > t.max_activations:
        problems.append((f"{p}.expected_activations", f"{t.expected_activations} is above "
                         f"max_activations {t.max_activations}"))
    b = t.baseline
    if b.method not in METHODS:  # pragma: no cover - the Literal already says so
        problems.append((f"{p}.baseline.method", f"{b.method!r} is unknown"))
    if b.method not in DEFAULT_X_OF_Y and (b.x is not None or b.y is not None or b.adjust):
        problems.append((f"{p}.baseline", f"{b.method} takes no x, y or adjust"))
    if b.method == "nominated":
        problems.append((f"{p}.baseline.method", "nominated schedules are not part of the "
                         "reserve settlement yet: use meter_before or an X-of-Y method"))
    ids: dict[str, int] = {}
    for i, part in enumerate(f.participants):
        if part.id in ids:
            problems.append((f"participants[{i}].id", f"{part.id!r} again "
                             f"(participants[{ids[part.id]}])"))
        ids.setdefault(part.id, i)
    versions: dict[tuple[str, int], int] = {}
    for i, o in enumerate(f.offers):
        key = (o.id, o.version)
        if key in versions:
            problems.append((f"offers[{i}].version", f"offer {o.id!r} version {o.version} again "
                             f"(offers[{versions[key]}])"))
        versions.setdefault(key, i)
        owners = {x.aggregator for x in f.offers if x.id == o.id}
        if len(owners) > 1 and o.aggregator != min(owners):
            problems.append((f"offers[{i}].aggregator", f"offer {o.id!r} is {min(owners)}'s: "
                             "a version cannot change its aggregator"))
        if len(set(o.assets)) != len(o.assets):
            problems.append((f"offers[{i}].assets", "an asset is named twice"))
    return problems


def parse_reserve(data: str | bytes | Mapping[str, Any]) -> ReserveFile:
    """Parse a reserve file; raise `ReserveFileError` listing every problem."""
    return parse_model(ReserveFile, data, ReserveFileError, _problems)


def load_reserve(path: str | Path) -> ReserveFile:
    return parse_reserve(read_document(path, ReserveFileError))


@dataclass(frozen=True)
class ValidOffer:
    """The version in force of an offer that passed the rules, with its place in the tie-break
    order (earlier `submitted_at` of that version, then the smaller id)."""

    id: str
    version: int
    aggregator: str
    quantity_w: int
    divisible: bool
    min_quantity_w: int  # 0 (indivisible: all or nothing) or at least the granularity
    availability_price: int
    utilisation_price: int
    assets: tuple[str, ...]
    submitted_at: datetime
    rank: int


def versions_in_force(f: ReserveFile) -> tuple[dict[str, Offer], dict[str, str]]:
    """Per offer id the highest version submitted before gate closure; and a note for each
    offer id whose later versions came after gate closure (they are ignored)."""
    gate = f.tender.gate_closure
    in_force: dict[str, Offer] = {}
    late: dict[str, str] = {}
    for o in f.offers:
        if o.submitted_at > gate:
            late[o.id] = (f"version {o.version} submitted at {o.submitted_at.isoformat()}, "
                          f"after gate closure {gate.isoformat()}: ignored")
            continue
        held = in_force.get(o.id)
        if held is None or o.version > held.version:
            in_force[o.id] = o
    return in_force, late


def validate(f: ReserveFile) -> tuple[list[ValidOffer], dict[str, str]]:
    """The market's rules: the valid offers (in tie-break order) and a reason for each offer
    id that is not cleared (cancelled, late, or breaking a rule)."""
    t = f.tender
    g = t.granularity_w
    roles = {p.id: p.role for p in f.participants}
    in_force, late = versions_in_force(f)
    rejected: dict[str, str] = {}
    kept: list[Offer] = []
    for oid in sorted({o.id for o in f.offers}):
        o = in_force.get(oid)
        if o is None:
            rejected[oid] = late[oid]
            continue
        reasons = []
        if o.cancelled:
            reasons.append(f"cancelled (version {o.version})")
        role = roles.get(o.aggregator)
        if role is None:
            reasons.append(f"aggregator {o.aggregator} is not registered")
        elif role != "aggregator":
            reasons.append(f"{o.aggregator} is a {role}: only aggregators offer reserve")
        if o.quantity_w == 0:
            reasons.append("quantity_w is 0")
        elif o.quantity_w % g:
            reasons.append(f"quantity_w {o.quantity_w} is not a multiple of granularity_w {g}")
        if o.min_quantity_w is not None and o.min_quantity_w > o.quantity_w:
            reasons.append(f"min_quantity_w {o.min_quantity_w} is above quantity_w "
                           f"{o.quantity_w}")
        if o.availability_price_eur_per_mw_h > t.availability_price_cap_eur_per_mw_h:
            reasons.append(f"availability_price_eur_per_mw_h {o.availability_price_eur_per_mw_h}"
                           f" is above the cap {t.availability_price_cap_eur_per_mw_h}")
        if o.utilisation_price_eur_per_mwh > t.utilisation_price_cap_eur_per_mwh:
            reasons.append(f"utilisation_price_eur_per_mwh {o.utilisation_price_eur_per_mwh} "
                           f"is above the cap {t.utilisation_price_cap_eur_per_mwh}")
        if not o.assets:
            reasons.append("names no asset (delivery is measured on its assets' meters)")
        if reasons:
            rejected[oid] = "; ".join(reasons)
        else:
            kept.append(o)
    kept.sort(key=lambda o: (o.submitted_at, o.id))
    valid = [
        ValidOffer(o.id, o.version, o.aggregator, o.quantity_w, o.divisible,
                   max(o.min_quantity_w or g, g) if o.divisible else 0,
                   o.availability_price_eur_per_mw_h, o.utilisation_price_eur_per_mwh,
                   tuple(o.assets), o.submitted_at, rank)
        for rank, o in enumerate(kept)
    ]
    return valid, rejected


# ------------------------------------------------------------------ activations


class Activation(_Strict):
    id: Id
    offer: Id
    requested_at: AwareDatetime
    start: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=1, le=24 * 60)]
    power_w: Annotated[int, Field(ge=1, le=WATTS_LIMIT)]
    acknowledged_at: AwareDatetime | None = None
    inability_at: AwareDatetime | None = None
    """The aggregator's "inability to activate" signal; it counts only before the start."""


class ActivationsFile(_Strict):
    schema_: Literal["flexmarket.reserve-activations/1"] = Field(alias="schema")
    tender: Id
    activations: list[Activation] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def canonical(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data


def _activation_problems(f: ActivationsFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, a in enumerate(f.activations):
        if a.id in seen:
            problems.append((f"activations[{i}].id", f"{a.id!r} again "
                             f"(activations[{seen[a.id]}])"))
        seen.setdefault(a.id, i)
        if unix_s(a.start) % INTERVAL_S:
            problems.append((f"activations[{i}].start", f"{a.start.isoformat()} is not on "
                             ":00, :15, :30 or :45"))
        for name in ("inability_at", "acknowledged_at"):
            moment = getattr(a, name)
            if moment is not None and moment < a.requested_at:
                problems.append((f"activations[{i}].{name}", f"{moment.isoformat()} is before "
                                 f"requested_at {a.requested_at.isoformat()}"))
        if a.duration_minutes % QUARTER_MINUTES:
            problems.append((f"activations[{i}].duration_minutes", f"{a.duration_minutes} is "
                             "not a whole number of quarter hours"))
    return problems


def parse_activations_file(data: str | bytes | Mapping[str, Any]) -> ActivationsFile:
    return parse_model(ActivationsFile, data, ReserveFileError, _activation_problems)


def load_activations_file(path: str | Path) -> ActivationsFile:
    return parse_activations_file(read_document(path, ReserveFileError))


