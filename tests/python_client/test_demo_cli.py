"""`flexmarket demo`: the whole FLECH session on a local anvil, through the CLI."""

import json
import subprocess
import sys
from pathlib import Path

from oracle import clear, load_scenario

ROOT = Path(__file__).resolve().parents[2]
FLECH = ROOT / "examples" / "flech_powermax.json"
STEPS = [
    "grant_roles",
    "mint",
    "deposit",
    "register_zone",
    "register_asset",
    "prequalify",
    "open_session",
    "post_need",
    "join",
    "commit_bid",
    "reveal",
    "commit_result",
    "record_deliveries",
    "settle",
    "release",
]


def demo(*args):
    return subprocess.run(
        [sys.executable, "-m", "flexmarket", "demo", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_demo_json_is_the_result_plus_the_chain():
    proc = demo("--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    chain = out.pop("chain")
    verification = out.pop("verification")  # validator nodes, before settlement (issue 4)
    assert out == clear(load_scenario(FLECH)).to_json_dict()
    assert verification["ok"] and verification["result_hash"] == out["result_hash"]
    assert verification["attestations"] == 3 and verification["validators"] == 4
    assert chain["chain_id"] == 31337
    assert set(chain["contracts"]) == {"FlexToken", "FlexRegistry", "FlexMarket"}
    assert [s for s in STEPS if not chain["tx"].get(s)] == []
    gas = chain["gas"]
    assert 0 < gas["commit_bid"] <= 50_000
    assert 0 < gas["reveal_bid"] <= 120_000
    assert 0 < gas["settle_award"] <= 60_000
    assert gas["commit_result"] > 0
    start = 1_000_000_000 * 1_000_000  # every participant starts with 1e9 EUR of tokens
    balances = chain["balances_ueur"]
    assert balances["FO1"] - start == 6_150_000_000
    assert balances["FO2"] - start == 8_610_000_000 + 13_200_000_000
    assert start - balances["DSO1"] == 27_960_000_000


def test_demo_table_shows_balances_and_gas():
    proc = demo("--scenario", str(FLECH))
    assert proc.returncode == 0, proc.stderr
    assert "final token balances" in proc.stdout and "settle_award" in proc.stdout


def test_demo_refuses_a_bad_chain_and_a_bad_file(tmp_path):
    proc = demo("--chain", "mainnet-please")
    assert proc.returncode == 2 and "--chain" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "flexmarket.scenario/1"}')
    proc = demo("--scenario", str(bad))
    assert proc.returncode == 2 and "market: Field required" in proc.stderr
