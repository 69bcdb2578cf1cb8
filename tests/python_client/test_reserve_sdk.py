"""The reserve SDK on a local anvil, end to end with the engine: the example tender (moved to
the chain's future by whole weeks) is created from the reserve file, the offers go on chain
with their versions and cancellation (the one above the cap and the late one are refused as
the engine rejects them), the engine's awards are committed, every activation of the
activations file is requested, signalled or metered with the engine's delivered energy, and
the contract pays exactly what the engine's settlement says."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oracle.metering import MeterData, parse_meter_data
from oracle.reserve import (
    ActivationsFile,
    ReserveFile,
    clear_reserve,
    parse_activations_file,
    parse_reserve,
    period_meter_hash,
    settle_reserve,
    validate,
)
from oracle.reserve.demo import ASSETS, DAYS, Step, demo_files
from oracle.reserve.files import Period, unix_s
from python_client.artifacts import ensure_artifacts
from python_client.chain import Contracts, Wallet, connect, deploy
from python_client.clients import AdminClient, AggregatorClient, DsoClient
from python_client.errors import TransactionReverted
from python_client.hashing import asset_id, label
from python_client.localchain import start_chain
from python_client.records import AssetType
from python_client.reserve import (
    ReserveClient,
    ReserveContract,
    award_rows,
    deploy_reserve,
    result_hashes,
    tender_params,
)
from verifier.reserve import check_reserve_chain, fetch_reserve_events

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "reserve"
KEY = b"flexmarket-reserve-sdk-test"
DEPOSIT = 10**12
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}")


def shifted(text: str, days: int) -> str:
    """Every ISO time of `text` `days` later (same wall clock and offset)."""
    def move(m: re.Match[str]) -> str:
        return (datetime.fromisoformat(m.group(0)) + timedelta(days=days)).isoformat()
    return _TIME.sub(move, text)


@pytest.fixture(scope="module")
def chain() -> Iterator[object]:
    ensure_artifacts()
    with start_chain("anvil") as c:
        yield c


@dataclass
class Run:
    url: str
    reserve: str
    f: ReserveFile
    acts: ActivationsFile
    meter: MeterData
    days: int


@pytest.fixture(scope="module")
def run(chain) -> Run:
    """The example on chain, every step checked against the engine as it goes."""
    return run_on_chain(chain, (EXAMPLE / "powercut_urgent_june.json").read_text(),
                        (EXAMPLE / "activations_june.json").read_text(),
                        (EXAMPLE / "meter_june.csv").read_text())


def run_on_chain(chain, reserve_text: str, acts_text: str, meter_text: str) -> Run:
    """Fresh contracts; the files moved whole weeks into the chain's future; every step
    on chain checked against the engine as it goes; everyone withdraws at the end."""
    w3 = connect(chain.url)
    keys = chain.dev_private_keys
    deployment = deploy(w3, Wallet(w3, keys[0]))
    contracts = Contracts(w3, deployment)
    admin = AdminClient(contracts, keys[0])
    dso_m = DsoClient(contracts, keys[1])
    agg_m = {"AGG1": AggregatorClient(contracts, keys[2]),
             "AGG2": AggregatorClient(contracts, keys[3])}
    reserve = ReserveContract(w3, deploy_reserve(w3, admin.wallet, deployment))
    dso, oracle, metering = (ReserveClient(reserve, keys[i]) for i in (1, 4, 5))
    aggs = {name: ReserveClient(reserve, keys[i]) for name, i in (("AGG1", 2), ("AGG2", 3))}
    for role, address in [("DSO", dso.address), ("AGGREGATOR", aggs["AGG1"].address),
                          ("AGGREGATOR", aggs["AGG2"].address), ("ORACLE", oracle.address),
                          ("METERING", metering.address)]:
        admin.grant_role(role, address)
    for client in (dso, *aggs.values()):
        admin.mint(client.address, DEPOSIT)
        client.deposit(DEPOSIT)
    dso_m.wallet.reset_nonce()
    dso_m.register_zone(label("T1"), 0)

    # the example, whole weeks later than the chain's clock
    now = int(w3.eth.get_block("latest")["timestamp"])
    first_offer = min(unix_s(o.submitted_at) for o in parse_reserve(reserve_text).offers)
    weeks = max(0, -(-(now - first_offer + 2 * 86_400) // (7 * 86_400)))
    days = 7 * weeks
    f = parse_reserve(shifted(reserve_text, days))
    acts = parse_activations_file(shifted(acts_text, days))
    meter = parse_meter_data(shifted(meter_text, days))
    result = clear_reserve(f)
    settlement = settle_reserve(f, result, acts, meter)
    outcome = {o.activation: o for a in settlement.awards for o in a.activations}

    tender = dso.create_tender(tender_params(f))
    assert dso.tender(tender)[1] == dso.address

    # offers: every version in file order; the chain refuses what the engine rejects
    def assets_of(aggregator: str, names: list[str]) -> list[bytes]:
        ids = []
        agg_m[aggregator].wallet.reset_nonce()  # its key sent reserve transactions meanwhile
        dso_m.wallet.reset_nonce()
        for name in names:
            aid = asset_id(name, KEY)
            if aid not in registered:
                agg_m[aggregator].register_asset(aid, AssetType.LOAD, 50_000, 0, label("T1"),
                                                 agg_m[aggregator].address)
                dso_m.prequalify(aid)
                registered.add(aid)
            ids.append(aid)
        return sorted(ids)

    registered: set[bytes] = set()
    index: dict[str, int] = {}
    rejected = validate(f)[1]
    for o in sorted(f.offers, key=lambda o: o.submitted_at):
        client = aggs[o.aggregator]
        chain.warp_to(unix_s(o.submitted_at))
        fields = (o.quantity_w, o.min_quantity_w or 0, o.divisible,
                  o.availability_price_eur_per_mw_h, o.utilisation_price_eur_per_mwh,
                  assets_of(o.aggregator, o.assets))
        if "above the cap" in rejected.get(o.id, ""):
            with pytest.raises(TransactionReverted, match="FlexReserveOfferInvalid"):
                client.submit_offer(tender, fields)
        elif "after gate closure" in rejected.get(o.id, ""):
            with pytest.raises(TransactionReverted, match="FlexReserveNotOpen"):
                client.submit_offer(tender, fields)
        elif o.cancelled:
            client.cancel_offer(tender, index[o.id])
        elif o.id in index:
            client.modify_offer(tender, index[o.id], fields)
        else:
            index[o.id] = client.submit_offer(tender, fields)
    chain.warp_to(unix_s(f.tender.gate_closure))
    oracle.commit_awards(tender, *result_hashes(result), award_rows(result, index))
    awarded = {a.offer for a in result.awards}
    for offer_id in sorted(set(index) - awarded - set(rejected)):
        aggs[next(o.aggregator for o in f.offers if o.id == offer_id)].release_offer(
            tender, index[offer_id])

    period = Period.of(f.tender)
    for a in sorted(acts.activations, key=lambda a: unix_s(a.start)):
        got = outcome[a.id]
        client = aggs[next(o.aggregator for o in f.offers if o.id == a.offer)]
        chain.warp_to(unix_s(a.requested_at))
        start = unix_s(a.start)
        call = (tender, index[a.offer], start, a.duration_minutes * 60, a.power_w)
        if got.status == "rejected":
            with pytest.raises(TransactionReverted,
                               match="FlexReserveActivationInvalid|FlexReserveAwardTerminated"):
                dso.request_activation(*call)
            continue
        act = dso.request_activation(*call)
        if got.status == "inability":
            chain.warp_to(unix_s(a.inability_at))
            events = client.signal_inability(act)
            assert events[0].args["penaltyUeur"] == got.penalty_ueur
            continue
        if a.acknowledged_at is not None:
            chain.warp_to(unix_s(a.acknowledged_at))
            client.acknowledge(act)
        day = (start - period.start_s) // 86_400  # after the day: its meter data committed
        chain.warp_to(max(start + a.duration_minutes * 60, period.start_s + (day + 1) * 86_400))
        day_hash = bytes.fromhex(period_meter_hash(meter, period, day)[2:])
        if metering.meter_data(tender, day) == bytes(32):
            metering.commit_meter_data(tender, day, day_hash)
        events = metering.record_delivery(act, got.delivered_wh, day_hash)
        recorded = next(e for e in events if e.name == "DeliveryRecorded")
        assert (recorded.args["utilisationUeur"], recorded.args["penaltyUeur"],
                recorded.args["requestedWh"]) == (got.utilisation_ueur, got.penalty_ueur,
                                                  got.requested_wh)

    period_end = unix_s(f.tender.period_start) + (f.tender.days - 1) * 86_400 \
        + f.tender.daily_end_minute * 60
    chain.warp_to(period_end)
    for award in result.awards:
        dso.close_award(tender, index[award.offer])
    by_offer = {a.offer: a for a in settlement.awards if a.offer}
    for name in aggs:
        offers = [a.offer for a in result.awards if a.aggregator == name]
        gain = sum(by_offer[o].paid_ueur - by_offer[o].penalty_ueur for o in offers)
        assert aggs[name].balances() == (DEPOSIT + gain, 0)
        assert [int(aggs[name].award(tender, index[o])[4]) for o in offers] \
            == [by_offer[o].days_paid for o in offers]
    assert dso.balances() == (DEPOSIT - settlement.paid_ueur + settlement.penalty_ueur, 0)
    for client in (dso, *aggs.values()):
        client.withdraw_all()
    assert int(reserve.token.functions.balanceOf(reserve.address).call()) == 0
    return Run(chain.url, reserve.address, f, acts, meter, days)


def test_the_example_runs_on_chain_as_the_engine_settles_it(run):
    assert run.days % 7 == 0  # the run's own assertions held (the fixture makes them)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_activations_end_on_chain_as_the_engine_settles_them(chain, seed):
    """The demo's tender with random activations (powers, durations, responses from nothing
    to everything, inability signals) on flat meter data: the chain's record equals the
    engine's settlement (failures in order, penalties capped, the termination, days paid)."""
    rng = random.Random(seed)
    steps, day = [], 2
    while day < 29:
        offer = rng.choice(["O1", "O1", "O2"])
        cap = 20_000 if offer == "O1" else 10_000
        inability = rng.random() < 0.2
        steps.append(Step(f"S{len(steps) + 1}", offer, day, rng.choice(["17:00", "18:30"]),
                          rng.choice([30, 45, 60, 120]), rng.randint(1, cap // 100) * 100,
                          rng.choice([0, 40, 85, 95, 120]),
                          inability_minutes_before=10 if inability else None))
        day += rng.randint(1, 4)
    reserve, acts, meter = demo_files({a: [2_000] * (DAYS * 96) for assets in ASSETS.values()
                                       for a in assets}, steps)
    run = run_on_chain(chain, json.dumps(reserve), json.dumps(acts), meter)
    events = fetch_reserve_events(run.url, run.reserve)
    assert check_reserve_chain(events, run.f, run.acts, run.meter) == []


def test_a_replica_holding_the_files_finds_the_chain_in_order(run):
    events = fetch_reserve_events(run.url, run.reserve)
    assert {e.event for e in events} >= {"TenderCreated", "OfferSubmitted", "OfferCancelled",
                                         "AwardsCommitted", "ActivationRequested",
                                         "InabilitySignalled", "DeliveryRecorded",
                                         "ContractTerminated", "AwardClosed"}
    assert check_reserve_chain(events, run.f, run.acts, run.meter) == []


def test_a_replica_disputes_a_delivery_that_does_not_follow_from_the_meter_data(run):
    events = fetch_reserve_events(run.url, run.reserve)
    # the metering operator's record of A1 said 1 Wh more than the baselines give
    tampered = [replace(e, args={**e.args, "deliveredWh": int(e.args["deliveredWh"]) - 1})
                if e.event == "DeliveryRecorded" and int(e.args["deliveredWh"]) == 20_000
                else e for e in events]
    found = check_reserve_chain(tampered, run.f, run.acts, run.meter)
    assert [m.where for m in found] == ["activation A1 (chain 1)"]
    # other meter data (one reading of A3 changed): the hash and A3's delivery differ
    text = run.meter.canonical().decode()
    other = parse_meter_data("asset_id,interval_start,net_import_wh\n" + "".join(
        f"{a},{datetime.fromtimestamp(int(t), UTC).isoformat()},{wh}\n"
        for a, t, wh in (line.split(",") for line in text.splitlines())))
    assert check_reserve_chain(events, run.f, run.acts, other) == []  # same data, UTC times
    lines = text.splitlines()
    a3 = unix_s(datetime.fromisoformat("2026-06-10T18:15:00+02:00")) + run.days * 86_400
    at = lines.index(next(ln for ln in lines if ln.startswith(f"AGG1-EVFLEET1,{a3},")))
    asset, t, wh = lines[at].split(",")
    lines[at] = f"{asset},{t},{int(wh) - 500}"
    changed = parse_meter_data("asset_id,interval_start,net_import_wh\n" + "".join(
        f"{a},{datetime.fromtimestamp(int(t), UTC).isoformat()},{wh}\n"
        for a, t, wh in (line.split(",") for line in lines)))
    wheres = {m.where for m in check_reserve_chain(events, run.f, run.acts, changed)}
    assert "activation A3 (chain 3)" in wheres


def test_the_verify_command_reads_the_chain_and_the_files(run, tmp_path):
    import subprocess
    import sys

    (tmp_path / "reserve.json").write_text(run.f.model_dump_json(by_alias=True))
    (tmp_path / "acts.json").write_text(run.acts.model_dump_json(by_alias=True))
    text = run.meter.canonical().decode()
    (tmp_path / "meter.csv").write_text("asset_id,interval_start,net_import_wh\n" + "".join(
        f"{a},{datetime.fromtimestamp(int(t), UTC).isoformat()},{wh}\n"
        for a, t, wh in (line.split(",") for line in text.splitlines())))
    args = [sys.executable, "-m", "flexmarket", "reserve", "verify", str(tmp_path / "reserve.json"),
            "--rpc", run.url, "--reserve", run.reserve, "--activations",
            str(tmp_path / "acts.json"), "--meter", str(tmp_path / "meter.csv"), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    other = run.acts.model_dump(mode="json", by_alias=True)
    other["tender"] = "T9"
    (tmp_path / "acts.json").write_text(json.dumps(other))
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, check=False)
    assert proc.returncode == 2 and "tender" in proc.stderr and proc.stdout == ""
