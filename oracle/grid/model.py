"""The DSO's grid model: a pandapower network, its operating points, zones and ratings.

A `GridModel` is built from a SimBench code (the `simbench` package ships the
networks and a year of quarter-hour profiles) or from a pandapower JSON file,
for a window of profile time steps (one per market slot). Everything the
power flow and the market need is pre-computed here as arrays indexed by bus
*position* (0..n_bus-1 in the order of the pandapower bus index):

- `p_mw[t, k]`, `q_mvar[t, k]`: the forecast net consumption at bus k in step t
  (load convention: loads and charging storage positive, generation negative);
- the monitored branches (in-service lines and two-winding transformers) with
  the constants that turn branch-end power into percent loading exactly as
  pandapower computes `loading_percent`;
- zones: one per transformer (the network on its low-voltage side) and one per
  feeder (the buses reached through one line leaving a transformer's LV bus);
  every bus belongs to the innermost zone that contains it.

Storages without a usable forecast are held at the model's set-point by
default (`storage="setpoint"`): SimBench ships home and commercial PV
batteries at rated discharge, which is the feed-in case a DSO plans for.
`storage="profile"` applies SimBench's storage profiles instead.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import math
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from oracle.grid.errors import GridError

StorageMode = Literal["setpoint", "profile"]
STEPS_PER_DAY = 96  # SimBench profiles: one step per 15 minutes
STEP_MINUTES = 15


@dataclass(frozen=True)
class GridZone:
    """A congestion point: a transformer or a feeder, and the buses behind it."""

    id: str
    kind: Literal["trafo", "feeder"]
    element: str  # the branch that feeds it, e.g. "trafo 0", "line 34"
    branch: int  # its position in GridModel.branch_* arrays
    buses: tuple[int, ...]  # bus positions
    parent: str | None  # the enclosing transformer zone of a feeder
    rating_w: int  # the feeding element's rating, as active power at nominal voltage


@dataclass
class GridModel:
    """One network at one sequence of operating points (see the module docstring)."""

    name: str
    net: Any  # pandapowerNet, switches resolved
    first_step: int
    step_labels: list[str]
    bus_index: NDArray[np.int64]  # pandapower bus index of each position
    bus_name: list[str]
    vn_kv: NDArray[np.float64]
    p_mw: NDArray[np.float64]  # [T, n_bus] net consumption (load convention)
    q_mvar: NDArray[np.float64]
    branch_label: list[str]  # "line 34", "trafo 0"
    branch_from: NDArray[np.int64]
    branch_to: NDArray[np.int64]
    branch_row: NDArray[np.int64]  # row in lightsim2grid's branch results (lines, then trafos)
    branch_k_from: NDArray[np.float64]  # loading % = |S| / vm * k  at each end
    branch_k_to: NDArray[np.float64]
    zones: list[GridZone]
    bus_zone: list[str | None]  # innermost zone of each bus position
    element_p_mw: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    """Forecast P of each load, sgen and storage, [T, n_element], element's own sign convention."""

    @property
    def n_steps(self) -> int:
        return int(self.p_mw.shape[0])

    @property
    def n_bus(self) -> int:
        return len(self.bus_index)

    def bus_position(self, bus: int | str, where: str = "bus") -> int:
        """Position of a bus given by pandapower index or by name."""
        if isinstance(bus, str) and not bus.isdigit():
            try:
                return self.bus_name.index(bus)
            except ValueError:
                raise GridError(f"{where}: no bus named {bus!r} in grid {self.name}") from None
        idx = int(bus)
        pos = np.flatnonzero(self.bus_index == idx)
        if len(pos) != 1:
            raise GridError(f"{where}: bus {idx} is not in grid {self.name}")
        return int(pos[0])

    def zone(self, zone_id: str) -> GridZone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise GridError(f"zone {zone_id!r} is not a zone of grid {self.name}")

    def with_injections(self, p_mw: NDArray[np.float64], q_mvar: NDArray[np.float64]) -> GridModel:
        """The same network at other operating points."""
        out = copy.copy(self)
        out.p_mw, out.q_mvar = p_mw, q_mvar
        return out


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=4)
def _simbench_net(code: str) -> Any:
    import simbench  # noqa: PLC0415 - heavy import, only when a grid is used

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return simbench.get_simbench_net(code)
    except Exception as exc:  # simbench raises bare errors for unknown codes
        raise GridError(f"grid: {code!r} is neither a SimBench code nor a file") from exc


