"""Reserve settlement from activations and meter data (baselines of `oracle.metering`)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from reserve_helpers import ACTIVATIONS, METER, RESERVE, activations_doc, reserve_doc

from oracle.metering import parse_meter_data
from oracle.reserve import (
    SettlementError,
    clear_reserve,
    load_activations_file,
    load_reserve,
    parse_activations_file,
    parse_reserve,
    settle_reserve,
)


def settle(reserve=None, acts=None, meter_text=None):
    f = parse_reserve(reserve) if reserve is not None else load_reserve(RESERVE)
    a = parse_activations_file(acts) if acts is not None else load_activations_file(ACTIVATIONS)
    meter = parse_meter_data(meter_text if meter_text is not None else Path(METER))
    return settle_reserve(f, clear_reserve(f), a, meter)


def outcomes(s):
    return {o.activation: o for award in s.awards for o in award.activations}


def plain_delivery(asset_rows, start, quarters, power_w):
    """The spec read plainly: meter_before, up, summed over the assets, capped, per interval."""
    per_interval = [0] * quarters
    for rows in asset_rows:
        times = sorted(rows)
        i0 = times.index(start)
        before = rows[times[i0 - 1]]
        for i in range(quarters):
            per_interval[i] += max(0, (before - rows[times[i0 + i]]) * 4)
    return [min(power_w, w) for w in per_interval]


def test_the_example_settles_as_the_contract_says():
    s = settle()
    o1, o2 = s.awards
    assert (o1.offer, o1.failures, o1.terminated_by, o1.days_paid) == ("O1", 4, "A7", 16)
    got = outcomes(s)
    assert {k: v.status for k, v in got.items()} == {
        "A1": "delivered", "A2": "inability", "A3": "failed", "A4": "delivered",
        "A5": "rejected", "A6": "failed", "A7": "failed", "A8": "rejected"}
    assert "notice is 15 minutes" in got["A5"].reason
    assert "ended at activation A7" in got["A8"].reason
    assert got["A2"].penalty_ueur == 150 * 20_000  # inability: EUR/MW x W
    # the delivered watts against the data read plainly
    rows: dict[str, dict[str, int]] = {}
    for r in csv.DictReader(METER.open()):
        rows.setdefault(r["asset_id"], {})[r["interval_start"]] = int(r["net_import_wh"])
    a3 = plain_delivery([rows["AGG1-EVFLEET1"], rows["AGG1-EVFLEET2"]],
                        "2026-06-10T18:00:00+02:00", 4, 20_000)
    assert got["A3"].delivered_w == a3 and got["A3"].delivered_wh == sum(a3) // 4
    assert got["A3"].penalty_ueur == 800 * (20_000 - sum(a3) // 4)
    assert got["A3"].utilisation_ueur == 300 * (sum(a3) // 4)
    # the figures tests/contracts/test_reserve.py replays on chain
    assert [got[a].delivered_wh for a in ("A1", "A3", "A6", "A7")] == [20_000, 8_340, 3_558,
                                                                      8_420]
    assert (o1.availability_ueur, o1.utilisation_ueur) == (44_800_000, 12_095_400)
    # penalties stop at the collateral: the 4th failure takes only what is left
    assert o1.penalty_ueur == 20_000_000 == sum(o.penalty_ueur for o in o1.activations)
    assert o1.availability_ueur == 16 * (35 * 20_000 * 16 // 4)
    assert o2.availability_ueur == 30 * (38 * 20_000 * 16 // 4) and o2.failures == 0


def test_money_adds_up_and_the_hash_covers_the_meter_data():
    s = settle()
    for a in s.awards:
        assert a.paid_ueur == a.availability_ueur + a.utilisation_ueur
        assert a.refund_ueur >= 0
    result = clear_reserve(load_reserve(RESERVE))
    assert sum(a.paid_ueur + a.refund_ueur for a in s.awards) == result.budget_ueur
    changed = METER.read_text().replace("AGG2-BAT1,2026-06-11T19:00:00+02:00,",
                                        "AGG2-BAT1,2026-06-11T19:00:00+02:00,1")
    other = settle(meter_text=changed)
    assert other.meter_hash != s.meter_hash and other.input_hash != s.input_hash


def test_a_missing_reading_refuses_the_settlement_naming_asset_and_interval():
    lines = [ln for ln in METER.read_text().splitlines()
             if not ln.startswith("AGG2-BAT1,2026-06-11T19:30")]
    with pytest.raises(SettlementError) as exc:
        settle(meter_text="\n".join(lines) + "\n")
    assert "activation A4" in str(exc.value) and "AGG2-BAT1" in str(exc.value)
    assert "2026-06-11T19:30:00+02:00" in str(exc.value)
    lines = [ln for ln in METER.read_text().splitlines()
             if not ln.startswith("AGG2-BAT1,2026-06-11T18:45")]  # meter_before's interval
    with pytest.raises(SettlementError, match="just before the window"):
        settle(meter_text="\n".join(lines) + "\n")


def one(**a):
    doc = activations_doc()
    base = {"id": "X", "offer": "O2", "requested_at": "2026-06-11T18:30:00+02:00",
            "start": "2026-06-11T19:00:00+02:00", "duration_minutes": 60, "power_w": 15_000}
    doc["activations"] = [dict(base, **a)]
    return doc


@pytest.mark.parametrize(("change", "reason"), [
    ({"power_w": 20_001}, "above the award's 20000 W"),
    ({"duration_minutes": 15}, "outside [30, 120]"),
    ({"requested_at": "2026-06-11T18:50:00+02:00"}, "notice is 15 minutes"),
    ({"start": "2026-06-11T20:30:00+02:00"}, "within one day's window"),
    ({"start": "2026-07-01T19:00:00+02:00", "requested_at": "2026-07-01T18:00:00+02:00"},
     "within one day's window"),
    ({"offer": "O3"}, "has no award"),
])
def test_an_activation_breaking_the_contract_is_rejected(change, reason):
    got = outcomes(settle(acts=one(**change)))["X"]
    assert got.status == "rejected" and reason in got.reason
    assert got.utilisation_ueur == got.penalty_ueur == 0


def test_overlap_and_max_activations_are_rejected():
    doc = one()
    doc["activations"].append(dict(doc["activations"][0], id="Y",
                                   start="2026-06-11T19:30:00+02:00"))
    assert "overlaps" in outcomes(settle(acts=doc))["Y"].reason
    reserve = reserve_doc()
    reserve["tender"]["max_activations"] = 1
    reserve["tender"]["expected_activations"] = 1
    doc = one()
    doc["activations"].append(dict(doc["activations"][0], id="Y",
                                   start="2026-06-11T20:00:00+02:00"))
    assert "beyond max_activations 1" in outcomes(settle(reserve, doc))["Y"].reason


def test_an_inability_signal_after_the_start_is_void():
    got = outcomes(settle(acts=one(inability_at="2026-06-11T19:05:00+02:00")))["X"]
    assert got.status == "delivered" and "delivery measured" in got.reason


def test_activations_of_another_tender_are_refused():
    doc = one()
    doc["tender"] = "T9"
    with pytest.raises(SettlementError, match="tender"):
        settle(acts=doc)


def test_a_bad_activation_field_is_named():
    doc = one(start="2026-06-11T19:05:00+02:00")
    from oracle.reserve import ReserveFileError

    with pytest.raises(ReserveFileError) as exc:
        parse_activations_file(doc)
    assert exc.value.problems[0][0] == "activations[0].start"


def test_a_days_meter_hash_covers_that_day_only():
    from oracle.canonical import keccak_hex
    from oracle.reserve import period_meter_hash
    from oracle.reserve.files import Period

    f = load_reserve(RESERVE)
    meter = parse_meter_data(Path(METER))
    period = Period.of(f.tender)
    start = period.start_s + 2 * 86_400  # 3 June, local midnight
    rows = sorted((a, t, r.wh) for a, by_t in meter.readings.items() for t, r in by_t.items()
                  if start <= t < start + 86_400)
    assert rows and period_meter_hash(meter, period, 2) == keccak_hex(
        "".join(f"{a},{t},{wh}\n" for a, t, wh in rows).encode())
    assert period_meter_hash(meter, period, 2) != period_meter_hash(meter, period, 9)
    changed = METER.read_text().replace("AGG2-BAT1,2026-06-11T19:00:00+02:00,",
                                        "AGG2-BAT1,2026-06-11T19:00:00+02:00,1")
    other = parse_meter_data(changed)
    assert period_meter_hash(other, period, 2) == period_meter_hash(meter, period, 2)
    assert period_meter_hash(other, period, 10) != period_meter_hash(meter, period, 10)


def test_a_signal_before_the_request_and_an_award_of_no_offer_are_refused():
    from oracle.reserve import ReserveFileError

    with pytest.raises(ReserveFileError) as exc:
        parse_activations_file(one(inability_at="2026-06-11T18:00:00+02:00"))
    assert exc.value.problems[0][0] == "activations[0].inability_at"
    f = load_reserve(RESERVE)
    result = clear_reserve(f)
    bad = result.model_copy(update={"awards": [result.awards[0].model_copy(
        update={"offer": "O9"})]})
    with pytest.raises(SettlementError, match="O9"):
        settle_reserve(f, bad, load_activations_file(ACTIVATIONS),
                       parse_meter_data(Path(METER)))
