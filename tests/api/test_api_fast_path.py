"""The commit route's fast path: no chain read per request, yet nothing the chain says is
missed. Relay nonces used on chain outside the API, or taken by the API's other relayed
routes, are refused; a role revoked on chain is seen by the follower despite a long role
cache; malleable signatures are refused as FlexRelay refuses them; the hand-written
EIP-712 digests and `commitBidsFor` calldata equal eth_abi's and web3's encodings."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.gateway import Gateway
from api.main import create_app
from api.relay_batcher import PendingCommit, encode_commit_bids_for
from api.roles import ROLE_IDS
from python_client.chain import Contracts, Deployment, Wallet
from python_client.hashing import label, new_salt
from python_client.http import ApiError, HttpClient
from python_client.records import BidFields, Direction
from python_client.relay import (
    COMMIT_TYPE,
    JOIN_TYPE,
    REVEAL_TYPE,
    SECP256K1_N,
    RelayDomain,
    _slow_digest,
    commit_digest,
    join_digest,
    recover,
    recover_raw,
    reveal_digest,
    sign_digest,
)
from tests.api.conftest import open_far_session, participant

PROBLEM = "application/problem+json"


@dataclass
class Fast:
    api: dict[str, Any]
    gateway: Gateway
    admin: HttpClient
    oracle: HttpClient
    fo: HttpClient
    session: int


def _fields(quantity_w: int = 3_000) -> BidFields:
    asset = os.urandom(32)  # a commit is only a hash: its asset is checked at reveal
    return BidFields(label("T1"), Direction.UP, False, quantity_w, 500_000, 1, (asset,), new_salt())


@pytest.fixture(scope="module")
def fast(api: dict[str, Any]) -> Iterator[Fast]:
    admin, oracle, fo = (participant(api, i) for i in (0, 1, 4))
    for c in (admin, oracle, fo):
        c.sign_in()
    admin.grant_role(oracle.address, "ORACLE")
    admin.grant_role(fo.address, "AGGREGATOR")
    session = open_far_session(oracle, "fast", slot_count=1, min_bid_w=1_000, granularity_w=100,
                               bid_bond_ueur=0, collateral_ueur_per_w=0)  # fmt: skip
    fo.join(session, 2_000)  # every commit needs a joined allowance (issue 11)
    fo.join(session, 1_000)  # a commit needs an allowance (bond 0 here)
    yield Fast(api, api["app"].state.gateway, admin, oracle, fo, session)


def _post(f: Fast, c: HttpClient, path: str, body: Any) -> Any:
    r = f.api["client"].post(path, json=body, headers={"Authorization": f"Bearer {c.token}"})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith(PROBLEM), r.headers
    return r


def _wait_followed(gateway: Gateway, block: int, timeout_s: float = 10.0) -> None:
    end = time.monotonic() + timeout_s
    while gateway.followed_block < block:
        assert time.monotonic() < end, "the chain follower did not reach the block"
        time.sleep(0.02)


def _fields_named(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def test_a_nonce_used_on_chain_outside_the_api_is_refused(fast: Fast) -> None:
    f, fo = fast, fast.fo
    nonce = fo.new_nonce()
    body = fo.commit_body(f.session, _fields(), nonce=nonce)
    # the seller's message relayed by someone else, straight to FlexRelay
    request = (
        fo.address, f.session, bytes.fromhex(body["commitment"][2:]), nonce, body["deadline"],
        bytes.fromhex(body["signature"][2:]),
    )  # fmt: skip
    outsider = Wallet(f.api["w3"], f.api["keys"][7])
    receipt = outsider.transact(f.gateway.relay.functions.commitBidFor(request))
    _wait_followed(f.gateway, int(receipt["blockNumber"]))
    before = len(fo.bids(f.session))
    again = fo.commit_body(f.session, _fields(3_100), nonce=nonce)  # other fields, same nonce
    r = _post(f, fo, f"/sessions/{f.session}/bids", again)
    assert r.status_code == 409 and _fields_named(r.json()) == {"nonce"}, r.text
    assert len(fo.bids(f.session)) == before  # nothing queued


def test_a_nonce_is_single_use_across_the_fast_path_and_the_relayed_routes(fast: Fast) -> None:
    f, fo = fast, fast.fo
    nonce = fo.new_nonce()
    r = _post(f, fo, f"/sessions/{f.session}/bids", fo.commit_body(f.session, _fields(), nonce))
    assert r.status_code == 202 and r.json()["status"] == "queued", r.text
    sequence = fo.new_nonce
    fo.new_nonce = lambda: nonce  # type: ignore[assignment,method-assign]
    try:
        with pytest.raises(ApiError) as exc:
            fo.join(f.session, 1)  # relayed at once, same nonce: refused before relaying
    finally:
        fo.new_nonce = sequence  # type: ignore[method-assign]
    assert exc.value.status == 409 and _fields_named(exc.value.problem) == {"nonce"}
    # and the other way round: a join's nonce cannot be reused by a commit
    joined = fo.new_nonce()
    fo.new_nonce = lambda: joined  # type: ignore[assignment,method-assign]
    try:
        fo.join(f.session, 1)
    finally:
        fo.new_nonce = sequence  # type: ignore[method-assign]
    r = _post(f, fo, f"/sessions/{f.session}/bids", fo.commit_body(f.session, _fields(), joined))
    assert r.status_code == 409 and _fields_named(r.json()) == {"nonce"}, r.text


def test_a_malleable_signature_is_refused_as_flexrelay_refuses_it(fast: Fast) -> None:
    f, fo = fast, fast.fo
    body = fo.commit_body(f.session, _fields())
    sig = bytes.fromhex(body["signature"][2:])
    s = int.from_bytes(sig[32:64], "big")
    flipped = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes((55 - sig[64],))
    # the same signer for eth_account, but OpenZeppelin's ECDSA refuses an upper-half s
    digest = commit_digest(
        fo.domain, fo.address, f.session, bytes.fromhex(body["commitment"][2:]), body["nonce"],
        body["deadline"],
    )  # fmt: skip
    assert Account._recover_hash(digest, signature=flipped) == fo.address
    assert recover_raw(digest, flipped) is None
    r = _post(f, fo, f"/sessions/{f.session}/bids", {**body, "signature": "0x" + flipped.hex()})
    assert r.status_code == 422 and _fields_named(r.json()) == {"signature"}, r.text
    # the nonce was not taken: the well-formed signature of the same message is accepted
    r = _post(f, fo, f"/sessions/{f.session}/bids", body)
    assert r.status_code == 202, r.text


def test_bad_parameters_of_the_fast_route_are_422_naming_them(fast: Fast) -> None:
    f, fo = fast, fast.fo
    body = fo.commit_body(f.session, _fields())
    r = _post(f, fo, "/sessions/0/bids", body)
    assert r.status_code == 422 and _fields_named(r.json()) == {"session_id"}, r.text
    r = _post(f, fo, f"/sessions/{f.session}/bids?wait=maybe", body)
    assert r.status_code == 422 and _fields_named(r.json()) == {"wait"}, r.text
    r = _post(f, fo, f"/sessions/{f.session}/bids", {**body, "nonce": "0" + str(body["nonce"])})
    assert r.status_code == 422 and _fields_named(r.json()) == {"nonce"}, r.text  # not decimal
    r = f.api["client"].post(
        f"/sessions/{f.session}/bids", content=b"{", headers={
            "Authorization": f"Bearer {fo.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    assert r.status_code == 422 and _fields_named(r.json()) == {"body"}, r.text
    r = f.api["client"].post(f"/sessions/{f.session}/bids", json=body)  # no token
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    r = _post(f, fo, f"/sessions/{f.session + 1000}/bids", body)
    assert r.status_code == 404, r.text
    # none of these took the nonce
    assert _post(f, fo, f"/sessions/{f.session}/bids", body).status_code == 202


def test_a_role_revoked_on_chain_is_seen_despite_a_long_role_cache(fast: Fast) -> None:
    api = fast.api
    settings = api["settings"].model_copy(
        update={"role_cache_s": 3_600.0, "relayer_key": SecretStr(api["keys"][8])}
    )
    app = create_app(settings)
    with TestClient(app) as client:
        seller = HttpClient("http://testserver", api["keys"][6], client=client)
        seller.sign_in()
        fast.admin.grant_role(seller.address, "AGGREGATOR")
        gateway: Gateway = app.state.gateway
        _wait_followed(gateway, int(api["w3"].eth.block_number))
        assert seller.commit_bid(fast.session, _fields())["status"] == "queued"
        deployment = Deployment.load(Path(str(settings.deployment_file)))
        registry = Contracts(api["w3"], deployment).registry
        admin = Wallet(api["w3"], api["keys"][0])
        receipt = admin.transact(
            registry.functions.revokeRole(ROLE_IDS["AGGREGATOR"], seller.address)
        )
        _wait_followed(gateway, int(receipt["blockNumber"]))
        with pytest.raises(ApiError) as exc:
            seller.commit_bid(fast.session, _fields())
        assert exc.value.status == 403


def test_hand_encodings_equal_eth_abi_and_web3() -> None:
    domain = RelayDomain(31337, "0x" + os.urandom(20).hex())
    for _ in range(50):
        seller = Account.create().address
        c = os.urandom(32)
        sid = int.from_bytes(os.urandom(6), "big")
        nonce = int.from_bytes(os.urandom(32), "big")
        deadline = int.from_bytes(os.urandom(5), "big")
        assert commit_digest(domain, seller, sid, c, nonce, deadline) == _slow_digest(
            domain, COMMIT_TYPE, ["address", "uint64", "bytes32", "uint256", "uint256"],
            [seller, sid, c, nonce, deadline],
        )  # fmt: skip
        assert join_digest(domain, seller, sid, 7, nonce, deadline) == _slow_digest(
            domain, JOIN_TYPE, ["address", "uint64", "uint16", "uint256", "uint256"],
            [seller, sid, 7, nonce, deadline],
        )  # fmt: skip
        assert reveal_digest(domain, seller, c, nonce, deadline) == _slow_digest(
            domain, REVEAL_TYPE, ["address", "bytes32", "uint256", "uint256"],
            [seller, c, nonce, deadline],
        )  # fmt: skip
    with pytest.raises(ValueError, match="session_id"):
        commit_digest(domain, seller, 2**64, c, 1, 1)
    key = Account.create().key
    digest = os.urandom(32)
    assert recover(digest, sign_digest(key, digest)) == Account.from_key(key).address
    assert recover(digest, b"\x01" * 64) is None


def test_commit_bids_for_calldata_equals_web3s(fast: Fast) -> None:
    batch = [
        PendingCommit(
            "",
            Account.create().address,
            int.from_bytes(os.urandom(6), "big"),
            os.urandom(32),
            int.from_bytes(os.urandom(32), "big"),
            int.from_bytes(os.urandom(5), "big"),
            os.urandom(65),
        )  # fmt: skip
        for _ in range(5)
    ]
    for size in (1, 5):
        web3s = fast.gateway.relay.functions.commitBidsFor(
            [p.request() for p in batch[:size]]
        )._encode_transaction_data()
        assert "0x" + encode_commit_bids_for(batch[:size]).hex() == web3s
