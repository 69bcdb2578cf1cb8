"""Verification of a 10,000-bid session: fetch, decode, rebuild, check, fresh clear.

    python bench/bench_verify.py [--bids 10000] [--zones 50] [--seed 1] [--synthetic]

Prints figures, asserts nothing. The session is oracle.synthetic.random_session(10000,
n_zones=50, seed=1).

Default (make bench-verify): a real chain. anvil is started, the contracts deployed, and
the session run through the SDK, each participant with its own key (bench/verify_setup.py):
~25,000 assets registered and pre-qualified, the needs posted, every bid committed
(`commitBids`) and revealed (one `revealBid` each, sent in batched JSON-RPC), and the
result committed by the oracle service (rebuild from chain, clear, award rows). That
set-up is timed and printed per step; it is not part of the figure. Then a replica
verifies the session as `flexmarket verify` does: `eth_getLogs` of the deployment and the
commit blocks' headers from the node (verifier.rebuild.read_chain), decode, replay and
scenario, `verifier.verify.verify_session` (fresh clear, committed rows -> result,
`oracle.check`, cost against its own optimum, hashes). The reference is the oracle
service's clearing time of the same session.

`--synthetic`: no chain. The exact `eth_getLogs` JSON a node returns for this session up
to the result (zones, assets, session, needs, commits, reveals, award rows, result) is
synthesised from the artifacts' ABIs and the verifier runs on it from the JSON text on:
the node's own time to serve eth_getLogs and the transfer are not measured, and the events
a real session has besides (roles, token transfers, deposits, pre-qualifications, joins)
are absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from nodes.rows import award_rows
from oracle import check, clear, parse_scenario
from oracle.synthetic import random_session
from python_client.contract_types import NO_LIMIT, AssetType, BuyerRole, Direction, Pricing
from python_client.paths import ARTIFACTS_DIR
from verifier.events import EventDecoder, abi_type
from verifier.rebuild import ChainLog, replay
from verifier.verify import chain_result, objective_ueur

ROOT = Path(__file__).resolve().parents[1]
ADDRESSES = {
    "FlexToken": "0x" + "11" * 20,
    "FlexRegistry": "0x" + "22" * 20,
    "FlexMarket": "0x" + "33" * 20,
}


def _abi_value(item: dict[str, Any], value: Any) -> Any:
    kind = str(item["type"])
    if kind.endswith("]"):
        inner = {**item, "type": kind[: kind.rindex("[")]}
        return [_abi_value(inner, v) for v in value]
    if kind == "tuple":
        return tuple(_abi_value(c, value[c["name"]]) for c in item["components"])
    if kind.startswith("bytes") and isinstance(value, str):
        return bytes.fromhex(value[2:])
    return value


class LogWriter:
    """Raw JSON-RPC logs, encoded from the artifacts' ABIs."""

    def __init__(self) -> None:
        self.events: dict[str, tuple[str, dict[str, Any]]] = {}
        for name, address in ADDRESSES.items():
            abi = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())["abi"]
            for item in abi:
                if item.get("type") == "event":
                    self.events[item["name"]] = (address, item)
        self.logs: list[dict[str, Any]] = []
        self.block = 1

    def emit(self, event: str, **args: Any) -> None:
        address, item = self.events[event]
        sig = f"{event}({','.join(abi_type(i) for i in item['inputs'])})"
        topics = ["0x" + keccak(text=sig).hex()]
        types, values = [], []
        for i in item["inputs"]:
            v = _abi_value(i, args[i["name"]])
            if i.get("indexed"):
                topics.append("0x" + encode([abi_type(i)], [v]).hex())
            else:
                types.append(abi_type(i))
                values.append(v)
        n = len(self.logs)
        self.logs.append({
            "address": address, "topics": topics, "data": "0x" + encode(types, values).hex(),
            "blockNumber": hex(self.block), "blockHash": "0x" + f"{self.block:064x}",
            "logIndex": hex(n), "transactionHash": "0x" + f"{n:064x}",
            "transactionIndex": "0x0", "removed": False,
        })  # fmt: skip


