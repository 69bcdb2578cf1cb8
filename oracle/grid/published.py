"""Grid inputs published on chain: every node clears a grid session with the same cuts.

A session cleared against the DSO's network (docs/grid.md) can only be re-checked by nodes
that clear it with the same linear cuts. Before gate closure the session operator publishes
the session's grid inputs (`publishGrid`, canonical JSON of the scenario's `grid` object with
its `inputs`, `oracle.grid_spec.GridInputs`):

- the model's identity (`simbench_code` or `file`), `time_step` (profile step of slot 0, so
  that the chain's own delivery time does not move it), `storage`, the loading and voltage
  limits, and `model_hash` (the network: `model_hash`) and `profiles_hash` (the forecast
  operating points of the session's slots, in W and var);
- `assets`: each asset's bus and `p_max_w` (the asset ids are the chain's);
- `zones`: each zone's feeding element, rating and forecast flow per slot (W);
- `cuts`: one per slot and element that the published assets could push past its limit
  (screened with every asset moving by up to its `p_max_w` either way): the linearisation
  around the forecast of `oracle.grid.clearing` (loading in %, voltage in thousandths of a
  pu, margins included), coefficients per W of injection at a bus and right-hand sides as
  integers in 1e-12 of the row unit (`SCALE`).

Every node then turns the published cuts into the engine's cuts on bids (`bid_cuts`: a bid's
coefficient is its assets' bus coefficients weighted by `p_max_w`, with the direction's
sign, computed as one exact integer sum and one correctly rounded division) and clears
(`clear_published`): integers in, the same floats everywhere, the same awards. A bid that
names an asset the inputs do not place on the grid gets no award. No network model is
needed for this; a node that holds the model (a DSO node) also re-derives the inputs
(`rederive`) and runs the AC check of a schedule (`ac_check`).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracle.canonical import canonical_json, keccak_hex
from oracle.engine import LinearCut
from oracle.grid.errors import GridError
from oracle.grid_spec import GridAsset, GridCut, GridInputs, GridSpec, ZoneForecast
from oracle.result import Result
from oracle.rules import injection_sign
from oracle.scenario import Scenario

SCALE = 10**12  # published coefficients (per W) and right-hand sides: 1e-12 of the row unit
KINDS = ("loading", "vm_max", "vm_min")
# Re-derived inputs agree with the published ones within these (floating-point power flows
# on another machine): relative, and absolute in 1e-12 row units (coefficients per W)
REL_TOL = 1e-6
ABS_TOL_COEF = 10_000  # 1e-8 % per W: 0.01 % per MW
ABS_TOL_RHS = 10**7  # 1e-5 % of loading, or 1e-8 pu
FORECAST_TOL_W = 1
# A cut's term is published when its bus's assets at full p_max_w move the row by at least
# this share of the cut's largest such move (the rest, losses and voltage effects of far
# buses, would make every cut name every bus: 113 terms a cut on the MV grid, 22 with it)
PRUNE_REL = 1e-3
# The AC check: a schedule may not push an element past its limit (or past where the
# forecast already had it) by more than the cut's margin (linearisation error)
AC_TOL_PERCENT = 0.5
AC_TOL_PU = 0.001
CHECK_TOL = 1e-6  # a cut's left-hand side may exceed its rhs by this (row units, relative)
CACHE_ENV = "FLEXMARKET_GRID_CACHE"  # a directory for the on-disk model cache ("" = none)
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / "build" / "grid-cache"


# ------------------------------------------------------------------ the model, cached


@dataclass(frozen=True)
class ModelKey:
    """What a grid model at a session's slots is built from."""

    source: str  # SimBench code, or a file path
    time_step: int | None
    day: str | None
    start_minutes: int  # minutes after midnight of market slot 0 (with `day`)
    n_steps: int
    storage: str


_MODELS: dict[ModelKey, tuple[Any, Any]] = {}
_MODELS_LOCK = threading.Lock()


def _cache_dir() -> Path | None:
    value = os.environ.get(CACHE_ENV)
    if value is None:
        return DEFAULT_CACHE_DIR
    return Path(value) if value else None


def _disk_name(key: ModelKey) -> str:
    from importlib.metadata import version

    text = json.dumps([key.__dict__, version("simbench"), version("pandapower")], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32] + ".pickle"


