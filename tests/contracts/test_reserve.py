"""FlexReserve: tenders, versioned offers, awards, the DSO's activations, metered delivery,
penalties, termination at the fourth failure, availability, closing; attackers (no role,
another DSO's award, another aggregator's activation, replays, huge numbers) and the money
invariant (tokens held == sum of free + locked, nothing left once everyone withdrew).

The example's figures (`examples/reserve`, `flexmarket reserve settle`) are replayed on chain:
the contract must pay what the engine settled (tests/oracle/reserve pins the same numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import brownie
import pytest
from brownie.exceptions import VirtualMachineError
from conftest import UP, label, reverts
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from python_client.contract_types import ActivationStatus, OfferStatus

DAY = 86_400
Q = 900
EVENING = (17 * 3600, 21 * 3600)
DEPOSIT = 10**12
# the example's O1 award (examples/reserve, `flexmarket reserve settle`): delivered Wh per
# activation, from the engine's baselines; money it settled
A1_WH, A3_WH, A6_WH, A7_WH = 20_000, 8_340, 3_558, 8_420
O1_AVAILABILITY, O1_UTILISATION, O1_PENALTY = 44_800_000, 12_095_400, 20_000_000
MACHINE_SETTINGS = settings(
    max_examples=6, stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck)
)


@contextmanager
def reverts_on(error: str, field: str) -> Iterator[None]:
    """As conftest.reverts, and the error's bytes32 argument names `field`."""
    try:
        yield
    except VirtualMachineError as exc:
        message = str(exc.revert_msg)
        assert message.split(":")[0].strip() == error, message
        assert f"b'{field}\\x00" in message, message  # brownie shows bytes32 as bytes
    else:
        raise AssertionError(f"did not revert (expected {error})")


