"""The three-area, five-slot session (after Zecchino, Knezovic and Marinelli, ISGT Europe
2017): transformers T1-T3, DSO congestion on T2 and T3, TSO up-reserve in slot 2 and
down-reserve in slots 3 and 4. Every conflict type appears; common coupling is cheaper."""

import json

import pytest
from coordination_helpers import ROOT, THREE_AREAS, awards, coordinated, objective, three_areas

from flexmarket.cli import main
from oracle import load_scenario, parse_scenario
from oracle.coordination import check_coordinated

SEQUENTIAL_COST_UEUR = 17_410_000_000  # 17,410 EUR, 27,000 W of TSO needs unmet
COMMON_COST_UEUR = 10_150_000_000  # 10,150 EUR, 2,000 W unmet


@pytest.fixture(scope="module")
def results():
    s = load_scenario(THREE_AREAS)
    return {c: coordinated(s, c) for c in ("sequential", "common")}


def types(result):
    return {c["type"] for c in result.conflicts}


def test_common_is_7260_eur_cheaper_than_sequential_and_leaves_less_unmet(results):
    seq, com = results["sequential"], results["common"]
    assert seq.total_cost_ueur == SEQUENTIAL_COST_UEUR
    assert com.total_cost_ueur == COMMON_COST_UEUR
    assert seq.total_cost_ueur - com.total_cost_ueur == 7_260_000_000  # 41.7 % of sequential
    assert sum(u.quantity_w for u in seq.unmet) == 27_000
    assert sum(u.quantity_w for u in com.unmet) == 2_000
    assert objective(three_areas(), com) < objective(three_areas(), seq)


def test_sequential_clears_the_dso_first_and_the_tso_gets_what_is_left(results):
    seq = results["sequential"]
    # DSO: U2A (T2, slots 1-3) and U3A (T3); the TSO's up-reserve only gets the rest of slot 2
    assert awards(seq) == {"U2A": 20_000, "U3A": 15_000, "U2B": 10_000, "U1A": 10_000,
                           "U1B": 10_000, "D1B": 4_000, "D3A": 8_000, "D3B": 6_000,
                           "D3C": 5_000}
    assert [(u.request, u.slot, u.quantity_w) for u in seq.unmet] == [
        ("TSO-UP", 2, 15_000), ("TSO-DOWN", 4, 12_000)]


def test_common_counts_one_activation_for_the_zone_and_the_reserve(results):
    com = results["common"]
    assert awards(com) == {"U2A": 20_000, "U3A": 15_000, "U2B": 10_000, "D1B": 4_000,
                           "D3A": 8_000, "D3B": 6_000, "D3C": 3_000}
    shared = {(c["slot"], c["bids"][0]): c["detail"] for c in com.conflicts
              if c["type"] == "shared_use"}
    assert shared[(2, "U2A")] == {"split_w": {"DSO1": 20_000, "TSO1": 20_000},
                                  "shared_w": 20_000}
    assert shared[(2, "U3A")]["shared_w"] == 15_000


def test_every_conflict_type_appears(results):
    assert types(results["common"]) == {"imbalance", "zone_overload", "scarcity", "shared_use"}
    assert types(results["sequential"]) == {"imbalance", "zone_overload", "scarcity",
                                             "shared_use"}
    com = {(c["type"], c["slot"], tuple(c["zones"])): c for c in results["common"].conflicts}
    # U2A relieves T2 in slots 1 and 3 where nobody asked the system for 20 kW more
    assert com[("imbalance", 1, ("T2",))]["detail"] == {"unbalanced_w": 20_000}
    # the cheapest down bids for the TSO: D2A acts against T2's congestion, D1A overloads T1
    assert com[("zone_overload", 3, ("T2",))]["bids"] == ["D2A"]
    assert com[("zone_overload", 3, ("T2",))]["detail"] == {"rule": "congestion_guard"}
    assert com[("zone_overload", 4, ("T1",))]["bids"] == ["D1A"]
    assert com[("zone_overload", 4, ("T1",))]["detail"] == {"rule": "zone_safety"}
    scarce = com[("scarcity", 4, ("T3",))]
    assert scarce["requests"] == ["T3-PV", "TSO-DOWN"]
    assert scarce["detail"]["unmet_w"] == {"T3-PV": 0, "TSO-DOWN": 2_000}
    # sequential coupling leaves slot 2 unbalanced too; common resolves it by sharing
    seq = {(c["type"], c["slot"]) for c in results["sequential"].conflicts}
    assert ("imbalance", 2) in seq and ("imbalance", 2) not in {
        (c["type"], c["slot"]) for c in results["common"].conflicts}


def test_payments_are_shared_in_proportion_to_what_each_buyer_received(results):
    rows = {(r["bid"], r["buyer"]): r for r in results["common"].shares}
    # U2A: 3,000 EUR; DSO1 received 10+20+10 kW x slot, TSO1 20 kW x slot
    assert rows[("U2A", "DSO1")]["received_w_slots"] == 40_000
    assert rows[("U2A", "TSO1")]["received_w_slots"] == 20_000
    assert rows[("U2A", "DSO1")]["payment_ueur"] == 2_000_000_000
    assert rows[("U2A", "TSO1")]["payment_ueur"] == 1_000_000_000
    for result in results.values():
        for a in result.awards:
            assert sum(r["payment_ueur"] for r in result.shares if r["bid"] == a.bid) \
                == a.payment_ueur