def load_net(source: str, base_dir: Path | None = None) -> tuple[str, Any]:
    """A pandapower net from a SimBench code or a pandapower JSON file; (name, net)."""
    path = Path(source)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if source.endswith(".json") or path.exists():
        if not path.is_file():
            raise GridError(f"grid: file {str(path)!r} does not exist")
        import pandapower as pp  # noqa: PLC0415

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return path.name, pp.from_json(str(path))
        except Exception as exc:
            raise GridError(f"grid: {str(path)!r} is not a pandapower JSON file ({exc})") from None
    return source, copy.deepcopy(_simbench_net(source))


def _resolve_switches(net: Any) -> None:
    """Apply switch states to the elements, then drop the switches (lightsim2grid ignores them)."""
    import pandapower as pp  # noqa: PLC0415

    sw = net.switch
    if len(sw):
        open_ = ~sw.closed.astype(bool)
        for et, table in (("l", "line"), ("t", "trafo")):
            idx = sw.element[(sw.et == et) & open_].astype(int).unique()
            if len(idx):
                net[table].loc[idx, "in_service"] = False
        closed_bb = sw[(sw.et == "b") & ~open_]
        for _, row in closed_bb.sort_index().iterrows():
            b1, b2 = int(row.bus), int(row.element)
            if b1 in net.bus.index and b2 in net.bus.index and b1 != b2:
                pp.toolbox.fuse_buses(net, b1, {b2})
        net.switch.drop(net.switch.index, inplace=True)


def _profile_times(net: Any) -> list[str] | None:
    profiles = getattr(net, "profiles", None) if "profiles" in net else None
    if not profiles or "load" not in profiles or "time" not in profiles["load"]:
        return None
    return [str(t) for t in profiles["load"]["time"]]


def first_step_of(net: Any, day: str | None, time_step: int | None, start: dt.datetime | None,
                  n_steps: int) -> tuple[int, list[str]]:
    """Profile step of slot 0 and the labels of the window; a net without profiles has one step."""
    times = _profile_times(net)
    if times is None:
        if day is not None:
            raise GridError("grid.day: the grid has no profiles; give no day, or a SimBench grid")
        return 0, ["static"] * n_steps
    if time_step is not None:
        first = time_step
    elif day is not None:
        d = dt.date.fromisoformat(day)
        label = f"{d.day:02d}.{d.month:02d}.{d.year:04d} 00:00"
        try:
            first = times.index(label)
        except ValueError:
            raise GridError(
                f"grid.day: {day} is not in the profiles ({times[0][:10]} .. {times[-1][:10]})"
            ) from None
        if start is not None:
            first += (start.hour * 60 + start.minute) // STEP_MINUTES
    else:
        first = 0
    if first < 0 or first + n_steps > len(times):
        raise GridError(
            f"grid: steps {first}..{first + n_steps - 1} are outside the profiles "
            f"(0..{len(times) - 1})"
        )
    return first, times[first : first + n_steps]


