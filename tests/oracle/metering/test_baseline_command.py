"""`flexmarket baseline` (spec/metering.md): its table, its JSON, exit 2 naming what is wrong."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from terminal import flexmarket

ROOT = Path(__file__).resolve().parents[3]
EVENT = date(2026, 5, 26)
WINDOW = "2026-05-26T17:00:00+02:00/2026-05-26T18:00:00+02:00"




@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    lines = ["asset_id,interval_start,net_import_wh"]
    for back in range(20, -1, -1):
        day = EVENT - timedelta(days=back)
        for q in range(96):
            wh = 100 + back * 10 if back else (40 if 68 <= q < 72 else 100)
            lines.append(f"EV-A,{day}T{q // 4:02d}:{q % 4 * 15:02d}:00+02:00,{wh}")
    path = tmp_path_factory.mktemp("meter") / "meter.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_json_is_the_spec_document(meter):
    proc = flexmarket("baseline", "--meter", str(meter), "--asset", "EV-A", "--method",
                      "high_x_of_y", "--x", "4", "--y", "5", "--window", WINDOW, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc) == {"asset", "method", "days_used", "intervals", "meter_hash"}
    # weekdays 25, 22, 21, 20, 19 May; older is higher: 19-22 May (7, 6, 5, 4 days back)
    assert doc["days_used"] == ["2026-05-19", "2026-05-20", "2026-05-21", "2026-05-22"]
    assert doc["intervals"][0] == {
        "interval_start": "2026-05-26T17:00:00+02:00", "baseline_wh": 155, "metered_wh": 40,
        "delivered_up_w": 460, "delivered_down_w": 0}
    assert len(doc["intervals"]) == 4 and doc["meter_hash"].startswith("0x")


def test_the_table_shows_the_chosen_direction(meter):
    proc = flexmarket("baseline", "--meter", str(meter), "--asset", "EV-A", "--method",
                      "meter_before", "--window", WINDOW, "--direction", "down")
    assert proc.returncode == 0, proc.stderr
    assert "delivered_down_w" in proc.stdout
    assert "2026-05-26T17:00:00+02:00" in proc.stdout and "days used" not in proc.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--window", "2026-05-26T17:00:00+02:00"], "--window"),
        (["--window", WINDOW, "--x", "6"], "--x: 6: must be from 1 to Y = 5"),
        (["--window", WINDOW, "--asset", "NOPE"], "--asset: 'NOPE' has no reading"),
        (["--window", WINDOW, "--activations", "/nonexistent.csv"], "cannot read"),
    ],
)
def test_bad_parameters_exit_2_naming_them(meter, extra, message):
    args = ["baseline", "--meter", str(meter), "--asset", "EV-A", "--method", "high_x_of_y"]
    proc = flexmarket(*args, *extra)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr


def test_a_malformed_meter_file_names_its_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("asset_id,interval_start,net_import_wh\nEV-A,2026-05-26T17:00:00+02:00,1\n"
                   "EV-A,2026-05-26T17:00:00+02:00,2\n")
    proc = flexmarket("baseline", "--meter", str(bad), "--asset", "EV-A", "--method",
                      "meter_before", "--window", WINDOW)
    assert proc.returncode == 2
    assert f"--meter {bad}: line 3: EV-A at 2026-05-26T17:00:00+02:00 again with 2 Wh" \
        in proc.stderr
