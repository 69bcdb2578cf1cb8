"""TSO-DSO coordination: several buyer roles, one pool of flexibility (issue 7).

Sequential and common coupling, zone safety, the traffic light, conflicts
between buyers, payments shared among buyers, and a checker for these rules.
See docs/coordination.md.
"""

from oracle.coordination.checker import check_coordinated
from oracle.coordination.clearing import (
    clear_coordinated,
    coordinated_result,
    needs_coordination,
)
from oracle.coordination.zones import traffic_light, zone_cuts

__all__ = [
    "check_coordinated",
    "clear_coordinated",
    "coordinated_result",
    "needs_coordination",
    "traffic_light",
    "zone_cuts",
]
