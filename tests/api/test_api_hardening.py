"""Issue 11, items 8-14: nobody can stop, fool or freeze the API.

A signature FlexRelay would refuse is refused before queueing; a commit the chain refuses
after the API accepted it costs the honest ones of its batch one block, not one each, and
its nonce is never handed back; a transaction that cannot be mined is refused at once,
and nothing waits for mining on a worker thread; bytes outside ASCII in a token or an
intent are a 401/403; event streams and request bodies are capped; a zone label that is
not UTF-8 is answered in hex; an intent is single use; a key given twice in a body is a
422 naming it; integers beyond 2^53 travel as decimal strings both ways."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from pydantic import SecretStr

from api.gateway import Gateway
from api.main import create_app
from api.relay_batcher import PendingCommit
from python_client.chain import Wallet
from python_client.hashing import asset_id, label, new_salt
from python_client.http import ApiError, HttpClient
from python_client.localchain import free_port
from python_client.records import BidFields, Direction
from python_client.relay import commit_digest, join_digest, sign_digest
from tests.api.conftest import participant

PROBLEM = "application/problem+json"
U64_MAX = 2**64 - 1


@dataclass
class World:
    api: dict[str, Any]
    gateway: Gateway
    admin: HttpClient
    oracle: HttpClient
    dso: HttpClient
    sellers: list[HttpClient]
    session: int
    live_url: str
    live_app: Any


@pytest.fixture(scope="module")
def world(api: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    admin, oracle, dso = (participant(api, i) for i in (0, 1, 5))
    sellers = [participant(api, i) for i in (2, 3, 4)]
    for c in (admin, oracle, dso, *sellers):
        c.sign_in()
    admin.grant_role(oracle.address, "ORACLE")
    admin.grant_role(dso.address, "DSO")
    for s in sellers:
        admin.grant_role(s.address, "AGGREGATOR")
    admin.mint(dso.address, 10**15)
    dso.deposit(10**15)
    now = int(admin.deployment()["block_timestamp"])
    session = oracle.open_session({
        "market_id": "hardening", "slot_count": 1, "delivery_start": now + 400_000,
        "bidding_end": now + 100_000, "reveal_deadline": now + 200_000,
        "clearing_deadline": now + 300_000, "min_bid_w": 1_000, "granularity_w": 100,
    })  # fmt: skip
    for s in sellers:
        s.join(session, 1_000)  # a commit needs an allowance (bond 0 here)
    # a second API process on the same chain, served by uvicorn on a real socket (streams,
    # chunked bodies), with its own relayer; batches gather for 3 s, mining is awaited 0.5 s
    tmp = tmp_path_factory.mktemp("live")
    settings = api["settings"].model_copy(update={
        "relayer_key": SecretStr(api["keys"][8]), "db_url": f"sqlite:///{tmp}/live.sqlite3",
        "relay_batch_wait_s": 3.0, "mined_wait_s": 0.5, "max_streams_per_token": 2,
        "max_streams_per_ip": 5,
    })  # fmt: skip
    live_app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(live_app, host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield World(api, api["app"].state.gateway, admin, oracle, dso, sellers, session,
                    f"http://127.0.0.1:{port}", live_app)  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _fields(quantity_w: int = 3_000) -> BidFields:
    return BidFields(
        label("T1"), Direction.UP, False, quantity_w, 500_000, 1, (os.urandom(32),), new_salt()
    )


def _post(w: World, c: HttpClient, path: str, body: Any = None, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {c.token}", **kw.pop("headers", {})}
    if body is not None:
        kw["json"] = body
    r = w.api["client"].post(path, headers=headers, **kw)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
    return r


def _fields_named(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json().get("errors", [])}


def _low_v(signature_hex: str) -> str:
    sig = bytes.fromhex(signature_hex[2:])
    return "0x" + (sig[:64] + bytes((sig[64] - 27,))).hex()


def _live(w: World, key_index: int) -> HttpClient:
    c = HttpClient(w.live_url, w.api["keys"][key_index])
    c.sign_in()
    return c


# --- item 8: signatures, poisoned batches


def test_a_signature_with_v_0_or_1_is_refused_before_queueing(world: World) -> None:
    w, fo = world, world.sellers[0]
    body = fo.commit_body(w.session, _fields())
    r = _post(
        w, fo, f"/sessions/{w.session}/bids", {**body, "signature": _low_v(body["signature"])}
    )
    assert r.status_code == 422 and _fields_named(r) == {"signature"}, r.text
    assert not w.gateway.nonces.taken(fo.address, body["nonce"])  # nothing queued or taken
    assert _post(w, fo, f"/sessions/{w.session}/bids", body).status_code == 202
    # the relayed-at-once routes use the same check
    join = fo.new_nonce()
    deadline = int(time.time()) + 3_600
    sig = sign_digest(fo._key, join_digest(fo.domain, fo.address, w.session, 1, join, deadline))
    r = _post(w, fo, f"/sessions/{w.session}/participation", {
        "added_bids": 1, "nonce": join, "deadline": deadline,
        "signature": _low_v("0x" + sig.hex())})  # fmt: skip
    assert r.status_code == 422 and _fields_named(r) == {"signature"}, r.text


def test_commits_the_chain_refuses_do_not_hold_back_a_batch_of_honest_ones(world: World) -> None:
    """60 honest commits and 3 that the relay refuses on chain (v = 0, expired, nonce used
    on chain meanwhile: the API's checks passed when they were queued) in one batch: the
    honest ones are committed in a few blocks (one block each before), the bad ones are
    `failed` and their nonces stay taken."""
    w = world
    gateway: Gateway = w.live_app.state.gateway
    clients = [_live(w, i) for i in (2, 3, 4)]
    w3 = w.api["w3"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    domain = clients[0].domain
    seller = clients[0]

    def poisoned(nonce: int, deadline: int, low_v: bool = False) -> PendingCommit:
        c = os.urandom(32)
        sig = sign_digest(seller._key, commit_digest(domain, seller.address, w.session, c,
                                                     nonce, deadline))  # fmt: skip
        if low_v:
            sig = sig[:64] + bytes((sig[64] - 27,))
        bid = "0x" + os.urandom(32).hex()
        return PendingCommit(bid, seller.address, w.session, c, nonce, deadline, sig)

    # a nonce the seller's message used on chain, relayed by an outsider, after the API
    # accepted another message with it
    used = seller.new_nonce()
    direct = poisoned(used, now + 3_600)
    Wallet(w3, w.api["keys"][7]).transact(gateway.relay.functions.commitBidFor(direct.request()))
    bad = [
        poisoned(seller.new_nonce(), now + 3_600, low_v=True),
        poisoned(seller.new_nonce(), now - 10),
        poisoned(used, now + 3_600),
    ]
    start_block = int(w3.eth.block_number)
    started = time.monotonic()

    def accepted(p: PendingCommit) -> None:  # as accept_commit queues it, checks passed
        gateway.nonces.keep([(p.seller, p.nonce)])
        gateway.batcher.enqueue(p)

    for p in bad[:2]:
        accepted(p)
    honest = []
    for i in range(60):
        out = clients[i % 3].commit_bid(w.session, _fields(3_000 + 100 * i))
        assert out["status"] == "queued", out
        honest.append(out["bid_id"])
    accepted(bad[2])
    end = time.monotonic() + 60
    while any(gateway.store.bid(b)["status"] == "queued" for b in honest + [p.bid_id for p in bad]):
        assert time.monotonic() < end, "the batch did not land"
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    statuses = {b: gateway.store.bid(b)["status"] for b in honest}
    assert set(statuses.values()) == {"committed"}, statuses
    for p in bad:
        row = gateway.store.bid(p.bid_id)
        assert row["status"] == "failed" and row["error"].startswith("FlexRelay"), row
        assert gateway.nonces.taken(p.seller, p.nonce)  # never handed back
    blocks = int(w3.eth.block_number) - start_block
    print(f"60 honest + 3 refused commits: {blocks} blocks, {elapsed:.1f} s")  # 62 before
    assert blocks <= 4, f"{blocks} blocks for one batch"
    assert elapsed < 45  # promptly: not one block per commit
    # the same signed message comes back: refused before it reaches a batch
    r = httpx.post(f"{w.live_url}/sessions/{w.session}/bids", headers={
        "Authorization": f"Bearer {seller.token}"}, json={
        "commitment": "0x" + bad[0].commitment.hex(), "nonce": bad[0].nonce,
        "deadline": bad[0].deadline, "signature": "0x" + bad[0].signature.hex()})  # fmt: skip
    assert r.status_code == 422, r.text
    r = httpx.post(f"{w.live_url}/sessions/{w.session}/bids", headers={
        "Authorization": f"Bearer {seller.token}"}, json={
        "commitment": "0x" + bad[2].commitment.hex(), "nonce": bad[2].nonce,
        "deadline": bad[2].deadline, "signature": "0x" + bad[2].signature.hex()})  # fmt: skip
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "nonce", r.text


# --- item 9: transactions that cannot be mined, waits that hold no worker


def _prepared_mint(w: World, amount: int = 1) -> dict[str, Any]:
    r = _post(w, w.admin, f"/participants/{w.dso.address}/mints", {"amount_ueur": amount})
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["transactions"][0]
    return item


def _signed(w: World, item: dict[str, Any], nonce: int | None = None) -> str:
    tx = dict(item["tx"])
    if nonce is not None:
        tx["nonce"] = nonce
    return "0x" + bytes(Account.sign_transaction(tx, w.admin._key).raw_transaction).hex()


def _timed_get(w: World, path: str, client: HttpClient) -> float:
    started = time.monotonic()
    r = w.api["client"].get(path, headers={"Authorization": f"Bearer {client.token}"})
    assert r.status_code == 200, r.text
    return time.monotonic() - started


def test_future_nonces_are_refused_at_once_and_the_pool_stays_free(world: World) -> None:
    w = world
    item = _prepared_mint(w)
    expected = int(w.api["w3"].eth.get_transaction_count(w.admin.address, "pending"))

    def submit(i: int) -> httpx.Response:
        raw = _signed(w, item, expected + 5 + i)
        return _post(w, w.admin, "/transactions", {"raw_tx": raw, "intent": item["intent"]})

    with ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(submit, i) for i in range(40)]
        time.sleep(0.2)
        reads = [_timed_get(w, f"/sessions/{w.session}", w.oracle) for _ in range(5)]
        answers = [f.result(timeout=30) for f in futures]
    for r in answers:
        assert r.status_code == 409 and _fields_named(r) == {"nonce"}, r.text
        assert r.json()["expected_nonce"] == expected
    assert max(reads) < 5.0, reads  # a worker per wait: ~60 s before
    # an old nonce is refused too, naming the next one
    r = _post(w, w.admin, "/transactions",
              {"raw_tx": _signed(w, item, expected - 1), "intent": item["intent"]})  # fmt: skip
    assert r.status_code == 409 and r.json()["expected_nonce"] == expected, r.text


def test_a_transaction_not_mined_in_time_is_202_with_a_status_route(world: World) -> None:
    """Neither a submitted transaction nor a relayed join is awaited beyond mined_wait_s:
    202 and a status route that follows it."""
    w = world
    admin = _live(w, 0)
    chain = w.api["w3"]
    r = httpx.post(
        f"{w.live_url}/participants/{w.dso.address}/mints",
        headers={"Authorization": f"Bearer {admin.token}"},
        json={"amount_ueur": 7},
    )
    item = r.json()["transactions"][0]
    raw = _signed(w, item)
    chain.provider.make_request("evm_setAutomine", [False])  # the chain is this test's
    try:
        started = time.monotonic()
        r = httpx.post(f"{w.live_url}/transactions", headers={
            "Authorization": f"Bearer {admin.token}"},
            json={"raw_tx": raw, "intent": item["intent"]}, timeout=30)  # fmt: skip
        assert r.status_code == 202, r.text
        assert time.monotonic() - started < 5
        pending = r.json()
        assert pending["status"] == "pending" and pending["block_number"] is None
        r = httpx.get(
            w.live_url + pending["status_url"], headers={"Authorization": f"Bearer {admin.token}"}
        )
        assert r.status_code == 200 and r.json()["status"] == "pending", r.text
        # a relayed join is not awaited beyond the bound either
        seller = _live(w, 2)
        nonce, deadline = seller.new_nonce(), int(time.time()) + 3_600
        sig = sign_digest(seller._key, join_digest(seller.domain, seller.address, w.session, 1,
                                                   nonce, deadline))  # fmt: skip
        r = httpx.post(f"{w.live_url}/sessions/{w.session}/participation", headers={
            "Authorization": f"Bearer {seller.token}"}, json={"added_bids": 1, "nonce": nonce,
            "deadline": deadline, "signature": "0x" + sig.hex()}, timeout=30)  # fmt: skip
        assert r.status_code == 202 and r.json()["status"] == "pending", r.text
        joined = r.json()
        chain.provider.make_request("evm_mine", [])
    finally:
        chain.provider.make_request("evm_setAutomine", [True])
    assert seller.wait_mined(joined)["status"] == "mined"
    mined = admin.wait_mined(pending)
    assert mined["status"] == "mined" and mined["block_number"] is not None
    assert any(e["name"] == "Transfer" for e in mined["events"]), mined
    r = httpx.get(
        f"{w.live_url}/transactions/0x{'ab' * 32}",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert r.status_code == 404, r.text


def test_waiting_for_a_stuck_relay_holds_no_worker(world: World) -> None:
    """45 commits with wait=true while the relay cannot send: other routes stay fast (the
    wait held a worker thread each, 40 of them froze the API)."""
    w = world
    fo = w.sellers[1]
    # the relayer is busy (a node that does not answer)
    with w.gateway.relayer.lock, ThreadPoolExecutor(45) as pool:
        futures = [
            pool.submit(
                _post,
                w,
                fo,
                f"/sessions/{w.session}/bids?wait=true",
                fo.commit_body(w.session, _fields()),
            )  # fmt: skip
            for _ in range(45)
        ]
        time.sleep(0.5)
        reads = [_timed_get(w, f"/sessions/{w.session}", w.oracle) for _ in range(5)]
        answers = [f.result(timeout=60) for f in futures]
    assert max(reads) < 5.0, reads  # a worker per wait: ~60 s before
    assert {r.status_code for r in answers} == {202}
    assert {r.json()["status"] for r in answers} == {"queued"}  # answered after mined_wait_s


# --- item 10: bytes outside ASCII


@pytest.mark.parametrize(
    "header",
    [b"Bearer \xff\xfe.\xc3\xa9", "Bearer abc.é".encode(), b"Bearer \xe2\x82\xac", b"\xff\xfe"],
)
def test_non_ascii_authorization_is_401(world: World, header: bytes) -> None:
    w = world
    client = w.api["client"]
    for method, path, body in (
        ("GET", "/participants/me", None), ("POST", f"/sessions/{w.session}/bids", {}),
        ("GET", "/events?to_block=0", None), ("POST", "/transactions", {}),
    ):  # fmt: skip
        r = client.request(method, path, headers={"Authorization": header}, json=body)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)


def test_a_non_ascii_intent_is_403_naming_it(world: World) -> None:
    w = world
    item = _prepared_mint(w)
    expires, _, mac = item["intent"].partition(".")
    for intent in (f"{expires}.é{mac[1:]}", "١٢٣." + mac, f"{expires}.\udcff"[:-1] + "ÿ"):
        r = _post(w, w.admin, "/transactions", {"raw_tx": _signed(w, item), "intent": intent})
        assert r.status_code == 403 and _fields_named(r) == {"intent"}, r.text


# --- item 11: stream caps, body limit


def test_event_streams_are_capped_per_token_and_per_ip(world: World) -> None:
    w = world
    clients = [_live(w, i) for i in (0, 1, 2)]
    url = f"{w.live_url}/events"

    def open_stream(c: HttpClient) -> tuple[httpx.Client, Any]:
        h = httpx.Client(timeout=30)
        cm = h.stream("GET", url, headers={"Authorization": f"Bearer {c.token}"})
        r = cm.__enter__()
        return h, (cm, r)

    opened = []
    try:
        for _ in range(2):
            h, (cm, r) = open_stream(clients[0])
            assert r.status_code == 200
            opened.append((h, cm))
        h, (cm, r) = open_stream(clients[0])  # a third for one token
        r.read()
        assert r.status_code == 429 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert "Retry-After" in r.headers
        cm.__exit__(None, None, None)
        h.close()
        for c in clients[1:]:
            for _ in range(2 if c is clients[1] else 1):
                h, (cm, r) = open_stream(c)
                assert r.status_code == 200
                opened.append((h, cm))
        h, (cm, r) = open_stream(clients[2])  # a sixth for one IP
        r.read()
        assert r.status_code == 429 and "127.0.0.1" in r.json()["detail"], r.text
        cm.__exit__(None, None, None)
        h.close()
    finally:
        for h, cm in opened:
            cm.__exit__(None, None, None)
            h.close()
    # closed streams give their places back
    caps = w.live_app.state.stream_caps
    end = time.monotonic() + 10
    while caps.count(clients[0].address, "127.0.0.1") != (0, 0):
        assert time.monotonic() < end, caps.count(clients[0].address, "127.0.0.1")
        time.sleep(0.05)
    h, (cm, r) = open_stream(clients[0])
    assert r.status_code == 200
    cm.__exit__(None, None, None)
    h.close()


def test_a_body_above_the_limit_is_413_declared_or_chunked(world: World) -> None:
    w = world
    limit = w.api["settings"].max_body_bytes
    big = b'{"message": "' + b"a" * limit + b'", "signature": "0x"}'
    r = w.api["client"].post("/auth/token", content=big,
                             headers={"Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and _fields_named(r) == {"body"}, r.text

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(64):  # 4 MiB, never all in the server's memory
            yield b"a" * 65_536
        yield b'"}'

    r = httpx.post(f"{w.live_url}/auth/token", content=chunks(),
                   headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert r.status_code == 413 and _fields_named(r) == {"body"}, r.text
    # below the limit: the route's own answer
    r = httpx.post(f"{w.live_url}/auth/token", content=iter([b'{"message": "x"}']),
                   headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip
    assert r.status_code == 422, r.text


# --- item 12: a zone label that is not UTF-8


def test_a_zone_label_that_is_not_utf8_is_answered_in_hex(world: World) -> None:
    w = world
    w3 = w.api["w3"]
    registry = w.gateway.contracts.registry.functions
    raw_zone = b"\xff\xfeZ" + bytes(29)
    Wallet(w3, w.api["keys"][5]).transact(registry.registerZone(raw_zone, 0))
    fo = w.sellers[2]
    asset = asset_id("meter-not-utf8", b"key")
    Wallet(w3, w.api["keys"][4]).transact(
        registry.registerAsset(asset, 0, 3_000, 0, raw_zone, fo.address)
    )
    hex_zone = "0x" + raw_zone.hex()
    for c in (fo, w.dso):  # its manager; the zone's DSO (found through the zone's label)
        r = w.api["client"].get(f"/assets/0x{asset.hex()}",
                                headers={"Authorization": f"Bearer {c.token}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["zone"] == hex_zone, r.text
    r = _post(w, w.dso, f"/assets/0x{asset.hex()}/prequalification", {"prequalified": True})
    assert r.status_code == 200, r.text
    # and the hex form names the zone on input
    r = _post(w, w.dso, f"/sessions/{w.session}/needs", {
        "zone": hex_zone, "direction": "up", "buyer_role": "DSO", "budget_ueur": 10**9,
        "quantity_w": [1_000]})  # fmt: skip
    assert r.status_code == 200, r.text


# --- item 13: single-use intents


def test_a_prepared_intent_is_single_use(world: World) -> None:
    w = world
    item = _prepared_mint(w, 1_000)
    first = _post(
        w, w.admin, "/transactions", {"raw_tx": _signed(w, item), "intent": item["intent"]}
    )
    assert first.status_code == 200, first.text
    again = _signed(w, item, int(item["tx"]["nonce"]) + 1)  # the same call signed again
    r = _post(w, w.admin, "/transactions", {"raw_tx": again, "intent": item["intent"]})
    assert r.status_code == 409 and _fields_named(r) == {"intent"}, r.text


def test_racing_submissions_of_one_intent_win_once(world: World) -> None:
    w = world
    store = w.gateway.store
    mac = os.urandom(32).hex()
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: store.use_intent(mac, int(time.time()) + 60,
                                                        int(time.time())), range(8)))  # fmt: skip
    assert wins.count(True) == 1


# --- item 14: JSON keys given twice, big integers


def test_a_key_given_twice_is_422_naming_it(world: World) -> None:
    w = world
    fo = w.sellers[0]
    body = fo.commit_body(w.session, _fields())
    text = json.dumps(body)[:-1] + f', "nonce": {body["nonce"] + 1}}}'
    for path, content, field in (
        (f"/sessions/{w.session}/bids", text, "nonce"),
        ("/participants/me/deposits", '{"amount_ueur": 1, "amount_ueur": 10000}', "amount_ueur"),
        (f"/sessions/{w.session}/coordination",
         '{"zones": [{"id": "T1", "limit_w": 5, "id": "T2"}]}', "zones[0].id"),
    ):  # fmt: skip
        r = _post(w, fo, path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and _fields_named(r) == {field}, r.text
    assert not w.gateway.nonces.taken(fo.address, body["nonce"])


def test_big_integers_travel_as_decimal_strings(world: World) -> None:
    w = world
    fo = w.sellers[0]
    body = fo.commit_body(w.session, _fields())
    for bad in ("01", "-1", "1e3", " 1", str(2**256), "", "0x10"):
        r = _post(w, fo, f"/sessions/{w.session}/bids", {**body, "nonce": bad})
        assert r.status_code == 422 and _fields_named(r) == {"nonce"}, (bad, r.text)
    r = _post(w, fo, f"/sessions/{w.session}/bids",
              {**body, "nonce": str(body["nonce"]), "deadline": str(body["deadline"])})  # fmt: skip
    assert r.status_code == 202, r.text
    # a need at max_price 2^64 - 1 and a budget beyond 2^53, both sent as strings
    budget = 2**60 + 1
    w.admin.mint(w.dso.address, budget)
    w.dso.deposit(budget)
    mined = w.dso.write(f"/sessions/{w.session}/needs", {
        "zone": None, "direction": "up", "buyer_role": "DSO",
        "max_price_eur_per_mw": str(U64_MAX), "budget_ueur": str(budget),
        "quantity_w": [2_000]})  # fmt: skip
    index = next(
        int(e["args"]["needIndex"]) for e in mined[0]["events"] if e["name"] == "NeedPosted"
    )
    need = w.dso.need(w.session, index)
    assert need["max_price_eur_per_mw"] == str(U64_MAX) and need["budget_ueur"] == str(budget)
    me = w.dso.me()
    assert all(isinstance(me[k], str) for k in ("free_ueur", "locked_ueur", "token_ueur"))
    # and OpenAPI says so
    openapi = w.api["client"].get("/openapi.json").json()
    doc = openapi["components"]["schemas"]
    created = doc["NeedCreate"]["properties"]["max_price_eur_per_mw"]
    assert {s["type"] for s in created["anyOf"]} == {"integer", "string"}
    assert doc["NeedPublic"]["properties"]["budget_ueur"]["type"] == "string"
    assert "pattern" in doc["NeedPublic"]["properties"]["budget_ueur"]
    route = openapi["paths"]["/sessions/{session_id}/bids"]["post"]
    commit = route["requestBody"]["content"]["application/json"]["schema"]["properties"]["nonce"]
    assert {s["type"] for s in commit["anyOf"]} == {"integer", "string"}
    with pytest.raises(ApiError) as exc:
        fo.request("POST", f"/sessions/{w.session}/bids", json={**body, "nonce": True})
    assert exc.value.status == 422  # no coercion: true is not 1
