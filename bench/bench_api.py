"""Signed bids through the participant API (`make bench-api`): prints figures, asserts
nothing.

anvil and `flexmarket serve` (its own process, uvicorn on loopback) are started; 50
aggregators, each with its own key, sign in with Ethereum, and then all at once submit
sealed-bid commits, each an EIP-712 message signed by its aggregator (signed before the
clock starts: the figure is the API's, not the clients' signing). The API checks each
(token, role, session open, deadline, signature, nonce), queues it and answers 202; its
relay thread sends the queue to FlexRelay in batches (`commitBidsFor`).

Printed: accepted bids per second and the latency percentiles the clients saw (p50, p95,
p99); then, separately, the relay's on-chain throughput (from the first accepted bid to
the last one committed on chain) and the gas per relayed bid; the CPU time the server,
the clients and anvil spent during the load (all three share this machine's cores) and
the load average before and after (other jobs on the machine count too).

Then, in the same run (same server, same chain, same aggregators), the batched path of
issue 21: each aggregator submits `--batches-per-client` batches of `--batch-size` sealed
bids, each one request (`POST /sessions/{id}/batches`: the commitments, their root, one
`CommitBatch` signature), relayed as `commitBatchesFor` transactions of many sellers'
batches. Printed as above: accepted bids/s at full load (every client at once, closed
loop) and, separately, the latency at paced offered rates (`--paced-bids-per-s`, open loop:
requests sent on a schedule whatever the answers; the other rounds' requests split between
the rates), the bids landed on chain per second;
then every batch revealed through the API (`POST .../batches/{id}/reveal`, relayed at once
as `revealBatchFor`), the revealed bids landed per second, and gas per committed and
revealed bid of both paths.

    python bench/bench_api.py [--clients 50] [--bids-per-client 100] [--batch-size 1000]
                              [--batches-per-client 2] [--paced-bids-per-s 2000,5000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from python_client.artifacts import load_artifact  # noqa: E402
from python_client.batches import Batch, commit_body, reveal_body  # noqa: E402
from python_client.chain import Contracts, Wallet, connect, deploy  # noqa: E402
from python_client.clients import AdminClient, AggregatorClient, DsoClient, OracleClient  # noqa: E402
from python_client.hashing import asset_id, commitment, label, new_salt  # noqa: E402
from python_client.http import siwe_message  # noqa: E402
from python_client.localchain import start_chain  # noqa: E402
from python_client.records import (  # noqa: E402
    NO_LIMIT,
    AssetType,
    BidFields,
    Direction,
    Pricing,
    SessionParams,
)
from python_client.relay import (  # noqa: E402
    NonceSequence,
    RelayDomain,
    commit_digest,
    join_digest,
    sign_digest,
)
from python_client.relay import new_nonce as random_nonce  # noqa: E402


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants, from /proc (the
    anvil launcher is a node script whose child is the anvil binary)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _wait_http(url: str, timeout_s: float = 60.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if httpx.get(url + "/deployment", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the API at {url} did not answer within {timeout_s} s")


async def _sign_in(http: aiohttp.ClientSession, url: str, key: str) -> str:
    acct = Account.from_key(key)
    async with http.post(url + "/auth/nonce") as r:
        n = await r.json()
    message = siwe_message(n["domain"], n["uri"], acct.address, n["chain_id"], n["nonce"])
    sig = acct.sign_message(encode_defunct(text=message)).signature
    body = {"message": message, "signature": "0x" + sig.hex()}
    async with http.post(url + "/auth/token", json=body) as r:
        r.raise_for_status()
        return str((await r.json())["access_token"])


async def _client(
    http: aiohttp.ClientSession, url: str, token: str, bodies: list[bytes],
    latencies: list[float], statuses: dict[int, int], start: asyncio.Event,
) -> None:  # fmt: skip
    """One aggregator: its commits one after the other, as fast as answered."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    await start.wait()
    for body in bodies:
        t0 = time.perf_counter()
        async with http.post(url, data=body, headers=headers) as r:
            await r.read()
            status = r.status
        latencies.append(time.perf_counter() - t0)
        statuses[status] = statuses.get(status, 0) + 1