def h32(text: str) -> str:
    return "0x" + keccak(text=text).hex()


def lbl(text: str) -> str:
    return "0x" + text.encode().ljust(32, b"\0").hex()


def synthesise(data: dict[str, Any], w: LogWriter) -> dict[int, int]:
    """The session's events up to the reveals; returns block times of the commits."""
    m = data["market"]
    addr = {p["id"]: "0x" + keccak(text=p["id"]).hex()[-40:] for p in data["participants"]}
    for i, z in enumerate(data["zones"]):
        w.emit("ZoneRegistered", zone=lbl(z["id"]), zoneIndex=i + 1, dso=addr["DSO1"], limitW=0)
    for a in data["assets"]:
        w.emit("AssetRegistered", assetId=h32(a["id"]), manager=addr[a["manager"]],
               owner=addr[a["manager"]], assetType=int(AssetType[a["type"].upper()]),
               pMaxW=a["p_max_w"], pMinW=a["p_min_w"], zone=lbl(a["zone"]))  # fmt: skip
    start = 1_700_000_000
    params = {
        "marketId": lbl(m["id"][:32]), "product": lbl("PowerMax"),
        "pricing": int(Pricing.PAY_AS_BID),
        "slotCount": m.get("slots", 96), "slotMinutes": 15, "deliveryStart": start + 10_000,
        "biddingEnd": start + 1000, "revealDeadline": start + 2000,
        "clearingDeadline": start + 9000, "minBidW": m.get("min_bid_w", 0),
        "granularityW": m.get("granularity_w", 1), "priceFloorEurPerMw": 0,
        "priceCapEurPerMw": NO_LIMIT,
        "unmetPenaltyEurPerMw": data.get("unmet_penalty_eur_per_mw", 10**12),
        "bidBondUeur": 1000, "collateralUeurPerW": 1, "shortfallPenaltyEurPerMw": 1,
        "toleranceBps": 500, "attestationQuorum": 3, "attestationDeadline": start + 20_000,
        "deliveryDeadline": start + 30_000, "correctionWindowS": 0,
    }  # fmt: skip
    w.emit("SessionOpened", sessionId=1, operator=addr["DSO1"], params=params)
    slots = int(params["slotCount"])
    for i, r in enumerate(data["requests"]):
        q = r["quantity_w"]
        w.emit("NeedPosted", sessionId=1, needIndex=i, buyer=addr[r["buyer"]],
               buyerRole=int(BuyerRole[next(
                   p["role"] for p in data["participants"] if p["id"] == r["buyer"])]),
               zone=lbl(r["zone"]) if r["zone"] else "0x" + "00" * 32,
               direction=int(Direction[r["direction"].upper()]),
               maxPriceEurPerMw=r.get("max_price_eur_per_mw") or NO_LIMIT,
               budgetUeur=10**18, quantityW=[q] if isinstance(q, int) else q)  # fmt: skip
    w.block += 1
    times: dict[int, int] = {}
    for k, b in enumerate(data["bids"]):
        if k % 100 == 0:  # commitBids: 100 per transaction, one block each
            w.block += 1
            times[w.block] = start + w.block
        w.emit("BidCommitted", sessionId=1, bidId=h32(b["id"]), seller=addr[b["seller"]])
    w.block += 1
    asset_p_min = {a["id"]: a["p_min_w"] for a in data["assets"]}
    for b in data["bids"]:
        p_min = max([m.get("granularity_w", 1)] + [asset_p_min[a] for a in b["assets"]])
        w.emit("BidRevealed", sessionId=1, bidId=h32(b["id"]), seller=addr[b["seller"]],
               zone=lbl(b["zone"]), direction=int(Direction[b["direction"].upper()]),
               divisible=b.get("divisible", False), quantityW=b["quantity_w"],
               minQuantityW=(b.get("min_quantity_w") or p_min) if b.get("divisible")
               else b["quantity_w"], priceEurPerMw=b["price_eur_per_mw"],
               slotMask=sum(1 << t for t in (b.get("slots") or range(slots))),
               assetIds=sorted(h32(a) for a in b["assets"]),
               collateralUeur=b["quantity_w"])  # fmt: skip
    return times


