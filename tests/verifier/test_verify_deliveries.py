"""Corrected and lapsed deliveries on a real anvil (issue 11 §5-6): the replica recomputes
their settlements from the chain and accepts them; one value changed in the decoded events
is a mismatch.

- `corrected`: a 60 s correction window; the metering operator records award 1 short
  (beyond tolerance) and corrects it to full delivery within the window; settlement waits
  for the window and pays the corrected value;
- `lapsed`: nothing recorded by the delivery deadline (the test moves the fixture chain's
  clock past it): every award settles per `DeliveryLapsed`, nothing paid, all refunded.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from terminal import flexmarket
from verify_helpers import Market, build_market

from nodes.service import OracleService
from nodes.validator import validate_once
from python_client.errors import TransactionReverted
from python_client.localchain import start_chain
from verifier.rpc import JsonRpc
from verifier.verify import SessionReport, check_settlements, load_state, verify_chain

ROOT = Path(__file__).resolve().parents[2]
FINAL = 3
WINDOW_S = 60
SESSIONS = {"corrected": {"correction_window_s": WINDOW_S}, "lapsed": {}}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    with start_chain("anvil", accounts=12) as chain:
        m = build_market(chain, tmp_path_factory.mktemp("deliveries"), SESSIONS)
        done = OracleService(chain.url, m.oracle_key, m.deployment_file).step()
        assert sorted(done.committed) == sorted(m.sessions.values()), done
        for k in m.validator_keys[:3]:
            validate_once(chain.url, m.deployment_file, k, sessions=list(m.sessions.values()))
        assert {m.status(n) for n in SESSIONS} == {FINAL}
        yield m


def _state(m: Market) -> Any:
    with JsonRpc(m.chain.url) as rpc:
        return load_state(rpc, m.deployment_file)[0]


def _settled(m: Market, sid: int) -> dict[int, tuple[int, int, int]]:
    logs = m.contracts.market.events.AwardSettled().get_logs(
        from_block=0, argument_filters={"sessionId": sid}
    )
    out = {}
    for log in logs:
        a = log["args"]
        out[int(a["awardIndex"])] = (int(a["paymentUeur"]), int(a["refundUeur"]),
                                     int(a["penaltyUeur"]))  # fmt: skip
    return out


def _failures(m: Market, seller: str) -> int:
    fn = m.contracts.market.functions.standingOf
    return int(fn(m.contracts.w3.to_checksum_address(seller)).call()[0])


def test_corrected_delivery_is_settled_with_the_corrected_value(market: Market) -> None:
    sid = market.sessions["corrected"]
    rec = _state(market).sessions[sid]
    quantity = {a.index: a.quantity_w for a in rec.awards}
    assert sorted(quantity.values()) == [4_000, 6_000]
    short = {i: q // 10 for i, q in quantity.items()}  # 90 % short: beyond the 5 % tolerance
    market.metering.record_deliveries(sid, short, b"\3" * 32)
    with pytest.raises(TransactionReverted) as caught:  # the window is open
        market.oracle.settle_award(sid, 0)
    assert caught.value.error == "FlexMarketCorrectionWindowOpen"
    events = market.metering.correct_delivery(sid, 1, quantity[1], b"\4" * 32)
    corrected = [e for e in events if e.name == "DeliveryCorrected"]
    assert len(corrected) == 1
    market.chain.warp_to(int(market.contracts.w3.eth.get_block("latest")["timestamp"])
                         + WINDOW_S + 1)  # fmt: skip
    with pytest.raises(TransactionReverted) as caught:  # the window closed
        market.metering.correct_delivery(sid, 0, quantity[0], b"\5" * 32)
    assert caught.value.error == "FlexMarketCorrectionWindowClosed"
    market.oracle.settle_awards(sid, 0, 2)
    rec = _state(market).sessions[sid]
    payment = {a.index: a.payment_ueur for a in rec.awards}
    settled = _settled(market, sid)
    assert settled[1] == (payment[1], 0, 0)  # the corrected, full delivery: paid in full
    assert settled[0][0] == payment[0] // quantity[0] * short[0]  # the uncorrected shortfall
    assert settled[0][2] > 0
    report = verify_chain(market.chain.url, market.deployment_file)
    by_id = {s.session_id: s for s in report.sessions}
    assert by_id[sid].ok, by_id[sid].violations
    assert by_id[sid].settlements == {"checked": 2, "mismatches": []}
    proc = flexmarket("verify", "--rpc", market.chain.url, "--deployment",
                str(market.deployment_file), "--session", str(sid))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout


def test_lapsed_awards_are_refunded_and_verified(market: Market) -> None:
    sid = market.sessions["lapsed"]
    rec = _state(market).sessions[sid]
    with pytest.raises(TransactionReverted) as caught:  # before the deadline: not yet lapsed
        market.oracle.settle_award(sid, 0)
    assert caught.value.error == "FlexMarketDeliveryMissing"
    market.chain.warp_to(int(rec.params["deliveryDeadline"]) + 1)
    with pytest.raises(TransactionReverted) as caught:
        market.metering.record_deliveries(sid, {0: 1}, b"\6" * 32)
    assert caught.value.error == "FlexMarketDeliveryClosed"
    failures_before = {a.seller: _failures(market, a.seller) for a in rec.awards}
    events = market.oracle.settle_awards(sid, 0, len(rec.awards))
    assert [e.name for e in events].count("DeliveryLapsed") == len(rec.awards)
    settled = _settled(market, sid)
    assert settled == {a.index: (0, a.payment_ueur, 0) for a in rec.awards}
    assert failures_before == {s: _failures(market, s) for s in failures_before}  # not the seller's
    report = verify_chain(market.chain.url, market.deployment_file)
    by_id = {s.session_id: s for s in report.sessions}
    assert by_id[sid].ok, by_id[sid].violations
    assert by_id[sid].settlements == {"checked": len(rec.awards), "mismatches": []}
    assert report.ok, [s.violations for s in report.sessions]
    proc = flexmarket(
        "verify", "--rpc", market.chain.url, "--deployment", str(market.deployment_file)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_changed_value_in_the_decoded_events_is_a_mismatch(market: Market) -> None:
    state = _state(market)
    recs = {n: state.sessions[market.sessions[n]] for n in SESSIONS}
    if not all(a.settlement for r in recs.values() for a in r.awards):
        pytest.skip("needs the two settlement tests above")
    for name, rec in recs.items():  # as read: no mismatch
        report = SessionReport(rec.session_id, rec.status, len(rec.reveals), len(rec.awards))
        check_settlements(state, rec, report)
        assert report.settlements["mismatches"] == [], (name, report.settlements)
    # the corrected award read with its first record (the correction dropped)
    rec = copy.deepcopy(recs["corrected"])
    award = next(a for a in rec.awards if a.index == 1)
    award.delivered_w = award.quantity_w // 10
    report = SessionReport(rec.session_id, rec.status, len(rec.reveals), len(rec.awards))
    check_settlements(state, rec, report)
    assert any("award 1: settled" in m for m in report.settlements["mismatches"]), report
    assert not report.ok
    # a lapsed award whose settlement paid the seller
    rec = copy.deepcopy(recs["lapsed"])
    award = rec.awards[0]
    award.settlement = (award.payment_ueur, 0, 0)
    report = SessionReport(rec.session_id, rec.status, len(rec.reveals), len(rec.awards))
    check_settlements(state, rec, report)
    assert any(f"award {award.index}: settled" in m for m in report.settlements["mismatches"])
    assert not report.ok
