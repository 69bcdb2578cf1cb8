"""The FLECH PowerMax case study (Heussen et al., ISGT Europe 2013)."""

from oracle_helpers import cleared, flech

from oracle import Result, check, parse_scenario
from oracle.result import Award


def test_pay_as_bid_takes_only_13_2_kw_of_fo2b2():
    result = cleared(flech())
    assert result.total_cost_ueur == 27_960_000_000
    assert {a.bid: a.quantity_w for a in result.awards} == {
        "FO1B1": 12_300,
        "FO2B1": 12_300,
        "FO2B2": 13_200,
    }
    assert result.unmet == [] and result.rejected == []
    assert result.mip_gap is None  # exact


def test_uniform_pays_every_watt_the_highest_accepted_price():
    data = flech()
    data["market"]["pricing"] = "uniform"
    result = cleared(data)
    assert result.total_cost_ueur == 37_800_000_000
    assert {a.price_eur_per_mw for a in result.awards} == {1_000_000}
    assert [a.quantity_w for a in result.awards] == [12_300, 12_300, 13_200]


def _paper_result(scenario):
    """FO1B1, FO2B1 and 90 % of FO2B2: what the paper's DSO accepted (38.46 kW)."""
    prices = {"FO1B1": 500_000, "FO2B1": 700_000, "FO2B2": 1_000_000}
    sellers = {"FO1B1": "FO1", "FO2B1": "FO2", "FO2B2": "FO2"}
    chosen = {"FO1B1": 12_300, "FO2B1": 12_300, "FO2B2": 15_400 * 90 // 100}
    awards = [
        Award(
            bid=b,
            seller=sellers[b],
            quantity_w=w,
            price_eur_per_mw=prices[b],
            payment_ueur=w * prices[b],
        )
        for b, w in sorted(chosen.items())
    ]
    paper = Result(
        market=scenario.market.id,
        pricing="pay_as_bid",
        awards=awards,
        rejected=[],
        unmet=[],
        total_cost_ueur=sum(a.payment_ueur for a in awards),
    )
    return paper.sealed(scenario.input_hash())


def test_the_papers_choice_is_feasible_but_costs_660_eur_more():
    # The paper knows no 100 W award step: 90 % of FO2B2 is 13,860 W. Under the paper's
    # own rules (a 20 W step divides every quantity) the choice is feasible...
    data = flech()
    data["market"]["granularity_w"] = 20
    scenario = parse_scenario(data)
    paper = _paper_result(scenario)
    assert check(scenario, paper) == []
    assert paper.total_cost_ueur == 28_620_000_000
    # ...and the cost-minimal clearing of the same market saves 660 EUR.
    optimum = cleared(scenario)
    assert optimum.total_cost_ueur == 27_960_000_000
    assert paper.total_cost_ueur - optimum.total_cost_ueur == 660 * 1_000_000


def test_the_file_s_100_w_step_is_the_only_rule_the_papers_choice_breaks():
    scenario = parse_scenario(flech())
    violations = check(scenario, _paper_result(scenario))
    assert [(v.where, v.what) for v in violations] == [
        ("awards[2].quantity_w", "13860 is not a multiple of granularity_w 100")
    ]