class Reserve:
    def __init__(self, env: Any, contract: Any) -> None:
        self.env = env
        self.c = contract
        self.ids = iter(range(1, 10_000))

    def fund(self, account: Any, amount: int = DEPOSIT) -> None:
        self.env.token.mint(account, amount, {"from": self.env.admin})
        self.env.token.approve(self.c, amount, {"from": account})
        self.c.deposit(amount, {"from": account})

    def balances(self, account: Any) -> tuple[int, int]:
        free, locked = self.c.balancesOf(account)
        return int(free), int(locked)

    def params(self, **overrides: Any) -> dict[str, Any]:
        now = self.env.now()
        period_start = (now // DAY + 3) * DAY
        p = {
            "tenderId": label(f"T{next(self.ids)}"), "product": label("PowerCut_Urgent"),
            "zone": self.env.zone, "direction": UP, "periodStart": period_start,
            "dayCount": 30, "dailyStartS": EVENING[0], "dailyEndS": EVENING[1],
            "gateClosure": period_start - DAY, "quantityW": 40_000, "maxQuantityW": 45_000,
            "granularityW": 100, "noticeS": 15 * 60, "minDurationS": 30 * 60,
            "maxDurationS": 120 * 60, "maxActivations": 8, "maxFailures": 4,
            "tolerancePercent": 10, "availabilityCapEurPerMwH": 60,
            "utilisationCapEurPerMwh": 500, "shortfallPenaltyEurPerMwh": 800,
            "inabilityPenaltyEurPerMw": 150, "collateralEurPerMw": 1000,
        }
        p.update(overrides)
        return p

    @staticmethod
    def as_tuple(p: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(p.values())

    def tender(self, dso: Any = None, **overrides: Any) -> tuple[int, dict[str, Any]]:
        p = self.params(**overrides)
        tx = self.c.createTender(self.as_tuple(p), {"from": dso or self.env.dso})
        return int(tx.return_value), p

    def offer(self, tender: int, agg: Any, quantity_w: int, a: int, u: int, divisible: bool = True,
              min_w: int = 0, assets: list[str] | None = None) -> int:
        assets = assets or self.env.register_assets(agg, 2)
        tx = self.c.submitOffer(tender, (quantity_w, min_w, divisible, a, u, assets), {"from": agg})
        return int(tx.return_value)

    def awarded(self) -> dict[str, Any]:
        """The example: agg1's O1 (25 kW divisible, min 5 kW, 35 / 300) and agg2's O2 (20 kW
        indivisible, 38 / 350), awarded 20 kW each; the chain at the period's start."""
        t, p = self.tender()
        o1 = self.offer(t, self.env.agg1, 25_000, 35, 300, min_w=5_000)
        o2 = self.offer(t, self.env.agg2, 20_000, 38, 350, divisible=False)
        self.env.sleep_until(p["gateClosure"])
        self.c.commitAwards(t, label("in"), label("out"), [(o1, 20_000), (o2, 20_000)],
                            {"from": self.env.oracle})
        self.env.sleep_until(p["periodStart"])
        return {"tender": t, "p": p, "o1": o1, "o2": o2}

    def at(self, p: dict[str, Any], day: int, hhmm: str) -> int:
        h, m = map(int, hhmm.split(":"))
        return p["periodStart"] + day * DAY + h * 3600 + m * 60

    def activate(self, s: dict[str, Any], offer: int, day: int, hhmm: str, minutes: int,
                 power_w: int, notice_s: int = 1200) -> int:
        start = self.at(s["p"], day, hhmm)
        self.env.sleep_until(start - notice_s)
        tx = self.c.requestActivation(s["tender"], offer, start, minutes * 60, power_w,
                                      {"from": self.env.dso})
        return int(tx.return_value)

    def day_hash(self, tender: int, start: int) -> tuple[int, str]:
        """The activation's day of the period and the meter data hash the tests commit."""
        day = (start - int(self.c.tenderOf(tender)[0][4])) // DAY
        return day, label(f"meter-{tender}-{day}")

    def deliver(self, activation: int, wh: int) -> Any:
        """After the activation's day: the day's meter data committed (once), then the
        delivery recorded with it."""
        act = self.c.activationOf(activation)
        tender, start = int(act[0]), int(act[4])
        day, meter = self.day_hash(tender, start)
        period_start = int(self.c.tenderOf(tender)[0][4])
        self.env.sleep_until(max(start + int(act[5]), period_start + (day + 1) * DAY))
        if int(str(self.c.meterDataOf(tender, day)), 16) == 0:
            self.c.commitMeterData(tender, day, meter, {"from": self.env.metering})
        return self.c.recordDelivery(activation, wh, meter, {"from": self.env.metering})

    def held_ok(self, accounts: list[Any]) -> None:
        """The money invariant."""
        total = sum(sum(self.balances(a)) for a in accounts)
        assert int(self.env.token.balanceOf(self.c)) == total


@pytest.fixture(scope="module")
def rs(env: Any, FlexReserve: Any) -> Reserve:
    contract = FlexReserve.deploy(env.token, env.registry, {"from": env.admin})
    r = Reserve(env, contract)
    env.registry.grantRole(env.registry.DSO_ROLE(), env.brp, {"from": env.admin})
    env.registry.registerZone(label("T3"), 0, {"from": env.brp})
    for account in (env.dso, env.agg1, env.agg2, env.brp):
        r.fund(account)
    return r


def people(env: Any) -> list[Any]:
    return [env.dso, env.agg1, env.agg2, env.brp, env.oracle, env.metering]


# ------------------------------------------------------------------ tenders


def test_create_tender_locks_the_budget_at_the_caps(env, rs):
    t, p = rs.tender()
    # 30 days x 60 x 45 kW x 16 quarters / 4 + 8 activations x 500 x (45 kW x 8 quarters / 4)
    budget = 30 * (60 * 45_000 * 16 // 4) + 8 * 500 * (45_000 * 8 // 4)
    assert rs.c.tenderBudgetUeur(rs.as_tuple(p)) == budget
    assert rs.balances(env.dso) == (DEPOSIT - budget, budget)
    assert rs.c.tenderNumber(p["tenderId"]) == t
    assert rs.c.tenderOf(t)[1] == env.dso


def test_create_tender_reverts_without_the_dso_role_or_for_another_dsos_zone(env, rs):
    with reverts("FlexReserveUnauthorized"):
        rs.tender(dso=env.agg1)
    with reverts("FlexReserveNotTenderDso"):
        rs.tender(dso=env.brp)  # a DSO, but T1 is env.dso's zone


def test_create_tender_reverts_on_a_used_id_and_bad_parameters(env, rs):
    _, p = rs.tender()
    with reverts("FlexReserveTenderExists"):
        rs.tender(tenderId=p["tenderId"])
    for bad in ({"dailyEndS": EVENING[0]}, {"dailyStartS": EVENING[0] + 1},
                {"maxDurationS": 5 * 3600}, {"minDurationS": 0}, {"gateClosure": 1},
                {"maxQuantityW": 39_000}, {"maxQuantityW": 10**12 + 1}, {"dayCount": 367},
                {"tolerancePercent": 101}, {"maxFailures": 0}, {"maxActivations": 0}):
        with reverts("FlexReserveParamInvalid"):
            rs.tender(**bad)


def test_huge_numbers_do_not_overflow_they_meet_the_escrow(env, rs):
    huge = {"availabilityCapEurPerMwH": 2**32 - 1, "utilisationCapEurPerMwh": 2**32 - 1,
            "quantityW": 10**12, "maxQuantityW": 10**12, "dayCount": 366,
            "maxActivations": 2**16 - 1, "maxDurationS": 4 * 3600}
    p = rs.params(**huge)
    budget = int(rs.c.tenderBudgetUeur(rs.as_tuple(p)))
    assert budget == 366 * ((2**32 - 1) * 10**12 * 16 // 4) \
        + (2**16 - 1) * (2**32 - 1) * (10**12 * 16 // 4)
    with reverts("EscrowInsufficientFree"):
        rs.tender(**huge)


# ------------------------------------------------------------------ offers


def test_offers_lock_collateral_and_versions_replace_them(env, rs):
    t, _ = rs.tender()
    before = rs.balances(env.agg1)
    o = rs.offer(t, env.agg1, 25_000, 35, 300)
    assert rs.balances(env.agg1) == (before[0] - 25_000_000, before[1] + 25_000_000)
    assets = env.register_assets(env.agg1, 1)
    tx = rs.c.modifyOffer(t, o, (10_000, 0, True, 30, 300, assets), {"from": env.agg1})
    assert tx.events["OfferSubmitted"]["version"] == 2
    view = rs.c.offerOf(t, o)
    assert (view[1], view[4], view[6]) == (2, 10_000, 30)
    assert rs.balances(env.agg1) == (before[0] - 10_000_000, before[1] + 10_000_000)
    rs.c.cancelOffer(t, o, {"from": env.agg1})
    assert rs.balances(env.agg1) == before
    assert rs.c.offerOf(t, o)[2] == int(OfferStatus.CANCELLED)
    with reverts("FlexReserveOfferStatus"):
        rs.c.modifyOffer(t, o, (10_000, 0, True, 30, 300, assets), {"from": env.agg1})


def test_offers_revert_for_attackers_and_broken_rules(env, rs):
    t, p = rs.tender()
    assets2 = env.register_assets(env.agg2, 1)
    with reverts("FlexReserveUnauthorized"):
        rs.c.submitOffer(t, (10_000, 0, True, 30, 300, assets2), {"from": env.dso})
    with reverts("FlexRegistryAssetNotManaged"):  # agg1 offering agg2's asset
        rs.c.submitOffer(t, (10_000, 0, True, 30, 300, assets2), {"from": env.agg1})
    with reverts("FlexReserveOfferInvalid"):
        rs.offer(t, env.agg1, 10_000, 61, 300)
    with reverts("FlexReserveOfferInvalid"):
        rs.offer(t, env.agg1, 10_050, 30, 300)
    with reverts("FlexReserveOfferInvalid"):
        rs.offer(t, env.agg1, 2**64 - 1 - (2**64 - 1) % 100, 30, 300)
    o = rs.offer(t, env.agg2, 10_000, 30, 300, assets=assets2)
    with reverts("FlexReserveNotAggregator"):
        rs.c.cancelOffer(t, o, {"from": env.agg1})
    with reverts("FlexReserveTenderUnknown"):
        rs.c.submitOffer(999, (10_000, 0, True, 30, 300, assets2), {"from": env.agg2})
    env.sleep_until(p["gateClosure"])
    with reverts("FlexReserveNotOpen"):
        rs.c.cancelOffer(t, o, {"from": env.agg2})


# ------------------------------------------------------------------ awards


def test_awards_unlock_the_budget_and_collateral_beyond_them(env, rs):
    dso0, agg10 = rs.balances(env.dso), rs.balances(env.agg1)
    t, p = rs.tender()
    o1 = rs.offer(t, env.agg1, 25_000, 35, 300, min_w=5_000)
    o3 = rs.offer(t, env.agg1, 15_000, 45, 250)
    env.sleep_until(p["gateClosure"])
    with reverts("FlexReserveUnauthorized"):
        rs.c.commitAwards(t, label("in"), label("out"), [(o1, 20_000)], {"from": env.dso})
    rs.c.commitAwards(t, label("in"), label("out"), [(o1, 20_000)], {"from": env.oracle})
    budget = 30 * (35 * 20_000 * 16 // 4) + 8 * 300 * (20_000 * 8 // 4)
    assert rs.balances(env.dso) == (dso0[0] - budget, dso0[1] + budget)
    assert rs.c.awardOf(t, o1)[8] == budget and rs.c.awardOf(t, o1)[9] == 20_000_000
    # agg1: O1's 20 kW collateral stays locked, O3's until released
    assert rs.balances(env.agg1)[1] == agg10[1] + 20_000_000 + 15_000_000
    rs.c.releaseOffer(t, o3, {"from": env.dso})  # anyone: it pays the aggregator
    assert rs.balances(env.agg1) == (agg10[0] - 20_000_000, agg10[1] + 20_000_000)
    with reverts("FlexReserveOfferStatus"):
        rs.c.releaseOffer(t, o1, {"from": env.agg1})
    with reverts("FlexReserveAwardsCommitted"):
        rs.c.commitAwards(t, label("in"), label("out"), [], {"from": env.oracle})


@pytest.mark.parametrize(("rows", "error"), [
    ([(0, 30_000)], "FlexReserveAwardInvalid"),  # above the offer
    ([(0, 4_000)], "FlexReserveAwardInvalid"),  # below its minimum
    ([(0, 20_050)], "FlexReserveAwardInvalid"),  # not whole granularity steps
    ([(1, 10_000)], "FlexReserveAwardInvalid"),  # part of an indivisible offer
    ([(1, 20_000), (0, 20_000)], "FlexReserveAwardsNotSorted"),
    ([(0, 20_000), (0, 5_000)], "FlexReserveAwardsNotSorted"),  # one offer twice
    ([(0, 25_000), (1, 20_000), (2, 10_000)], "FlexReserveAwardsTooLarge"),
    ([(3, 10_000)], "FlexReserveOfferStatus"),  # cancelled
])
def test_awards_revert_outside_the_offers(env, rs, rows, error):
    t, p = rs.tender()
    rs.offer(t, env.agg1, 25_000, 35, 300, min_w=5_000)
    rs.offer(t, env.agg2, 20_000, 38, 350, divisible=False)
    rs.offer(t, env.agg2, 10_000, 20, 100)
    o = rs.offer(t, env.agg1, 10_000, 20, 100)
    rs.c.cancelOffer(t, o, {"from": env.agg1})
    with reverts("FlexReserveNotOpen"):
        rs.c.commitAwards(t, label("in"), label("out"), rows, {"from": env.oracle})
    env.sleep_until(p["gateClosure"])
    with reverts(error):
        rs.c.commitAwards(t, label("in"), label("out"), rows, {"from": env.oracle})


def test_a_tender_without_awards_lapses_at_the_period_start(env, rs):
    before = rs.balances(env.dso)
    t, p = rs.tender()
    o = rs.offer(t, env.agg1, 10_000, 20, 100)
    with reverts("FlexReserveNotOpen"):
        rs.c.lapseTender(t, {"from": env.agg1})
    env.sleep_until(p["periodStart"])
    rs.c.lapseTender(t, {"from": env.agg1})
    rs.c.releaseOffer(t, o, {"from": env.agg1})
    assert rs.balances(env.dso) == before
    with reverts("FlexReserveNotOpen"):
        rs.c.lapseTender(t, {"from": env.agg1})  # replay


# ------------------------------------------------------------------ activations


def test_activation_requests_revert_for_attackers_and_outside_the_contract(env, rs):
    s = rs.awarded()
    t, p, o1 = s["tender"], s["p"], s["o1"]
    start = rs.at(p, 2, "17:30")
    env.sleep_until(start - 7200)  # notice is no issue until the notice case below
    with reverts("FlexReserveNotTenderDso"):  # another DSO
        rs.c.requestActivation(t, o1, start, 3600, 10_000, {"from": env.brp})
    with reverts("FlexReserveNotTenderDso"):  # the aggregator itself
        rs.c.requestActivation(t, o1, start, 3600, 10_000, {"from": env.agg1})
    with reverts("FlexReserveNoAward"):
        rs.c.requestActivation(t, 7, start, 3600, 10_000, {"from": env.dso})
    for args, field in [
        ((start, 3600, 20_001), "powerW"), ((start, 3600, 0), "powerW"),
        ((start, 900, 10_000), "durationS"), ((start, 3 * 3600, 10_000), "durationS"),
        ((start + 60, 3600, 10_000), "start"), ((start - 3600 + 900, 3600, 10_000), "window"),
        ((rs.at(p, 2, "20:30"), 3600, 10_000), "window"),
        ((rs.at(p, 30, "17:30"), 3600, 10_000), "window"),
    ]:
        with reverts_on("FlexReserveActivationInvalid", field):
            rs.c.requestActivation(t, o1, *args, {"from": env.dso})
    env.sleep_until(start - 600)
    with reverts_on("FlexReserveActivationInvalid", "notice"):  # 10 minutes' notice, 15 needed
        rs.c.requestActivation(t, o1, start, 3600, 10_000, {"from": env.dso})
    later = rs.at(p, 2, "18:30")
    rs.c.requestActivation(t, o1, later, 3600, 10_000, {"from": env.dso})
    with reverts_on("FlexReserveActivationInvalid", "overlap"):
        rs.c.requestActivation(t, o1, rs.at(p, 2, "19:00"), 1800, 10_000, {"from": env.dso})


def test_max_activations_and_replayed_steps_revert(env, rs):
    s = rs.awarded()
    acts = [rs.activate(s, s["o2"], day, "17:00", 30, 20_000) for day in range(8)]
    with reverts("FlexReserveActivationInvalid"):
        rs.c.requestActivation(s["tender"], s["o2"], rs.at(s["p"], 8, "17:00"), 1800, 20_000,
                               {"from": env.dso})
    rs.deliver(acts[0], 10_000)
    with reverts("FlexReserveActivationStatus"):  # the same delivery again
        rs.c.recordDelivery(acts[0], 10_000, label("meter"), {"from": env.metering})


def test_a_replayed_activation_request_is_refused(env, rs):
    s = rs.awarded()
    start = rs.at(s["p"], 4, "18:00")
    env.sleep_until(start - 3600)
    call = (s["tender"], s["o1"], start, 3600, 20_000, {"from": env.dso})
    rs.c.requestActivation(*call)
    with reverts_on("FlexReserveActivationInvalid", "overlap"):  # the same request again
        rs.c.requestActivation(*call)
    assert rs.c.awardOf(s["tender"], s["o1"])[1] == 1  # one activation requested


def test_acknowledgement_and_inability_belong_to_the_aggregator(env, rs):
    s = rs.awarded()
    a = rs.activate(s, s["o1"], 2, "17:30", 60, 20_000)
    with reverts("FlexReserveNotAggregator"):
        rs.c.acknowledgeActivation(a, {"from": env.agg2})
    with reverts("FlexReserveNotAggregator"):
        rs.c.signalInability(a, {"from": env.dso})
    rs.c.acknowledgeActivation(a, {"from": env.agg1})
    with reverts("FlexReserveActivationStatus"):
        rs.c.acknowledgeActivation(a, {"from": env.agg1})
    dso = rs.balances(env.dso)
    tx = rs.c.signalInability(a, {"from": env.agg1})
    assert tx.events["InabilitySignalled"]["penaltyUeur"] == 150 * 20_000
    assert rs.balances(env.dso)[0] == dso[0] + 3_000_000
    assert rs.c.awardOf(s["tender"], s["o1"])[3] == 1  # failures
    with reverts("FlexReserveActivationStatus"):
        rs.c.signalInability(a, {"from": env.agg1})
    b = rs.activate(s, s["o1"], 3, "17:30", 60, 20_000)
    env.sleep_until(rs.at(s["p"], 3, "17:30"))
    with reverts("FlexReserveNotOpen"):  # too late: the activation started
        rs.c.signalInability(b, {"from": env.agg1})


def test_delivery_reverts_for_attackers_early_records_and_impossible_energy(env, rs):
    s = rs.awarded()
    a = rs.activate(s, s["o1"], 2, "17:30", 60, 20_000)
    with reverts("FlexReserveNotOpen"):
        rs.c.recordDelivery(a, 10_000, label("meter"), {"from": env.metering})
    env.sleep_until(rs.at(s["p"], 2, "18:30"))
    with reverts("FlexReserveUnauthorized"):
        rs.c.recordDelivery(a, 20_000, label("meter"), {"from": env.agg1})
    with reverts("FlexReserveDeliveryTooLarge"):
        rs.c.recordDelivery(a, 20_001, label("meter"), {"from": env.metering})
    with reverts("FlexReserveEvidenceMissing"):
        rs.c.recordDelivery(a, 20_000, "0x" + "00" * 32, {"from": env.metering})
    with reverts("FlexReserveActivationUnknown"):
        rs.c.recordDelivery(a + 100, 1, label("meter"), {"from": env.metering})
    # the evidence: the day's meter data hash, committed once by the metering role after the day
    day, meter = rs.day_hash(s["tender"], rs.at(s["p"], 2, "17:30"))
    with reverts("FlexReserveNotOpen"):  # the day is not over
        rs.c.commitMeterData(s["tender"], day, meter, {"from": env.metering})
    with reverts("FlexReserveEvidenceMissing"):  # nothing committed for the day
        rs.c.recordDelivery(a, 20_000, meter, {"from": env.metering})
    env.sleep_until(s["p"]["periodStart"] + 3 * DAY)
    with reverts("FlexReserveUnauthorized"):
        rs.c.commitMeterData(s["tender"], day, meter, {"from": env.agg1})
    with reverts("FlexReserveParamInvalid"):
        rs.c.commitMeterData(s["tender"], 30, meter, {"from": env.metering})
    rs.c.commitMeterData(s["tender"], day, meter, {"from": env.metering})
    with reverts("FlexReserveMeterDataCommitted"):  # replayed, or another hash for the day
        rs.c.commitMeterData(s["tender"], day, label("other"), {"from": env.metering})
    with reverts("FlexReserveEvidenceMismatch"):
        rs.c.recordDelivery(a, 20_000, label("other"), {"from": env.metering})
    rs.c.recordDelivery(a, 20_000, meter, {"from": env.metering})


def test_failures_count_in_activation_order(env, rs):
    s = rs.awarded()
    first = rs.activate(s, s["o1"], 2, "17:30", 60, 20_000)
    second = rs.activate(s, s["o1"], 2, "19:00", 30, 20_000, notice_s=3600)
    # the inability of the second, signalled while the first awaits its meter data, counts
    # right after the first
    rs.c.signalInability(second, {"from": env.agg1})
    assert rs.c.awardOf(s["tender"], s["o1"])[2] == 0  # resolved
    tx = rs.deliver(first, 5_000)
    assert [e["activationId"] for e in tx.events["InabilitySignalled"]] == [second]
    award = rs.c.awardOf(s["tender"], s["o1"])
    assert (int(award[2]), int(award[3])) == (2, 2)  # resolved, failures
    third = rs.activate(s, s["o1"], 3, "17:30", 60, 20_000)
    fourth = rs.activate(s, s["o1"], 3, "19:00", 30, 20_000, notice_s=3600)
    env.sleep_until(rs.at(s["p"], 3, "19:30"))
    with reverts("FlexReserveActivationOutOfOrder"):
        rs.c.recordDelivery(fourth, 1, label("meter"), {"from": env.metering})
    rs.deliver(third, 20_000)
    rs.deliver(fourth, 10_000)


# ------------------------------------------------------------------ the example on chain


def test_the_example_settles_on_chain_as_the_engine_says(env, rs):
    accounts = people(env)
    s = rs.awarded()
    t, o1, o2 = s["tender"], s["o1"], s["o2"]
    dso0, agg10, agg20 = rs.balances(env.dso), rs.balances(env.agg1), rs.balances(env.agg2)
    a1 = rs.activate(s, o1, 2, "17:30", 60, 20_000)
    rs.c.acknowledgeActivation(a1, {"from": env.agg1})
    assert rs.deliver(a1, A1_WH).events["DeliveryRecorded"]["status"] == int(
        ActivationStatus.DELIVERED)
    a2 = rs.activate(s, o1, 7, "18:15", 45, 20_000, notice_s=1800)
    rs.c.signalInability(a2, {"from": env.agg1})
    a3 = rs.activate(s, o1, 9, "18:00", 60, 20_000)
    rs.deliver(a3, A3_WH)
    a4 = rs.activate(s, o2, 10, "19:00", 60, 15_000)
    rs.deliver(a4, 15_000)
    # A5 (5 minutes' notice) is refused on chain as the engine rejected it
    with reverts("FlexReserveActivationInvalid"):
        rs.activate(s, o1, 11, "18:00", 30, 20_000, notice_s=300)
    a6 = rs.activate(s, o1, 14, "17:00", 30, 20_000)
    rs.deliver(a6, A6_WH)
    rs.held_ok(accounts)
    a7 = rs.activate(s, o1, 16, "17:30", 60, 20_000)
    tx = rs.deliver(a7, A7_WH)
    assert tx.events["ContractTerminated"]["terminatedAt"] == rs.at(s["p"], 16, "17:30")
    with reverts("FlexReserveAwardTerminated"):  # A8
        rs.activate(s, o1, 19, "17:30", 60, 20_000)
    award = rs.c.awardOf(t, o1)
    assert (award[3], award[6]) == (4, rs.at(s["p"], 16, "17:30"))
    rs.c.settleAvailability(t, o1, {"from": env.agg1})
    assert rs.c.awardOf(t, o1)[4] == 16  # days paid: up to the termination
    # the period ends; every award closes; what the engine settled is what moved
    env.sleep_until(rs.at(s["p"], 29, "21:00"))
    rs.c.closeAward(t, o1, {"from": env.agg2})
    rs.c.closeAward(t, o2, {"from": env.agg2})
    with reverts("FlexReserveAwardClosed"):
        rs.c.closeAward(t, o1, {"from": env.agg2})
    agg1_gain = O1_AVAILABILITY + O1_UTILISATION - O1_PENALTY
    o2_paid = 30 * (38 * 20_000 * 16 // 4) + 350 * 15_000
    assert rs.balances(env.agg1) == (sum(agg10) + agg1_gain, 0)
    assert sum(rs.balances(env.agg1)) == sum(agg10) + agg1_gain
    assert sum(rs.balances(env.agg2)) == sum(agg20) + o2_paid
    assert rs.balances(env.dso) == (sum(dso0) - agg1_gain - o2_paid, 0)
    rs.held_ok(accounts)
    for account in accounts:
        free = rs.balances(account)[0]
        if free:
            rs.c.withdraw(free, {"from": account})
    assert int(env.token.balanceOf(rs.c)) == 0


def test_close_waits_for_the_metering_grace_when_an_activation_is_unresolved(env, rs):
    s = rs.awarded()
    rs.activate(s, s["o2"], 29, "20:00", 60, 20_000)
    end = rs.at(s["p"], 29, "21:00")
    env.sleep_until(end)
    with reverts("FlexReserveNotOpen"):
        rs.c.closeAward(s["tender"], s["o2"], {"from": env.agg2})
    env.sleep_until(end + int(rs.c.closeGraceS()))
    tx = rs.c.closeAward(s["tender"], s["o2"], {"from": env.agg2})
    # availability of every day paid, the unresolved activation neither paid nor penalised
    assert tx.events["AvailabilitySettled"]["amountUeur"] == 30 * (38 * 20_000 * 16 // 4)
    assert tx.events["AwardClosed"]["collateralUeur"] == 20_000_000
    assert rs.balances(env.dso)[1] == int(rs.c.awardOf(s["tender"], s["o1"])[8])


# ------------------------------------------------------------------ stateful money invariant


class ReserveMachine(RuleBasedStateMachine):
    """Deposits, withdrawals, activations (delivered in part, in full, or with an inability
    signal, up to the termination), availability settlements, on one awarded tender: the
    tokens FlexReserve holds equal a ghost total of deposits minus withdrawals and the sum of
    every free + locked balance; at the end every award closes and everyone withdraws
    everything, leaving no token."""

    rs: Reserve | None = None
    activations_done = 0  # across examples: the machine did activate

    def __init__(self) -> None:
        super().__init__()
        brownie.chain.snapshot()
        assert self.rs is not None
        self.env = self.rs.env
        self.actors = people(self.env)
        self.ghost = int(self.env.token.balanceOf(self.rs.c))
        self.s = self.rs.awarded()
        self.day = 0

    @rule(who=st.integers(0, 2), amount=st.integers(1, 10**9))
    def deposit(self, who: int, amount: int) -> None:
        self.rs.fund(self.actors[who], amount)
        self.ghost += amount

    @rule(who=st.integers(0, 3), percent=st.integers(1, 100))
    def withdraw(self, who: int, percent: int) -> None:
        account = self.actors[who]
        amount = self.rs.balances(account)[0] * percent // 100
        if amount:
            self.rs.c.withdraw(amount, {"from": account})
            self.ghost -= amount

    @initialize(which=st.sampled_from(["o1", "o2"]), minutes=st.sampled_from([30, 60, 120]),
                power=st.integers(1, 20_000), inability=st.booleans(),
                percent=st.integers(0, 100))
    def first_activation(self, which: str, minutes: int, power: int, inability: bool,
                         percent: int) -> None:
        """Every example activates at least once (hypothesis starts with short examples)."""
        self.activation(which, minutes, power, inability, percent)

    @rule(which=st.sampled_from(["o1", "o2"]), minutes=st.sampled_from([30, 60, 120]),
          power=st.integers(1, 20_000), inability=st.booleans(), percent=st.integers(0, 100))
    def activation(self, which: str, minutes: int, power: int, inability: bool,
                   percent: int) -> None:
        offer = self.s[which]
        if self.day >= 29 or int(self.rs.c.awardOf(self.s["tender"], offer)[6]):
            return  # the period is over, or the contract ended
        a = self.rs.activate(self.s, offer, self.day, "17:00", minutes, power)
        self.day += 1
        ReserveMachine.activations_done += 1
        if inability:
            self.rs.c.signalInability(a, {"from": self.rs.c.offerOf(self.s["tender"],
                                                                     offer)[0]})
        else:
            self.rs.deliver(a, power * (minutes // 15) // 4 * percent // 100)

    @rule(which=st.sampled_from(["o1", "o2"]))
    def settle(self, which: str) -> None:
        self.rs.c.settleAvailability(self.s["tender"], self.s[which], {"from": self.env.owner})

    @invariant()
    def tokens_held_equal_free_plus_locked(self) -> None:
        held = int(self.env.token.balanceOf(self.rs.c))
        assert held == self.ghost
        assert held == sum(sum(self.rs.balances(a)) for a in self.actors)

    def teardown(self) -> None:
        rs, env = self.rs, self.env
        env.sleep_until(rs.at(self.s["p"], 29, "21:00") + int(rs.c.closeGraceS()))
        for which in ("o1", "o2"):
            rs.c.closeAward(self.s["tender"], self.s[which], {"from": env.owner})
        for account in self.actors:
            free, locked = rs.balances(account)
            assert locked == 0, f"{account} still has {locked} locked"
            if free:
                rs.c.withdraw(free, {"from": account})
                self.ghost -= free
        assert int(env.token.balanceOf(rs.c)) == self.ghost == 0
        brownie.chain.revert()


def test_reserve_escrow_holds_exactly_free_plus_locked_and_everyone_can_withdraw_all(env, rs):
    ReserveMachine.rs = rs
    ReserveMachine.activations_done = 0
    run_state_machine_as_test(ReserveMachine, settings=MACHINE_SETTINGS)
    assert ReserveMachine.activations_done > 0
