"""`flexmarket wholesale demo --json`: a spot round recorded on anvil and attested by three
replicas, and an mFRR round split back to local bids, all processes real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_wholesale_demo_ends_final_with_every_check_holding():
    run = subprocess.run([sys.executable, "-m", "flexmarket.cli", "wholesale", "demo", "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    spot, mfrr = doc["spot"], doc["mfrr"]
    assert spot["ok"] and spot["violations"] == [] and spot["checks"] == [1, 2, 3, 4, 5]
    assert [a["agrees"] for a in spot["attestations"]] == [True, True, True]
    assert spot["chain"]["agreeing"] == 3 and not spot["chain"]["disputed"]
    assert spot["book_hash"] == spot["grid_check"]["book_hash"]
    assert mfrr["ok"] and mfrr["products"]
    assert sum(s["activated_w"] for s in mfrr["splits"]) > 0
