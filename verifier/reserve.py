"""A replica's check of a reserve tender on chain (`contracts/FlexReserve.sol`) against what
follows from the files: the reserve file, the activations and the meter data
(`docs/reserve.md`). Whoever holds them (an auditor, the aggregator, the DSO) re-runs the
engine's clearing and settlement (`oracle.reserve`) and compares every step the chain
recorded:

- the tender's parameters are the file's (`python_client.reserve.tender_params`);
- the awards' hashes are the engine's `input_hash` and `result_hash`, and the awards (watts,
  prices, budget, collateral) are the engine's;
- each day's meter data hash committed is that of the file's readings of the day;
- each activation the chain resolved: an inability counted with the engine's penalty; a
  delivery with its day's meter data hash, the engine's delivered energy (from the baselines),
  utilisation and penalty; the contract ended by the same activation;
- the availability paid is the engine's for each award, once settled.

Every difference is a `ReserveMismatch` naming where: the grounds of a dispute. The chain's
offers carry no file ids: awards are matched by their terms, activations by award and start.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oracle.metering import MeterData
from oracle.metering.meterdata import DAY_S
from oracle.reserve import (
    ActivationsFile,
    ReserveFile,
    clear_reserve,
    period_meter_hash,
    settle_reserve,
)
from oracle.reserve.files import Period, unix_s
from python_client.paths import ARTIFACTS_DIR
from python_client.reserve import RESERVE, tender_params
from verifier.events import DecodedLog, EventDecoder
from verifier.rpc import JsonRpc

TENDER_FIELDS = (
    "tenderId", "product", "zone", "direction", "periodStart", "dayCount", "dailyStartS",
    "dailyEndS", "gateClosure", "quantityW", "maxQuantityW", "granularityW", "noticeS",
    "minDurationS", "maxDurationS", "maxActivations", "maxFailures", "tolerancePercent",
    "availabilityCapEurPerMwH", "utilisationCapEurPerMwh", "shortfallPenaltyEurPerMwh",
    "inabilityPenaltyEurPerMw", "collateralEurPerMw",
)
"""TenderParams of IFlexReserve.sol, in order (the order `tender_params` builds)."""


@dataclass(frozen=True)
class ReserveMismatch:
    where: str  # "tender.noticeS", "awards", "activation A3 (chain 4)", ...
    message: str


def fetch_reserve_events(rpc_url: str, address: str, artifacts_dir: Path | None = None
                         ) -> list[DecodedLog]:
    """Every FlexReserve event from genesis, decoded, in chain order."""
    decoder = EventDecoder.from_artifacts({RESERVE: address}, artifacts_dir or ARTIFACTS_DIR)
    with JsonRpc(rpc_url) as rpc:
        logs = rpc.call("eth_getLogs", [{"address": address, "fromBlock": "0x0",
                                         "toBlock": "latest"}])
    return decoder.decode_all(logs)


def _hex(value: bytes | str) -> str:
    return value.lower() if isinstance(value, str) else "0x" + value.hex()


def check_reserve_chain(events: list[DecodedLog], f: ReserveFile, acts: ActivationsFile,
                        meter: MeterData) -> list[ReserveMismatch]:
    """Every difference between the chain's record of `f`'s tender and what the files say."""
    out: list[ReserveMismatch] = []

    def fail(where: str, message: str) -> None:
        out.append(ReserveMismatch(where, message))

    expected = dict(zip(TENDER_FIELDS, tender_params(f), strict=True))
    tender_label = _hex(expected["tenderId"])
    created = [e for e in events if e.event == "TenderCreated"
               and _hex(e.args["params"]["tenderId"]) == tender_label]
    if not created:
        return [ReserveMismatch("tender", f"no TenderCreated for {f.tender.id!r}")]
    number = int(created[0].args["tender"])
    for name, value in expected.items():
        got = created[0].args["params"][name]
        if (_hex(got) if isinstance(value, bytes) else int(got)) != (
                _hex(value) if isinstance(value, bytes) else int(value)):
            fail(f"tender.{name}", f"on chain {got}, the file says {value!r}")
    mine = [e for e in events if int(e.args.get("tender", -1)) == number]
    result = clear_reserve(f)
    settlement = settle_reserve(f, result, acts, meter)

    # awards, matched by their terms
    offers: dict[int, dict[str, Any]] = {}
    for e in mine:
        if e.event == "OfferSubmitted":
            offers[int(e.args["offerIndex"])] = e.args["params"]
    committed = [e for e in mine if e.event == "AwardsCommitted"]
    if not committed:
        fail("awards", "no AwardsCommitted")
        return out
    if (committed[0].args["inputHash"], committed[0].args["resultHash"]) != (
            result.input_hash, result.result_hash):
        fail("awards", "inputHash / resultHash are not the engine's")

    def terms(quantity_w: int, a: int, u: int, budget: int, collateral: int
              ) -> tuple[int, ...]:
        return (quantity_w, a, u, budget, collateral)

    chain_awards: dict[int, tuple[int, ...]] = {}
    for e in mine:
        if e.event == "AwardCommitted":
            index = int(e.args["offerIndex"])
            p = offers[index]
            chain_awards[index] = terms(int(e.args["quantityW"]),
                                        int(p["availabilityPriceEurPerMwH"]),
                                        int(p["utilisationPriceEurPerMwh"]),
                                        int(e.args["budgetUeur"]), int(e.args["collateralUeur"]))
    engine_awards = {a.offer: terms(a.quantity_w, a.availability_price_eur_per_mw_h,
                                    a.utilisation_price_eur_per_mwh, a.budget_ueur,
                                    a.collateral_ueur) for a in result.awards}
    if Counter(chain_awards.values()) != Counter(engine_awards.values()):
        fail("awards", f"on chain {sorted(chain_awards.values())}, the engine's "
             f"{sorted(engine_awards.values())}")
        return out
    offer_of: dict[int, str] = {}
    for index, t in sorted(chain_awards.items()):
        offer_of[index] = next(o for o, et in sorted(engine_awards.items())
                               if et == t and o not in offer_of.values())

    # activations, matched by award and start
    by_award = {a.offer: a for a in settlement.awards if a.offer}
    outcome = {(a.offer, unix_s(a.start)): a.id for a in acts.activations}
    results = {o.activation: o for s in settlement.awards for o in s.activations}
    activation_of: dict[int, str] = {}
    day_of: dict[int, int] = {}
    period = Period.of(f.tender)
    for e in mine:
        if e.event == "MeterDataCommitted":
            day = int(e.args["day"])
            if _hex(e.args["meterHash"]) != period_meter_hash(meter, period, day):
                fail(f"meter data of day {day}", "the hash committed is not that of the "
                     "file's readings of the day")
        if e.event == "ActivationRequested":
            day_of[int(e.args["activationId"])] = (int(e.args["start"]) - period.start_s) \
                // DAY_S
            key = (offer_of.get(int(e.args["offerIndex"]), "?"), int(e.args["start"]))
            found = outcome.get(key)
            if found is not None and results[found].status == "rejected" and (
                    results[found].reason or "").startswith("the contract ended"):
                continue  # requested before the termination was recorded: never resolved
            if found is None or results[found].status == "rejected":
                fail(f"activation (chain {e.args['activationId']})", "requested on chain, "
                     "not an activation the files allow")
                continue
            activation_of[int(e.args["activationId"])] = found
    for e in events:
        aid = int(e.args.get("activationId", 0))
        if aid not in activation_of:
            continue
        name = activation_of[aid]
        r = results[name]
        where = f"activation {name} (chain {aid})"
        if e.event == "DeliveryRecorded":
            if _hex(e.args["meterHash"]) != period_meter_hash(meter, period, day_of[aid]):
                fail(where, "recorded with the hash of other meter data than the file's")
            got = (int(e.args["deliveredWh"]), int(e.args["utilisationUeur"]),
                   int(e.args["penaltyUeur"]))
            want = (r.delivered_wh, r.utilisation_ueur, r.penalty_ueur)
            if r.status not in ("delivered", "failed") or got != want:
                fail(where, f"delivered Wh, utilisation, penalty {got} on chain; the meter "
                     f"data give {want} ({r.status})")
        elif e.event == "InabilitySignalled" and int(e.args["penaltyUeur"]) > 0:
            if r.status != "inability" or int(e.args["penaltyUeur"]) != r.penalty_ueur:
                fail(where, f"inability penalty {e.args['penaltyUeur']} on chain; the files "
                     f"give {r.penalty_ueur} ({r.status})")
        elif e.event == "ContractTerminated":
            award = by_award[offer_of[int(e.args["offerIndex"])]]
            if award.terminated_by != name:
                fail(where, f"ended the contract on chain; the files end it at "
                     f"{award.terminated_by}")
    for index, offer in offer_of.items():
        paid = sum(int(e.args["amountUeur"]) for e in mine if e.event == "AvailabilitySettled"
                   and int(e.args["offerIndex"]) == index)
        closed = any(e.event == "AwardClosed" and int(e.args["offerIndex"]) == index
                     for e in mine)
        if closed and paid != by_award[offer].availability_ueur:
            fail(f"award {offer}", f"availability paid {paid} on chain; the files give "
                 f"{by_award[offer].availability_ueur}")
    return out
