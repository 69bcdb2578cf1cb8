"""Scenario files (`flexmarket.scenario/1`): pydantic models at the edge.

A scenario is parsed strictly: unknown fields, wrong types, duplicate ids and
dangling references are errors (`ScenarioError`, every problem with its field
path), because a typo must never silently change a market. Bids that break a
market rule are *not* errors: `oracle.rules` rejects them with a reason and
the market clears without them.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from oracle.canonical import canonical_json, keccak_hex
from oracle.errors import ScenarioError
from oracle.grid_spec import GridSpec

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


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        # Unions report one branch per error ("int", "list[...]"): drop the branch names.
        loc = [p for p in loc if p not in ("int", "list[constrained-int]", "constrained-int")]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "json_invalid":
            msg = f"invalid JSON: {err.get('ctx', {}).get('error', msg)}"
        problems.append((_path(loc), msg))
    # one message per path (union branches repeat themselves)
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


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


def parse_scenario(data: str | bytes | Mapping[str, Any]) -> Scenario:
    """Parse and validate a scenario; raise `ScenarioError` listing every problem."""
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    try:
        scenario = Scenario.model_validate_json(text)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_problems(exc)) from None
    problems = _structural_problems(scenario)
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(source: str | Path | Mapping[str, Any]) -> Scenario:
    """Load a scenario from a path (or an already decoded mapping)."""
    if isinstance(source, Mapping):
        return parse_scenario(source)
    path = Path(source)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ScenarioError([("", f"cannot read {path}: {exc.strerror}")]) from None
    return parse_scenario(text)


def per_slot(value: int | list[int] | None, slots: int) -> list[int] | None:
    """Expand an int-or-list field to one value per slot."""
    if value is None:
        return None
    if isinstance(value, int):
        return [value] * slots
    return list(value)
