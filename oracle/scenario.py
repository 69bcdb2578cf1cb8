"""Scenario files (`flexmarket.scenario/1`): pydantic models at the edge.

A scenario is parsed strictly: unknown fields, wrong types, duplicate ids and
dangling references are errors (`ScenarioError`, every problem with its field
path), because a typo must never silently change a market. Bids that break a
market rule are *not* errors: `oracle.rules` rejects them with a reason and
the market clears without them.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex
from oracle.errors import ScenarioError
from oracle.grid_spec import GridSpec
from oracle.jsonio import parse_model, read_document

SCENARIO_SCHEMA = "flexmarket.scenario/1"

NonNegInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Id = Annotated[str, Field(min_length=1, max_length=200)]
Direction = Literal["up", "down"]
Role = Literal["DSO", "TSO", "BRP", "aggregator"]
PerSlot = NonNegInt | list[NonNegInt]
BuyerRole = Literal["DSO", "TSO", "BRP"]
DEFAULT_PRIORITY: tuple[BuyerRole, ...] = ("DSO", "TSO", "BRP")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Market(_Strict):
    id: Id
    product: str = "PowerMax"
    pricing: Literal["pay_as_bid", "uniform"] = "pay_as_bid"
    start: AwareDatetime
    slot_minutes: PositiveInt = 15
    slots: Annotated[int, Field(ge=1, le=10_000)] = 1
    min_bid_w: NonNegInt = 0
    granularity_w: PositiveInt = 1
    price_floor_eur_per_mw: int = 0
    price_cap_eur_per_mw: int | None = None
    # TSO-DSO coordination (docs/coordination.md); left out of `canonical()` at their defaults.
    coupling: Literal["sequential", "common"] = "sequential"
    priority: list[BuyerRole] = Field(default_factory=lambda: list(DEFAULT_PRIORITY))
    balance_dso: bool = False


class Participant(_Strict):
    id: Id
    role: Role


class Zone(_Strict):
    id: Id
    limit_w: PerSlot | None = None
    forecast_w: PerSlot | None = None
    # traffic light: slots in which the DSO suspends the market in this zone
    red_slots: list[NonNegInt] | None = None


class Asset(_Strict):
    id: Id
    manager: Id
    type: Literal["load", "generation", "storage"]
    p_max_w: NonNegInt
    p_min_w: NonNegInt = 0
    zone: Id
    bus: int | str | None = None


class Request(_Strict):
    id: Id
    buyer: Id
    zone: Id | None = None
    direction: Direction
    quantity_w: PerSlot
    max_price_eur_per_mw: int | None = None


class Bid(_Strict):
    id: Id
    seller: str
    zone: str
    direction: Direction
    quantity_w: NonNegInt
    min_quantity_w: NonNegInt | None = None
    divisible: bool = False
    price_eur_per_mw: int
    slots: list[int] | None = None
    assets: list[str] = Field(default_factory=list)
    submitted_at: AwareDatetime | None = None


class Scenario(_Strict):
    schema_: Literal["flexmarket.scenario/1"] = Field(alias="schema")
    name: str
    market: Market
    participants: list[Participant] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)
    requests: list[Request] = Field(default_factory=list)
    bids: list[Bid] = Field(default_factory=list)
    unmet_penalty_eur_per_mw: NonNegInt = 1_000_000_000_000
    grid: GridSpec | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def canonical(self) -> dict[str, Any]:
        """The scenario with every default filled in: what `input_hash` covers."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        if data.get("grid") is None:
            data.pop("grid", None)
        # coordination fields at their defaults are left out: older files keep their hash
        market = data["market"]
        for key, default in (
            ("coupling", "sequential"),
            ("priority", list(DEFAULT_PRIORITY)),
            ("balance_dso", False),
        ):
            if market.get(key) == default:
                market.pop(key)
        for zone in data["zones"]:
            if zone.get("red_slots") is None:
                zone.pop("red_slots", None)
        return data

    def input_hash(self) -> str:
        """keccak256 of the canonical scenario, computed once per scenario object.

        Scenarios are frozen; the cache is keyed by object identity through a weak
        reference, so a copy (`model_copy(update=...)`, `copy.copy`) is hashed afresh."""
        hit = _INPUT_HASHES.get(id(self))
        if hit is not None and hit[0]() is self:
            return hit[1]
        # every field of the model is an int, str, bool, datetime or None: no float can occur
        digest = keccak_hex(canonical_json(self.canonical(), integers_checked=True))
        key = id(self)
        _INPUT_HASHES[key] = (weakref.ref(self, lambda _: _INPUT_HASHES.pop(key, None)), digest)
        return digest


