"""oracle.rules.may_serve: the one eligibility rule (issue 12 item 4), and its users agree."""

from __future__ import annotations

import pytest

from nodes.session import serves_json
from oracle.rules import may_serve
from python_client.shares import NeedInfo


@pytest.mark.parametrize(
    ("bid", "request_", "ok"),
    [
        (("T1", "up", 500), ("T1", "up", None), True),
        (("T1", "up", 500), (None, "up", None), True),  # system-wide
        (("T2", "up", 500), ("T1", "up", None), False),  # another zone
        (("T1", "down", 500), ("T1", "up", None), False),  # another direction
        (("T1", "up", 500), ("T1", "up", 500), True),  # at the maximum
        (("T1", "up", 501), ("T1", "up", 500), False),  # above it
    ],
)
def test_may_serve(bid: tuple[str, str, int], request_: tuple[str | None, str, int | None],
                   ok: bool) -> None:
    assert may_serve(*bid, *request_) is ok
    zone, direction, price = bid
    need_zone, need_direction, cap = request_
    # the SDK's rows and the scenario-file form use the same rule
    assert NeedInfo(0, "B", need_zone, need_direction, cap).serves(zone, direction, price) is ok
    assert serves_json({"zone": zone, "direction": direction, "price_eur_per_mw": price},
                       {"zone": need_zone, "direction": need_direction,
                        "max_price_eur_per_mw": cap}) is ok  # fmt: skip
