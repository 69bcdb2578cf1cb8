"""Benchmark (prints figures, asserts nothing): gas per call kind and bids per second
committed and revealed end to end through the SDK on a local anvil.

    .venv/bin/python tools/bench_chain.py [--bids 1000] [--per-tx 100] [--chain anvil|ganache]

"End to end" = from the bids' fields in Python (commitments computed, transactions signed
with the aggregator's own key) to every receipt confirmed. Commits go through the batch
entry point `commitBids` (`--per-tx` commitments per transaction) and, for comparison, as
single `commitBid` transactions; all transactions of a step travel in batched JSON-RPC.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodes.session import SessionRun  # noqa: E402
from python_client.artifacts import ensure_artifacts  # noqa: E402
from python_client.chain import connect  # noqa: E402
from python_client.hashing import label, new_salt  # noqa: E402
from python_client.localchain import start_chain  # noqa: E402
from python_client.records import (  # noqa: E402
    BidFields,
    Direction,
    Pricing,
    SessionParams,
)

BENCH_SCENARIO = {
    "market": {"id": "bench", "slots": 14},
    "participants": [{"id": "DSO", "role": "DSO"}, {"id": "AGG", "role": "aggregator"}],
    "zones": [{"id": "T1"}],
    "assets": [{"id": f"bench-meter-{i}", "type": "load", "p_max_w": 3700, "p_min_w": 0,
                "zone": "T1", "manager": "AGG"} for i in range(4)],  # fmt: skip
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bids", type=int, default=1000)
    parser.add_argument("--per-tx", type=int, default=100)
    parser.add_argument("--chain", choices=["anvil", "ganache"], default="anvil")
    args = parser.parse_args()
    ensure_artifacts()
    zone = label("T1")
    with start_chain(args.chain, accounts=13) as chain:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        # the session runner's registration (nodes.session): roles, deposits, zone T1, four
        # pre-qualified assets; the DSO and the aggregator on keys 1 and 2 (3-9: relayed sellers)
        run = SessionRun(BENCH_SCENARIO, lambda _: {}, w3, chain,
                         [keys[0], keys[10], keys[11], keys[1], keys[2], keys[12]]).run("assets")
        gas, dso, agg = run.gas, run.dso("DSO"), run.seller("AGG")
        assets = sorted(run.asset_ids.values())

        def session() -> tuple[int, SessionParams]:
            now = int(w3.eth.get_block("latest")["timestamp"])
            params = SessionParams(
                label("bench"), label("PowerMax"), Pricing.PAY_AS_BID, 14, 15, now + 40_000,
                now + 10_000, now + 20_000, now + 30_000, min_bid_w=100, granularity_w=100,
                bid_bond_ueur=1_000, collateral_ueur_per_w=10,
            )  # fmt: skip
            sid = dso.open_session(params)
            agg.join_session(sid, args.bids)
            return sid, params

        def bids() -> list[BidFields]:
            return [
                BidFields(zone, Direction.UP, False, 1000 + 100 * (i % 100), 400_000 + i,
                          (1 << 14) - 1, tuple(assets), new_salt())
                for i in range(args.bids)
            ]  # fmt: skip

        # 1. batch entry point
        sid, params = session()
        fields = bids()
        t0 = time.perf_counter()
        agg.commit_bids(sid, fields, per_tx=args.per_tx)
        commit_s = time.perf_counter() - t0
        chain.rpc("evm_setNextBlockTimestamp", [params.bidding_end])
        chain.rpc("evm_mine", [])
        t0 = time.perf_counter()
        agg.reveal_bids(sid, fields)
        reveal_s = time.perf_counter() - t0

        # 2. one commitBid transaction per bid, sent in batched JSON-RPC
        sid2, _ = session()
        fields2 = bids()
        t0 = time.perf_counter()
        calls = [agg.market.commitBid(sid2, agg.commitment_of(sid2, b)) for b in fields2]
        agg.wallet.send_batch(calls, gas=60_000)
        single_s = time.perf_counter() - t0

    n = args.bids
    print(f"chain: {args.chain}, bids: {n}, commitments per commitBids tx: {args.per_tx}")
    print(f"commit (commitBids):      {n / commit_s:8.0f} bids/s  ({commit_s:.2f} s)")
    print(f"commit (commitBid each):  {n / single_s:8.0f} bids/s  ({single_s:.2f} s)")
    print(f"reveal (revealBid each):  {n / reveal_s:8.0f} bids/s  ({reveal_s:.2f} s)")
    print("gas, largest per call kind:")
    for kind in ("commitBid", "commitBids", "revealBid"):
        per = gas.total[kind] // gas.count[kind]
        print(f"  {kind:12s} largest {gas.largest[kind]:>9,}  mean {per:>9,}")
    per_bid = gas.total["commitBids"] // n
    print(f"  commitBids per bid: {per_bid:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