def _element_profiles(
    net: Any, first: int, n_steps: int, storage: StorageMode
) -> dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]]:
    """(P, Q) per element table over the window; static values when there are no profiles."""
    static = {
        "load": (net.load.p_mw.to_numpy(float), net.load.q_mvar.to_numpy(float)),
        "sgen": (net.sgen.p_mw.to_numpy(float), net.sgen.q_mvar.to_numpy(float)),
        "storage": (net.storage.p_mw.to_numpy(float), net.storage.q_mvar.to_numpy(float)),
    }
    out: dict[str, tuple[NDArray[np.float64], NDArray[np.float64] | None]] = {
        k: (np.tile(p, (n_steps, 1)), np.tile(q, (n_steps, 1))) for k, (p, q) in static.items()
    }
    if _profile_times(net) is None:
        return out
    import simbench  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        absolute = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    window = slice(first, first + n_steps)
    for (table, col), df in absolute.items():
        if table not in out or df.shape[1] == 0 or (table == "storage" and storage == "setpoint"):
            continue
        values = np.zeros((n_steps, len(net[table])))
        cols = [net[table].index.get_loc(c) for c in df.columns]
        values[:, cols] = df.to_numpy(float)[window]
        p, q = out[table]
        out[table] = (values, q) if col == "p_mw" else (p, values)
    return out


# --------------------------------------------------------------------------- topology


def _zones(net: Any, pos: dict[int, int], branch_pos: dict[tuple[str, int], int],
           ratings_w: dict[tuple[str, int], int]) -> tuple[list[GridZone], list[str | None]]:
    n_bus = len(pos)
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n_bus)]  # (neighbour, line index)
    for li, row in net.line[net.line.in_service.astype(bool)].sort_index().iterrows():
        f, t = pos[int(row.from_bus)], pos[int(row.to_bus)]
        adj[f].append((t, int(li)))
        adj[t].append((f, int(li)))
    trafo_lv = {
        pos[int(row.lv_bus)]
        for _, row in net.trafo[net.trafo.in_service.astype(bool)].iterrows()
    }
    zones: list[GridZone] = []
    bus_zone: list[str | None] = [None] * n_bus
    for ti, row in net.trafo[net.trafo.in_service.astype(bool)].sort_index().iterrows():
        lv = pos[int(row.lv_bus)]
        tz = f"T{int(ti)}"
        tz_buses = [lv]
        feeders: list[GridZone] = []
        for nb_, li in sorted(adj[lv], key=lambda x: x[1]):
            if bus_zone[nb_] is not None or nb_ in trafo_lv:
                continue
            fid = f"{tz}-L{li}"
            seen = {nb_}
            queue = deque([nb_])
            while queue:
                b = queue.popleft()
                for c, _ in adj[b]:
                    if c != lv and c not in seen and c not in trafo_lv and bus_zone[c] is None:
                        seen.add(c)
                        queue.append(c)
            for b in seen:
                bus_zone[b] = fid
            tz_buses.extend(seen)
            feeders.append(GridZone(
                id=fid, kind="feeder", element=f"line {li}", branch=branch_pos[("line", li)],
                buses=tuple(sorted(seen)), parent=tz, rating_w=ratings_w[("line", li)],
            ))
        bus_zone[lv] = tz
        zones.append(GridZone(
            id=tz, kind="trafo", element=f"trafo {int(ti)}", branch=branch_pos[("trafo", int(ti))],
            buses=tuple(sorted(tz_buses)), parent=None, rating_w=ratings_w[("trafo", int(ti))],
        ))
        zones.extend(feeders)
    return zones, bus_zone


# --------------------------------------------------------------------------- the model


