"""The reserve demo (issue 14 item 5): its files from any profiles, the story they tell, and
the command on SimBench's profiles (slow: the SimBench model loads in tens of seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from reserve_helpers import ROOT

from flexmarket.reserve import demo_output
from oracle.metering import parse_meter_data
from oracle.reserve import parse_activations_file, parse_reserve
from oracle.reserve.demo import ASSETS, DAYS, demo_files


def flat(wh: int = 1500) -> dict[str, list[int]]:
    return {a: [wh] * (DAYS * 96) for assets in ASSETS.values() for a in assets}


def statuses(out):
    return {o["activation"]: o["status"] for a in out["settlement"]["awards"]
            for o in a["activations"]}


def test_the_demo_files_tell_the_story_on_any_profiles():
    reserve, acts, meter = demo_files(flat())
    parse_reserve(reserve), parse_activations_file(acts)
    data = parse_meter_data(meter)
    assert len(data.assets()) == 14 and len(meter.splitlines()) == 1 + 14 * DAYS * 96
    out = demo_output(reserve, acts, meter)
    assert out["checker"] == []
    assert statuses(out) == {"A1": "delivered", "A2": "inability", "A3": "failed",
                             "B1": "delivered", "A4": "failed", "A5": "failed",
                             "A6": "rejected"}
    o1 = out["settlement"]["awards"][0]
    assert (o1["offer"], o1["terminated_by"], o1["days_paid"]) == ("O1", "A5", 22)
    assert "(the same)" in out["text"]
    # the response is written into the data: A3 at 40 % of 20 kW, meter_before baseline
    a3 = next(o for o in o1["activations"] if o["activation"] == "A3")
    assert a3["delivered_w"] == [20_000 * 40 // 100 // 8 // 4 * 4 * 8] * 4


def test_a_profile_too_low_to_respond_delivers_less():
    out = demo_output(*demo_files(flat(wh=100)))  # 400 W an asset: nothing much to shed
    assert statuses(out)["A1"] == "failed"


@pytest.mark.slow
def test_the_command_runs_on_simbench_profiles(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flexmarket", "reserve", "demo", "--out",
                           str(tmp_path), "--json"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["checker"] == [] and out["settlement"]["awards"][0]["terminated_by"] == "A5"
    settle = subprocess.run(
        [sys.executable, "-m", "flexmarket", "reserve", "settle", str(tmp_path / "reserve.json"),
         "--result", str(tmp_path / "result.json"), "--activations",
         str(tmp_path / "activations.json"), "--meter", str(tmp_path / "meter.csv"), "--json"],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert settle.returncode == 0, settle.stderr
    assert json.loads(settle.stdout)["result_hash"] == out["settlement"]["result_hash"]