_INPUT_HASHES: dict[int, tuple[weakref.ref[Scenario], str]] = {}


def _check_per_slot(value: int | list[int] | None, slots: int, path: str) -> list[tuple[str, str]]:
    if isinstance(value, list) and len(value) != slots:
        return [(path, f"has {len(value)} values, the market has {slots} slots")]
    return []


def _structural_problems(s: Scenario) -> list[tuple[str, str]]:
    """Duplicate ids, dangling references and inconsistent sizes."""
    problems: list[tuple[str, str]] = []
    m = s.market
    if m.price_cap_eur_per_mw is not None and m.price_cap_eur_per_mw < m.price_floor_eur_per_mw:
        problems.append(
            (
                "market.price_cap_eur_per_mw",
                f"{m.price_cap_eur_per_mw} is below price_floor_eur_per_mw "
                f"{m.price_floor_eur_per_mw}",
            )
        )

    def unique(kind: str, items: Iterable[Any]) -> dict[str, Any]:
        first: dict[str, int] = {}
        by_id = {}
        for i, item in enumerate(items):
            if item.id in first:
                problems.append(
                    (
                        f"{kind}[{i}].id",
                        f"duplicate id {item.id!r} (first at {kind}[{first[item.id]}])",
                    )
                )
            else:
                first[item.id] = i
                by_id[item.id] = item
        return by_id

    participants = unique("participants", s.participants)
    zones = unique("zones", s.zones)
    unique("assets", s.assets)
    unique("requests", s.requests)
    unique("bids", s.bids)

    for i, z in enumerate(s.zones):
        problems += _check_per_slot(z.limit_w, m.slots, f"zones[{i}].limit_w")
        problems += _check_per_slot(z.forecast_w, m.slots, f"zones[{i}].forecast_w")
        bad_slots = sorted({t for t in z.red_slots or [] if t >= m.slots})
        if bad_slots:
            problems.append((f"zones[{i}].red_slots", f"slots {bad_slots} do not exist"))
    if len(set(m.priority)) != len(m.priority):
        problems.append(("market.priority", "names a role twice"))
    for i, a in enumerate(s.assets):
        if a.manager not in participants:
            problems.append((f"assets[{i}].manager", f"unknown participant {a.manager!r}"))
        if a.zone not in zones:
            problems.append((f"assets[{i}].zone", f"unknown zone {a.zone!r}"))
        if a.p_min_w > a.p_max_w:
            problems.append((f"assets[{i}].p_min_w", f"{a.p_min_w} is above p_max_w {a.p_max_w}"))
    for i, r in enumerate(s.requests):
        if r.buyer not in participants:
            problems.append((f"requests[{i}].buyer", f"unknown participant {r.buyer!r}"))
        elif participants[r.buyer].role == "aggregator":
            problems.append((f"requests[{i}].buyer", f"{r.buyer!r} is an aggregator, not a buyer"))
        if r.zone is not None and r.zone not in zones:
            problems.append((f"requests[{i}].zone", f"unknown zone {r.zone!r}"))
        problems += _check_per_slot(r.quantity_w, m.slots, f"requests[{i}].quantity_w")
    return problems


