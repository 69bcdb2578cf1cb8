"""Reserve settlement: availability per day available, utilisation per activation from the
energy delivered (meter data and baselines, `oracle.metering`), penalties from the collateral
for an inability signal or a shortfall, and the contract's termination at the tender's
`max_failures`-th failure (FLECH: the fourth).

The activations of each award are taken in order (start, then id). One is *rejected* (not
paid, not counted) when it breaks the contract: no award for its offer, more power than
awarded, a duration outside [min, max], less notice than the tender's, outside one day's
window of the period, overlapping the award's previous activation, beyond
`max_activations`, or after the termination. Otherwise:

- an inability signal before the start: a failure, `inability_penalty_eur_per_mw x power_w`;
  a signal at or after the start counts for nothing (delivery is measured);
- else the baseline of each asset of the offer over the activation's intervals (the tender's
  method; the days of the award's activations are not baseline days), delivered watts per
  interval summed over the assets and capped at the activation's power
  (`award_delivered_w`), `delivered_wh = floor(sum / 4)`: paid at the utilisation price;
  below `(100 - tolerance_percent) %` of `energy_wh(power_w, quarters)` it is a failure and
  the shortfall pays `shortfall_penalty_eur_per_mwh` per Wh missing.

Penalties are capped at what is left of the award's collateral. At the last failure allowed
the contract ends at that activation's start: availability is paid for the days whose window
ended by then. A reading missing where the baseline or the delivery needs it is an error
naming the asset and the interval: nothing is settled from partial data.
"""

from __future__ import annotations

from collections import defaultdict

from oracle.canonical import canonical_json, keccak_hex
from oracle.errors import OracleError
from oracle.metering.baseline import (
    BaselineError,
    Window,
    award_delivered_w,
    compute_baseline,
    delivered_w,
)
from oracle.metering.meterdata import DAY_S, INTERVAL_S, MeterData
from oracle.reserve.files import (
    Activation,
    ActivationsFile,
    Offer,
    Period,
    ReserveFile,
    unix_s,
    versions_in_force,
)
from oracle.reserve.money import (
    availability_per_day_ueur,
    delivered_enough,
    energy_wh,
    per_w_ueur,
    shortfall_penalty_ueur,
    utilisation_ueur,
)
from oracle.reserve.result import (
    ActivationOutcome,
    AwardSettlement,
    ReserveAward,
    ReserveResult,
    ReserveSettlement,
)


