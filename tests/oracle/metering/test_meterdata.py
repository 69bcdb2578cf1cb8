"""Meter data files (spec/metering.md): strict parsing with line numbers, the canonical form
and its hash."""

from __future__ import annotations

import pytest

from oracle.canonical import keccak_hex
from oracle.metering import MeterDataError, parse_activations, parse_meter_data
from oracle.metering.meterdata import format_instant, parse_interval_start

HEADER = "asset_id,interval_start,net_import_wh\n"


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(MeterDataError) as info:
        parse_meter_data(text)
    return info.value.problems


def test_the_spec_example_parses_with_offsets_kept():
    data = parse_meter_data(HEADER + "FO1-EV1,2026-05-12T00:00:00+02:00,412\n"
                            "FO1-EV1,2026-05-12T00:15:00+02:00,-35\n")
    rows = data.readings["FO1-EV1"]
    # 2026-05-11T22:00:00Z
    assert sorted(rows) == [1778536800, 1778537700]
    assert [r.wh for r in rows.values()] == [412, -35]
    assert {r.offset_s for r in rows.values()} == {7200}


def test_canonical_form_sorts_by_asset_then_utc_whatever_the_row_order_and_offset():
    a = parse_meter_data(HEADER + "B,2026-05-12T00:15:00+02:00,7\n"
                         "A,2026-05-12T00:00:00+02:00,5\n"
                         "B,2026-05-11T22:00:00Z,6\n")
    assert a.canonical() == b"A,1778536800,5\nB,1778536800,6\nB,1778537700,7\n"
    assert a.hash() == keccak_hex(a.canonical())
    b = parse_meter_data(HEADER + "B,2026-05-11T22:00:00+00:00,6\n"
                         "B,2026-05-11T22:15:00+00:00,7\nA,2026-05-12T00:00:00+02:00,5\n")
    assert a.hash() == b.hash()  # the same readings written in another offset and order
    c = parse_meter_data(HEADER + "B,2026-05-11T22:00:00+00:00,6\n"
                         "B,2026-05-11T22:15:00+00:00,8\nA,2026-05-12T00:00:00+02:00,5\n")
    assert c.hash() != a.hash()


def test_a_repeated_reading_with_the_same_value_is_one_reading():
    data = parse_meter_data(HEADER + "A,2026-05-12T00:00:00+02:00,5\n"
                            "A,2026-05-11T22:00:00Z,5\n")
    assert data.canonical() == b"A,1778536800,5\n"


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ("A,2026-05-12T00:00:00+02:00,5\nA,2026-05-11T22:00:00Z,6\n", "line 3",
         "again with 6 Wh (line 2 has 5 Wh)"),
        ("A,2026-05-12T00:07:00+02:00,5\n", "line 2", "not aligned"),
        ("A,2026-05-12T00:00:00,5\n", "line 2", "with an offset"),
        ("A,2026-13-12T00:00:00+02:00,5\n", "line 2", "not a valid time"),
        ("A,2026-05-12T00:00:00+02:00,4.5\n", "line 2", "'4.5' is not an integer"),
        ("A,2026-05-12T00:00:00+02:00,\n", "line 2", "'' is not an integer"),
        ("A,2026-05-12T00:00:00+02:00,10000000000001\n", "line 2", "beyond"),
        ("A,2026-05-12T00:00:00+02:00\n", "line 2", "2 fields, expected 3"),
        (",2026-05-12T00:00:00+02:00,1\n", "line 2", "asset_id is empty"),
    ],
)
def test_a_bad_row_is_an_error_naming_its_line(rows, line, message):
    found = problems(HEADER + rows)
    assert [w for w, _ in found] == [line]
    assert message in found[0][1]


def test_every_bad_line_is_reported_and_nothing_is_loaded():
    found = problems(HEADER + "A,2026-05-12T00:00:00+02:00,x\nA,2026-05-12T00:15:00+02:00,1\n"
                     "A,2026-05-12T00:20:00+02:00,1\n")
    assert [w for w, _ in found] == ["line 2", "line 4"]


def test_a_wrong_or_missing_header_is_refused():
    assert problems("asset,start,wh\nA,2026-05-12T00:00:00+02:00,1\n")[0][0] == "line 1"
    assert "empty file" in problems("")[0][1]
    with pytest.raises(MeterDataError, match="not UTF-8"):
        parse_meter_data(b"\xff\xfe")


def test_activation_days_are_local_days_of_each_row():
    days = parse_activations("asset_id,interval_start\nA,2026-05-12T00:15:00+02:00\n"
                             "A,2026-05-11T23:45:00+00:00\n")
    # each row in its own offset: 00:15 on 12 May (+02:00), 23:45 on 11 May (UTC)
    assert days == {"A": {20585, 20584}}


def test_instants_round_trip_with_their_offset():
    unix_s, offset_s = parse_interval_start("2026-10-25T02:45:00+01:00")
    assert format_instant(unix_s, offset_s) == "2026-10-25T02:45:00+01:00"
