"""`flexmarket demo`: the whole FLECH session on a local anvil, through the CLI."""

import json
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
    return flexmarket("demo", *args, timeout=900)


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
    assert 0 < gas["commit_bid"] <= 55_000  # 52,540 since the issue-11 participation checks
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


# --- issue 11 item 19: a URL chain that mines only on transactions -----------------------

import logging  # noqa: E402

import pytest  # noqa: E402
from terminal import flexmarket, run_on_terminal  # noqa: E402

from nodes import demo as demo_module  # noqa: E402
from nodes import session as session_module  # noqa: E402
from python_client.chain import Wallet, connect  # noqa: E402
from python_client.errors import ClientError  # noqa: E402
from python_client.localchain import start_chain  # noqa: E402


def _waiter(url):
    w3 = connect(url)
    key = demo_module._keys(None, 1)[0]  # the first funded development account
    return session_module.ChainClock(w3, None, nudger=Wallet(w3, key)), w3


def test_wait_moves_a_chain_that_mines_only_on_transactions(caplog):
    with start_chain("anvil") as chain:  # automine, no block time: the clock stands still
        run, w3 = _waiter(chain.url)
        target = int(w3.eth.get_block("latest")["timestamp"]) + 3
        with caplog.at_level(logging.INFO, logger="nodes.session"):
            run.wait_until(target, "gate closure")
        assert int(w3.eth.get_block("latest")["timestamp"]) >= target
        assert 1 <= len(run.txs["advance_clock"]) <= 3
        text = caplog.text
        assert "waiting for gate closure: chain time" in text and "target" in text
        assert "sent a no-op transaction" in text


def test_wait_on_a_chain_with_a_block_time_sends_nothing():
    with start_chain("anvil", extra_args=["--block-time", "1"]) as chain:
        run, w3 = _waiter(chain.url)
        target = int(w3.eth.get_block("latest")["timestamp"]) + 3
        run.wait_until(target, "gate closure")
        assert int(w3.eth.get_block("latest")["timestamp"]) >= target
        assert "advance_clock" not in run.txs


def test_wait_explains_a_chain_that_mines_nothing(monkeypatch):
    monkeypatch.setattr(session_module, "NUDGE_TIMEOUT_S", 3.0)
    with start_chain("anvil", extra_args=["--no-mining"]) as chain:
        run, w3 = _waiter(chain.url)
        target = int(w3.eth.get_block("latest")["timestamp"]) + 2
        with pytest.raises(ClientError, match="mines no block.*Does the node mine"):
            run.wait_until(target, "gate closure")


@pytest.mark.slow  # ~80 s; its short form: test_wait_moves_a_chain_that_mines_only_on_transactions
def test_demo_on_a_url_chain_that_mines_only_on_transactions():
    """It waited forever, silently. --json on a terminal: the result, nothing on stderr."""
    with start_chain("anvil") as chain:
        code, stdout, stderr = run_on_terminal("demo", "--chain", chain.url, "--json", timeout=400)
    assert code == 0, stderr
    out = json.loads(stdout)
    assert out["chain"]["tx"]["advance_clock"]  # it moved the clock itself
    out.pop("chain"), out.pop("verification")
    assert out == clear(load_scenario(FLECH)).to_json_dict()
    assert stderr == ""


def test_demo_shows_its_phases_on_a_terminal():
    code, stdout, stderr = run_on_terminal("demo", timeout=300)
    assert code == 0, stderr
    for phase in ("deploying the contracts", "registration:", "3 bids committed",
                  "clearing with the engine", "delivery, settlement and withdrawals"):
        assert f"demo: {phase}" in stderr, stderr
    assert "final token balances" in stdout


def test_demo_quiet_on_a_terminal_shows_no_progress():
    """Issue 20 item 2: -q (after the command as well as before it) hides the phases."""
    code, stdout, stderr = run_on_terminal("demo", "-q", timeout=300)
    assert code == 0, stderr
    assert "demo:" not in stderr and stderr.strip() == "", stderr
    assert "final token balances" in stdout


# --- issue 11 item 20: the npm install leaves the clone as it was --------------------------


def test_the_npm_lock_is_complete_and_installed_as_it_is():
    lock = json.loads((ROOT / "package-lock.json").read_text())
    packages = lock["packages"]
    missing = [
        f"{name} (optional for {path})"
        for path, pkg in packages.items()
        for name in pkg.get("optionalDependencies", {})
        if "integrity" not in packages.get(f"node_modules/{name}", {})
    ]
    assert missing == []  # npm install added them (76 lines) and left the clone dirty
    assert "node_modules/@foundry-rs/anvil-linux-amd64" in packages
    recipe = (ROOT / "mk" / "chain.mk").read_text()
    assert "$(NPM) ci " in recipe and "$(NPM) install --no-audit" not in recipe
