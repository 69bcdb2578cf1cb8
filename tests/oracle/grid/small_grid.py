"""A hand-checkable LV feeder: a strong cable, then a thin one.

    ext grid 20 kV -- trafo 0.4 MVA -- bus 1 (LV busbar)
    bus 1 --line 0: NAYY 4x150, 100 m, 270 A--> bus 2 (load 220 kW, cos phi 1)
    bus 2 --line 1: thin cable, 100 m, 100 A--> bus 3 (a battery)

Line 0 carries the 220 kW load: at about 0.39 kV that is
220 / (sqrt(3) * 0.39) = 326 A, 121 % of 270 A, so the feeder needs `up`
flexibility of about 40 kW (to 99.5 %: 0.995 * 270 A * sqrt(3) * 0.39 kV =
181 kW). Line 1 carries nothing until the battery at bus 3 discharges: 80 kW
through it is 80 / (sqrt(3) * 0.4) = 115 A, 115 % of its 100 A.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def small_net() -> Any:
    import pandapower as pp

    net = pp.create_empty_network()
    b0 = pp.create_bus(net, 20.0, name="MV")
    b1 = pp.create_bus(net, 0.4, name="LV busbar")
    b2 = pp.create_bus(net, 0.4, name="shop")
    b3 = pp.create_bus(net, 0.4, name="battery")
    pp.create_ext_grid(net, b0, vm_pu=1.0)
    pp.create_transformer(net, b0, b1, std_type="0.4 MVA 20/0.4 kV")
    pp.create_line_from_parameters(net, b1, b2, 0.1, r_ohm_per_km=0.206, x_ohm_per_km=0.08,
                                   c_nf_per_km=0.0, max_i_ka=0.27, name="strong")
    pp.create_line_from_parameters(net, b2, b3, 0.1, r_ohm_per_km=0.206, x_ohm_per_km=0.08,
                                   c_nf_per_km=0.0, max_i_ka=0.10, name="thin")
    pp.create_load(net, b2, p_mw=0.220, q_mvar=0.0, name="shop")
    return net


def write_small_net(path: Path) -> Path:
    import pandapower as pp

    pp.to_json(small_net(), str(path))
    return path


def small_scenario(grid_file: Path, cheap_w: int = 80_000) -> dict[str, Any]:
    """Two `up` bids in the feeder: a cheap battery behind the thin cable, a dearer load cut."""
    return {
        "schema": "flexmarket.scenario/1",
        "name": "small feeder: the cheapest bid overloads the thin cable",
        "market": {"id": "SMALL", "product": "CongestionManagement",
                   "start": "2024-01-15T12:00:00+01:00", "slots": 1, "granularity_w": 100},
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "AGG1", "role": "aggregator"},
                         {"id": "AGG2", "role": "aggregator"}],
        "zones": [{"id": "T0-L0", "limit_w": 187061}],
        "assets": [
            {"id": "BAT3", "manager": "AGG1", "type": "storage", "p_max_w": 100_000,
             "zone": "T0-L0", "bus": 3},
            {"id": "SHOP2", "manager": "AGG2", "type": "load", "p_max_w": 220_000,
             "zone": "T0-L0", "bus": 2},
        ],
        "requests": [{"id": "R1", "buyer": "DSO1", "zone": "T0-L0", "direction": "up",
                      "quantity_w": 40_000}],
        "bids": [
            {"id": "B-BAT", "seller": "AGG1", "zone": "T0-L0", "direction": "up",
             "quantity_w": cheap_w, "price_eur_per_mw": 100_000, "assets": ["BAT3"],
             "submitted_at": "2024-01-14T10:00:00+01:00"},
            {"id": "B-SHOP", "seller": "AGG2", "zone": "T0-L0", "direction": "up",
             "quantity_w": 50_000, "price_eur_per_mw": 300_000, "assets": ["SHOP2"],
             "submitted_at": "2024-01-14T10:00:00+01:00"},
        ],
        "grid": {"file": str(grid_file)},
    }
