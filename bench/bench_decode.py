"""Event decoding benchmark (prints figures, asserts nothing; `make bench-decode`).

On a local anvil, one session makes a few thousand real logs of the contracts (sealed bids
in batches, reveals with assets, the result, delivery, settlement). They are fetched once
with eth_getLogs and decoded again and again by:
- verifier.events (precomputed topic -> readers, int.from_bytes on words), with and
  without writing the args JSON the indexer stores (verifier.events.args_json);
- eth_abi's decode of the data field with precomputed types (what a plain decoder does);
- web3.py's ContractEvent.process_log (on fewer logs: it is slow).
Then the whole indexer (eth_getLogs, headers, decoding, projections, one transaction) into
SQLite, and into PostgreSQL when its binaries are there. Figures are the best of a few
repetitions. Target (issue 4): at least 20,000 events decoded per second.

    .venv/bin/python bench/bench_decode.py [--bids 3000] [--reveals 300]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "verifier"))

from eth_abi.abi import decode as abi_decode  # noqa: E402
from indexer_helpers import (  # noqa: E402
    ZONE,
    _bid,
    market_chain,
    postgres_bin,
    postgres_server,
)

from python_client.hashing import label  # noqa: E402
from python_client.paths import ARTIFACTS_DIR  # noqa: E402
from python_client.records import (  # noqa: E402
    AwardRow,
    BuyerRole,
    Direction,
    NeedParams,
    Pricing,
    SessionParams,
)
from verifier.events import EventDecoder, abi_type, args_json  # noqa: E402
from verifier.indexer import run_indexer  # noqa: E402


def best_rate(count: int, run: Callable[[], Any], repeat: int = 5) -> float:
    """Items per second, the best of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return count / best


def make_logs(m: Any, bids: int, reveals: int) -> None:
    """One session: `bids` sealed bids (`reveals` of them revealed), a result, delivery,
    settlement."""
    now = m.now()
    params = SessionParams(
        market_id=label("bench"), product=label("PowerMax"), pricing=Pricing.PAY_AS_BID,
        slot_count=8, slot_minutes=15, delivery_start=now + 40_000, bidding_end=now + 10_000,
        reveal_deadline=now + 20_000, clearing_deadline=now + 30_000, min_bid_w=1000,
        granularity_w=100, bid_bond_ueur=1, collateral_ueur_per_w=1,
    )  # fmt: skip
    sid = m.dso.open_session(params)
    m.dso.post_need(NeedParams(sid, ZONE, Direction.UP, BuyerRole.DSO, 10**11, (10**6,)))
    m.fo2.join_session(sid, reveals)
    fields = [_bid(1_000, 500_000 + i, m.assets["FO2"][:2]) for i in range(bids)]
    ids = m.fo2.commit_bids(sid, fields, per_tx=100)
    m.warp(params.bidding_end)
    m.fo2.reveal_bids(sid, fields[:reveals])
    m.warp(params.reveal_deadline)
    awards = [AwardRow(ids[i], 0, 1_000, 500_000 + i) for i in range(min(reveals, 100))]
    m.oracle.commit_result(sid, label("in"), label("out"), awards)
    m.metering.record_deliveries(sid, {i: 1_000 for i in range(len(awards))}, label("m"))
    m.dso.settle_awards(sid, 0, len(awards))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids", type=int, default=3000)
    parser.add_argument("--reveals", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-decode-"))
    with market_chain(tmp) as m:
        started = time.perf_counter()
        make_logs(m, args.bids, args.reveals)
        print(f"chain: {m.head()} blocks, session made in {time.perf_counter() - started:.1f} s")
        addresses = {"FlexToken": m.deployment.token, "FlexRegistry": m.deployment.registry,
                     "FlexMarket": m.deployment.market}  # fmt: skip
        logs = m.chain.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest",
                                            "address": list(addresses.values())}])  # fmt: skip
        decoder = EventDecoder.from_artifacts(addresses, ARTIFACTS_DIR)
        kinds = collections.Counter(decoder.decode(log).event for log in logs)
        print(f"logs: {len(logs):,} ("
              + ", ".join(f"{k} {v:,}" for k, v in kinds.most_common(6)) + ", ...)")  # fmt: skip

        def fast() -> None:
            for log in logs:
                decoder.decode(log)

        def fast_json() -> None:
            for log in logs:
                args_json(decoder.decode(log).args)

        specs = {
            (address.lower(), spec.topic0): [abi_type(i) for i in spec.data_inputs]
            for (address, _), spec in decoder.specs.items()
        }

        def with_eth_abi() -> None:
            for log in logs:
                topic = bytes.fromhex(log["topics"][0][2:])
                abi_decode(specs[(log["address"].lower(), topic)], bytes.fromhex(log["data"][2:]))

        contracts = {"FlexToken": m.contracts.token, "FlexRegistry": m.contracts.registry,
                     "FlexMarket": m.contracts.market}  # fmt: skip
        sample = m.contracts.w3.eth.get_logs(
            {
                "fromBlock": 0,
                "toBlock": "latest",
                "address": [c.address for c in contracts.values()],
            }
        )[:1000]
        events = [decoder.decode(log) for log in logs[: len(sample)]]

        def with_web3() -> None:
            for ev, log in zip(events, sample, strict=True):
                contracts[ev.contract].events[ev.event]().process_log(log)

        revealed = [log for log in logs if decoder.decode(log).event == "BidRevealed"]

        def fast_revealed() -> None:
            for log in revealed:
                args_json(decoder.decode(log).args)

        def eth_abi_revealed() -> None:
            for log in revealed:
                topic = bytes.fromhex(log["topics"][0][2:])
                abi_decode(specs[(log["address"].lower(), topic)], bytes.fromhex(log["data"][2:]))

        rows = [
            ("verifier.events decode", best_rate(len(logs), fast)),
            ("verifier.events decode + args_json", best_rate(len(logs), fast_json)),
            ("eth_abi decode of data (types precomputed)", best_rate(len(logs), with_eth_abi)),
            ("web3 process_log", best_rate(len(sample), with_web3, repeat=2)),
            ("BidRevealed only: verifier.events + JSON", best_rate(len(revealed), fast_revealed)),
            ("BidRevealed only: eth_abi data only", best_rate(len(revealed), eth_abi_revealed)),
        ]
        width = max(len(name) for name, _ in rows)
        print("events decoded per second (best of 5; target >= 20,000):")
        for name, rate in rows:
            print(f"  {name.ljust(width)}  {rate:>10,.0f} /s")

        print("indexer end to end (eth_getLogs, headers, decode, projections, commit):")
        sqlite_stats = run_indexer(m.chain.url, f"sqlite:///{tmp}/bench.sqlite",
                                   m.deployment_file)  # fmt: skip
        print(f"  SQLite      {sqlite_stats.events:,} events in {sqlite_stats.seconds:.2f} s: "
              f"{sqlite_stats.events_per_s:,.0f} events/s")  # fmt: skip
        if postgres_bin() is not None:
            with postgres_server() as pg:
                stats = run_indexer(m.chain.url, pg.create_db("bench"), m.deployment_file)
                print(f"  PostgreSQL  {stats.events:,} events in {stats.seconds:.2f} s: "
                      f"{stats.events_per_s:,.0f} events/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
