"""Replicas survive anything the chain accepted (issue 11 §1): an event the replay cannot
place is reported (event, block, transaction) and skipped, never fatal for the other
sessions, in the rebuild, `flexmarket verify` and `replay`, the validators, the oracle
service and the indexer.

On anvil, a role-less account commits bids for sessions not opened yet and forfeits them
(the contracts allowed it before issue 11 §1 closed it on chain: where they refuse it, that
part checks the refusal); then the sessions open and run as usual. On the decoded events
of that chain, events no session can hold are added (a forfeit of a session never opened,
a settlement of an award never committed, a reveal naming an unknown asset, a status
beyond the enum, a registry event without its fields)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from terminal import flexmarket
from verify_helpers import Market, build_market

from nodes.service import OracleService
from nodes.validator import validate_once
from python_client.chain import Wallet
from python_client.errors import TransactionReverted
from python_client.localchain import start_chain
from verifier.events import DecodedLog
from verifier.indexer import run_indexer
from verifier.rebuild import read_chain, replay
from verifier.rpc import JsonRpc
from verifier.store import Database
from verifier.verify import Report, judge_session, load_state, verify_chain

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = {"first": {}, "second": {}}
FAR = 99  # a session id never opened


@dataclasses.dataclass
class Attack:
    accepted: bool
    error: str = ""
    txs: list[str] = dataclasses.field(default_factory=list)  # commit, forfeit, ... hashes


@pytest.fixture(scope="module")
def chain_market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Market, Attack]]:
    attack = Attack(accepted=True)

    def spam(m: Market) -> None:
        """A role-less account: a commit and a forfeit for sessions 1, 2 (opened next) and
        99 (never opened), each before its session exists."""
        w = Wallet(m.contracts.w3, m.keys[11], m.contracts.errors)
        market = m.contracts.market.functions
        for sid in (1, 2, FAR):
            try:
                receipt = w.transact(market.commitBid(sid, bytes([sid]) * 32))
            except TransactionReverted as exc:
                attack.accepted, attack.error = False, exc.error
                w.reset_nonce()
                return
            (event,) = [e for e in m.contracts.decode_logs(receipt) if e.name == "BidCommitted"]
            attack.txs.append(receipt["transactionHash"].to_0x_hex())
            receipt = w.transact(market.forfeitBond(event.args["bidId"]))
            attack.txs.append(receipt["transactionHash"].to_0x_hex())

    with start_chain("anvil", accounts=12) as chain:
        m = build_market(chain, tmp_path_factory.mktemp("robust"), SESSIONS, before_open=spam)
        assert sorted(m.sessions.values()) == [1, 2]
        done = OracleService(chain.url, m.oracle_key, m.deployment_file).step()
        assert sorted(done.committed) == [1, 2] and done.skipped == {}, done
        yield m, attack




def test_commits_and_forfeits_before_a_session_opens_stop_no_node(
    chain_market: tuple[Market, Attack], tmp_path: Path
) -> None:
    m, attack = chain_market
    if not attack.accepted:  # closed on chain (issue 11 §1): nothing to place
        assert attack.error.startswith("FlexMarket"), attack.error
    # verify and replay: every session checked and ok, the attack's events listed
    report = verify_chain(m.chain.url, m.deployment_file)
    assert report.ok, report.render()
    assert [s.session_id for s in report.sessions] == [1, 2]
    assert all(s.checked and s.ok for s in report.sessions)
    listed = [(u.event, u.session_id, u.tx) for u in report.unplaced]
    if attack.accepted:
        expected = [(name, sid, tx) for sid, pair in zip((1, 2, FAR), zip(
            attack.txs[::2], attack.txs[1::2], strict=True), strict=True)
            for name, tx in zip(("BidCommitted", "BondForfeited"), pair, strict=True)]
        assert listed == expected, listed
        assert all(u.block > 0 and "before its SessionOpened" in u.reason
                   for u in report.unplaced)  # fmt: skip
    url, dep = m.chain.url, str(m.deployment_file)
    proc = flexmarket("verify", "--rpc", url, "--deployment", dep, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    assert body["ok"] and [u["tx"] for u in body["unplaced"]] == [t for _, _, t in listed]
    proc = flexmarket("replay", "--rpc", url, "--deployment", dep)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if attack.accepted:
        assert "6 events of no session, skipped:" in proc.stdout
        assert "BondForfeited at block" in proc.stdout and attack.txs[1] in proc.stdout
    # validators attest both sessions
    for key in m.validator_keys[:3]:
        actions = validate_once(url, m.deployment_file, key)
        assert [(a.session_id, a.action) for a in actions] == [(1, "attested"), (2, "attested")]
    # the indexer projects every event, the attack's too
    db = f"sqlite:///{tmp_path}/index.sqlite"
    run_indexer(url, db, m.deployment_file)
    with Database(db) as store:
        forfeits = store.query("SELECT session_id FROM bond_forfeits ORDER BY block_number")
        sessions = store.query("SELECT session_id FROM sessions ORDER BY session_id")
    assert [int(r[0]) for r in sessions] == [1, 2]
    assert [int(r[0]) for r in forfeits] == ([1, 2, FAR] if attack.accepted else [])


def _fake(template: DecodedLog, contract: str, event: str, block: int, index: int,
          **args: Any) -> DecodedLog:
    return dataclasses.replace(template, contract=contract, event=event, block_number=block,
                               log_index=index, tx_hash="0x" + f"{block:02x}{index:02x}" * 16,
                               args=args)  # fmt: skip


def test_events_no_session_can_hold_are_reported_and_skipped(
    chain_market: tuple[Market, Attack],
) -> None:
    m, _ = chain_market
    with JsonRpc(m.chain.url) as rpc:
        state, addresses = load_state(rpc, m.deployment_file)
        chain = read_chain(rpc, addresses)
    t = chain.logs[0]
    last = chain.logs[-1].block_number
    second = m.sessions["second"]
    fakes = [
        _fake(t, "FlexMarket", "BondForfeited", 1, 900, sessionId=77, bidId="0x" + "ab" * 32,
              seller="0x" + "11" * 20, operator="0x" + "22" * 20, amountUeur=0),
        _fake(t, "FlexRegistry", "ZoneRegistered", 2, 900, limitW=5),  # no zone field
        _fake(t, "FlexMarket", "", 2, 901, topics=["0x" + "99" * 32], data="0x"),  # no ABI
        _fake(t, "FlexMarket", "AwardSettled", last, 900, sessionId=second, awardIndex=42,
              seller="0x" + "11" * 20, paymentUeur=1, refundUeur=0, penaltyUeur=0),
        _fake(t, "FlexMarket", "ResultAttested", last, 901, sessionId=second,
              validator="0x" + "33" * 20, attestations=1, status=9),
        _fake(t, "FlexMarket", "DeliveryRecorded", last, 902, sessionId=second, awardIndex=7,
              operator="0x" + "44" * 20, deliveredW=1, evidenceHash="0x" + "00" * 32),
    ]  # fmt: skip
    chain.logs = chain.logs + fakes
    rebuilt = replay(chain)  # before issue 11: RebuildError, every session lost
    assert [(u.event, u.session_id) for u in rebuilt.unplaced] == [
        ("BondForfeited", 77), ("ZoneRegistered", None), ("(unknown event)", None),
        ("AwardSettled", second), ("ResultAttested", second),
        ("DeliveryRecorded", second)]  # fmt: skip
    assert [u.event for u in rebuilt.unplaced_elsewhere()] == [
        "BondForfeited", "ZoneRegistered", "(unknown event)"]  # fmt: skip
    assert "0x" + "99" * 32 in rebuilt.unplaced[2].reason
    assert "award 42 of session 2, never committed" in rebuilt.unplaced[3].reason
    # nothing of a skipped event was applied: the first session is the chain's, and verifies
    first = judge_session(rebuilt, m.sessions["first"])
    assert first.ok and first.checked, first.violations
    assert rebuilt.sessions[second].status == state.sessions[second].status  # not status 9
    # what `flexmarket verify|replay` print: events of no session listed, failing nothing
    elsewhere = rebuilt.unplaced_elsewhere()
    out = Report(chain.chain_id, last, "engine", {}, [first], {}, len(chain.logs), elsewhere)
    assert out.ok and "3 events of no session, skipped:" in out.render()
    assert f"FlexMarket.BondForfeited at block 1 (tx {fakes[0].tx_hash}" in out.render()
    assert [(u["event"], u["block"], u["tx"]) for u in out.to_json()["unplaced"]] == [
        (f.event or "(unknown event)", f.block_number, f.tx_hash) for f in fakes[:3]]  # fmt: skip
    # the second session's rebuild may not be the chain's: no node vouches for it
    report = judge_session(rebuilt, second)
    assert not report.ok
    placed = [v for v in report.violations if v.startswith("event not placed: ")]
    assert len(placed) == 3 and fakes[3].tx_hash in placed[0] and f"block {last}" in placed[0]
    # a reveal naming an asset never registered, in a session of its own (copied)
    reveal = next(x for x in chain.logs if x.event == "BidRevealed"
                  and x.args["sessionId"] == m.sessions["first"])  # fmt: skip
    odd = dataclasses.replace(reveal, log_index=950, block_number=last, args={
        **reveal.args, "bidId": "0x" + "cd" * 32, "assetIds": ["0x" + "ef" * 32]})  # fmt: skip
    chain.logs = chain.logs + [odd]
    rebuilt = replay(chain)
    assert "never committed in session 1" in rebuilt.sessions[1].unplaced[0].reason
    assert len(rebuilt.sessions[1].reveals) == len(state.sessions[1].reveals)


def test_the_indexer_projects_events_of_no_session_like_any_other() -> None:
    """Projections look no session up: a forfeit of a session never opened and a settlement
    of an award never committed become rows (the raw `events` table keeps every log)."""
    from verifier.projections import Batch, project

    t = DecodedLog(5, "0x" + "00" * 32, 0, "0x" + "01" * 32, 0, "0x" + "02" * 20,
                   "FlexMarket", "", {})  # fmt: skip
    batch = Batch()
    project(batch, _fake(t, "FlexMarket", "BondForfeited", 5, 0, sessionId=77,
                         bidId="0x" + "ab" * 32, seller="0x" + "11" * 20,
                         operator="0x" + "22" * 20, amountUeur=0), 1_000)  # fmt: skip
    project(batch, _fake(t, "FlexMarket", "AwardSettled", 5, 1, sessionId=77, awardIndex=3,
                         seller="0x" + "11" * 20, paymentUeur=5, refundUeur=0,
                         penaltyUeur=0), 1_000)  # fmt: skip
    assert [r[2] for r in batch.rows["bond_forfeits"]] == [77]
    assert [r[2:4] for r in batch.rows["settlements"]] == [(77, 3)]
