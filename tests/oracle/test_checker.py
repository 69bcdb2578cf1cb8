"""The independent checker catches every kind of wrong result."""

import pytest
from oracle_helpers import add_bid, add_request, cleared, flech, market

from oracle import check, parse_scenario
from oracle.result import Award, Rejected, Unmet


@pytest.fixture
def session():
    s = market(slots=2, granularity_w=100)
    add_request(s, "R", [3_000, 1_000])
    add_bid(s, "IND", 2_000, 100_000)
    add_bid(s, "DIV", 2_000, 200_000, divisible=True, min_quantity_w=500)
    add_bid(s, "BAD", 1_000, -5)  # below the floor: rejected
    scenario = parse_scenario(s)
    return scenario, cleared(scenario)


def wheres(scenario, result):
    return {v.where for v in check(scenario, result.sealed(scenario.input_hash()))}


def with_awards(result, awards):
    return result.model_copy(
        update={"awards": awards, "total_cost_ueur": sum(a.payment_ueur for a in awards)}
    )


def test_an_honest_result_passes(session):
    scenario, result = session
    assert [a.bid for a in result.awards] == ["DIV", "IND"]
    assert check(scenario, result) == []


def test_partial_award_of_an_indivisible_bid(session):
    scenario, result = session
    awards = [
        a
        if a.bid != "IND"
        else a.model_copy(update={"quantity_w": 1_000, "payment_ueur": 100_000_000})
        for a in result.awards
    ]
    assert "awards[1].quantity_w" in wheres(scenario, with_awards(result, awards))


def test_divisible_award_below_its_minimum_or_off_the_step(session):
    scenario, result = session
    for w in (400, 1_050):
        awards = [
            a
            if a.bid != "DIV"
            else a.model_copy(update={"quantity_w": w, "payment_ueur": w * 200_000})
            for a in result.awards
        ]
        assert "awards[0].quantity_w" in wheres(scenario, with_awards(result, awards))


def test_wrong_payment_or_price(session):
    scenario, result = session
    awards = [result.awards[0].model_copy(update={"payment_ueur": 1}), result.awards[1]]
    assert "awards[0].payment_ueur" in wheres(scenario, with_awards(result, awards))
    awards = [
        result.awards[0].model_copy(
            update={"price_eur_per_mw": 1, "payment_ueur": result.awards[0].quantity_w}
        ),
        result.awards[1],
    ]
    assert "awards[0].price_eur_per_mw" in wheres(scenario, with_awards(result, awards))


def test_award_to_a_rejected_or_unknown_bid(session):
    scenario, result = session
    extra = Award(bid="BAD", seller="A", quantity_w=1_000, price_eur_per_mw=-5, payment_ueur=-5_000)
    assert "awards[0].bid" in wheres(scenario, with_awards(result, [extra, *result.awards]))
    ghost = Award(bid="ZZZ", seller="A", quantity_w=1_000, price_eur_per_mw=1, payment_ueur=1_000)
    assert "awards[2].bid" in wheres(scenario, with_awards(result, [*result.awards, ghost]))


def test_wrong_seller(session):
    scenario, result = session
    awards = [result.awards[0].model_copy(update={"seller": "B"}), result.awards[1]]
    assert "awards[0].seller" in wheres(scenario, with_awards(result, awards))


def test_needs_claimed_met_that_the_awards_cannot_meet(session):
    scenario, result = session
    awards = [a for a in result.awards if a.bid != "DIV"]  # drop 1,000 W in slot 0
    assert "unmet" in wheres(scenario, with_awards(result, awards))


def test_unmet_stated_larger_than_it_is(session):
    scenario, result = session
    fake = result.model_copy(update={"unmet": [Unmet(request="R", slot=1, quantity_w=500)]})
    assert "unmet" in wheres(scenario, fake)


def test_rejections_must_match_the_rules(session):
    scenario, result = session
    assert "rejected" in wheres(scenario, result.model_copy(update={"rejected": []}))
    wrong = [Rejected(bid="IND", reason="because"), *result.rejected]
    assert "rejected" in wheres(scenario, result.model_copy(update={"rejected": wrong}))


