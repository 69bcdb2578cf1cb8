"""One failing transaction does not stop the oracle service (issue 11 §2): each session's
clearing and each forfeit is its own; a failure is logged, the session tried again next
pass, and the other sessions are cleared and committed.

On anvil, four sessions past their reveal deadline: `garbled` (its operator published
coordination inputs that are not JSON: no node can rebuild it), `broken` (its result commit
reverts: the clearing handed to the service pays a pay-as-bid award above its bid's price),
`raced` (two bids never revealed, one forfeited by someone else between the service's read
of the chain and its own forfeits) and `plain`. Before issue 11 the first failure ended `run()`: no
session was cleared."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import verifier.verify
from nodes.service import OracleService
from oracle import clear
from oracle.result import Result
from oracle.scenario import Scenario
from python_client.chain import Wallet
from tests.verifier.verify_helpers import Market, build_market
from verifier.rpc import JsonRpc
from verifier.verify import load_state, verify_session

SESSIONS = {
    "garbled": {"coordination": b"{not JSON"},
    "broken": {},
    "raced": {"unrevealed": True},
    "plain": {},
}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    with start_anvil() as chain:
        yield build_market(chain, tmp_path_factory.mktemp("isolation"), SESSIONS)


def start_anvil() -> Any:
    from python_client.localchain import start_chain

    return start_chain("anvil", accounts=12)


def _state(m: Market) -> Any:
    with JsonRpc(m.chain.url) as rpc:
        return load_state(rpc, m.deployment_file)[0]


def test_a_failing_session_or_forfeit_leaves_the_others_cleared(
    market: Market, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    m = market
    garbled, broken, raced, plain = (m.sessions[n] for n in SESSIONS)
    assert garbled < broken < raced < plain  # the failures come first

    def mispriced(scenario: Scenario) -> Result:
        result = clear(scenario)
        if scenario.name.startswith(f"session {broken} "):  # pay-as-bid, not at the bid's price
            a = result.awards[0]
            price = a.price_eur_per_mw + 1
            dearer = a.model_copy(update={"price_eur_per_mw": price,
                                          "payment_ueur": a.quantity_w * price})  # fmt: skip
            result = result.model_copy(update={"awards": [dearer, *result.awards[1:]]})
        return result

    x1 = m.bid_ids[("raced", "X1")]
    original = verifier.verify.load_state

    def read_then_someone_forfeits(rpc: Any, deployment: Any = None) -> Any:
        out = original(rpc, deployment)
        other = Wallet(m.contracts.w3, m.keys[11], m.contracts.errors)
        other.transact(m.contracts.market.functions.forfeitBond(bytes.fromhex(x1[2:])))
        return out

    monkeypatch.setattr(verifier.verify, "load_state", read_then_someone_forfeits)
    service = OracleService(m.chain.url, m.oracle_key, m.deployment_file, clear=mispriced)
    with caplog.at_level("INFO", logger="nodes.service"):
        done = service.run(once=True)  # before issue 11: TransactionReverted out of run()
    logs = caplog.messages
    monkeypatch.setattr(verifier.verify, "load_state", original)
    assert sorted(done.committed) == [raced, plain], (done, logs)
    assert list(done.skipped) == [garbled, broken], (done, logs)
    assert "published coordination is not JSON" in done.skipped[garbled]
    assert "FlexMarketAwardPriceInvalid" in done.skipped[broken], done.skipped
    # the batch failed on X1 (someone else was first); one by one, X2 is forfeited
    assert done.forfeited == {raced: 1}, (done, logs)
    assert any(f"session {broken}: commit failed, retried next pass" in x for x in logs), logs
    state = _state(m)
    assert state.sessions[broken].status == "None"
    assert state.sessions[raced].forfeited == {x1, m.bid_ids[("raced", "X2")]}
    for sid in (raced, plain):
        report, _ = verify_session(state, sid)
        assert report.ok, report.violations
    # next pass, with the honest clearing: the broken session is tried again and committed;
    # the garbled one cannot be rebuilt by any node (its operator published no JSON)
    again = OracleService(m.chain.url, m.oracle_key, m.deployment_file).step()
    assert list(again.committed) == [broken] and list(again.skipped) == [garbled], again
    report, _ = verify_session(_state(m), broken)
    assert report.ok, report.violations