def load_model(key: ModelKey, base_dir: Path | None = None) -> tuple[Any, Any]:
    """(GridModel, AcSolver) of `key`: built once per process, and for SimBench codes kept
    on disk under build/grid-cache (or $FLEXMARKET_GRID_CACHE, "" for none) across
    processes. Models are never changed after they are built (`with_injections` copies)."""
    with _MODELS_LOCK:
        hit = _MODELS.get(key)
    if hit is not None:
        return hit
    from oracle.grid.model import build_model
    from oracle.grid.powerflow import AcSolver

    model = None
    directory = _cache_dir()
    path = None
    simbench = not (key.source.endswith(".json") or Path(key.source).exists())
    if directory is not None and simbench:
        path = directory / _disk_name(key)
        if path.is_file():
            try:
                model = pickle.loads(path.read_bytes())  # noqa: S301 - our own cache file
            except Exception:  # a stale or broken cache file: build afresh
                model = None
    if model is None:
        import datetime as dt

        start = None
        if key.day is not None:
            start = dt.datetime(2000, 1, 1, key.start_minutes // 60, key.start_minutes % 60)
        model = build_model(key.source, day=key.day, time_step=key.time_step, start=start,
                            n_steps=key.n_steps, storage=key.storage)  # type: ignore[arg-type]
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
                tmp.replace(path)
            except OSError:
                pass  # the cache is an optimisation
    entry = (model, AcSolver(model))
    with _MODELS_LOCK:
        _MODELS.setdefault(key, entry)
        return _MODELS[key]


def model_key(scenario: Scenario, base_dir: Path | None = None) -> ModelKey:
    spec = scenario.grid
    if spec is None:
        raise GridError("grid: the scenario has no grid object")
    source = spec.simbench_code or spec.file or ""
    if spec.file is not None:
        path = Path(spec.file)
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        source = str(path)
    start = scenario.market.start
    if spec.time_step is not None or spec.day is None:  # the market's start does not matter
        return ModelKey(source, spec.time_step, None, 0, scenario.market.slots, spec.storage)
    return ModelKey(source, None, spec.day, start.hour * 60 + start.minute,
                    scenario.market.slots, spec.storage)


# ------------------------------------------------------------------ identity hashes


def model_hash(model: Any) -> str:
    """keccak256 of the network (buses, lines, transformers, slack; switches applied), from
    the pandapower tables as fixed-precision JSON, in index order: the same model gives the
    same hash on every machine with the same data; profiles are not part of it."""
    net = model.net
    parts: dict[str, Any] = {}
    for table in ("bus", "line", "trafo", "ext_grid", "shunt", "impedance"):
        if table not in net or len(net[table]) == 0:
            continue
        df = net[table].sort_index()
        cols = sorted(c for c in df.columns
                      if df[c].dtype.kind in "biuf")  # numbers only: names and types vary
        parts[table] = json.loads(df[cols].to_json(orient="split", double_precision=12))
    return keccak_hex(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode())


def profiles_hash(model: Any) -> str:
    """keccak256 of the forecast operating points [slot][bus] as integer W and var (one
    rounding rule: oracle.grid.units.mw_to_w), buses in pandapower index order."""
    from oracle.grid.units import mw_to_w

    body = {
        "bus": [int(b) for b in model.bus_index],
        "p_w": mw_to_w(model.p_mw).astype(np.int64).tolist(),
        "q_var": mw_to_w(model.q_mvar).astype(np.int64).tolist(),
    }
    return keccak_hex(canonical_json(body))


def zone_forecasts(model: Any, ac: Any) -> list[dict[str, Any]]:
    """Each zone's feeding element, rating and forecast flow per slot (W at nominal voltage,
    from the AC loading), in the model's zone order."""
    out = []
    for z in model.zones:
        flow = np.nan_to_num(ac.loading_percent[:, z.branch]) * z.rating_w / 100.0
        out.append({"id": z.id, "element": z.element, "limit_w": z.rating_w,
                    "forecast_w": [int(x) for x in np.rint(flow).astype(np.int64)]})
    return out


# ------------------------------------------------------------------ building the inputs


def _rows(model: Any, sens: Any, spec: GridSpec) -> tuple[list[tuple[str, str]],
                                                           NDArray[np.float64],
                                                           NDArray[np.float64]]:
    """Every monitored row: labels (element, kind), coefficients [T, rows, sens buses] in row
    units per W of injection, and right-hand sides [T, rows] (limit less margin less now)."""
    from oracle.grid.clearing import MARGIN_PERCENT, MARGIN_PU, VM_SCALE

    load_bound = spec.loading_limit_percent - MARGIN_PERCENT
    vmax = (spec.vm_max_per_mille / 1000.0 - MARGIN_PU) * VM_SCALE
    vmin = (spec.vm_min_per_mille / 1000.0 + MARGIN_PU) * VM_SCALE
    bus_labels = [f"bus {int(b)}" for b in model.bus_index]
    labels = ([(e, "loading") for e in model.branch_label] + [(b, "vm_max") for b in bus_labels]
              + [(b, "vm_min") for b in bus_labels])
    vm_coef = sens.vm / 1e6 * VM_SCALE
    coef = np.concatenate([sens.loading / 1e6, vm_coef, -vm_coef], axis=1)
    vm_now = sens.base.vm_pu * VM_SCALE
    rhs = np.concatenate([load_bound - sens.base.loading_percent, vmax - vm_now,
                          vm_now - vmin], axis=1)
    return labels, coef, rhs


def _quantise(x: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.rint(np.nan_to_num(x) * SCALE).astype(np.int64)


def build_inputs(scenario: Scenario, base_dir: Path | None = None) -> GridSpec:
    """The grid object a DSO publishes for `scenario` (its model, assets and buses; no bid
    is needed): `scenario.grid` with `time_step` pinned and the `inputs` filled in."""
    from oracle.grid.sensitivity import sensitivities

    spec = scenario.grid
    if spec is None:
        raise GridError("grid: the scenario has no grid object")
    model, solver = load_model(model_key(scenario, base_dir), base_dir)
    from oracle.grid.clearing import asset_buses

    positions = asset_buses(scenario, model)
    buses = sorted(set(positions.values()))
    sens = sensitivities(solver, model.p_mw, model.q_mvar, buses)
    labels, coef, rhs = _rows(model, sens, spec)
    coef_q, rhs_q = _quantise(coef), _quantise(rhs)
    # screening: every asset moving by up to p_max_w either way
    reach = np.zeros(len(buses))
    for asset in scenario.assets:
        reach[buses.index(positions[asset.id])] += asset.p_max_w
    impact = np.abs(coef_q).astype(float) * reach  # [T, rows, buses]: a bus's full move
    spread = impact.sum(axis=2)  # [T, rows]
    cuts = []
    for t in range(model.n_steps):
        for r in np.flatnonzero(spread[t] > rhs_q[t]):
            floor = PRUNE_REL * impact[t, r].max()
            terms = [(int(model.bus_index[b]), int(coef_q[t, r, j]))
                     for j, b in enumerate(buses)
                     if coef_q[t, r, j] != 0 and impact[t, r, j] >= floor]
            if terms:
                element, kind = labels[r]
                cuts.append(GridCut(slot=t, element=element, kind=kind,  # type: ignore[arg-type]
                                    terms=terms, rhs=int(rhs_q[t, r])))
    inputs = GridInputs(
        model_hash=model_hash(model),
        profiles_hash=profiles_hash(model),
        assets=sorted((GridAsset(id=a.id, bus=int(model.bus_index[positions[a.id]]),
                                 p_max_w=a.p_max_w) for a in scenario.assets),
                      key=lambda a: a.id),
        zones=[ZoneForecast(**z) for z in zone_forecasts(model, sens.base)],
        cuts=cuts,
    )
    return spec.model_copy(update={"day": None, "time_step": model.first_step,
                                   "inputs": inputs})


def grid_inputs_json(data: Mapping[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    """`build_inputs` of a scenario given as JSON data, as JSON data (`flexmarket demo`)."""
    from oracle.scenario import parse_scenario

    return dict(build_inputs(parse_scenario(data), base_dir).model_dump(mode="json",
                                                                        exclude_none=True))


def grid_json(spec: GridSpec | Mapping[str, Any]) -> bytes:
    """The canonical bytes published on chain (`publishGrid`): fields left unset are left out."""
    data = spec.model_dump(mode="json", exclude_none=True) if isinstance(spec, GridSpec) else (
        {k: v for k, v in spec.items() if v is not None})
    return canonical_json(data)


# A part of the published bytes per `publishGrid` transaction: ~2.7 M gas at ~40 gas a byte
# (calldata at the EIP-7623 floor and the event's data), under a tenth of a 30 M gas block, so
# a part is mined beside other transactions; an MV grid's ~0.9 MB take 14 parts (one part of
# it would need ~34 M gas, more than a block).
GRID_PART_BYTES = 64 * 1024
MAX_GRID_PARTS = 2**16 - 1  # publishGrid's partCount is a uint16


def grid_parts(body: bytes, part_bytes: int = GRID_PART_BYTES) -> list[bytes]:
    """The published bytes in the parts `publishGrid` takes, in order (their concatenation is
    `body`; at least one part). GridError when they would need more parts than a uint16."""
    parts = [body[i : i + part_bytes] for i in range(0, len(body), part_bytes)] or [b""]
    if len(parts) > MAX_GRID_PARTS:
        raise GridError(f"grid: {len(body)} bytes need {len(parts)} parts of {part_bytes} "
                        f"bytes, more than {MAX_GRID_PARTS}")  # fmt: skip
    return parts


# ------------------------------------------------------------------ clearing with them


@dataclass(frozen=True)
class PublishedCut:
    """A published cut as the engine uses it: on bids, and where it came from."""

    cut: LinearCut
    source: GridCut | None  # None: a bid kept out (an asset not on the published grid)


def bid_cuts(scenario: Scenario) -> list[PublishedCut]:
    """The engine's cuts of a scenario whose grid carries published inputs.

    A bid's coefficient in a cut is sign * sum(p_max_a * coef[bus_a]) / (sum(p_max_a) *
    SCALE) over its assets (equal weights when they are all 0), as one integer sum and one
    correctly rounded division: the same float on every machine. Only bids with an award
    variable appear; a cut no combination of them can violate is left out, one they cannot
    meet asks for all the relief there is (as `oracle.grid.clearing`)."""
    from oracle.grid.clearing import _eligible

    spec = scenario.grid
    if spec is None or spec.inputs is None:
        raise GridError("grid.inputs: the scenario carries no published grid inputs")
    inputs = spec.inputs
    bus_of = {a.id: a.bus for a in inputs.assets}
    assets = {a.id: a for a in scenario.assets}
    eligible = _eligible(scenario)
    slots = scenario.market.slots
    out: list[PublishedCut] = []
    # per bid: active slots, weights per bus, denominator
    weights: dict[str, tuple[dict[int, int], int, int, tuple[int, ...], int]] = {}
    for bid in scenario.bids:
        if bid.id not in eligible:
            continue
        active = tuple(t for t in (bid.slots if bid.slots is not None else range(slots))
                       if 0 <= t < slots)
        missing = [a for a in bid.assets if a not in bus_of or a not in assets]
        if missing:
            if active:
                out.append(PublishedCut(LinearCut(
                    name=f"bid {bid.id}: asset {missing[0]} is not on the published grid",
                    slot=active[0], terms=((bid.id, 1.0),), rhs=0.0), None))
            continue
        p_max = [assets[a].p_max_w for a in bid.assets]
        total = sum(p_max)
        w: dict[int, int] = {}
        for a, p in zip(bid.assets, p_max, strict=True):
            w[bus_of[a]] = w.get(bus_of[a], 0) + (p if total > 0 else 1)
        den = (total if total > 0 else len(bid.assets)) * SCALE
        weights[bid.id] = (w, den, injection_sign(bid.direction), active, bid.quantity_w)
    by_slot: dict[int, list[str]] = {}
    for bid_id, (_, _, _, active, _) in weights.items():
        for t in active:
            by_slot.setdefault(t, []).append(bid_id)
    for c in inputs.cuts:
        coefs = dict(c.terms)
        terms: list[tuple[str, float]] = []
        quantities: list[int] = []
        for bid_id in by_slot.get(c.slot, []):
            w, den, sign, _, q = weights[bid_id]
            num = sum(n * coefs.get(bus, 0) for bus, n in w.items())
            if num != 0:
                terms.append((bid_id, sign * num / den))
                quantities.append(q)
        if not terms:
            continue
        rhs = c.rhs / SCALE
        cq = [coef * q for (_, coef), q in zip(terms, quantities, strict=True)]
        if sum(max(x, 0.0) for x in cq) <= rhs:
            continue  # no combination of these bids can violate it
        lowest = sum(min(x, 0.0) for x in cq)
        if lowest > rhs:  # no combination meets it: all the relief there is
            rhs = lowest + 1e-9 * max(1.0, abs(lowest))
        out.append(PublishedCut(LinearCut(name=f"{c.element} slot {c.slot} {c.kind}",
                                          slot=c.slot, terms=tuple(terms), rhs=rhs), c))
    return out


def clear_published(scenario: Scenario) -> tuple[Result, list[PublishedCut]]:
    """Clear a scenario with its published grid cuts (no network model needed); the result
    and the cuts it was cleared with (relaxed as `oracle.grid.clearing._clear_or_relax`
    relaxes them when relief cuts contradict each other)."""
    from oracle.grid.clearing import _clear_or_relax

    published = bid_cuts(scenario)
    cuts = [p.cut for p in published]
    result = _clear_or_relax(scenario, cuts)
    return result, [replace(p, cut=c) for p, c in zip(published, cuts, strict=True)]


def cut_violations(cuts: Sequence[PublishedCut], awards_w: Mapping[str, int]) -> list[str]:
    """Cuts a schedule (bid -> W) breaks: `grid: <cut>: <lhs> > <rhs>`."""
    out = []
    for p in cuts:
        c = p.cut
        lhs = sum(coef * awards_w.get(bid, 0) for bid, coef in c.terms)
        if lhs > c.rhs + CHECK_TOL * max(1.0, abs(c.rhs)):
            unit = "%" if c.name.endswith("loading") else "‰ pu" if "vm" in c.name else ""
            out.append(f"grid: {c.name}: {lhs:.6f} > {c.rhs:.6f}{unit and ' ' + unit} "
                       "(the awards break a published cut)")
    return out


# ------------------------------------------------------------------ a DSO node's checks


@dataclass
class Rederived:
    """What a node holding the model finds about the published inputs."""

    model: Any = None
    solver: Any = None
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the AC power flow of the forecast (every slot), solved with the sensitivities: the AC
    # check's "before" (the same operating points, the same solver), not solved again
    forecast: Any = None


def rederive(scenario: Scenario, base_dir: Path | None = None) -> Rederived:
    """Load the model the inputs name (cached) and re-derive every published input: model
    and profiles hashes, the assets' ratings against the session's, the zones' forecasts,
    every published cut (its coefficients and rhs) and every cut the screening needs."""
    spec = scenario.grid
    if spec is None or spec.inputs is None:
        raise GridError("grid.inputs: the session publishes no grid inputs to re-derive")
    inputs = spec.inputs
    out = Rederived()
    if spec.time_step is None and spec.file is None:
        out.violations.append("grid.time_step: the published inputs do not pin the profile step")
        return out
    try:
        model, solver = load_model(model_key(scenario, base_dir), base_dir)
    except GridError as exc:
        out.notes.append(f"grid: the model cannot be loaded here ({exc}): cuts not re-derived, "
                         "no AC check")
        return out
    out.model, out.solver = model, solver
    if model_hash(model) != inputs.model_hash:
        out.violations.append(f"grid.inputs.model_hash: {inputs.model_hash} published, the model "
                              f"{model.name} hashes to {model_hash(model)} here")
        return out
    if profiles_hash(model) != inputs.profiles_hash:
        out.violations.append(f"grid.inputs.profiles_hash: {inputs.profiles_hash} published, "
                              f"the profiles of steps {model.first_step}.. hash to "
                              f"{profiles_hash(model)} here")
        return out
    session_assets = {a.id: a for a in scenario.assets}
    positions: dict[str, int] = {}
    for i, a in enumerate(inputs.assets):
        try:
            positions[a.id] = model.bus_position(a.bus, f"grid.inputs.assets[{i}].bus")
        except GridError as exc:
            out.violations.append(str(exc))
            return out
        mine = session_assets.get(a.id)
        if mine is not None and mine.p_max_w != a.p_max_w:
            out.violations.append(f"grid.inputs.assets[{i}].p_max_w: {a.p_max_w} published, the "
                                  f"asset is registered with {mine.p_max_w}")
    from oracle.grid.sensitivity import sensitivities

    buses = sorted(set(positions.values()))
    if not buses:
        return out
    sens = sensitivities(solver, model.p_mw, model.q_mvar, buses)
    out.forecast = sens.base
    zones = zone_forecasts(model, sens.base)
    published_zones = [z.model_dump() for z in inputs.zones]
    if [(z["id"], z["element"], z["limit_w"]) for z in zones] != [
            (z["id"], z["element"], z["limit_w"]) for z in published_zones]:
        out.violations.append("grid.inputs.zones: the zones, their elements or ratings are not "
                              "the model's")
    else:
        for i, (mine_z, pub) in enumerate(zip(zones, published_zones, strict=True)):
            diff = np.abs(np.asarray(mine_z["forecast_w"]) - np.asarray(pub["forecast_w"]))
            if len(pub["forecast_w"]) != len(mine_z["forecast_w"]) or diff.max() > FORECAST_TOL_W:
                out.violations.append(f"grid.inputs.zones[{i}].forecast_w: not the model's "
                                      f"forecast of zone {pub['id']}")
    labels, coef, rhs = _rows(model, sens, spec)
    coef_q, rhs_q = _quantise(coef), _quantise(rhs)
    row_of = {label: r for r, label in enumerate(labels)}
    col_of = {int(model.bus_index[b]): j for j, b in enumerate(buses)}
    reach = np.zeros(len(buses))
    for a in inputs.assets:
        reach[buses.index(positions[a.id])] += a.p_max_w
    impact = np.abs(coef_q).astype(float) * reach
    seen: set[tuple[int, int]] = set()
    for i, c in enumerate(inputs.cuts):
        r = row_of.get((c.element, c.kind))
        if r is None or c.slot >= model.n_steps:
            out.violations.append(f"grid.inputs.cuts[{i}]: {c.element} {c.kind} slot {c.slot} is "
                                  "not a row of the model")
            continue
        seen.add((c.slot, r))
        if not _close(c.rhs, int(rhs_q[c.slot, r]), ABS_TOL_RHS):
            out.violations.append(f"grid.inputs.cuts[{i}].rhs: {c.element} slot {c.slot} "
                                  f"{c.kind}: {c.rhs} published, {int(rhs_q[c.slot, r])} "
                                  "from the model")
        # every bus at once: the published coefficient (0 when left out) against the model's;
        # a bus left out is fine below twice the pruning floor (at the pruning's edge)
        mine = coef_q[c.slot, r]
        given = np.zeros(len(buses), dtype=np.int64)
        present = np.zeros(len(buses), dtype=bool)
        wrong: list[tuple[int, int, int]] = []  # (bus, published, the model's)
        for bus, value in c.terms:
            j = col_of.get(bus)
            if j is None:  # no published asset there: the model's coefficient is not derived
                if abs(value) > ABS_TOL_COEF:
                    wrong.append((bus, value, 0))
                continue
            given[j], present[j] = value, True
        floor = PRUNE_REL * impact[c.slot, r].max()
        tol = np.maximum(ABS_TOL_COEF, REL_TOL * np.abs(mine))
        bad = (np.abs(given - mine) > tol) & (present | (impact[c.slot, r] >= 2 * floor))
        wrong += [(int(model.bus_index[buses[j]]), int(given[j]), int(mine[j]))
                  for j in np.flatnonzero(bad)]
        if wrong:
            bus, value, derived = min(wrong)
            out.violations.append(f"grid.inputs.cuts[{i}].terms: {c.element} slot {c.slot} "
                                  f"{c.kind}, bus {bus}: {value} published, {derived} from the "
                                  "model")
    # cuts the screening needs that were not published (a clear margin: not a borderline case)
    spread = impact.sum(axis=2)
    needed = spread > rhs_q + REL_TOL * np.abs(rhs_q) + ABS_TOL_RHS
    for t, r in zip(*np.nonzero(needed), strict=True):
        if (int(t), int(r)) not in seen and np.any(coef_q[t, r] != 0):
            element, kind = labels[int(r)]
            out.violations.append(f"grid.inputs.cuts: {element} slot {int(t)} {kind} is not "
                                  "published, though the assets can push it past its limit")
    return out


def _close(published: int, mine: int, absolute: int) -> bool:
    return abs(published - mine) <= max(absolute, REL_TOL * abs(mine))


def injection_mw(model: Any, scenario: Scenario, awards_w: Mapping[str, int]) -> NDArray[
        np.float64]:
    """Extra injection [T, n_bus] (MW) of a schedule, by the published assets' buses
    (awards split by p_max_w, as `bid_cuts` weights them)."""
    from oracle.grid.units import w_to_mw

    spec = scenario.grid
    if spec is None or spec.inputs is None:
        raise GridError("grid.inputs: the session publishes no grid inputs (assets' buses)")
    bus_of = {a.id: model.bus_position(a.bus) for a in spec.inputs.assets}
    assets = {a.id: a for a in scenario.assets}
    extra = np.zeros((model.n_steps, model.n_bus))
    for bid in scenario.bids:
        w = awards_w.get(bid.id, 0)
        if not w or any(a not in bus_of or a not in assets for a in bid.assets):
            continue
        sign = float(injection_sign(bid.direction))
        p_max = [assets[a].p_max_w for a in bid.assets]
        total = sum(p_max)
        slots = [t for t in (bid.slots if bid.slots is not None else range(model.n_steps))
                 if 0 <= t < model.n_steps]
        for a, p in zip(bid.assets, p_max, strict=True):
            share = p / total if total > 0 else 1.0 / len(bid.assets)
            extra[slots, bus_of[a]] += sign * share * w_to_mw(w)
    return extra


def ac_check(scenario: Scenario, model: Any, solver: Any, awards_w: Mapping[str, int],
             forecast: Any = None) -> tuple[list[str], list[str], dict[str, Any]]:
    """AC power flow of every slot of a schedule: (violations, notes, figures). `forecast`:
    the AC result of the model's forecast when the caller has it (`Rederived.forecast`),
    else solved here.

    A violation: the awards push a line or transformer, or a bus voltage, past its limit
    and past where the forecast had it, by more than the cut's margin (AC_TOL_*). An
    overload the forecast had and the awards did not make worse is a note (the bids on
    offer could not relieve it)."""
    from oracle.grid.figures import figures

    spec = scenario.grid
    if spec is None:
        raise GridError("grid: the session has no grid to check the schedule on")
    before = solver.solve_model() if forecast is None else forecast
    after = solver.solve(model.p_mw - injection_mw(model, scenario, awards_w), model.q_mvar)
    violations: list[str] = []
    notes: list[str] = []
    limit = float(spec.loading_limit_percent)
    vmax, vmin = spec.vm_max_per_mille / 1000.0, spec.vm_min_per_mille / 1000.0
    if not after.converged.all():
        bad = [int(t) for t in np.flatnonzero(~after.converged)]
        violations.append(f"grid: AC power flow of the awards does not converge in slots {bad}")
    la, lb = np.nan_to_num(after.loading_percent), np.nan_to_num(before.loading_percent)
    va, vb = np.nan_to_num(after.vm_pu, nan=1.0), np.nan_to_num(before.vm_pu, nan=1.0)
    checks = (
        ("loading", la, np.maximum(lb, limit) + AC_TOL_PERCENT, la > limit, model.branch_label,
         "%", 2),
        ("vm max", va, np.maximum(vb, vmax) + AC_TOL_PU, va > vmax,
         [f"bus {int(b)}" for b in model.bus_index], " pu", 4),
        ("vm min", -va, -np.minimum(vb, vmin) + AC_TOL_PU, va < vmin,
         [f"bus {int(b)}" for b in model.bus_index], " pu", 4),
    )
    for what, value, bound, over, labels, unit, places in checks:
        worse = value > bound
        for t, e in zip(*np.nonzero(worse), strict=True):
            violations.append(f"grid: AC check: {labels[e]} slot {int(t)} {what} "
                              f"{abs(value[t, e]):.{places}f}{unit} after the awards "
                              f"(limit and forecast exceeded)")
        left = over & ~worse
        if left.any():
            notes.append(f"grid: AC check: {int(left.sum())} {what} limit(s) still exceeded as "
                         "in the forecast, not made worse (the bids cannot relieve them)")
    figs = {"ok": not violations and not any(c[3].any() for c in checks),
            "before": figures(model, before), "after": figures(model, after)}
    return violations, notes, figs