def test_total_and_hashes(session):
    scenario, result = session
    bad_total = result.model_copy(update={"total_cost_ueur": result.total_cost_ueur + 1})
    assert "total_cost_ueur" in wheres(scenario, bad_total)
    assert {v.where for v in check(scenario, bad_total)} >= {"result_hash", "total_cost_ueur"}
    other = parse_scenario(flech())
    assert "input_hash" in {v.where for v in check(other, result)}


def test_uniform_prices_are_rechecked():
    data = flech()
    data["market"]["pricing"] = "uniform"
    scenario = parse_scenario(data)
    result = cleared(scenario)
    cheap = [
        a.model_copy(update={"price_eur_per_mw": 500_000, "payment_ueur": a.quantity_w * 500_000})
        for a in result.awards
    ]
    assert "awards[1].price_eur_per_mw" in wheres(scenario, with_awards(result, cheap))


def _two_requests_one_shared_bid():
    """Slot 0: R1 (zone Z) needs 2,000 W, R2 (system-wide, buyer TSO1) 1,000 W; A (zone Z)
    may serve both, B (zone Y) only R2. Awarded A 1,000 and B 1,000: 1,000 W of R1 unmet."""
    s = market(slots=1)
    add_request(s, "R1", 2_000)
    add_request(s, "R2", 1_000, zone=None, buyer="TSO1")
    add_bid(s, "A", 1_000, 100_000)
    add_bid(s, "B", 1_000, 100_000, zone="Y")
    add_bid(s, "C", 5_000, 900_000, zone="Y")  # too dear, but able to serve R2
    scenario = parse_scenario(s)
    result = cleared(scenario)
    assert {a.bid for a in result.awards} == {"A", "B"}
    assert [(u.request, u.quantity_w) for u in result.unmet] == [("R1", 1_000)]
    return scenario, result


def messages(scenario, result):
    return [v.what for v in check(scenario, result.sealed(scenario.input_hash()))]


def test_unmet_total_right_but_split_among_requests_impossible():
    """The stated unmet total equals what the awards serve, but on the wrong request: R1
    would need 2,000 W from A's 1,000 (B may not serve R1)."""
    scenario, result = _two_requests_one_shared_bid()
    fake = result.model_copy(update={"unmet": [Unmet(request="R2", slot=0, quantity_w=1_000)]})
    assert messages(scenario, fake) == [
        "slot 0: the stated unmet split cannot be served by the awards"]


def test_unmet_understated_where_a_bid_may_serve_two_requests():
    """Claiming less unmet than the awards leave (the max-flow serves 2,000 W, not 2,500)."""
    scenario, result = _two_requests_one_shared_bid()
    fake = result.model_copy(update={"unmet": [Unmet(request="R1", slot=0, quantity_w=500)]})
    assert messages(scenario, fake) == [
        "slot 0: the awards serve 2000 W of the needs, the result claims 2500 W"]


def test_an_asset_backing_two_bids_in_overlapping_slots_rejects_the_later():
    """Rule 3 (first come keeps the asset): the checker expects the later bid rejected when
    their slots overlap, and both valid when they do not."""
    s = market(slots=4)
    add_request(s, "R", [1_000, 1_000, 1_000, 1_000])
    add_bid(s, "E", 1_000, 100_000, slots=[0, 1], at="2025-12-31T10:00:00+00:00")
    s["bids"].append({**s["bids"][0], "id": "L", "slots": [1, 2],
                      "submitted_at": "2025-12-31T10:05:00+00:00"})
    s["bids"].append({**s["bids"][0], "id": "N", "slots": [3],
                      "submitted_at": "2025-12-31T10:06:00+00:00"})
    scenario = parse_scenario(s)
    result = cleared(scenario)
    assert [r.bid for r in result.rejected] == ["L"]
    fake = result.model_copy(update={"rejected": []})
    assert any(v.where == "rejected" for v in check(scenario, fake.sealed(scenario.input_hash())))