# --------------------------------------------------------------------------- integer bounds
#
# Every integer of a scenario must fit where it goes: the contracts' storage (a bid's
# quantity is a uint40, its price a uint64, ...; contracts/types/FlexTypes.sol,
# IFlexRegistry.sol) and HiGHS, which holds every number in a double. A double holds every
# integer up to 2**53 exactly and no longer all of them above (2**53 + 1 is read as 2**53):
# a request of 2**53 + 1 W was cleared as 2**53 W. So, besides each field's own range,
# the sums the engine forms must stay within 2**53 (`_exactness_problems`). The table
# in docs/files.md is this one.

EXACT_MAX = 2**53
"""The largest integer below which every integer is a double: the solver's exact range."""
UINT16_MAX = 2**16 - 1
UINT32_MAX = 2**32 - 1
UINT40_MAX = 2**40 - 1
UINT64_MAX = 2**64 - 1
PAYMENT_MAX = 2**72 - 1  # an award's paymentUeur on chain (uint72)

# field (list indices written []) -> (lowest, highest, why the highest)
FIELD_BOUNDS: dict[str, tuple[int, int, str]] = {
    "market.slot_minutes": (1, UINT16_MAX, "the contracts store (uint16)"),
    "market.min_bid_w": (0, UINT40_MAX, "the contracts store (uint40)"),
    "market.granularity_w": (1, UINT32_MAX, "the contracts store (uint32)"),
    "market.price_floor_eur_per_mw": (0, UINT64_MAX - 1, "the contracts store (uint64)"),
    "market.price_cap_eur_per_mw": (
        0, UINT64_MAX - 1, "the contracts store (uint64; its maximum means no cap)"),
    "zones[].limit_w": (0, UINT40_MAX, "a power may be (uint40, as bid quantities)"),
    "zones[].forecast_w": (0, UINT40_MAX, "a power may be (uint40, as bid quantities)"),
    "assets[].p_max_w": (0, UINT32_MAX, "the contracts store (uint32)"),
    "assets[].p_min_w": (0, UINT32_MAX, "the contracts store (uint32)"),
    "assets[].bus": (0, UINT32_MAX, "a bus index may be (uint32)"),
    "requests[].quantity_w": (0, UINT40_MAX, "the contracts store (uint40)"),
    "requests[].max_price_eur_per_mw": (
        0, UINT64_MAX - 1, "the contracts store (uint64; its maximum means no limit)"),
    "bids[].quantity_w": (0, UINT40_MAX, "the contracts store (uint40)"),
    "bids[].min_quantity_w": (0, UINT40_MAX, "the contracts store (uint40)"),
    # below the market's floor (>= 0) a bid is rejected by rule 4, not an error
    "bids[].price_eur_per_mw": (-UINT64_MAX, UINT64_MAX, "the contracts store (uint64)"),
    "unmet_penalty_eur_per_mw": (
        0, EXACT_MAX, "the solver holds exactly (2**53; the contracts store a uint64)"),
    "grid.time_step": (0, UINT32_MAX, "a profile step may be (uint32)"),
}


def _integer_fields(s: Scenario) -> Iterable[tuple[str, str, Sequence[Any]]]:
    """(FIELD_BOUNDS key, path prefix, objects) per bounded field: the value is the field
    of each object (`market`, `bids[3]`, ...)."""
    m = s.market
    for name in ("slot_minutes", "min_bid_w", "granularity_w", "price_floor_eur_per_mw",
                 "price_cap_eur_per_mw"):
        yield f"market.{name}", "market", [m]
    for kind, items, names in (
        ("zones", s.zones, ("limit_w", "forecast_w")),
        ("assets", s.assets, ("p_max_w", "p_min_w", "bus")),
        ("requests", s.requests, ("quantity_w", "max_price_eur_per_mw")),
        ("bids", s.bids, ("quantity_w", "min_quantity_w", "price_eur_per_mw")),
    ):
        for name in names:
            yield f"{kind}[].{name}", kind, items
    yield "unmet_penalty_eur_per_mw", "", [s]
    if s.grid is not None:
        yield "grid.time_step", "grid", [s.grid]


