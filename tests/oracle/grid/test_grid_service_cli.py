"""A grid session cleared by the oracle SERVICE and attested by validator NODES, each a
separate `flexmarket` process (issue 19): the session runner (nodes.session) opens the
small-feeder session on anvil, the operator publishes its grid inputs (in parts) and the
bids are revealed; then `flexmarket oracle --once` rebuilds the session from the chain,
clears it with the published cuts and commits; three `flexmarket validate --once` nodes
each rebuild it, re-clear it, re-derive the cuts from the model file and run the AC check,
match the committed result hash and attest: the session is Final, and `flexmarket verify`
agrees. The MV form (slow) publishes an MV grid's inputs in 14 parts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from terminal import flexmarket

from oracle import load_scenario
from oracle.clearing import clear_scenario
from oracle.grid.published import GRID_PART_BYTES, grid_inputs_json
from python_client.chain import connect
from python_client.localchain import LocalChain, start_chain
from tests.oracle.grid.small_grid import small_scenario
from verifier.rpc import JsonRpc
from verifier.verify import load_state

ROOT = Path(__file__).resolve().parents[3]
VALIDATORS = 3




def _clear(data: Mapping[str, Any]) -> dict[str, Any]:
    return clear_scenario(load_scenario(dict(data))).to_json_dict()


def _to_clearing(chain: LocalChain, scenario: dict[str, Any], tmp: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path]:  # fmt: skip
    """The session on chain, its grid inputs published and its bids revealed, at the reveal
    deadline (the runner's phases widened: the nodes are separate processes)."""
    import nodes.session as session_mod

    monkeypatch.setattr(session_mod, "PHASE_S", 900)
    never = lambda *_: {}  # noqa: E731 - the runner stops before its own validation step
    keys = chain.dev_private_keys
    run = session_mod.SessionRun(
        scenario, _clear, connect(chain.url), chain,
        keys[: 3 + len(scenario["participants"]) + VALIDATORS],
        session_mod.Checks(never, VALIDATORS, VALIDATORS), grid=grid_inputs_json,
    ).run("bids")  # fmt: skip
    assert run.deployment is not None
    deployment = tmp / "deployment.json"
    deployment.write_text(json.dumps(run.deployment.to_json()))
    return run, deployment


def _service_and_nodes_make_it_final(chain: LocalChain, run: Any, deployment: Path) -> Any:
    sid = run.session_id
    on = ["--rpc", chain.url, "--deployment", str(deployment), "--json"]
    env = dict(os.environ, FLEXMARKET_ORACLE_KEY=run.keys[1])
    out = flexmarket("oracle", *on, "--once", env=env, timeout=900)
    assert out.returncode == 0, out.stderr
    committed = json.loads(out.stdout.splitlines()[-1])["committed"]
    assert list(committed) == [str(sid)], out.stdout
    # the result the service committed is the one this process clears from the chain
    with JsonRpc(chain.url) as rpc:
        state, _ = load_state(rpc, json.loads(deployment.read_text()))
    rec = state.sessions[sid]
    assert rec.grid is not None and len(rec.grid_parts) >= 1
    from oracle import parse_scenario

    own = clear_scenario(parse_scenario(state.scenario(sid)))
    assert (rec.status, rec.result_hash) == ("Pending", own.result_hash)
    for key in run.validator_keys:
        env = dict(os.environ, FLEXMARKET_VALIDATOR_KEY=key)
        out = flexmarket("validate", *on, "--once", env=env, timeout=900)
        assert out.returncode == 0, (out.stdout, out.stderr)
        (action,) = json.loads(out.stdout.splitlines()[-1])["actions"]
        assert (action["session_id"], action["ok"]) == (sid, True), action
        assert action["action"] == "attested", action
    out = flexmarket("verify", *on, "--session", str(sid), timeout=900)
    assert out.returncode == 0, out.stdout[-2000:]
    report = json.loads(out.stdout.splitlines()[-1])
    (s,) = report["sessions"]
    assert s["ok"] is True and s["status"] == "Final", s
    assert s["grid"]["rederived"] is True and s["grid"]["ac"]["ok"] is True
    return rec


def test_the_oracle_service_and_validator_nodes_make_a_grid_session_final(
    small_grid_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_chain("anvil", accounts=20) as chain:
        run, deployment = _to_clearing(chain, small_scenario(small_grid_file), tmp_path,
                                       monkeypatch)  # fmt: skip
        _service_and_nodes_make_it_final(chain, run, deployment)


@pytest.mark.slow
def test_an_mv_grid_session_published_in_parts_is_final(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.bench_grid_verify import mv_scenario

    scenario = mv_scenario()
    grid = grid_inputs_json(scenario)
    size = len(json.dumps(grid, sort_keys=True, separators=(",", ":")))
    assert size > 10 * GRID_PART_BYTES  # more than one block could take in one transaction
    with start_chain("anvil", accounts=20) as chain:
        run, deployment = _to_clearing(chain, scenario, tmp_path, monkeypatch)
        rec = _service_and_nodes_make_it_final(chain, run, deployment)
        # one transaction a part, every part of GRID_PART_BYTES but the last
        parts = [bytes.fromhex(p[2:]) for p in rec.grid_parts]
        assert len(run.clock.txs["publish_grid"]) == len(parts) == rec.grid_part_count > 10
        assert {len(p) for p in parts[:-1]} == {GRID_PART_BYTES}
