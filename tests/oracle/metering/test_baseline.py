"""Baselines and delivered power (spec/metering.md): hand-computed cases of every rule, and
the vectorised rule against the plain reference (bench/plain_baseline.py) on random data."""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from oracle.metering import (
    BaselineError,
    LocalGrid,
    Window,
    compute_baseline,
    delivered_w,
    parse_meter_data,
    x_of_y_baselines,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from bench.plain_baseline import plain_x_of_y  # noqa: E402

EVENT = date(2026, 5, 26)  # a Tuesday
WINDOW = Window.parse("2026-05-26T17:00:00+02:00/2026-05-26T18:00:00+02:00")


def meter_csv(value, days=50, asset="EV-A", offset="+02:00", skip=()):
    """A meter file of `asset` for the `days` days up to the event day: value(day, minute)."""
    lines = ["asset_id,interval_start,net_import_wh"]
    for back in range(days, -1, -1):
        day = EVENT - timedelta(days=back)
        for minute in range(0, 1440, 15):
            if (day, minute) in skip:
                continue
            v = value(day, minute)
            if v is not None:
                lines.append(f"{asset},{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}"
                             f":00{offset},{v}")
    return "\n".join(lines) + "\n"


def by_day(day, minute):
    """A value that says which day it is: 1,000 + days before the event (+ minute / 15)."""
    return 1000 + (EVENT - day).days * 10 + minute // 15 % 4


def test_high_4_of_5_takes_the_5_newest_weekdays_and_keeps_the_4_highest():
    data = parse_meter_data(meter_csv(by_day))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y")
    # 5 newest weekdays before Tue 26 May: 25, 22, 21, 20, 19 May; older days are higher
    # (1000 + 10 per day back), so the highest 4 are 22, 21, 20, 19 May
    assert b.days_used == ["2026-05-19", "2026-05-20", "2026-05-21", "2026-05-22"]
    back = [4, 5, 6, 7]
    assert [iv.baseline_wh for iv in b.intervals] == [
        sum(1000 + k * 10 + i for k in back) // 4 for i in range(4)]
    assert [iv.interval_start for iv in b.intervals] == [
        "2026-05-26T17:00:00+02:00", "2026-05-26T17:15:00+02:00",
        "2026-05-26T17:30:00+02:00", "2026-05-26T17:45:00+02:00"]
    assert [iv.metered_wh for iv in b.intervals] == [1000, 1001, 1002, 1003]
    assert b.intervals[0].delivered_up_w == (1055 - 1000) * 4
    assert b.intervals[0].delivered_down_w == 0


def test_mid_8_of_10_drops_the_highest_and_the_lowest_day():
    data = parse_meter_data(meter_csv(by_day))
    b = compute_baseline(data, "EV-A", WINDOW, "mid_x_of_y")
    # 10 newest weekdays: 25, 22, 21, 20, 19, 18, 15, 14, 13, 12 May; drop 12 (highest,
    # the oldest) and 25 (lowest)
    assert b.days_used == [f"2026-05-{d}" for d in (13, 14, 15, 18, 19, 20, 21, 22)]
    with pytest.raises(BaselineError) as info:
        compute_baseline(data, "EV-A", WINDOW, "mid_x_of_y", x=7, y=10)
    assert info.value.field == "--x"


def test_equal_totals_go_to_the_newer_day_and_floor_goes_toward_minus_infinity():
    data = parse_meter_data(meter_csv(lambda d, m: -7 if (EVENT - d).days % 2 else -6))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", x=3, y=5)
    # 25 May (1 back): -7, 22 (4): -6, 21 (5): -7, 20 (6): -6, 19 (7): -7; highest -6 days
    # (22, 20), then the newest of the -7 days (25)
    assert b.days_used == ["2026-05-20", "2026-05-22", "2026-05-25"]
    assert {iv.baseline_wh for iv in b.intervals} == {(-6 - 6 - 7) // 3} == {-7}


def test_activation_days_missing_intervals_and_the_other_kind_of_day_are_skipped():
    skip = {(date(2026, 5, 22), 17 * 60 + 30)}  # 22 May misses an interval of the window
    data = parse_meter_data(meter_csv(by_day, skip=skip))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", x=5, y=5,
                         activations={"EV-A": {(date(2026, 5, 25) - date(1970, 1, 1)).days}})
    assert b.days_used == ["2026-05-15", "2026-05-18", "2026-05-19", "2026-05-20",
                           "2026-05-21"]
    saturday = Window.parse("2026-05-23T17:00:00+02:00/2026-05-23T17:15:00+02:00")
    b = compute_baseline(data, "EV-A", saturday, "high_x_of_y", x=2, y=3)
    assert b.days_used == ["2026-05-10", "2026-05-16"]  # of 17, 16, 10 May the 2 highest


def test_fewer_than_y_days_within_45_days_cannot_give_a_baseline():
    data = parse_meter_data(meter_csv(by_day, days=6))  # 4 weekdays before the event
    with pytest.raises(BaselineError) as info:
        compute_baseline(data, "EV-A", WINDOW, "high_x_of_y")
    assert info.value.field == "meter"
    assert "only 4 of the 5 days needed" in str(info.value)
    # days older than 45 days do not count: 5 weekdays exist, the 5th 46 days back
    skip = {(EVENT - timedelta(days=k), m) for k in range(1, 46) for m in range(0, 1440, 15)
            if k not in (1, 4, 5, 6)}
    data = parse_meter_data(meter_csv(by_day, days=46, skip=skip))
    with pytest.raises(BaselineError, match="only 4 of the 5"):
        compute_baseline(data, "EV-A", WINDOW, "high_x_of_y")


def test_additive_adjustment_moves_the_baseline_within_20_percent():
    # past days 100 Wh everywhere; on the event day the adjustment window (15:00-16:00)
    # reads 110: adj = +10 (within 20 of 100)
    def value(day, m, event=110):
        return event if day == EVENT and 900 <= m < 960 else 100

    data = parse_meter_data(meter_csv(value))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", adjust=True)
    assert b.adjustment_wh == 10 and {iv.baseline_wh for iv in b.intervals} == {110}
    data = parse_meter_data(meter_csv(lambda d, m: value(d, m, event=175)))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", adjust=True)
    assert b.adjustment_wh == 20  # capped at floor(100 * 20 / 100)
    data = parse_meter_data(meter_csv(lambda d, m: value(d, m, event=-300)))
    b = compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", adjust=True)
    assert b.adjustment_wh == -20
    # the window 16:00-17:00 is not part of it: a change there moves nothing
    data = parse_meter_data(meter_csv(lambda d, m: 500 if d == EVENT and 960 <= m < 1020
                                      else 100))
    assert compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", adjust=True).adjustment_wh == 0
    with pytest.raises(BaselineError) as info:
        compute_baseline(data, "EV-A", WINDOW, "meter_before", adjust=True)
    assert info.value.field == "--adjust"


def test_adjustment_needs_its_window_metered_on_the_event_day():
    data = parse_meter_data(meter_csv(by_day, skip={(EVENT, 15 * 60 + 45)}))
    with pytest.raises(BaselineError, match="adjustment window"):
        compute_baseline(data, "EV-A", WINDOW, "high_x_of_y", adjust=True)


def test_meter_before_repeats_the_interval_just_before_the_window():
    data = parse_meter_data(meter_csv(lambda d, m: m))
    b = compute_baseline(data, "EV-A", WINDOW, "meter_before")
    assert {iv.baseline_wh for iv in b.intervals} == {16 * 60 + 45} and b.days_used == []
    data = parse_meter_data(meter_csv(lambda d, m: m, skip={(EVENT, 16 * 60 + 45)}))
    with pytest.raises(BaselineError, match="just before the window"):
        compute_baseline(data, "EV-A", WINDOW, "meter_before")


def test_nominated_schedule_is_the_baseline_and_must_cover_the_window():
    data = parse_meter_data(meter_csv(by_day))
    nominated = parse_meter_data("asset_id,interval_start,net_import_wh\n" + "".join(
        f"EV-A,2026-05-26T17:{m:02d}:00+02:00,{900 + m}\n" for m in (0, 15, 30, 45)))
    b = compute_baseline(data, "EV-A", WINDOW, "nominated", nominated=nominated)
    assert [iv.baseline_wh for iv in b.intervals] == [900, 915, 930, 945]
    with pytest.raises(BaselineError) as info:
        compute_baseline(data, "EV-A", Window.parse(
            "2026-05-26T17:00:00+02:00/2026-05-26T18:15:00+02:00"), "nominated",
            nominated=nominated)
    assert info.value.field == "--nominated" and "18:00:00+02:00" in str(info.value)


def test_delivered_power_follows_the_direction():
    assert delivered_w("up", 480, 150) == 1320 and delivered_w("down", 480, 150) == 0
    assert delivered_w("down", -10, 5) == 60 and delivered_w("up", -10, 5) == 0
    with pytest.raises(BaselineError):
        delivered_w("sideways", 1, 1)


@pytest.mark.parametrize("text", [
    "2026-05-26T17:00:00+02:00", "2026-05-26T17:00:00+02:00/2026-05-26T17:00:00+02:00",
    "2026-05-26T17:05:00+02:00/2026-05-26T18:00:00+02:00",
    "2026-05-26T17:00:00/2026-05-26T18:00:00", "2026-05-26T17:00:00+02:00/2026-05-28T18:00Z",
])
def test_a_bad_window_names_the_window(text):
    with pytest.raises(BaselineError) as info:
        Window.parse(text)
    assert info.value.field == "--window"


def test_a_window_written_in_utc_is_read_in_the_files_wall_clock():
    data = parse_meter_data(meter_csv(by_day))
    utc = Window.parse("2026-05-26T15:00:00Z/2026-05-26T16:00:00Z")
    assert compute_baseline(data, "EV-A", utc, "high_x_of_y").to_json() == \
        compute_baseline(data, "EV-A", WINDOW, "high_x_of_y").to_json()


@pytest.mark.parametrize("seed", range(8))
def test_the_vectorised_rule_equals_the_plain_reference_on_random_data(seed):
    rng = random.Random(seed)
    event_day = (EVENT - date(1970, 1, 1)).days + rng.randrange(7)
    assets = 12
    grid = LocalGrid.around(event_day, assets)
    wall = []
    for a in range(assets):
        values = {}
        for j in range(grid.values.shape[1]):
            if rng.random() < 0.02:
                continue  # missing
            values[grid.base + j] = rng.choice([rng.randint(-400, 400), rng.randint(0, 3)])
        grid.fill(a, values)
        wall.append({(date(1970, 1, 1) + timedelta(days=li // 96), li % 96 * 15): v
                     for li, v in values.items()})
    acts = np.zeros((assets, 46), dtype=np.bool_)
    acts[:, 1:] = np.array([[rng.random() < 0.1 for _ in range(45)] for _ in range(assets)])
    first = event_day * 96 + rng.randrange(8, 90)
    n = rng.randrange(1, 12)
    mid = rng.random() < 0.5
    y = rng.randrange(3, 11)
    x = y - 2 if mid else rng.randrange(1, y + 1)
    adjust = rng.random() < 0.5
    got = x_of_y_baselines(grid, first, n, x=x, y=y, mid=mid, activation_days=acts,
                           adjust=adjust)
    day0 = date(1970, 1, 1) + timedelta(days=event_day)
    minutes = [(first % 96 + i) * 15 for i in range(n)]
    for a in range(assets):
        act_days = {day0 - timedelta(days=k) for k in range(1, 46) if acts[a, k]}
        want = plain_x_of_y(wall[a], day0, minutes, x=x, y=y, mid=mid,
                            activation_days=act_days, adjust=adjust)
        if want is None:
            assert not got.ok[a], a
            continue
        assert got.ok[a], (a, got.problems.get(a))
        assert [int(v) for v in got.baseline_wh[a]] == want[0]
        assert [date(1970, 1, 1) + timedelta(days=int(d)) for d in got.days[a]] == want[1]


def test_award_delivery_sums_assets_caps_each_interval_then_floors_the_slot_mean():
    from oracle.metering import award_delivered_w

    ev1 = [400, 800, 0, 1200]
    ev2 = [300, 600, 100, 0]
    # intervals: 700, 1400 -> capped 1000, 100, 1200 -> capped 1000
    assert award_delivered_w([ev1, ev2], 1000, 1) == [700, 1000, 100, 1000]
    # 30-minute slots: floor((700 + 1000) / 2), floor((100 + 1000) / 2)
    assert award_delivered_w([ev1, ev2], 1000, 2) == [850, 550]
    assert award_delivered_w([[1, 2, 2]], 10, 3) == [1]
    with pytest.raises(BaselineError):
        award_delivered_w([ev1, ev2[:3]], 1000, 1)
    with pytest.raises(BaselineError):
        award_delivered_w([ev1], 1000, 3)