def _all_within(values: list[Any], lowest: int, highest: int) -> bool:
    """Whether every int among `values` (and in the lists among them) lies within bounds."""
    flat: list[Any] = []
    for v in values:
        if type(v) is list:
            flat.extend(v)
        else:
            flat.append(v)
    ints = [v for v in flat if type(v) is int]
    return not ints or (lowest <= min(ints) and max(ints) <= highest)


def _bound_problems(s: Scenario) -> list[tuple[str, str]]:
    """Every integer field outside FIELD_BOUNDS (`None`, a bus name: not bounded)."""
    problems = []
    for key, prefix, items in _integer_fields(s):
        lowest, highest, why = FIELD_BOUNDS[key]
        name = key.rsplit(".", 1)[-1]
        if _all_within([getattr(item, name) for item in items], lowest, highest):
            continue  # the common case, in builtin passes; else every problem, in order
        for i, item in enumerate(items):
            value = getattr(item, name)
            values = value if isinstance(value, list) else [value]
            for t, v in enumerate(values):
                if type(v) is not int or lowest <= v <= highest:
                    continue
                path = f"{prefix}[{i}].{name}" if key.startswith(prefix + "[]") else (
                    f"{prefix}.{name}" if prefix else name)  # fmt: skip
                if isinstance(value, list):
                    path += f"[{t}]"
                problems.append((path, f"{v} exceeds {highest}, the largest {why}" if v > highest
                                 else f"{v} is below {lowest}, the smallest allowed"))
    return problems


def _exactness_problems(s: Scenario) -> list[tuple[str, str]]:
    """The sums the engine puts in doubles, each at most EXACT_MAX (2**53).

    - Watts: every row of the model (a need, a Hall set, a zone's limit) adds bid
      quantities, needs, unmet and zone powers of one slot, so it is at most the total of
      every bid's quantity_w, every need of every slot and every zone value of every slot.
    - Money: an objective value is at most the bids' value, sum(max(price, 0) * quantity_w),
      plus, when the penalty is not above the dearest bid's value max(price, 0) * quantity_w,
      penalty * (every need of every slot): such a penalty always enters the objective.
      Above it, plain clearing minimises unmet first and leaves the penalty out
      (`oracle.engine.build_part_model`, the same test per part); grid cuts, zone safety
      and DSO balancing still price unmet watts, and that objective is not bounded here
      (docs/files.md says so). HiGHS sees the objective divided by the gcd of its costs,
      so the bound is on the objective divided by a divisor of that gcd.
    - An award's payment, price * quantity_w, is a uint72 on chain.
    The problem names the field that contributes most, and the total."""
    problems: list[tuple[str, str]] = []
    n = s.market.slots

    def total(value: int | list[int] | None) -> int:
        return 0 if value is None else value * n if isinstance(value, int) else sum(value)

    bid_w = [b.quantity_w for b in s.bids]
    need_w = [total(r.quantity_w) for r in s.requests]
    zone_w = [total(z.limit_w) + total(z.forecast_w) for z in s.zones]
    total_w = sum(bid_w) + sum(need_w) + sum(zone_w)
    if total_w > EXACT_MAX:
        largest = max(
            [(w, f"bids[{i}].quantity_w") for i, w in enumerate(bid_w)]
            + [(w, f"requests[{i}].quantity_w") for i, w in enumerate(need_w)]
            + [(w, f"zones[{i}]") for i, w in enumerate(zone_w)]
        )
        problems.append((largest[1], f"the session's watts (every bid, need and zone value, "
                                     f"per slot) add up to {total_w}, above 2**53 = "
                                     f"{EXACT_MAX}, the largest integer the solver holds "
                                     f"exactly"))  # fmt: skip
    values = [max(b.price_eur_per_mw, 0) * b.quantity_w for b in s.bids]
    for i, v in enumerate(values):
        if v > PAYMENT_MAX:
            problems.append((f"bids[{i}].price_eur_per_mw", f"price * quantity_w = {v} µEUR "
                             f"exceeds {PAYMENT_MAX}, the largest payment the contracts store "
                             f"(uint72)"))  # fmt: skip
    value = sum(values)
    penalty = s.unmet_penalty_eur_per_mw
    priced = penalty <= max(values, default=0)
    # HiGHS sees costs divided by their gcd (oracle.engine.objective_unit); this one divides
    # it (granularity * price divides every award cost of a valid bid), so it is safe
    unit = math.gcd(*(s.market.granularity_w * abs(b.price_eur_per_mw) for b in s.bids),
                    penalty if priced else 0) or 1  # fmt: skip
    objective = value + (penalty * sum(need_w) if priced else 0)
    if objective // unit > EXACT_MAX:
        if value // unit <= EXACT_MAX:
            path = "unmet_penalty_eur_per_mw"
            what = (f"the penalty, not above the dearest bid's value, enters the objective: "
                    f"with every need unmet it reaches {objective} µEUR")
        else:
            path = f"bids[{values.index(max(values))}].price_eur_per_mw"
            what = f"the bids' value (price * quantity_w of every bid) is {objective} µEUR"
        problems.append((path, f"{what}, {objective // unit} times their common divisor "
                               f"{unit}: above 2**53 = {EXACT_MAX}, the largest integer the "
                               f"solver holds exactly"))  # fmt: skip
    return problems


