"""Which requests a bid may serve (oracle.rules.bid_serves: same direction, its zone or
system-wide, within the request's price cap) with a need in one of the bid's slots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oracle.rules import ValidBid, bid_serves
from oracle.scenario import Scenario


def eligibility(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int]
) -> dict[str, tuple[int, ...]]:
    """Bid id -> requests it may serve (direction, zone, price cap) among those with a need
    in one of its slots; bids that serve none are left out."""
    requests = scenario.requests
    with_need = sorted({r for r, _ in needs})
    out = {}
    for bid in bids:
        ok = tuple(
            r for r in with_need
            if bid_serves(bid, requests[r])
            and any((r, t) in needs for t in bid.slots)
        )
        if ok:
            out[bid.id] = ok
    return out
