"""The reserve market's money rules: one integer formula each, floors toward zero (every
operand is non-negative). `contracts/FlexReserve.sol` computes the same amounts with the same
formulas (`docs/reserve.md`); a replica recomputes them from the files.

Units: prices in EUR per MW and hour (= µEUR per W and hour), EUR per MWh (= µEUR per Wh),
EUR per MW (= µEUR per W); power in W; energy in Wh; time in quarter hours; money in µEUR.
"""

from __future__ import annotations

EXPECTED_COST_SCALE = 240
"""Expected costs are exact in µEUR / 240: hours are quarters / 4, energy W x minutes / 60."""


def availability_per_day_ueur(price_eur_per_mw_h: int, quantity_w: int,
                              quarters_per_day: int) -> int:
    """One day of availability: `price x W x hours`, floored once per day."""
    return price_eur_per_mw_h * quantity_w * quarters_per_day // 4


def energy_wh(power_w: int, quarters: int) -> int:
    """Energy of a constant power over whole quarter hours, floored."""
    return power_w * quarters // 4


def utilisation_ueur(price_eur_per_mwh: int, delivered_wh: int) -> int:
    return price_eur_per_mwh * delivered_wh


def shortfall_penalty_ueur(price_eur_per_mwh: int, requested_wh: int,
                           delivered_wh: int) -> int:
    return price_eur_per_mwh * max(0, requested_wh - delivered_wh)


def per_w_ueur(price_eur_per_mw: int, power_w: int) -> int:
    """Collateral and the inability penalty: EUR per MW of the award or the activation."""
    return price_eur_per_mw * power_w


def delivered_enough(delivered_wh: int, requested_wh: int, tolerance_percent: int) -> bool:
    """An activation is delivered when at least (100 - tolerance) % of its energy came."""
    return delivered_wh * 100 >= requested_wh * (100 - tolerance_percent)


def budget_ueur(availability_price: int, utilisation_price: int, quantity_w: int,
                quarters_per_day: int, days: int, max_activations: int,
                max_activation_quarters: int) -> int:
    """The most an award can cost its buyer: every day available, every activation at its
    longest and fully delivered. What the DSO's escrow holds for it."""
    return (days * availability_per_day_ueur(availability_price, quantity_w, quarters_per_day)
            + max_activations * utilisation_ueur(
                utilisation_price, energy_wh(quantity_w, max_activation_quarters)))


def expected_cost_per_w_x240(availability_price: int, utilisation_price: int,
                             quarters_per_day: int, days: int, expected_activations: int,
                             expected_minutes: int) -> int:
    """The clearing's cost of one W of an offer, in µEUR / 240: availability over every
    available hour plus the expected activations' energy at the utilisation price."""
    return (availability_price * quarters_per_day * days * 60
            + expected_activations * utilisation_price * expected_minutes * 4)