def _contradiction_problems(s: Scenario) -> list[tuple[str, str]]:
    """Requests of one zone that need both `up` and `down` in one slot.

    More net injection and less at the same point and time cannot both be wanted: plain
    clearing would buy both, and coordinated clearing's congestion guard would then drop
    every bid of the zone and leave all its needs unmet. One problem per pair of requests,
    at the later one, naming both, the zone and the first slot they clash in."""
    n = s.market.slots
    problems: list[tuple[str, str]] = []
    by_zone: dict[str, list[int]] = {}
    for i, r in enumerate(s.requests):
        # a per-slot list of the wrong length is reported by _structural_problems
        if r.zone is not None and len(per_slot(r.quantity_w, n) or []) == n:
            by_zone.setdefault(r.zone, []).append(i)
    needs = {i: per_slot(s.requests[i].quantity_w, n) or [] for j in by_zone.values() for i in j}
    for zone, indices in by_zone.items():
        for k, j in enumerate(indices):
            for i in indices[:k]:
                a, b = s.requests[i], s.requests[j]
                if a.direction == b.direction:
                    continue
                clash = [t for t in range(n) if needs[i][t] > 0 and needs[j][t] > 0]
                if clash:
                    more = f" (and {len(clash) - 1} more slots)" if len(clash) > 1 else ""
                    problems.append((
                        f"requests[{j}]",
                        f"{b.id!r} needs {b.direction} in zone {zone!r} in slot {clash[0]}{more} "
                        f"while requests[{i}] {a.id!r} needs {a.direction} there: a zone cannot "
                        f"need both directions in one slot",
                    ))
    return problems


def parse_scenario(data: str | bytes | Mapping[str, Any]) -> Scenario:
    """Parse and validate a scenario; raise `ScenarioError` listing every problem."""
    return parse_model(Scenario, data, ScenarioError, scenario_problems)


def scenario_problems(scenario: Scenario) -> list[tuple[str, str]]:
    """Everything that makes a parsed scenario unfit to clear, beyond its types: duplicate
    ids and dangling references, integers the contracts or the solver cannot hold exactly,
    contradictory needs. `parse_scenario` raises them; `oracle.check` reports them for a
    scenario built without it."""
    bounds = _bound_problems(scenario)
    return (
        bounds
        + _structural_problems(scenario)
        + ([] if bounds else _exactness_problems(scenario))
        + _contradiction_problems(scenario)
    )


def load_scenario(source: str | Path | Mapping[str, Any]) -> Scenario:
    """Load a scenario from a path (or an already decoded mapping)."""
    if isinstance(source, Mapping):
        return parse_scenario(source)
    return parse_scenario(read_document(source, ScenarioError))


def per_slot(value: int | list[int] | None, slots: int) -> list[int] | None:
    """Expand an int-or-list field to one value per slot."""
    if value is None:
        return None
    if isinstance(value, int):
        return [value] * slots
    return list(value)
