"""`flexmarket clear FILE [--json]`."""

import json
import subprocess
import sys

from oracle_helpers import FLECH, ROOT

from oracle import clear, load_scenario


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "flexmarket", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )


def test_table_shows_awards_unmet_and_cost():
    out = run("clear", str(FLECH)).stdout
    assert "FO2B2" in out and "13,200 W" in out
    assert "every need met" in out
    assert "27,960 EUR" in out


def test_json_is_the_canonical_result():
    out = run("clear", str(FLECH), "--json").stdout
    expected = clear(load_scenario(FLECH))
    assert out.strip() == expected.to_json()
    data = json.loads(out)
    assert data["schema"] == "flexmarket.result/1"
    assert data["total_cost_ueur"] == 27_960_000_000
