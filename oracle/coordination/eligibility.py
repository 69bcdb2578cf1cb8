"""Which requests a bid may serve (oracle.rules.bid_serves: same direction, its zone or
system-wide, within the request's price cap) with a need in one of the bid's slots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from oracle.rules import ValidBid, bid_serves, slot_bits
from oracle.scenario import Scenario


def eligibility(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int]
) -> dict[str, tuple[int, ...]]:
    """Bid id -> requests it may serve (direction, zone, price cap) among those with a need
    in one of its slots; bids that serve none are left out.

    Only requests of the bid's direction and of its zone or none can pass `bid_serves`, so
    only those are asked; a request's slots with a need and a bid's slots are compared as
    the bits of two integers."""
    requests = scenario.requests
    need_slots: dict[int, list[int]] = {}
    for r, t in needs:
        need_slots.setdefault(r, []).append(t)
    need_bits = {r: slot_bits(tuple(sorted(ts))) for r, ts in need_slots.items()}
    by_key: dict[tuple[str, str | None], list[int]] = {}
    for r in sorted(need_bits):
        by_key.setdefault((requests[r].direction, requests[r].zone), []).append(r)
    out = {}
    for bid in bids:
        near = sorted(by_key.get((bid.direction, bid.zone), [])
                      + by_key.get((bid.direction, None), []))
        if not near:
            continue
        bits = slot_bits(bid.slots)
        ok = tuple(r for r in near if need_bits[r] & bits and bid_serves(bid, requests[r]))
        if ok:
            out[bid.id] = ok
    return out

