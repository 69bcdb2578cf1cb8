"""`flexmarket capacity FILE [--json]`: the result JSON of the spec, a table, exit 2 naming
the field of a malformed file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from terminal import flexmarket

from oracle.capacity import clear_capacity, load_capacity

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples" / "capacity").glob("*.json"))




@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_json_is_the_sealed_result_and_respects_every_zone(path):
    proc = flexmarket("capacity", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    result = clear_capacity(load_capacity(path))
    assert proc.stdout.strip() == result.to_json()
    assert doc["schema"] == "flexmarket.capacity-result/1" and doc["allocations"]
    data = json.loads(path.read_text())
    for zone in data["zones"]:
        used = [sum(a["allocated_w"][t] for a in doc["allocations"] if a["zone"] == zone["id"])
                for t in range(data["market"]["slots"])]
        assert all(u + r == c for u, r, c in zip(used, doc["remaining_w"][zone["id"]],
                                                 zone["capacity_w"], strict=True))
        assert all(r >= 0 for r in doc["remaining_w"][zone["id"]])


def test_the_table_names_allocations_and_rejections():
    proc = flexmarket("capacity", str(EXAMPLES[0]))
    assert proc.returncode == 0
    assert "rejected AG1-EV-04: price_eur_per_mw_slot 45 is below the reserve price 50" \
        in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("result 0x")


def test_a_malformed_file_exits_2_naming_the_field(tmp_path):
    data = json.loads(EXAMPLES[0].read_text())
    data["zones"][0]["capacity_w"] = [1, 2]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = flexmarket("capacity", str(bad), "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "zones[0].capacity_w: has 2 values, the market has 8 slots" in proc.stderr
    assert "Traceback" not in proc.stderr