def build_model(
    source: str,
    *,
    day: str | None = None,
    time_step: int | None = None,
    start: dt.datetime | None = None,
    n_steps: int = STEPS_PER_DAY,
    storage: StorageMode = "setpoint",
    base_dir: Path | None = None,
) -> GridModel:
    """The grid model of `source` (SimBench code or pandapower JSON) over `n_steps` steps."""
    name, net = load_net(source, base_dir)
    _resolve_switches(net)
    if len(net.ext_grid) == 0:
        raise GridError(f"grid: {name} has no ext_grid (slack)")
    first, labels = first_step_of(net, day, time_step, start, n_steps)
    bus_index = np.asarray(sorted(int(b) for b in net.bus.index), dtype=np.int64)
    pos = {int(b): i for i, b in enumerate(bus_index)}
    n_bus = len(bus_index)
    vn_kv = net.bus.loc[bus_index, "vn_kv"].to_numpy(float)

    prof = _element_profiles(net, first, n_steps, storage)
    p_mw = np.zeros((n_steps, n_bus))
    q_mvar = np.zeros((n_steps, n_bus))
    sign = {"load": 1.0, "storage": 1.0, "sgen": -1.0}
    element_p: dict[str, NDArray[np.float64]] = {}
    for table, (p, q) in prof.items():
        df = net[table]
        if len(df) == 0:
            element_p[table] = np.zeros((n_steps, 0))
            continue
        live = df.in_service.to_numpy(bool) * df.scaling.to_numpy(float)
        cols = np.asarray([pos[int(b)] for b in df.bus])
        np.add.at(p_mw.T, cols, sign[table] * (p * live).T)
        if q is not None:
            np.add.at(q_mvar.T, cols, sign[table] * (q * live).T)
        element_p[table] = p * live

    # branches: every line, then every trafo (lightsim2grid's order); monitor in-service ones
    label: list[str] = []
    bfrom: list[int] = []
    bto: list[int] = []
    row: list[int] = []
    kf: list[float] = []
    kt: list[float] = []
    branch_pos: dict[tuple[str, int], int] = {}
    ratings: dict[tuple[str, int], int] = {}
    sqrt3 = math.sqrt(3.0)
    for r, (li, ln) in enumerate(net.line.iterrows()):
        if not bool(ln.in_service):
            continue
        f, t = pos[int(ln.from_bus)], pos[int(ln.to_bus)]
        i_max = float(ln.max_i_ka) * float(ln.df) * float(ln.parallel)
        branch_pos[("line", int(li))] = len(label)
        ratings[("line", int(li))] = round(sqrt3 * vn_kv[f] * i_max * 1e6)
        label.append(f"line {int(li)}")
        bfrom.append(f)
        bto.append(t)
        row.append(r)
        kf.append(100.0 / (sqrt3 * vn_kv[f] * i_max))
        kt.append(100.0 / (sqrt3 * vn_kv[t] * i_max))
    n_line = len(net.line)
    for r, (ti, tr) in enumerate(net.trafo.iterrows()):
        if not bool(tr.in_service):
            continue
        f, t = pos[int(tr.hv_bus)], pos[int(tr.lv_bus)]
        s_max = float(tr.sn_mva) * float(tr.parallel) * float(tr.df)
        branch_pos[("trafo", int(ti))] = len(label)
        ratings[("trafo", int(ti))] = round(s_max * 1e6)
        label.append(f"trafo {int(ti)}")
        bfrom.append(f)
        bto.append(t)
        row.append(n_line + r)
        kf.append(100.0 * float(tr.vn_hv_kv) / (vn_kv[f] * s_max))
        kt.append(100.0 * float(tr.vn_lv_kv) / (vn_kv[t] * s_max))

    zones, bus_zone = _zones(net, pos, branch_pos, ratings)
    return GridModel(
        name=name, net=net, first_step=first, step_labels=labels, bus_index=bus_index,
        bus_name=[str(n) for n in net.bus.loc[bus_index, "name"]], vn_kv=vn_kv,
        p_mw=p_mw, q_mvar=q_mvar, branch_label=label,
        branch_from=np.asarray(bfrom, dtype=np.int64), branch_to=np.asarray(bto, dtype=np.int64),
        branch_row=np.asarray(row, dtype=np.int64), branch_k_from=np.asarray(kf),
        branch_k_to=np.asarray(kt), zones=zones, bus_zone=bus_zone, element_p_mw=element_p,
    )