class SettlementError(OracleError):
    """The settlement cannot be computed from its inputs (a missing reading, a baseline
    without its days, activations of another tender). `field` names the input."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def period_meter_hash(meter: MeterData, period: Period, day: int) -> str:
    """keccak256 of the canonical form (`spec/metering.md`) of the readings of one settlement
    period: day `day` of the tender's period, local midnight to midnight. What the metering
    operator commits on chain after the day (`FlexReserve.commitMeterData`)."""
    start = period.start_s + day * DAY_S
    return MeterData({asset: {t: r for t, r in rows.items() if start <= t < start + DAY_S}
                      for asset, rows in meter.readings.items()}).hash()


def activation_rule_broken(f: ReserveFile, award: ReserveAward | None, a: Activation,
                           previous_end_s: int | None, accepted: int) -> str | None:
    """Why an activation breaks the contract (None: it does not). The rules the contract
    enforces when the DSO requests one (`FlexReserve.requestActivation`)."""
    t = f.tender
    period = Period.of(t)
    if award is None:
        return f"offer {a.offer} has no award"
    if a.power_w > award.quantity_w:
        return f"power_w {a.power_w} is above the award's {award.quantity_w} W"
    if not t.min_activation_minutes <= a.duration_minutes <= t.max_activation_minutes:
        return (f"duration_minutes {a.duration_minutes} is outside "
                f"[{t.min_activation_minutes}, {t.max_activation_minutes}]")
    start = unix_s(a.start)
    end = start + a.duration_minutes * 60
    notice = start - unix_s(a.requested_at)
    if notice < t.notice_minutes * 60:
        return (f"requested {notice // 60} minutes before the start, the notice is "
                f"{t.notice_minutes} minutes")
    day = period.day_of(start)
    if day is None or end > period.window(day)[1]:
        return "not within one day's window of the availability period"
    if previous_end_s is not None and start < previous_end_s:
        return "overlaps the award's previous activation"
    if accepted >= t.max_activations:
        return f"beyond max_activations {t.max_activations}"
    return None


def _offers_in_force(f: ReserveFile) -> dict[str, Offer]:
    return versions_in_force(f)[0]


def _delivery(f: ReserveFile, offer: Offer, a: Activation, meter: MeterData,
              activation_days: dict[str, set[int]]) -> list[int]:
    """Delivered watts per interval of the activation, summed over the offer's assets and
    capped at its power."""
    t = f.tender
    start = unix_s(a.start)
    offset = a.start.utcoffset()
    window = Window(start, start + a.duration_minutes * 60,
                    int(offset.total_seconds()) if offset else 0)
    b = t.baseline
    per_asset: list[list[int]] = []
    for asset in offer.assets:
        try:
            baseline = compute_baseline(meter, asset, window, b.method, x=b.x, y=b.y,
                                        adjust=b.adjust, activations=activation_days)
        except BaselineError as exc:
            raise SettlementError(f"activation {a.id}", f"asset {asset}: {exc.message}"
                                  ) from None
        row = []
        for iv in baseline.intervals:
            if iv.metered_wh is None:
                raise SettlementError(f"activation {a.id}", f"asset {asset}: no reading for "
                                      f"{iv.interval_start} (a missing reading is never 0)")
            row.append(delivered_w(t.direction, iv.baseline_wh, iv.metered_wh))
        per_asset.append(row)
    return award_delivered_w(per_asset, a.power_w, 1)


def settle_reserve(f: ReserveFile, result: ReserveResult, acts: ActivationsFile,
                   meter: MeterData) -> ReserveSettlement:
    """The sealed settlement of a cleared reserve market."""
    t = f.tender
    if acts.tender != t.id:
        raise SettlementError("tender", f"the activations are for {acts.tender!r}, the "
                              f"reserve file's tender is {t.id!r}")
    if result.tender != t.id:
        raise SettlementError("result", f"the result is for {result.tender!r}, not {t.id!r}")
    period = Period.of(t)
    awards = {a.offer: a for a in result.awards}
    offers = _offers_in_force(f)
    by_offer: dict[str, list[Activation]] = defaultdict(list)
    for a in acts.activations:
        by_offer[a.offer].append(a)
    settled: list[AwardSettlement] = []
    rejected_elsewhere: list[ActivationOutcome] = []
    for oid in sorted(by_offer):
        if oid not in awards:
            rejected_elsewhere += [_rejected(a, f"offer {oid} has no award")
                                   for a in by_offer[oid]]
    for award in result.awards:
        if award.offer not in offers:
            raise SettlementError("result", f"award of {award.offer!r}, which is no offer in "
                                  "force of the reserve file (check the result first)")
        settled.append(_settle_award(f, period, award, offers[award.offer],
                                     sorted(by_offer.get(award.offer, []),
                                            key=lambda a: (unix_s(a.start), a.id)), meter))
    if rejected_elsewhere:
        settled.append(AwardSettlement(
            offer="", aggregator="", days_paid=0, availability_ueur=0, utilisation_ueur=0,
            penalty_ueur=0, failures=0, terminated_by=None, activations=rejected_elsewhere,
            paid_ueur=0, refund_ueur=0))
    body = {"reserve": f.input_hash(), "result": result.result_hash,
            "activations": acts.canonical(), "meter": meter.hash()}
    settlement = ReserveSettlement(
        tender=t.id, meter_hash=meter.hash(), reserve_result_hash=result.result_hash,
        awards=settled, paid_ueur=sum(s.paid_ueur for s in settled),
        penalty_ueur=sum(s.penalty_ueur for s in settled),
        refund_ueur=sum(s.refund_ueur for s in settled))
    return settlement.sealed(keccak_hex(canonical_json(body)))


def _rejected(a: Activation, reason: str) -> ActivationOutcome:
    return ActivationOutcome(activation=a.id, status="rejected", reason=reason,
                             power_w=a.power_w, requested_wh=0, delivered_wh=0, delivered_w=[],
                             utilisation_ueur=0, penalty_ueur=0)


def _settle_award(f: ReserveFile, period: Period, award: ReserveAward, offer: Offer,
                  activations: list[Activation], meter: MeterData) -> AwardSettlement:
    t = f.tender
    collateral_left = award.collateral_ueur
    outcomes: list[ActivationOutcome] = []
    failures = 0
    terminated_by: str | None = None
    termination_s: int | None = None
    previous_end: int | None = None
    accepted: list[Activation] = []
    for a in activations:
        if terminated_by is not None:
            outcomes.append(_rejected(a, f"the contract ended at activation {terminated_by}"))
            continue
        reason = activation_rule_broken(f, award, a, previous_end, len(accepted))
        if reason is not None:
            outcomes.append(_rejected(a, reason))
            continue
        accepted.append(a)
        start = unix_s(a.start)
        previous_end = start + a.duration_minutes * 60
        quarters = a.duration_minutes * 60 // INTERVAL_S
        requested = energy_wh(a.power_w, quarters)
        if a.inability_at is not None and a.inability_at < a.start:
            penalty = min(per_w_ueur(t.inability_penalty_eur_per_mw, a.power_w),
                          collateral_left)
            outcome = ActivationOutcome(
                activation=a.id, status="inability", reason="inability signalled at "
                f"{a.inability_at.isoformat()}", power_w=a.power_w, requested_wh=requested,
                delivered_wh=0, delivered_w=[], utilisation_ueur=0, penalty_ueur=penalty)
        else:
            days = {asset: {(unix_s(x.start) + _offset_s(x)) // DAY_S for x in accepted}
                    for asset in offer.assets}
            capped = _delivery(f, offer, a, meter, days)
            got = sum(capped) // 4
            ok = delivered_enough(got, requested, t.tolerance_percent)
            penalty = 0 if ok else min(
                shortfall_penalty_ueur(t.shortfall_penalty_eur_per_mwh, requested, got),
                collateral_left)
            note = None if a.inability_at is None else (
                "inability signalled at or after the start: delivery measured")
            outcome = ActivationOutcome(
                activation=a.id, status="delivered" if ok else "failed", reason=note,
                power_w=a.power_w, requested_wh=requested, delivered_wh=got,
                delivered_w=capped,
                utilisation_ueur=utilisation_ueur(award.utilisation_price_eur_per_mwh, got),
                penalty_ueur=penalty)
        collateral_left -= outcome.penalty_ueur
        outcomes.append(outcome)
        if outcome.status != "delivered":
            failures += 1
            if failures >= t.max_failures:
                terminated_by, termination_s = a.id, start
    days_paid = t.days if termination_s is None else sum(
        1 for d in range(t.days) if period.window(d)[1] <= termination_s)
    availability = days_paid * availability_per_day_ueur(
        award.availability_price_eur_per_mw_h, award.quantity_w, period.quarters_per_day)
    utilisation = sum(o.utilisation_ueur for o in outcomes)
    paid = availability + utilisation
    return AwardSettlement(
        offer=award.offer, aggregator=award.aggregator, days_paid=days_paid,
        availability_ueur=availability, utilisation_ueur=utilisation,
        penalty_ueur=award.collateral_ueur - collateral_left, failures=failures,
        terminated_by=terminated_by, activations=outcomes, paid_ueur=paid,
        refund_ueur=award.budget_ueur - paid)


def _offset_s(a: Activation) -> int:
    offset = a.start.utcoffset()
    return int(offset.total_seconds()) if offset else 0
