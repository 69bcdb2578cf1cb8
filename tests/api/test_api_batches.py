"""Batched sealed bids through the API (issue 21) on a real anvil: a seller's batch in one
request (commitments + root, signed once), relayed with `commitBatchesFor`, its leaves
revealed through `revealBatchFor`; every bad input a 4xx naming its field, and the attacks
of the batched path refused: forged, duplicated or foreign leaves, commitments dropped or
reordered on the way, bonds that do not cover a batch, a batch the chain refuses."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import pytest

from api.gateway import Gateway
from python_client.batches import Batch, batched_bid_id, commit_body, reveal_body
from python_client.chain import Wallet
from python_client.hashing import asset_id, label, new_salt
from python_client.http import HttpClient
from python_client.records import BidFields, Direction
from python_client.relay import batch_digest, sign_digest
from tests.api.conftest import participant

PROBLEM = "application/problem+json"
PHASE_S = 600


@dataclass
class Env:
    api: dict[str, Any]
    gateway: Gateway
    market: str
    fo: HttpClient
    fo2: HttpClient
    session: int
    bidding_end: int
    assets: tuple[bytes, ...]
    assets2: tuple[bytes, ...]


@pytest.fixture(scope="module")
def env(api: dict[str, Any]) -> Env:
    admin, oracle, dso, fo, fo2 = (participant(api, i) for i in (0, 1, 2, 5, 6))
    for c in (admin, oracle, dso, fo, fo2):
        c.sign_in()
    admin.grant_role(oracle.address, "ORACLE")
    admin.grant_role(dso.address, "DSO")
    dso.register_zone("B1", 0)
    assets: dict[str, tuple[bytes, ...]] = {}
    for name, c in (("fo", fo), ("fo2", fo2)):
        admin.grant_role(c.address, "AGGREGATOR")
        admin.mint(c.address, 10**13)
        c.deposit(10**13)
        ids = tuple(sorted(asset_id(f"{name}-{k}", b"batch-test") for k in range(2)))
        for a in ids:
            c.register_asset(a, "load", 50_000, 0, "B1")
            dso.prequalify(a)
        assets[name] = ids
    now = int(admin.deployment()["block_timestamp"])
    session = oracle.open_session({
        "market_id": "batches", "slot_count": 1, "delivery_start": now + 4 * PHASE_S,
        "bidding_end": now + PHASE_S, "reveal_deadline": now + 2 * PHASE_S,
        "clearing_deadline": now + 3 * PHASE_S, "min_bid_w": 1_000, "granularity_w": 100,
        "bid_bond_ueur": 1_000, "collateral_ueur_per_w": 10,
    })  # fmt: skip
    fo.join(session, 40)
    fo2.join(session, 4)
    market = admin.deployment()["contracts"]["FlexMarket"]
    return Env(api, api["app"].state.gateway, market, fo, fo2, session, now + PHASE_S,
               assets["fo"], assets["fo2"])  # fmt: skip


def _bids(assets: tuple[bytes, ...], n: int, base: int = 400_000) -> list[BidFields]:
    return [BidFields(label("B1"), Direction.UP, False, 10_000, base + i, 1, assets, new_salt())
            for i in range(n)]  # fmt: skip


def _batch(e: Env, c: HttpClient, bids: list[BidFields]) -> Batch:
    return Batch.build(e.market, e.session, c.address, bids)


def _deadline() -> int:
    return int(time.time()) + 3600


def _post(e: Env, c: HttpClient, path: str, body: Any) -> Any:
    r = e.api["client"].post(path, json=body, headers={"Authorization": f"Bearer {c.token}"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
    return r


def _get(e: Env, c: HttpClient, path: str) -> Any:
    return e.api["client"].get(path, headers={"Authorization": f"Bearer {c.token}"})


def _named(r: Any) -> set[str]:
    return {err["field"] for err in r.json().get("errors", [])}


def _submit(e: Env, c: HttpClient, batch: Batch, **changes: Any) -> Any:
    body = commit_body(batch, c._key, c.domain, c.new_nonce(), _deadline()) | changes
    return _post(e, c, f"/sessions/{e.session}/batches", body)


def _settled(e: Env, c: HttpClient, batch_id: str, timeout_s: float = 20.0) -> dict[str, Any]:
    end = time.monotonic() + timeout_s
    while True:
        out: dict[str, Any] = _get(e, c, f"/sessions/{e.session}/batches/{batch_id}").json()
        if out["status"] != "queued":
            return out
        assert time.monotonic() < end, out
        time.sleep(0.05)


def _reveal(e: Env, c: HttpClient, batch: Batch, indices: list[int], **changes: Any) -> Any:
    body = reveal_body(batch, indices, c._key, c.domain, c.new_nonce(), _deadline()) | changes
    return _post(e, c, f"/sessions/{e.session}/batches/0x{batch.batch_id.hex()}/reveal", body)


def _to_reveal(e: Env) -> None:
    if int(e.api["w3"].eth.get_block("latest")["timestamp"]) < e.bidding_end:
        e.api["chain"].warp_to(e.bidding_end)
        e.gateway.forget_clock()


# --------------------------------------------------------------------------- commits


def test_the_hand_encoded_reveal_calldata_equals_web3s(env: Env) -> None:
    from api.batches import encode_reveal_batch_for

    e, fo = env, env.fo
    batch = _batch(e, fo, _bids(e.assets, 5))
    root, table, rows, proof, flags = batch.reveal_args([1, 3, 4])
    args = (fo.address, 7, 2**40, b"\x05" * 65, root, table, rows, proof, flags)
    web3s = e.gateway.relay.functions.revealBatchFor(*args)._encode_transaction_data()
    assert "0x" + encode_reveal_batch_for(*args).hex() == web3s



def test_bad_batch_input_is_a_4xx_naming_the_field(env: Env) -> None:
    e, fo = env, env.fo
    batch = _batch(e, fo, _bids(e.assets, 3))
    good = commit_body(batch, fo._key, fo.domain, fo.new_nonce(), _deadline())
    path = f"/sessions/{e.session}/batches"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "root": "0x" + "00" * 32}, 403, "signature"),  # not the root signed
        ({**good, "commitments": []}, 422, "commitments"),
        ({**good, "commitments": good["commitments"] * 1366}, 422, "commitments"),
        ({**good, "commitments": ["0x12"]}, 422, "commitments.0"),
        ({**good, "nonce": -1}, 422, "nonce"),
        ({**good, "deadline": int(time.time()) - 1}, 422, "deadline"),
        ({**good, "signature": "0x" + "00" * 65}, 422, "signature"),
        ({**good, "extra": 1}, 422, "extra"),
    ]
    for body, code, field in cases:
        r = _post(e, fo, path, body)
        assert r.status_code == code and field in _named(r), (field, r.text)
    # another aggregator posting the batch: the signature is not its own (and the leaves
    # bind the seller: under its name the commitments hash to another root)
    r = _post(e, e.fo2, path, good)
    assert r.status_code == 403 and _named(r) == {"signature"}, r.text
    copied = Batch.build(e.market, e.session, e.fo2.address, list(batch.bids))
    as_fo2 = commit_body(copied, e.fo2._key, fo.domain, good["nonce"], good["deadline"])
    r = _post(e, e.fo2, path, {**as_fo2, "signature": good["signature"]})
    assert r.status_code == 403 and _named(r) == {"signature"}, r.text
    r = _post(e, fo, "/sessions/999/batches", good)
    assert r.status_code == 404, r.text
    assert _get(e, fo, path).json() == []  # nothing recorded


def test_a_batch_is_relayed_committed_and_counted_once(env: Env) -> None:
    e, fo = env, env.fo
    batch = _batch(e, fo, _bids(e.assets, 6))
    body = commit_body(batch, fo._key, fo.domain, fo.new_nonce(), _deadline())
    r = _post(e, fo, f"/sessions/{e.session}/batches", body)
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["status"] == "queued" and out["bid_count"] == 6
    assert out["batch_id"] == "0x" + batch.batch_id.hex()
    assert out["first_bid_id"] == "0x" + batched_bid_id(batch.batch_id, 0).hex()
    again = _submit(e, fo, batch)  # signed again with a new nonce
    assert again.status_code == 409 and again.json()["type"].endswith("batch-exists"), again.text
    replayed = _post(e, fo, f"/sessions/{e.session}/batches", body)  # same nonce
    assert replayed.status_code == 409, replayed.text
    done = _settled(e, fo, out["batch_id"])
    assert done["status"] == "committed" and done["relay_tx_hash"], done
    on_chain = e.gateway.contracts.market.functions.participation(e.session, fo.address).call()
    assert on_chain[6] >= 6  # committed
    # the other seller cannot see it
    r = _get(e, e.fo2, f"/sessions/{e.session}/batches/{out['batch_id']}")
    assert r.status_code == 404


def test_commitments_dropped_or_reordered_on_the_way_are_refused(env: Env) -> None:
    """A relayer (or anyone between the aggregator and the API) that drops or reorders
    leaves: the root no longer matches (422 `root`), or, recomputed, the signature is over
    another root (403 `signature`)."""
    e, fo = env, env.fo
    bids = _bids(e.assets, 4)
    batch = _batch(e, fo, bids)
    body = commit_body(batch, fo._key, fo.domain, fo.new_nonce(), _deadline())
    reordered = {**body, "commitments": body["commitments"][::-1]}
    r = _post(e, fo, f"/sessions/{e.session}/batches", reordered)
    assert r.status_code == 422 and _named(r) == {"root"}, r.text
    dropped = _batch(e, fo, bids[:3])
    forged = {**body, "commitments": body["commitments"][:3],
              "root": "0x" + dropped.root.hex()}  # fmt: skip
    r = _post(e, fo, f"/sessions/{e.session}/batches", forged)
    assert r.status_code == 403 and _named(r) == {"signature"}, r.text
    # the count is signed too: the same root under another count is a message nobody signed
    digest = batch_digest(fo.domain, fo.address, e.session, batch.root, 3, body["nonce"],
                          body["deadline"])  # fmt: skip
    assert sign_digest(fo._key, digest).hex() != body["signature"][2:]


def test_a_batch_whose_bonds_do_not_cover_its_bids_is_refused(env: Env) -> None:
    e, fo2 = env, env.fo2
    r = _submit(e, fo2, _batch(e, fo2, _bids(e.assets2, 5)))
    assert r.status_code == 409 and _named(r) == {"commitments"}, r.text
    first = _submit(e, fo2, _batch(e, fo2, _bids(e.assets2, 3)))
    assert first.status_code == 202, first.text
    # 3 queued or committed of 4 bonded: a second batch of 2 is one too many
    r = _submit(e, fo2, _batch(e, fo2, _bids(e.assets2, 2, base=500_000)))
    assert r.status_code == 409 and r.json()["type"].endswith("too-many-bids"), r.text
    assert _settled(e, fo2, first.json()["batch_id"])["status"] == "committed"


def test_a_batch_the_chain_refuses_is_failed_with_its_reason(env: Env) -> None:
    """The same root committed outside the API first: the API's relay of it is refused by
    the market (FlexBatchesExists), reported by its RelayFailed, and the batch `failed`."""
    e, fo = env, env.fo
    batch = _batch(e, fo, _bids(e.assets, 2, base=600_000))
    outside = commit_body(batch, fo._key, fo.domain, fo.new_nonce(), _deadline())
    request = (fo.address, e.session, batch.root, 2, outside["nonce"], outside["deadline"],
               bytes.fromhex(outside["signature"][2:]))  # fmt: skip
    Wallet(e.api["w3"], e.api["keys"][7]).transact(
        e.gateway.relay.functions.commitBatchesFor([request])
    )
    r = _submit(e, fo, batch)
    assert r.status_code == 202, r.text
    out = _settled(e, fo, r.json()["batch_id"])
    assert out["status"] == "failed" and out["relay_error"] == "FlexBatchesExists", out


# --------------------------------------------------------------------------- reveals


_READY: dict[str, Batch] = {}  # batches committed before gate closure, by the test that made them


def test_reveals_are_refused_before_the_window_and_for_uncommitted_batches(env: Env) -> None:
    e, fo = env, env.fo
    batch = _batch(e, fo, _bids(e.assets, 2, base=700_000))
    r = _reveal(e, fo, batch, [0])
    assert r.status_code == 404, r.text  # never submitted
    assert _submit(e, fo, batch).status_code == 202
    assert _settled(e, fo, "0x" + batch.batch_id.hex())["status"] == "committed"
    r = _reveal(e, fo, batch, [0])
    assert r.status_code == 409 and "FlexMarketRevealNotOpen" in r.text, r.text
    # for the tests below: a plain batch, and one whose leaf 2 names fo2's asset (a commit
    # is a hash: nothing to check until the reveal)
    bids = _bids(e.assets, 3, base=900_000)
    bids[2] = replace(bids[2], asset_ids=tuple(sorted((*e.assets, e.assets2[0]))))
    _READY["plain"] = _batch(e, fo, _bids(e.assets, 5, base=800_000))
    _READY["attack"] = _batch(e, fo, bids)
    for b in _READY.values():
        assert _submit(e, fo, b).status_code == 202
        assert _settled(e, fo, "0x" + b.batch_id.hex())["status"] == "committed"


def test_a_batch_is_revealed_through_the_api_in_two_calls(env: Env) -> None:
    e, fo = env, env.fo
    batch = _READY["plain"]
    _to_reveal(e)
    market = e.gateway.contracts.market.functions
    before = market.participation(e.session, fo.address).call()[1]
    for indices in ([0, 2, 4], [1, 3]):
        r = _reveal(e, fo, batch, indices)
        assert r.status_code == 200, r.text
        names = [ev["name"] for ev in r.json()["events"]]
        assert "BatchRevealed" in names, names
    assert market.participation(e.session, fo.address).call()[1] == before + 5
    r = _reveal(e, fo, batch, [1])  # revealed already: the contract's word, a 409
    assert r.status_code == 409 and "FlexBatchesLeafUsed" in r.text, r.text


def test_reveal_attacks_are_refused_naming_the_field(env: Env) -> None:
    e, fo, fo2 = env, env.fo, env.fo2
    batch = _READY["attack"]
    _to_reveal(e)
    path = f"/sessions/{e.session}/batches/0x{batch.batch_id.hex()}/reveal"
    good = reveal_body(batch, [0, 1], fo._key, fo.domain, fo.new_nonce(), _deadline())
    first, second = good["bids"]

    def signed(bids: list[BidFields], indices: list[int]) -> dict[str, Any]:
        """The seller's own signed reveal of other fields than it committed."""
        other = replace(batch, bids=tuple(bids))
        return reveal_body(other, indices, fo._key, fo.domain, fo.new_nonce(), _deadline())

    b0, b1 = batch.bids[0], batch.bids[1]
    cases: list[tuple[dict[str, Any], int, str]] = [
        (signed([replace(b0, price_eur_per_mw=1), b1], [0, 1]), 422, "bids[0]"),  # forged leaf
        (signed([b0, b0], [1]), 422, "bids[0]"),  # another leaf's fields at index 1
        (signed([replace(b0, salt=b"\x99" * 32)], [0]), 422, "bids[0]"),  # another salt
        ({**good, "bids": [first, first]}, 422, "bids[1].index"),  # duplicated leaf
        ({**good, "bids": [second, first]}, 422, "bids[1].index"),  # reordered
        ({**good, "bids": [{**first, "index": 7}]}, 422, "bids[0].index"),  # beyond the count
        ({**good, "bids": [{**first, "price_eur_per_mw": 1}, second]}, 403, "signature"),
        ({**good, "bids": [first]}, 403, "signature"),  # signed for two, one sent (dropped)
        ({**good, "bids": []}, 422, "bids"),
        ({**good, "bids": [{**first, "direction": "sideways"}]}, 422, "bids.0.direction"),
    ]  # fmt: skip
    for body, code, field in cases:
        r = _post(e, fo, path, body)
        assert r.status_code == code and field in _named(r), (field, r.text)
    # another batch's reveal (its root signed, its leaves) posted under this batch's id
    other = reveal_body(_READY["plain"], [0], fo._key, fo.domain, fo.new_nonce(), _deadline())
    r = _post(e, fo, path, other)
    assert r.status_code == 403 and _named(r) == {"signature"}, r.text
    # a leaf naming another aggregator's asset: 403 naming it
    r = _reveal(e, fo, batch, [2])
    assert r.status_code == 403 and _named(r) == {"bids[0].asset_ids"}, r.text
    # someone else's batch: fo2 can neither reveal nor see fo's leaves
    stolen = reveal_body(batch, [0], fo2._key, fo2.domain, fo2.new_nonce(), _deadline())
    assert _post(e, fo2, path, stolen).status_code == 404
    seen = _get(e, fo2, f"/sessions/{e.session}/batches/0x{batch.batch_id.hex()}")
    assert seen.status_code == 404
    # a batch never committed (gate closed): 404, nothing relayed
    late = _batch(e, fo, _bids(e.assets, 1, base=990_000))
    assert _reveal(e, fo, late, [0]).status_code == 404
    r = _submit(e, fo, late)
    assert r.status_code == 409 and r.json()["type"].endswith("bidding-closed"), r.text
    # the untouched request still goes through: nothing above spent a nonce or a leaf
    r = _post(e, fo, path, good)
    assert r.status_code == 200, r.text