def synthetic_main(data: dict[str, Any]) -> int:
    w = LogWriter()
    t = time.perf_counter()
    times = synthesise(data, w)
    print(f"synthesised {len(w.logs):,} logs in {time.perf_counter() - t:.1f} s (set-up)")
    decoder = EventDecoder.from_artifacts(ADDRESSES, ARTIFACTS_DIR)

    def state_of(logs: list[dict[str, Any]]) -> Any:
        decoded = decoder.decode_all(logs)
        return replay(ChainLog(31337, ADDRESSES, 0, 0, decoded, times))

    # --- the oracle: rebuild, clear, rows (its clearing time is the reference)
    state = state_of(w.logs)
    scenario = parse_scenario(state.scenario(1))
    t = time.perf_counter()
    result = clear(scenario)
    clear_s = time.perf_counter() - t
    rows = award_rows(scenario, state.sessions[1].needs, result)
    seller = {b.id: b.seller for b in scenario.bids}
    w.block += 1
    buyer = {i: n["buyer"] for i, n in enumerate(state.sessions[1].needs)}
    awards = 0
    for r in rows:  # an award row, or a share row (0 W) of the award before it
        if r.quantity_w == 0:
            w.emit("AwardShared", sessionId=1, awardIndex=awards - 1, needIndex=r.need,
                   buyer=buyer[r.need], paymentUeur=r.charged_ueur)  # fmt: skip
            continue
        w.emit("AwardCommitted", sessionId=1, awardIndex=awards, bidId=r.bid, needIndex=r.need,
               seller=seller[r.bid], buyer=buyer[r.need], quantityW=r.quantity_w,
               priceEurPerMw=r.price_eur_per_mw,
               paymentUeur=r.quantity_w * r.price_eur_per_mw)  # fmt: skip
        awards += 1
    w.emit("ResultCommitted", sessionId=1, oracle=ADDRESSES["FlexMarket"],
           inputHash=result.input_hash, resultHash=result.result_hash,
           awardCount=awards, status=2)  # fmt: skip
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": w.logs})

    # --- the verifier, from the eth_getLogs reply text on
    t0 = time.perf_counter()
    raw = orjson.loads(body)["result"]  # as verifier.rpc parses replies
    t1 = time.perf_counter()
    decoded = decoder.decode_all(raw)
    t2 = time.perf_counter()
    state = replay(ChainLog(31337, ADDRESSES, 0, 0, decoded, times))
    scenario = parse_scenario(state.scenario(1))
    t3 = time.perf_counter()
    own = clear(scenario)
    t4 = time.perf_counter()

    class _R:
        violations: list[str] = []

        def fail(self, what: str) -> None:
            self.violations.append(what)

    committed = chain_result(scenario, state.sessions[1], own, _R())  # type: ignore[arg-type]
    violations = check(scenario, committed)
    ok = objective_ueur(scenario, committed) <= objective_ueur(scenario, own) * (1 + 0.0001)
    t5 = time.perf_counter()
    n = len(raw)
    print(f"session: {len(scenario.bids):,} bids, {len(scenario.assets):,} assets, "
          f"{len(scenario.requests)} needs, {len(rows):,} award rows; {n:,} events, "
          f"{len(body) / 1e6:.1f} MB of eth_getLogs JSON")  # fmt: skip
    print(f"oracle clearing (reference)      {clear_s:8.2f} s")
    print(f"parse eth_getLogs JSON           {t1 - t0:8.2f} s")
    print(f"decode events                    {t2 - t1:8.2f} s   {n / (t2 - t1):,.0f} events/s")
    print(f"rebuild session (replay+parse)   {t3 - t2:8.2f} s")
    print(f"fresh clear                      {t4 - t3:8.2f} s")
    print(f"check (feasible + cost), given   {t5 - t4:8.2f} s   violations {len(violations)}, "
          f"cost ok {ok}, same result_hash {own.result_hash == result.result_hash}")  # fmt: skip
    total = t5 - t0
    print(f"verify total                     {total:8.2f} s = {total / clear_s:.2f} x clearing")
    return 0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def chain_main(data: dict[str, Any], runs: int) -> int:
    """The session on anvil, then a replica's verification of it from the node."""
    from verify_setup import put_on_chain  # bench/, next to this file

    from python_client.localchain import start_chain

    print(f"set-up on anvil (load average {load()}):", flush=True)
    logging.basicConfig(format="%(message)s")  # warnings of every logger, as before
    logging.getLogger("verify_setup").setLevel(logging.INFO)  # and put_on_chain's step lines
    t = time.perf_counter()
    with start_chain(accounts=2 + len(data["participants"])) as chain:
        setup = put_on_chain(data, chain)
        setup_s = time.perf_counter() - t
        print(f"set-up total {setup_s:.1f} s, {setup.txs:,} transactions "
              f"({setup.txs / setup_s:.0f} tx/s overall; anvil start included)")  # fmt: skip
        addresses = {k: v.lower() for k, v in setup.deployment.to_json()["contracts"].items()}
        decoder = EventDecoder.from_artifacts(addresses, ARTIFACTS_DIR)
        print(f"oracle service's clearing during set-up: {setup.clear_s:.2f} s")
        failed = 0
        for run in range(1, runs + 1):
            failed += verify_once(chain.url, addresses, decoder, setup.session_id, run)
    return 1 if failed else 0


