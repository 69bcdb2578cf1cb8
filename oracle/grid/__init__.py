"""Grid validation on real distribution grids (pandapower, SimBench, lightsim2grid).

- `model`: the DSO's network model, operating points, zones and ratings;
- `units`: the one W <-> MW conversion;
- `powerflow`: batched AC power flow (lightsim2grid);
- `sensitivity`: linear sensitivities of loadings and voltages to bus injections;
- `needs`: flexibility needs from the forecast (`flexmarket needs`);
- `clearing`: network-constrained clearing with AC validation and iterative cuts;
- `generate`: the seeded generator of the SimBench example scenario.
"""

from oracle.grid.errors import GridError
from oracle.grid.units import mw_to_w, w_to_mw

__all__ = ["GridError", "mw_to_w", "w_to_mw"]
