"""Benchmark (prints figures, asserts nothing): gas per call kind and bids per second
committed and revealed end to end through the SDK on a local anvil.

    .venv/bin/python tools/bench_chain.py [--bids 1000] [--per-tx 100] [--chain anvil|ganache]
                                          [--batch-sizes 1,10,100,1000]

"End to end" = from the bids' fields in Python (commitments computed, transactions signed
with the aggregator's own key) to every receipt confirmed. Commits go through the batch
entry point `commitBids` (`--per-tx` commitments per transaction) and, for comparison, as
single `commitBid` transactions; all transactions of a step travel in batched JSON-RPC.

Batched sealed bids (issue 21, `python_client.batches`) beside them, in the same run: gas
per committed and per revealed bid at each batch size (`commitBatch`: one root;
`revealBatch`: one multiproof per call), against the floor of issue 21 (a root stored and an
event: ~2,560 gas per bid + 21,000 / N), relayed (`commitBatchesFor`, 7 sellers' signed
batches in one transaction), with varied assets per bid (the registry check is cached
per asset set within a reveal call) and with the reveal relayed (`revealBatchFor`: the
seller's `RevealBatch` signature checked, the bids' rows hashed, the call forwarded). The
machine's load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodes.session import SessionRun  # noqa: E402
from python_client.artifacts import ensure_artifacts, load_artifact  # noqa: E402
from python_client.batches import Batch, bids_hash  # noqa: E402
from python_client.chain import Contracts, connect  # noqa: E402
from python_client.clients import AdminClient, AggregatorClient, DsoClient  # noqa: E402
from python_client.hashing import asset_id, label, new_salt  # noqa: E402
from python_client.localchain import start_chain  # noqa: E402
from python_client.records import (  # noqa: E402
    AssetType,
    BidFields,
    Direction,
    Pricing,
    SessionParams,
)
from python_client.relay import (  # noqa: E402
    RelayDomain,
    batch_digest,
    reveal_batch_digest,
    sign_digest,
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
    parser.add_argument("--batch-sizes", default="1,10,100,1000")
    args = parser.parse_args()
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    load_before = os.getloadavg()
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
        deployment, admin = run.deployment, run.admin  # the batch and relay benches
        assets = sorted(run.asset_ids.values())

        def session(joined: int = args.bids) -> tuple[int, SessionParams]:
            now = int(w3.eth.get_block("latest")["timestamp"])
            params = SessionParams(
                label("bench"), label("PowerMax"), Pricing.PAY_AS_BID, 14, 15, now + 40_000,
                now + 10_000, now + 20_000, now + 30_000, min_bid_w=100, granularity_w=100,
                bid_bond_ueur=1_000, collateral_ueur_per_w=10,
            )  # fmt: skip
            sid = dso.open_session(params)
            agg.join_session(sid, joined)
            return sid, params

        def bids(n: int = args.bids, pool: list[bytes] | None = None) -> list[BidFields]:
            def of(i: int) -> tuple[bytes, ...]:
                if pool is None:
                    return tuple(assets)
                return tuple(sorted({pool[(7 * i + k) % len(pool)] for k in range(4)}))

            return [
                BidFields(zone, Direction.UP, False, 1000 + 100 * (i % 100), 400_000 + i,
                          (1 << 14) - 1, of(i), new_salt())
                for i in range(n)
            ]  # fmt: skip

        relay_address = agg.contracts.market.functions.relay().call()
        relay_contract = w3.eth.contract(address=relay_address, abi=load_artifact("FlexRelay").abi)
        relay_domain = RelayDomain(int(w3.eth.chain_id), relay_address)

        def batched(
            n: int, pool: list[bytes] | None = None, relayed: bool = False
        ) -> tuple[int, int, int, float]:
            """One batch of n bids committed and revealed: commit gas, reveal gas (all its
            calls), reveal calls, seconds end to end. `relayed`: each reveal signed by the
            seller (`RevealBatch`) and sent by another account (`revealBatchFor`)."""
            sid_b, params_b = session(n)
            t = time.perf_counter()
            batch = Batch.build(agg.contracts.market.address, sid_b, agg.address, bids(n, pool))
            commit = agg.wallet.transact(agg.batches.commitBatch(sid_b, batch.root, n))
            chain.rpc("evm_setNextBlockTimestamp", [params_b.bidding_end])
            chain.rpc("evm_mine", [])
            reveal_gas = 0
            calls = batch.reveal_chunks()
            for k, chunk in enumerate(calls):
                args_ = batch.reveal_args(chunk)
                if relayed:
                    digest = reveal_batch_digest(relay_domain, agg.address, batch.root,
                                                 bids_hash(args_[2]), k, 2**40)  # fmt: skip
                    signature = sign_digest(agg.wallet.account.key, digest)
                    fn = relay_contract.functions.revealBatchFor(agg.address, k, 2**40,
                                                                 signature, *args_)  # fmt: skip
                    receipt = admin.wallet.transact(fn)
                else:
                    receipt = agg.wallet.transact(agg.batches.revealBatch(*args_))
                reveal_gas += int(receipt["gasUsed"])
            return int(commit["gasUsed"]), reveal_gas, len(calls), time.perf_counter() - t

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

        # 3. batched sealed bids at each size, then with varied assets, then relayed
        batch_rows = [(n, "4 shared assets", *batched(n)) for n in sizes]
        pool = sorted(asset_id(f"bench-pool-{i}", b"bench") for i in range(64))
        for a in pool:
            agg.register_asset(a, AssetType.LOAD, 3700, 0, zone, agg.address)
            dso.prequalify(a)
        batch_rows.append((max(sizes), "4 of 64 assets", *batched(max(sizes), pool)))
        batch_rows.append((max(sizes), "reveal relayed", *batched(max(sizes), relayed=True)))
        relayed = relayed_batches(w3, chain, deployment, admin, dso, keys, zone, assets, session)

    n = args.bids
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {load_before[0]:.1f} {load_before[1]:.1f} "
          f"{load_before[2]:.1f}, after {load_after[0]:.1f} {load_after[1]:.1f} "
          f"{load_after[2]:.1f} ({os.cpu_count()} cores)")  # fmt: skip
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
    single_commit = gas.total["commitBid"] // gas.count["commitBid"]
    single_reveal = gas.total["revealBid"] // gas.count["revealBid"]
    print("\nper bid, today's path and batches (issue 21: <= 3,000 committed, <= 10,000 revealed"
          " at 1,000; floor ~2,560 + 21,000/N per committed bid):")
    print(f"  {'path':32s} {'commit/bid':>11s} {'floor/bid':>10s} {'reveal/bid':>11s} "
          f"{'calls':>5s} {'bids/s':>7s}")  # fmt: skip
    print(f"  {'commitBid + revealBid, each':32s} {single_commit:>11,} {'':>10s} "
          f"{single_reveal:>11,}")  # fmt: skip
    print(f"  {f'commitBids ({args.per_tx}) + revealBid':32s} {per_bid:>11,} {'':>10s} "
          f"{single_reveal:>11,}")  # fmt: skip
    for size, kind, commit_gas, reveal_gas, n_calls, seconds in batch_rows:
        floor = 2_560 + 21_000 // size
        name = f"batch of {size:,} ({kind})"
        print(f"  {name:32s} {commit_gas // size:>11,} {floor:>10,} {reveal_gas // size:>11,} "
              f"{n_calls:>5} {size / seconds:>7.0f}")  # fmt: skip
    sellers, per_seller, relay_gas = relayed
    total = sellers * per_seller
    print(f"  {f'relayed: {sellers} sellers x {per_seller}':32s} {relay_gas // total:>11,} "
          f"{2_560 + 21_000 // total:>10,}   (commitBatchesFor, one signature per seller: "
          f"{relay_gas:,} gas)")  # fmt: skip
    return 0


def relayed_batches(
    w3: Any, chain: Any, deployment: Any, admin: AdminClient, dso: DsoClient,
    keys: list[str], zone: bytes, assets: list[bytes], session: Any,
) -> tuple[int, int, int]:  # fmt: skip
    """Seven sellers sign a batch of 100 bids each; one relayer sends them all in one
    `commitBatchesFor`. Returns (sellers, bids per seller, gas of that transaction)."""
    contracts = Contracts(w3, deployment)
    sellers = [AggregatorClient(contracts, k) for k in keys[3:10]]
    sid, _ = session(1)
    for s in sellers:
        admin.grant_role("AGGREGATOR", s.address)
        admin.mint(s.address, 10**12)
        s.deposit(10**12)
        s.join_session(sid, 100)
    relay = contracts.market.functions.relay().call()
    domain = RelayDomain(int(w3.eth.chain_id), relay)
    relay_contract = w3.eth.contract(address=relay, abi=load_artifact("FlexRelay").abi)
    requests = []
    for n, s in enumerate(sellers):
        fields = [BidFields(zone, Direction.UP, False, 1000, 400_000 + i, 1, tuple(assets),
                            new_salt()) for i in range(100)]  # fmt: skip
        batch = Batch.build(deployment.market, sid, s.address, fields)
        digest = batch_digest(domain, s.address, sid, batch.root, 100, n, 2**40)
        signature = sign_digest(keys[3 + n], digest)
        requests.append((s.address, sid, batch.root, 100, n, 2**40, signature))
    receipt = admin.wallet.transact(relay_contract.functions.commitBatchesFor(requests))
    return len(sellers), 100, int(receipt["gasUsed"])


if __name__ == "__main__":
    raise SystemExit(main())