def test_zone_safety_holds_in_every_zone_and_slot(results):
    s = three_areas()
    bids = {b["id"]: b for b in s["bids"]}
    for result in results.values():
        for z in s["zones"]:
            for t in range(5):
                shift = sum((a.quantity_w if bids[a.bid]["direction"] == "down"
                             else -a.quantity_w) for a in result.awards
                            if bids[a.bid]["zone"] == z["id"] and t in bids[a.bid]["slots"])
                load = z["forecast_w"][t] + shift
                assert load <= max(z["limit_w"], z["forecast_w"][t])


def test_traffic_light_and_the_suspended_bid(results):
    coord = results["common"].coordination
    assert coord["traffic_light"] == {
        "T1": ["red", "green", "green", "green", "green"],
        "T2": ["green", "yellow", "yellow", "yellow", "green"],
        "T3": ["green", "green", "yellow", "green", "yellow"],
    }
    # U1R, the cheapest up bid, covers slot 0 when T1 is red: the market is suspended there
    assert coord["suspended_bids"] == ["U1R"]
    assert "U1R" not in awards(results["common"])


def test_balance_dso_procures_counter_activations():
    s = three_areas()
    s["market"]["balance_dso"] = True
    result = coordinated(s)
    imbalance = {c["slot"]: c["detail"]["unbalanced_w"] for c in result.conflicts
                 if c["type"] == "imbalance"}
    # slot 1: U2A's 20 kW up for T2 is balanced by D1C down in T1, as far as T1's headroom
    # allows (15 kW, 900 EUR); slot 3: D3C's last 2 kW (260 EUR); no more down is offered
    assert awards(result)["D1C"] == 15_000 and awards(result)["D3C"] == 5_000
    assert imbalance == {1: 5_000, 3: 18_000}
    assert result.total_cost_ueur == COMMON_COST_UEUR + 900_000_000 + 260_000_000
    # a counter-activation serves no request: the DSO pays it
    assert [(r["buyer"], r["payment_ueur"]) for r in result.shares if r["bid"] == "D1C"] == [
        ("DSO1", 900_000_000)]
    assert "D1C" not in awards(coordinated(three_areas()))


def test_a_counter_activation_is_paid_by_the_dso_whatever_the_priority():
    """With the TSO first in priority and a TSO need in D1C's slot, the counter-activation is
    still the DSO's: it balances the DSO's actions (on chain, its balancing need pays it)."""
    s = three_areas()
    s["market"].update(balance_dso=True, priority=["TSO", "DSO", "BRP"])
    s["requests"].append({"id": "TSO-UP1", "buyer": "TSO1", "zone": None, "direction": "up",
                          "quantity_w": [0, 1_000, 0, 0, 0]})  # fmt: skip
    scenario = parse_scenario(s)
    result = coordinated(scenario)  # check_coordinated accepts it
    assert awards(result)["D1C"] == 15_000
    assert [(r["buyer"], r["received_w_slots"]) for r in result.shares if r["bid"] == "D1C"] == [
        ("DSO1", 0)]
    # the checker recomputes the payer: the TSO paying it is a violation
    shares = [dict(r, buyer="TSO1") if r["bid"] == "D1C" else r for r in result.shares]
    tampered = result.model_copy(update={"shares": shares}).sealed(scenario.input_hash())
    assert [(v.where, v.what) for v in check_coordinated(scenario, tampered)] == [
        ("shares.D1C", "an award that served no request is paid by DSO1, not TSO1")]
    # without balance_dso an award no request counted is the first buyer's in priority order
    # with a need in its slots (here: none is bought)
    s["market"]["balance_dso"] = False
    assert "D1C" not in awards(coordinated(s))


def test_new_fields_leave_existing_input_hashes_alone():
    flech = load_scenario(ROOT / "examples" / "flech_powermax.json")
    assert flech.input_hash() == (
        "0x7a8b519c6f2ab48aeb04b184312671013528ddaf663621cb5b5e915705aec751")
    data = json.loads((ROOT / "examples" / "flech_powermax.json").read_text())
    data["market"].update(coupling="sequential", priority=["DSO", "TSO", "BRP"],
                          balance_dso=False)
    assert parse_scenario(data).input_hash() == flech.input_hash()
    data["market"]["coupling"] = "common"
    assert parse_scenario(data).input_hash() != flech.input_hash()


def test_flexmarket_clear_routes_the_example_to_coordination(capsys):
    assert main(["clear", str(THREE_AREAS), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_cost_ueur"] == COMMON_COST_UEUR
    assert out["coordination"]["coupling"] == "common"
    assert {c["type"] for c in out["conflicts"]} == {
        "imbalance", "zone_overload", "scarcity", "shared_use"}
    assert main(["clear", str(THREE_AREAS)]) == 0
    assert "conflicts: 11" in capsys.readouterr().out
    # FLECH has one buyer and no forecast: the engine clears it, no coordination fields
    assert main(["clear", str(ROOT / "examples" / "flech_powermax.json"), "--json"]) == 0
    assert "coordination" not in json.loads(capsys.readouterr().out)
