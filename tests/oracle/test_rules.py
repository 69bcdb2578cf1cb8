"""Rules 1 to 5: invalid bids are rejected with a reason, the market clears without them."""

import pytest
from oracle_helpers import add_bid, add_request, cleared, market

from oracle import parse_scenario
from oracle.rules import validate_bids


def rejected_reasons(s):
    return {r.bid: r.reason for r in cleared(s).rejected}


def base():
    s = market(min_bid_w=1000, price_cap_eur_per_mw=2_000_000, slots=4)
    add_request(s, "R", 5000)
    add_bid(s, "OK", 5000, 100_000)
    return s


def test_a_valid_bid_is_kept_and_awarded():
    s = base()
    result = cleared(s)
    assert result.rejected == [] and [a.bid for a in result.awards] == ["OK"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        # rule 1
        (lambda s, b: b.update(seller="DSO1"), "has role DSO, not aggregator"),
        (lambda s, b: b.update(seller="NOBODY"), "seller NOBODY is not a registered participant"),
        (lambda s, b: s["assets"][-1].update(manager="B"), "is not managed by A"),
        (lambda s, b: b["assets"].append("GHOST"), "asset GHOST is not registered"),
        # rule 2
        (lambda s, b: s["assets"][-1].update(zone="Y"), "lies in zone Y, not Z"),
        (lambda s, b: s["assets"][-1].update(p_max_w=4000), "exceeds the assets' p_max_w sum 4000"),
        (lambda s, b: b.update(zone="NOWHERE"), "zone NOWHERE does not exist"),
        # rule 4
        (lambda s, b: b.update(quantity_w=900, divisible=True), "below min_bid_w 1000"),
        (lambda s, b: b.update(quantity_w=5050), "not a multiple of granularity_w 100"),
        (lambda s, b: b.update(price_eur_per_mw=-1), "below the floor 0"),
        (lambda s, b: b.update(price_eur_per_mw=2_000_001), "above the cap 2000000"),
        (lambda s, b: b.update(slots=[2, 7]), "slots [7] do not exist"),
        (lambda s, b: b.update(slots=[]), "slots is empty"),
        # rule 5
        (lambda s, b: b.update(divisible=True, min_quantity_w=6000), "min_quantity_w 6000 exceeds"),
        (
            lambda s, b: (
                b.update(divisible=True),
                s["assets"][-1].update(p_min_w=5500, p_max_w=6000),
            ),
            "min_quantity_w 5500 exceeds",
        ),
    ],
)
def test_each_rule_rejects_with_its_reason(mutate, reason):
    s = base()
    add_bid(s, "BAD", 5000, 1000)  # cheaper than OK: it would win if it were valid
    mutate(s, s["bids"][-1])
    reasons = rejected_reasons(s)
    assert list(reasons) == ["BAD"]
    assert reason in reasons["BAD"]
    assert [a.bid for a in cleared(s).awards] == ["OK"]


def test_rule_3_first_come_keeps_the_asset_for_overlapping_slots():
    s = base()
    first = add_bid(s, "EARLY", 2000, 1000, at="2025-12-31T09:00:00+00:00", slots=[0, 1])
    late = add_bid(s, "LATE", 2000, 1000, at="2025-12-31T09:30:00+00:00", slots=[1, 2])
    late["assets"] = list(first["assets"])
    apart = add_bid(s, "APART", 2000, 1000, at="2025-12-31T09:45:00+00:00", slots=[3])
    apart["assets"] = list(first["assets"])  # same asset, no overlapping slot: fine
    reasons = rejected_reasons(s)
    assert list(reasons) == ["LATE"]
    assert "already backs bid EARLY in slot 1" in reasons["LATE"]


def test_rule_3_ignores_bids_that_broke_another_rule():
    s = base()
    invalid = add_bid(s, "A0", 2000, 1000, at="2025-12-31T08:00:00+00:00", price_eur_per_mw=-5)
    later = add_bid(s, "A1", 2000, 1000, at="2025-12-31T09:00:00+00:00")
    later["assets"] = list(invalid["assets"])
    assert list(rejected_reasons(s)) == ["A0"]


def test_rule_3_ties_on_submitted_at_go_to_the_smaller_id():
    s = base()
    a = add_bid(s, "X2", 1000, 1000, at="2025-12-31T09:00:00+00:00")
    b = add_bid(s, "X1", 1000, 1000, at="2025-12-31T09:00:00+00:00")
    a["assets"] = list(b["assets"])
    assert list(rejected_reasons(s)) == ["X2"]


def test_default_min_quantity_is_the_largest_p_min_at_least_granularity():
    s = base()
    add_bid(s, "D", 3000, 1000, divisible=True, p_min_w=1200, p_max_w=3000)
    add_bid(s, "E", 3000, 1000, divisible=True)
    valid, _ = validate_bids(parse_scenario(s))
    mins = {v.id: v.min_quantity_w for v in valid}
    assert mins["D"] == 1200 and mins["E"] == 100
