"""Oracle service, replica nodes and validators on a real anvil chain (issue 4 §1-4).

One chain, five sessions revealed at once:
- `honest`: cleared by the oracle service, which is stopped between two pages and
  restarted (no double commit), then attested by 3 of 4 validators (one offline) and settled
  (a shortfall penalised); the replica recomputes every settlement;
- `expensive`, `rule3`, `overpaid`: corrupted commits (non-optimal; an award to a bid the
  rules reject; uniform prices above the clearing price): every honest node finds them
  wrong, disputes, and they cannot be settled;
- `faulty`: a wrong result attested by a faulty validator never becomes final.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from terminal import flexmarket
from verify_helpers import Market, build_market

from nodes.rows import award_rows
from nodes.service import OracleService, is_transient
from nodes.validator import validate_once
from python_client.errors import TransactionReverted
from python_client.localchain import start_chain
from verifier.errors import RpcError
from verifier.rpc import JsonRpc
from verifier.verify import load_state, verify_chain, verify_session

ROOT = Path(__file__).resolve().parents[2]
PENDING, FINAL, DISPUTED = 2, 3, 4
SESSIONS = {
    "honest": {},
    "expensive": {},
    "rule3": {"conflict": True},
    "overpaid": {"pricing": "uniform"},
    "faulty": {},
    "bound": {},
}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    with start_chain("anvil", accounts=12) as chain:
        m = build_market(chain, tmp_path_factory.mktemp("verify"), SESSIONS)
        # the corrupted oracle goes first, so that the service only finds `honest`
        m.commit("expensive", [("A2", 4_000, 150), ("B1", 6_000, 120)])
        state = _state(m)
        scenario = state.scenario(m.sessions["rule3"])
        own = verify_session(state, m.sessions["rule3"])[1]
        assert own is None  # nothing committed yet: nothing cleared
        from oracle import clear, parse_scenario

        rejected = clear(parse_scenario(scenario)).rejected
        assert len(rejected) == 1  # A1 or A3: the later of the two
        bad = next(b for (s, b), i in m.bid_ids.items() if s == "rule3" and i == rejected[0].bid)
        m.commit("rule3", [(bad, 6_000, 100 if bad == "A1" else 50), ("A2", 4_000, 150)])
        m.commit("overpaid", [("A1", 6_000, 200), ("A2", 4_000, 200)])
        m.commit("faulty", [("B1", 6_000, 120), ("B2", 4_000, 300)])
        m.commit("bound", [("A1", 6_000, 100), ("A2", 4_000, 150)])  # right, hashed apart
        yield m


def _state(m: Market) -> Any:
    with JsonRpc(m.chain.url) as rpc:
        return load_state(rpc, m.deployment_file)[0]


def _result_events(m: Market, sid: int) -> int:
    logs = m.contracts.market.events.ResultCommitted().get_logs(
        from_block=0, argument_filters={"sessionId": sid}
    )
    return len(logs)


def test_service_restarted_between_pages_commits_once(market: Market) -> None:
    sid = market.sessions["honest"]
    crashing = OracleService(market.chain.url, market.oracle_key, market.deployment_file,
                             page_size=1)  # fmt: skip
    crashing.stop_after_pages = 1
    with pytest.raises(KeyboardInterrupt):
        crashing.run(once=True)
    assert market.status("honest") == 1  # Committing: one page of two on chain
    restarted = OracleService(market.chain.url, market.oracle_key, market.deployment_file,
                              page_size=1)  # fmt: skip
    done = restarted.step()
    assert done.resumed == {sid: 1} and list(done.committed) == [sid], done
    again = OracleService(market.chain.url, market.oracle_key, market.deployment_file).step()
    assert again.committed == {} and again.resumed == {}
    assert _result_events(market, sid) == 1
    assert market.status("honest") == PENDING
    state = _state(market)
    rec = state.sessions[sid]
    assert [(a.bid, a.quantity_w) for a in rec.awards] == sorted(
        (market.bid_ids[("honest", b)], q) for b, q in (("A1", 6_000), ("A2", 4_000))
    )
    report, own = verify_session(state, sid)
    assert report.ok, report.violations
    assert report.input_hash["match"] and report.result_hash["match"]
    assert rec.result_hash == own.result_hash


@pytest.mark.parametrize("name", ["expensive", "rule3", "overpaid"])
def test_every_honest_node_catches_a_corrupted_commit(market: Market, name: str) -> None:
    sid = market.sessions[name]
    expected = {
        "expensive": "not optimal",
        "rule3": "infeasible: awards[",
        "overpaid": "price_eur_per_mw",
    }[name]
    for _ in range(3):  # three independent nodes, each with its own read of the chain
        report, _ = verify_session(_state(market), sid)
        assert not report.ok
        assert any(expected in v for v in report.violations), report.violations
    actions = [validate_once(market.chain.url, market.deployment_file, k, sessions=[sid])
               for k in market.validator_keys[:3]]  # fmt: skip
    assert actions[0][0].action == "disputed"
    assert actions[1:] == [[], []]  # the others find it disputed already: nothing to do
    assert market.status(name) == DISPUTED
    market.metering.record_deliveries(sid, {0: 1}, b"\1" * 32)
    with pytest.raises(TransactionReverted) as caught:
        market.oracle.settle_award(sid, 0)
    assert caught.value.error == "FlexMarketResultStatusInvalid"


def test_a_faulty_validator_never_makes_a_wrong_result_final(market: Market) -> None:
    sid = market.sessions["faulty"]
    state = _state(market)
    market.validator(3).attest(sid, bytes.fromhex(state.sessions[sid].result_hash[2:]))
    assert market.status("faulty") == PENDING
    for k in market.validator_keys[:3]:
        validate_once(market.chain.url, market.deployment_file, k, sessions=[sid])
        assert market.status("faulty") == DISPUTED
    with pytest.raises(TransactionReverted):  # nor can the faulty one revive it
        market.validator(3).attest(sid, bytes.fromhex(state.sessions[sid].result_hash[2:]))
    assert market.status("faulty") == DISPUTED


def test_attestations_are_bound_to_their_session_and_chain(market: Market) -> None:
    honest, other = market.sessions["honest"], market.sessions["bound"]
    state = _state(market)
    honest_hash = bytes.fromhex(state.sessions[honest].result_hash[2:])
    with pytest.raises(TransactionReverted) as caught:
        market.validator(0).attest(market.sessions["expensive"], honest_hash)
    assert caught.value.error == "FlexMarketResultStatusInvalid"  # disputed, and not its hash
    with pytest.raises(TransactionReverted) as caught:  # session 1's hash for session 2
        market.validator(0).attest(other, honest_hash)
    assert caught.value.error == "FlexMarketResultHashMismatch"
    assert market.oracle.session(other).timing.attestations == 0  # no attestation counted
    assert market.oracle.session(honest).timing.attestations == 0
    # a signed attestation cannot be replayed on another chain (EIP-155 chain id)
    v = market.validator(0)
    tx = v.contracts.market.functions.attestResult(honest, honest_hash).build_transaction(
        {"from": v.address, "chainId": market.deployment.chain_id, "gas": 200_000,
         "gasPrice": v.contracts.w3.eth.gas_price, "nonce": 0}
    )  # fmt: skip
    raw = v.wallet.account.sign_transaction(tx).raw_transaction
    with start_chain("anvil", chain_id=4242) as elsewhere, JsonRpc(elsewhere.url) as rpc:
        try:  # a node refuses it, or (anvil 1.7) takes it and never executes it
            tx_hash = rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcError:
            tx_hash = None
        elsewhere.rpc("evm_mine", [])
        if tx_hash is not None:
            assert rpc.call("eth_getTransactionReceipt", [tx_hash]) is None
        assert rpc.call("eth_getTransactionCount", [v.address, "latest"]) == "0x0"


def test_quorum_with_one_validator_offline_then_settlement_checked(market: Market) -> None:
    sid = market.sessions["honest"]
    if market.status("honest") != PENDING:
        pytest.skip("needs the service test's commit")
    for k in market.validator_keys[:3]:  # validator 3 is offline
        actions = validate_once(market.chain.url, market.deployment_file, k, sessions=[sid])
        assert [a.action for a in actions] == ["attested"]
    assert market.status("honest") == FINAL
    # one award delivered in full, the other short beyond tolerance (penalty)
    market.metering.record_deliveries(sid, {0: 10_000, 1: 1_000}, b"\2" * 32)
    market.oracle.wallet.reset_nonce()  # the service sent with the same key
    market.oracle.settle_awards(sid, 0, 2)
    report = verify_chain(market.chain.url, market.deployment_file)
    by_id = {s.session_id: s for s in report.sessions}
    assert by_id[sid].ok and by_id[sid].settlements == {"checked": 2, "mismatches": []}
    assert all(v["ok"] for v in report.bytecode.values()), report.bytecode
    assert set(report.bytecode) >= {"FlexMarket", "FlexRegistry", "FlexToken"}
    assert not report.ok  # the corrupted sessions
    bad = {s.session_id for s in report.sessions if not s.ok}
    assert bad == {market.sessions[n] for n in ("expensive", "rule3", "overpaid", "faulty")}




def test_cli_verify_and_replay_exit_codes(market: Market) -> None:
    url, dep = market.chain.url, str(market.deployment_file)
    proc = flexmarket("verify", "--rpc", url, "--deployment", dep, "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert not report["ok"] and len(report["sessions"]) == len(SESSIONS)
    proc = flexmarket("verify", "--rpc", url, "--deployment", dep,
                "--session", str(market.sessions["honest"]))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout
    assert flexmarket("replay", "--rpc", url, "--deployment", dep).returncode == 1
    proc = flexmarket("verify", "--rpc", "ftp://nowhere", "--deployment", dep)
    assert proc.returncode == 2 and "--rpc" in proc.stderr
    proc = flexmarket("verify", "--rpc", url, "--deployment", dep, "--session", "99")
    assert proc.returncode == 2 and "--session" in proc.stderr
    proc = flexmarket("oracle", "--rpc", url, "--deployment", dep, "--key-env", "NO_SUCH_VAR_X")
    assert proc.returncode == 2 and "--key-env" in proc.stderr


def test_award_rows_follow_budgets_and_transient_errors_are_told_apart() -> None:
    from oracle import clear, parse_scenario
    from oracle.synthetic import random_session

    scenario = parse_scenario(random_session(40, n_slots=8, n_zones=2, seed=3))
    result = clear(scenario)
    ids = {r.id: i for i, r in enumerate(scenario.requests)}
    # rename requests to need-<i> as a rebuilt scenario names them
    data = json.loads(scenario.model_dump_json(by_alias=True))
    for r in data["requests"]:
        r["id"] = f"need-{ids[r['id']]}"
    for b in data["bids"]:
        b["id"] = "0x" + f"{int(b['id'][1:]):064x}"
    renamed = parse_scenario(data)
    result = clear(renamed)
    needs = [{"needIndex": i, "budgetUeur": 10**15, "quantityW": [1]}
             for i in range(len(data["requests"]))]  # fmt: skip
    rows = award_rows(renamed, needs, result)
    per_bid: dict[str, int] = {}
    for r in rows:
        per_bid[r.bid] = per_bid.get(r.bid, 0) + r.quantity_w
    assert per_bid == {a.bid: a.quantity_w for a in result.awards}
    assert rows == sorted(rows, key=lambda r: r.key())
    assert is_transient(RpcError("eth_call", "no answer"))
    assert not is_transient(RpcError("eth_call", "execution reverted", 3))
    assert not is_transient(TransactionReverted("commitResult", "FlexMarketClearingClosed"))