async def _load(
    url: str, keys: list[str], session_id: int, bodies: dict[str, list[bytes]],
    snapshot: Callable[[], None],
) -> tuple[float, list[float], dict[int, int]]:  # fmt: skip
    connector = aiohttp.TCPConnector(limit=len(keys) + 10)
    async with aiohttp.ClientSession(connector=connector) as http:
        tokens = await asyncio.gather(*(_sign_in(http, url, k) for k in keys))
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        start = asyncio.Event()
        path = f"{url}/sessions/{session_id}/bids"
        tasks = [
            asyncio.create_task(_client(http, path, t, bodies[k], latencies, statuses, start))
            for k, t in zip(keys, tokens, strict=True)
        ]
        await asyncio.sleep(0.1)
        snapshot()
        t0 = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        snapshot()
        return elapsed, latencies, statuses


async def _batched_load(
    url: str, tokens: dict[str, str], work: list[tuple[str, str, bytes]],
    paced_per_s: float | None, snapshot: Callable[[], None] | None = None,
) -> tuple[float, list[float], dict[int, int]]:  # fmt: skip
    """Requests `work` (aggregator key, path, body): closed loop (every aggregator at once,
    its own requests one after the other) or, with `paced_per_s` requests per second, open
    loop (sent on a fixed schedule in `work` order, whatever the answers)."""
    connector = aiohttp.TCPConnector(limit=len(tokens) + 10)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    timeout = aiohttp.ClientTimeout(600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def one(key: str, path: str, body: bytes) -> None:
            headers = {"Authorization": f"Bearer {tokens[key]}",
                       "Content-Type": "application/json"}  # fmt: skip
            t0 = time.perf_counter()
            async with http.post(url + path, data=body, headers=headers) as a:
                answer = await a.read()
                status = a.status
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 400:
                print(f"    {status}: {answer[:300]!r}")

        async def closed(mine: list[tuple[str, str, bytes]]) -> None:
            for item in mine:
                await one(*item)

        if snapshot:
            snapshot()
        t0 = time.perf_counter()
        if paced_per_s is None:
            per_key: dict[str, list[tuple[str, str, bytes]]] = {}
            for item in work:
                per_key.setdefault(item[0], []).append(item)
            await asyncio.gather(*(closed(mine) for mine in per_key.values()))
        else:
            tasks = []
            for i, item in enumerate(work):
                await asyncio.sleep(max(0.0, t0 + i / paced_per_s - time.perf_counter()))
                tasks.append(asyncio.create_task(one(*item)))
            await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        if snapshot:
            snapshot()
    return elapsed, latencies, statuses


async def _tokens(url: str, keys: list[str]) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        got = await asyncio.gather(*(_sign_in(http, url, k) for k in keys))
    return dict(zip(keys, got, strict=True))


def _landed(w3: Any, event: Any, from_block: int, want: int, arg: str | None,
            wait_s: float) -> tuple[int, list[Any]]:  # fmt: skip
    """Until `want` bids are on chain (summing `arg` of each log, or one per log)."""
    end = time.monotonic() + wait_s
    logs: list[Any] = []
    got = 0
    # not a retry (python_client.retry): polling the chain until a deadline
    while time.monotonic() < end:
        logs = event.get_logs(from_block=from_block) if w3.eth.block_number >= from_block else []
        got = sum(int(lg["args"][arg]) if arg else 1 for lg in logs)
        if got >= want:
            break
        time.sleep(0.05)
    return got, logs


def _gas_of(w3: Any, logs: list[Any]) -> tuple[int, int]:
    hashes = {lg["transactionHash"] for lg in logs}
    return sum(int(w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes), len(hashes)


def _latency_line(latencies: list[float]) -> str:
    ms = [x * 1000 for x in latencies]
    return (f"p50 {_percentile(ms, 0.50):.1f}  p95 {_percentile(ms, 0.95):.1f}  "
            f"p99 {_percentile(ms, 0.99):.1f}  max {max(ms):.1f}")  # fmt: skip


def batched_phase(
    args: argparse.Namespace, chain: Any, w3: Any, contracts: Contracts, keys: list[str],
    aggregators: list[str], session_id: int, bidding_end: int, relay: Any, domain: RelayDomain,
    url: str, server_pid: int, registered: dict[str, bytes],
) -> list[str]:  # fmt: skip
    """The batched path in the same run; its printed lines."""
    n, per = args.batch_size, args.batches_per_client
    deadline = bidding_end - 5_000 + 3_600 * 24
    admin = Wallet(w3, keys[0])
    joins = []
    for k in aggregators:
        seller = Account.from_key(k).address
        nonce = random_nonce()
        digest = join_digest(domain, seller, session_id, n * per, nonce, deadline)
        joins.append(relay.functions.joinSessionFor(seller, session_id, n * per, nonce,
                                                    deadline, sign_digest(k, digest)))  # fmt: skip
    admin.send_batch(joins)
    market = contracts.market.address
    t_build = time.perf_counter()
    built: dict[str, list[Batch]] = {}
    commit_bodies: dict[str, list[bytes]] = {}
    for k in aggregators:
        seller = Account.from_key(k).address
        new_nonce = NonceSequence()
        built[k] = []
        commit_bodies[k] = []
        for r in range(per):
            fields = [BidFields(label("Z"), Direction.UP, True, 1_000 + (i % 1_000), 1 + r, 1,
                                (registered[k],), new_salt()) for i in range(n)]  # fmt: skip
            batch = Batch.build(market, session_id, seller, fields)
            built[k].append(batch)
            body = commit_body(batch, k, domain, new_nonce(), deadline)
            commit_bodies[k].append(json.dumps(body).encode())
    build_s = time.perf_counter() - t_build
    tokens = asyncio.run(_tokens(url, aggregators))
    head0 = w3.eth.block_number + 1
    cpu: list[float] = []
    path = f"/sessions/{session_id}/batches"
    # full load: every client's first batch at once
    first_round = [(k, path, commit_bodies[k][0]) for k in aggregators]
    full_s, full_lat, full_st = asyncio.run(_batched_load(
        url, tokens, first_round, None, lambda: cpu.append(_cpu_s(server_pid)),
    ))  # fmt: skip
    t_first = time.perf_counter() - full_s
    event = contracts.market.events.BatchCommitted()
    wait_s = float(os.environ.get("RELAY_WAIT", 120))
    # landed: the full-load round on chain, timed from its first request (the paced runs
    # below are slow on purpose and would time the schedule, not the relay)
    full_landed, full_logs = _landed(w3, event, head0, full_st.get(202, 0) * n, "count", wait_s)
    full_landed_s = time.perf_counter() - t_first
    # paced: the other rounds' requests split between the offered rates, one after another
    rates = [int(x) for x in str(args.paced_bids_per_s).split(",") if x]
    paced_keys = [(k, r) for r in range(1, per) for k in aggregators]
    share = len(paced_keys) // max(1, len(rates))
    paced: list[tuple[int, float, list[float], dict[int, int]]] = []
    for j, rate in enumerate(rates):
        mine = paced_keys[j * share : (j + 1) * share if j + 1 < len(rates) else None]
        if not mine:
            continue
        work = [(k, path, commit_bodies[k][r]) for k, r in mine]
        s_, lat, st = asyncio.run(_batched_load(url, tokens, work, rate / n))
        paced.append((rate, s_, lat, st))
    paced_accepted = sum(st.get(202, 0) for _, _, _, st in paced)
    accepted_batches = full_st.get(202, 0) + paced_accepted
    landed, logs = _landed(w3, event, head0, accepted_batches * n, "count", wait_s)
    commit_gas, commit_txs = _gas_of(w3, logs)
    server_cpu = cpu[1] - cpu[0]
    full_bids = full_st.get(202, 0) * n

    # reveals: past gate closure, every batch through the API, all clients at once
    chain.warp_to(bidding_end)
    reveal_bodies: dict[str, list[bytes]] = {}
    for k in aggregators:
        new_nonce = NonceSequence()
        reveal_bodies[k] = [
            json.dumps(reveal_body(b, range(b.count), k, domain, new_nonce(), deadline)).encode()
            for b in built[k]
        ]
    head1 = w3.eth.block_number + 1
    rcpu: list[float] = []
    reveals = [(k, f"{path}/0x{b.batch_id.hex()}/reveal", body) for k in aggregators
               for b, body in zip(built[k], reveal_bodies[k], strict=True)]  # fmt: skip
    t_rev = time.perf_counter()
    rev_s, rev_lat, rev_st = asyncio.run(_batched_load(
        url, tokens, reveals, None, lambda: rcpu.append(_cpu_s(server_pid)),
    ))  # fmt: skip
    revealed_event = contracts.market.events.BatchRevealed()
    rlogs = revealed_event.get_logs(from_block=head1)
    revealed = sum(len(lg["args"]["bids"]) // 118 for lg in rlogs)
    reveal_landed_s = time.perf_counter() - t_rev
    reveal_gas, reveal_txs = _gas_of(w3, rlogs)
    total = len(aggregators) * per * n
    return [
        f"batched path (issue 21), same run: {len(aggregators)} aggregators x {per} batches "
        f"of {n:,} bids ({total:,} bids); batches built and signed beforehand in "
        f"{build_s:.2f} s",
        f"  full load (each client's first batch, all at once): answers "
        f"{dict(sorted(full_st.items()))}, accepted {full_bids / full_s:,.0f} signed bids/s "
        f"({full_bids:,} in {full_s:.2f} s), request latency ms {_latency_line(full_lat)}; "
        f"server CPU {server_cpu:.2f} s ({server_cpu / max(1, full_bids) * 1e6:.1f} us per bid)",
        *[f"  paced at {rate:,} bids/s offered ({rate / n:.1f} requests/s of {n:,}, open loop, "
          f"{len(lat)} requests): answers {dict(sorted(st.items()))}, accepted "
          f"{len(lat) * n / max(s_, 1e-9):,.0f} bids/s, latency ms {_latency_line(lat)}"
          for rate, s_, lat, st in paced],
        f"  committed on chain (full-load round): {full_landed:,} bids in {full_landed_s:.2f} s "
        f"from its first request ({full_landed / full_landed_s:,.0f} bids/s, "
        f"{len({lg['transactionHash'] for lg in full_logs})} commitBatchesFor transactions); "
        f"all rounds: {landed:,} bids, {commit_txs} transactions, "
        f"{commit_gas / max(1, landed):,.1f} gas per committed bid",
        f"  revealed through the API (revealBatchFor, {per * len(aggregators)} requests of "
        f"{n:,}): answers {dict(sorted(rev_st.items()))}, {revealed:,} bids revealed on chain "
        f"in {reveal_landed_s:.2f} s ({revealed / reveal_landed_s:,.0f} bids/s), request "
        f"latency ms {_latency_line(rev_lat)}, {reveal_gas / max(1, revealed):,.0f} gas per "
        f"revealed bid ({reveal_txs} transactions); server CPU {rcpu[1] - rcpu[0]:.2f} s",
        f"  end to end, a bid committed then revealed (the two rates above, one after the "
        f"other): {1 / (full_landed_s / full_landed + reveal_landed_s / revealed):,.0f} bids/s",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--bids-per-client", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches-per-client", type=int, default=2)
    parser.add_argument("--paced-bids-per-s", default="2000,5000,10000",
                        help="offered rates of the paced runs (comma-separated)")
    args = parser.parse_args(argv)
    load_before = _loadavg()

    with start_chain("anvil") as chain, tempfile.TemporaryDirectory() as tmp:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        deployment = deploy(w3, Wallet(w3, keys[0]))
        contracts = Contracts(w3, deployment)
        admin, oracle = AdminClient(contracts, keys[0]), OracleClient(contracts, keys[1])
        admin.grant_role("ORACLE", oracle.address)
        aggregators = [Account.create().key.to_0x_hex() for _ in range(args.clients)]
        for k in aggregators:
            admin.grant_role("AGGREGATOR", Account.from_key(k).address)
        # for the batched path's reveals: zone Z, one pre-qualified asset per aggregator
        # (the fresh keys get ether from the local chain to register it themselves)
        admin.grant_role("DSO", Account.from_key(keys[2]).address)
        dso = DsoClient(contracts, keys[2])
        dso.register_zone(label("Z"))
        registered: dict[str, bytes] = {}
        for k in aggregators:
            address = Account.from_key(k).address
            chain.rpc("anvil_setBalance", [address, hex(10**20)])
            registered[k] = asset_id(f"bench-api-{address}", b"bench-api")
            AggregatorClient(contracts, k).register_asset(
                registered[k], AssetType.LOAD, 50_000, 0, label("Z"), address
            )
            dso.prequalify(registered[k])
        now = int(w3.eth.get_block("latest")["timestamp"])
        session_id = oracle.open_session(SessionParams(
            market_id=label("bench-api"), product=label("PowerMax"), pricing=Pricing.PAY_AS_BID,
            slot_count=1, slot_minutes=15, delivery_start=now + 40_000, bidding_end=now + 10_000,
            reveal_deadline=now + 20_000, clearing_deadline=now + 30_000, min_bid_w=0,
            granularity_w=1, price_floor_eur_per_mw=0, price_cap_eur_per_mw=NO_LIMIT,
            unmet_penalty_eur_per_mw=0, bid_bond_ueur=0, collateral_ueur_per_w=0,
            shortfall_penalty_eur_per_mw=0, tolerance_bps=0, attestation_quorum=1,
        ))  # fmt: skip
        dep_file = Path(tmp) / "deployment.json"
        dep_file.write_text(json.dumps(deployment.to_json()))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "FLEXMARKET_API_RELAYER_KEY": keys[9]}
        server = subprocess.Popen(
            [sys.executable, "-m", "flexmarket", "serve", "--rpc", chain.url, "--deployment",
             str(dep_file), "--db", f"sqlite:///{tmp}/api.sqlite3", "--port", str(port)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            _wait_http(url)
            relay = w3.eth.contract(
                address=contracts.market.functions.relay().call(),
                abi=load_artifact("FlexRelay").abi,
            )
            domain = RelayDomain(int(w3.eth.chain_id), relay.address)
            deadline = now + 5_000
            # each aggregator joins first (a commit needs an allowance; bond 0 here): its
            # signed join, relayed by the admin's wallet (the fresh keys hold no ether)
            joins = []
            for k in aggregators:
                seller = Account.from_key(k).address
                n, allowance = random_nonce(), args.bids_per_client
                digest = join_digest(domain, seller, session_id, allowance, n, deadline)
                sig = sign_digest(k, digest)
                joins.append(
                    relay.functions.joinSessionFor(seller, session_id, allowance, n, deadline, sig)
                )
            Wallet(w3, keys[0]).send_batch(joins)
            bodies: dict[str, list[bytes]] = {}
            t_sign = time.perf_counter()
            for k in aggregators:
                seller = Account.from_key(k).address
                items = []
                new_nonce = NonceSequence()  # as HttpClient: consecutive bits of a word
                for i in range(args.bids_per_client):
                    f = BidFields(label("Z"), Direction.UP, True, 1_000 + i, 1, 1,
                                  (os.urandom(32),), new_salt())  # fmt: skip
                    c = commitment(session_id, seller, f)
                    nonce = new_nonce()
                    sig = sign_digest(
                        k, commit_digest(domain, seller, session_id, c, nonce, deadline)
                    )
                    body = {"commitment": "0x" + c.hex(), "nonce": nonce, "deadline": deadline,
                            "signature": "0x" + sig.hex()}  # fmt: skip
                    items.append(json.dumps(body).encode())
                bodies[k] = items
            sign_s = time.perf_counter() - t_sign
            total = args.clients * args.bids_per_client
            head0 = w3.eth.block_number
            cpu: list[tuple[float, float, float]] = []  # after sign-in; after the load

            def snapshot() -> None:
                cpu.append((_cpu_s(server.pid), time.process_time(), _cpu_s(chain.process.pid)))

            elapsed, latencies, statuses = asyncio.run(
                _load(url, aggregators, session_id, bodies, snapshot)
            )
            t_accepted = time.perf_counter() - elapsed
            accepted = statuses.get(202, 0)
            # the relay: until every accepted bid is committed on chain
            event = contracts.market.events.BidCommitted()
            committed, gas, relay_txs = 0, 0, set()
            logs: list[Any] = []
            wait_end = time.monotonic() + float(os.environ.get("RELAY_WAIT", 120))
            while time.monotonic() < wait_end:
                logs = event.get_logs(from_block=head0 + 1) if w3.eth.block_number > head0 else []
                committed = len(logs)
                if committed >= accepted:
                    break
                time.sleep(0.05)
            relay_s = time.perf_counter() - t_accepted
            for lg in logs:
                relay_txs.add(lg["transactionHash"])
            for h in relay_txs:
                gas += int(w3.eth.get_transaction_receipt(h)["gasUsed"])
            batched_lines = []
            if args.batches_per_client > 0:
                batched_lines = batched_phase(
                    args, chain, w3, contracts, keys, aggregators, session_id, now + 10_000,
                    relay, domain, url, server.pid, registered,
                )  # fmt: skip
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    ms = [x * 1000 for x in latencies]
    print(f"bench-api: {args.clients} aggregator clients x {args.bids_per_client} signed "
          f"commits on loopback ({total} bids); one uvicorn process (httptools, uvloop), "
          f"aiohttp clients in one process, anvil; {os.cpu_count()} cores, load average "
          f"{load_before} before")  # fmt: skip
    print(f"  clients signed {total} EIP-712 commits in {sign_s:.2f} s beforehand "
          f"({total / sign_s:,.0f}/s)")  # fmt: skip
    print(f"  answers: {dict(sorted(statuses.items()))}")
    print(f"  accepted by the API: {accepted / elapsed:,.0f} signed bids/s "
          f"({accepted} in {elapsed:.2f} s)")  # fmt: skip
    print(f"  latency ms: p50 {_percentile(ms, 0.50):.1f}  p95 {_percentile(ms, 0.95):.1f}  "
          f"p99 {_percentile(ms, 0.99):.1f}  max {max(ms):.1f}  "
          f"mean {statistics.fmean(ms):.1f}")  # fmt: skip
    print(f"  relay on chain: {committed} bids committed in {relay_s:.2f} s from the first "
          f"accepted bid ({committed / relay_s:,.0f} bids/s), {len(relay_txs)} commitBidsFor "
          f"transactions, {gas / max(1, committed):,.0f} gas per bid")  # fmt: skip
    server_cpu, client_cpu, anvil_cpu = (b - a for a, b in zip(*cpu, strict=True))
    print(f"  CPU during the load ({elapsed:.2f} s): server {server_cpu:.2f} s "
          f"({server_cpu / max(1, accepted) * 1e6:,.0f} us per bid, relay thread included), "
          f"clients {client_cpu:.2f} s, anvil {anvil_cpu:.2f} s")  # fmt: skip
    print(f"  load average after the per-bid path: {_loadavg()}")
    for line in batched_lines:
        print(line)
    print(f"  load average after: {_loadavg()}")
    return 0 if accepted == total and committed == accepted else 1


if __name__ == "__main__":
    sys.exit(main())
