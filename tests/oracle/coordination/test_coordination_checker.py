"""The coordination checker catches each kind of wrong result, and the rules on small cases."""

from coordination_helpers import THREE_AREAS, awards, bid, coordinated, need, session

from oracle import load_scenario, parse_scenario
from oracle.coordination import check_coordinated, clear_coordinated
from oracle.result import Award


def tampered(result, **update):
    return result.model_copy(update=update).sealed(result.input_hash)


def wheres(s, result):
    return {v.where.split(".")[0] for v in check_coordinated(s, result)}


def test_checker_catches_wrong_shares_conflicts_light_and_unsafe_awards():
    s = load_scenario(THREE_AREAS)
    good = clear_coordinated(s)
    shares = [dict(r) for r in good.shares]
    shares[0]["payment_ueur"] += 1
    assert "shares" in wheres(s, tampered(good, shares=shares))
    assert "conflicts" in wheres(s, tampered(good, conflicts=[
        c for c in good.conflicts if c["type"] != "imbalance"]))
    coord = dict(good.coordination, traffic_light={})
    assert "coordination" in wheres(s, tampered(good, coordination=coord))
    # D1A (10 kW down in T1, 4 kW headroom) and U1R (T1 is red in slot 0)
    extra = [Award(bid="D1A", seller="AG3", quantity_w=10_000, price_eur_per_mw=50_000,
                   payment_ueur=500_000_000),
             Award(bid="U1R", seller="AG3", quantity_w=10_000, price_eur_per_mw=100_000,
                   payment_ueur=1_000_000_000)]
    bad = tampered(good, awards=sorted([*good.awards, *extra], key=lambda a: a.bid))
    found = {str(v) for v in check_coordinated(s, bad)}
    assert any("zones.T1" in f and "above limit" in f for f in found)
    assert any("awards.U1R" in f and "red zone" in f for f in found)


def test_forecast_above_limit_lets_the_load_only_go_down():
    s = session()
    s["zones"][0].update(limit_w=10_000, forecast_w=12_000)
    need(s, "TSO", 1_000, buyer="TSO1", zone=None, direction="down")
    bid(s, "DOWN_Z", 1_000, 100_000, direction="down")              # would raise Z's load
    bid(s, "DOWN_Y", 1_000, 300_000, direction="down", zone="Y")
    result = coordinated(s)
    assert awards(result) == {"DOWN_Y": 1_000}
    assert [c["type"] for c in result.conflicts] == ["zone_overload"]


def test_sequential_leaves_the_rest_of_a_divisible_bid_to_later_stages():
    s = session()
    need(s, "DSO", 1_000)
    need(s, "TSO", 2_000, buyer="TSO1", zone=None)
    bid(s, "DIV", 3_000, 100_000, divisible=True)
    bid(s, "Y", 2_000, 150_000, zone="Y")
    seq = coordinated(s, "sequential")
    assert awards(seq) == {"DIV": 3_000}  # DSO 1,000 W, then the TSO the other 2,000 W
    assert [(r["buyer"], r["payment_ueur"]) for r in seq.shares] == [
        ("DSO1", 100_000_000), ("TSO1", 200_000_000)]


def test_sequential_does_not_offer_an_accepted_indivisible_bid_again():
    s = session()
    need(s, "DSO", 1_000)
    need(s, "TSO", 2_000, buyer="TSO1", zone=None)
    bid(s, "IND", 2_000, 40_000)                      # the DSO's cheapest: 80 EUR
    bid(s, "DIV", 2_000, 100_000, divisible=True)
    seq = coordinated(s, "sequential")
    assert awards(seq) == {"IND": 2_000, "DIV": 2_000}
    com = coordinated(s, "common")
    assert awards(com) == {"IND": 2_000}  # one activation for both: 80 EUR instead of 280
    assert seq.total_cost_ueur - com.total_cost_ueur == 200_000_000


def test_share_remainder_goes_to_the_first_role_in_priority_order():
    s = session(slots=2, priority=["TSO", "DSO", "BRP"], coupling="common")
    need(s, "DSO", [1_000, 1_000])
    need(s, "TSO", [1_000, 0], buyer="TSO1", zone=None)
    bid(s, "B", 1_000, 333_334)  # 333,334,000 µEUR, received 1:2 by TSO1 and DSO1
    rows = [(r["buyer"], r["received_w_slots"], r["payment_ueur"])
            for r in coordinated(s).shares]
    assert rows == [("TSO1", 1_000, 111_111_334), ("DSO1", 2_000, 222_222_666)]


def test_a_red_zone_needs_no_market_and_its_needs_stay_unmet():
    s = session(slots=2)
    s["zones"][0]["red_slots"] = [1]
    need(s, "DSO", [0, 1_000])
    bid(s, "B", 1_000, 100_000, slots=[1])
    result = coordinated(parse_scenario(s))
    assert result.awards == []
    assert result.coordination["traffic_light"]["Z"] == ["green", "red"]
    assert result.coordination["suspended_bids"] == ["B"]
    assert [(u.request, u.slot, u.quantity_w) for u in result.unmet] == [("DSO", 1, 1_000)]