def verify_once(url: str, addresses: dict[str, str], decoder: Any, sid: int, run: int) -> int:
    """One replica verification from the node, against the clearing time of the same session
    measured just before (the service's default: clear_coordinated for a DSO+TSO session)."""
    from oracle import clear, parse_scenario
    from oracle.coordination import clear_coordinated, needs_coordination
    from verifier.rebuild import read_chain
    from verifier.rpc import JsonRpc
    from verifier.verify import verify_session

    with JsonRpc(url) as rpc:
        scenario = parse_scenario(replay(read_chain(rpc, addresses, decoder=decoder)).scenario(sid))
    reference = clear_coordinated if needs_coordination(scenario) else clear
    load_before = load()
    t = time.perf_counter()
    reference(scenario)
    clear_s = time.perf_counter() - t

    # --- the replica: from the node on
    t0 = time.perf_counter()
    with JsonRpc(url) as rpc:
        log = read_chain(rpc, addresses, decoder=decoder)
        requests = rpc.requests
    t1 = time.perf_counter()
    state = replay(log)
    t2 = time.perf_counter()
    report, own = verify_session(state, sid)
    t3 = time.perf_counter()
    fetch_s, decode_s = log.fetch_s, log.decode_s
    read_other = (t1 - t0) - fetch_s - decode_s  # chain id, head: two calls
    timings = report.timings_s
    if not report.ok or "clear" not in timings:
        print(f"run {run}: the replica did not verify the session: ok {report.ok}")
        for line in (report.violations + report.notes)[:10]:
            print(f"  {line}")
        return 1
    rebuild_s = (t2 - t1) + timings["scenario"]
    check_s = (t3 - t2) - timings["scenario"] - timings["clear"]
    total = t3 - t0
    n = len(log.logs)
    sess = state.sessions[sid]
    print(f"run {run}: session {sid}: {report.bids:,} bids revealed, "
          f"{len({a for r in sess.reveals for a in r['assetIds']}):,} assets, "
          f"{len(sess.needs)} needs, {report.awards:,} award rows (status {report.status}); "
          f"{n:,} events in {log.head:,} blocks, {requests} HTTP requests")  # fmt: skip
    print(f"clearing (reference, just before) {clear_s:8.2f} s   {reference.__name__}")
    print(f"fetch (eth_getLogs + headers)     {fetch_s:8.2f} s   (waiting for the node)")
    print(f"decode events                     {decode_s:8.2f} s   {n / decode_s:,.0f} events/s")
    print(f"rebuild session (replay+parse)    {rebuild_s:8.2f} s")
    print(f"fresh clear                       {timings['clear']:8.2f} s")
    print(f"check (feasible + cost), given    {check_s:8.2f} s   ok {report.ok}, "
          f"violations {len(report.violations)}, same result_hash "
          f"{report.result_hash.get('match')}")  # fmt: skip
    print(
        f"verify total                      {total:8.2f} s = "
        f"{total / clear_s:.2f} x clearing  (other reads {read_other:.2f} s)"
    )
    print(f"load average: {load_before} before clearing, {load()} after verifying")
    return 0 if own is not None else 1


def families_main(families: list[str], sizes: list[int], seeds: list[int], runs: int) -> int:
    """Issue 13 item 3, no chain: the replica's own work on each bench family's session,
    against the oracle's clearing time of the same session measured just before it.

    Oracle: `clear` of the parsed session. Replica, as verifier.verify.verify_session does
    it once the session is rebuilt: parse the session's JSON, clear it afresh, check the
    committed result (`oracle.check`), the payer rule's shares, the objective against its
    own optimum within the stated gap, the result hash. Reading and decoding the chain are
    not in it (bench-verify's other modes measure them on the 10,000-bid session)."""
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_clear import session as family_session

    from oracle.errors import ScenarioError
    from oracle.payers import payer_shares
    from oracle.scenario import Scenario

    print(f"verify/clear by family: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print(f"{'family':>9} {'bids':>6} {'seed':>4} {'clear':>8} {'verify':>8} {'check':>7} "
          f"{'ratio':>6} {'ok':>3} {'load':>5}")
    worst = 0.0
    for family in families:
        for n in sizes:
            for seed in seeds:
                data, _ = family_session(family, n, seed)
                text = json.dumps(data)

                def parse(text: str = text) -> Any:
                    try:
                        return parse_scenario(text)
                    except ScenarioError:  # a file rule refuses it: bench_clear clears it too
                        return Scenario.model_validate_json(text)

                clears, verifies, checks = [], [], []
                ok = True
                for _ in range(runs):
                    # both nodes rebuild the session from the chain before they clear (the
                    # oracle service as the replica): each side's time includes its parse
                    t0 = time.perf_counter()
                    committed = clear(parse())
                    clears.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    rebuilt = parse()
                    own = clear(rebuilt)
                    t1 = time.perf_counter()
                    violations = [v for v in check(rebuilt, committed)
                                  if not v.where.startswith("scenario")]
                    payer_shares(rebuilt, committed)
                    gap = float(own.mip_gap or 0)
                    ok = ok and not violations and committed.result_hash == own.result_hash \
                        and objective_ueur(rebuilt, committed) <= \
                        objective_ueur(rebuilt, own) * (1 + gap)
                    t2 = time.perf_counter()
                    verifies.append(t2 - t0)
                    checks.append(t2 - t1)
                ratio = min(verifies) / min(clears)
                worst = max(worst, ratio)
                print(f"{family:>9} {n:>6} {seed:>4} {min(clears):7.2f}s {min(verifies):7.2f}s "
                      f"{min(checks):6.2f}s {ratio:5.2f}x {'ok' if ok else 'NO':>3} "
                      f"{os.getloadavg()[0]:5.2f}", flush=True)
    print(f"worst verify/clear {worst:.2f}x (target 1.5x)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="verify a 10,000-bid session (prints figures)")
    parser.add_argument("--bids", type=int, default=10_000)
    parser.add_argument("--zones", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--synthetic", action="store_true",
        help="no chain: synthesise the eth_getLogs reply (see the module docstring)",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=3, help="verifications of the session")
    parser.add_argument(
        "--families", nargs="*", default=None,
        help="no chain: verify/clear on bench_clear's families (all when none named)",
    )  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    if args.families is not None:
        from families import FAMILIES  # type: ignore[import-not-found]

        return families_main(args.families or ["synthetic", *FAMILIES], args.sizes,
                             args.seeds, args.runs)
    data = random_session(args.bids, n_zones=args.zones, seed=args.seed)
    return synthetic_main(data) if args.synthetic else chain_main(data, args.runs)


if __name__ == "__main__":
    raise SystemExit(main())
