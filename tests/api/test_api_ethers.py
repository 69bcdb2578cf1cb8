"""An aggregator with only ethers v6 and the `siwe` npm package, following docs/api.md
("From JavaScript"): it signs in with a `siwe` message, computes a sealed bid's
commitment and signs its EIP-712 `CommitBid` with ethers (big integers as decimal
strings), and signs the transactions the API prepares with ethers (`gasLimit` for `gas`;
legacy and EIP-1559). Its commitment, bid id, digest and signature equal python_client's
byte for byte, and the API accepts all of it.

Needs node and a node_modules folder with ethers@6 and siwe: the repository's if it has
them, else `FLEXMARKET_ETHERS_NODE_MODULES`, else /tmp/ethers-check/node_modules
(`npm install ethers@6 siwe` there); skipped without them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from python_client.hashing import bid_id, commitment, label
from python_client.records import BidFields, Direction
from python_client.relay import RelayDomain, commit_digest, reveal_digest, sign_digest
from tests.api.conftest import open_far_session, participant

ROOT = Path(__file__).resolve().parents[2]
SIGNER = Path(__file__).with_name("ethers_signer.cjs")


def _node_modules() -> Path | None:
    candidates = [
        os.environ.get("FLEXMARKET_ETHERS_NODE_MODULES"), str(ROOT / "node_modules"),
        "/tmp/ethers-check/node_modules",
    ]  # fmt: skip
    for c in candidates:
        if c and (Path(c) / "ethers").is_dir() and (Path(c) / "siwe").is_dir():
            return Path(c)
    return None


NODE_MODULES = _node_modules()
pytestmark = pytest.mark.skipif(
    NODE_MODULES is None or shutil.which("node") is None,
    reason="needs node with ethers@6 and siwe (npm install ethers@6 siwe)",
)


def _ethers(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["node", str(SIGNER)], input=json.dumps(tasks), capture_output=True, text=True,
        timeout=60, env={**os.environ, "NODE_PATH": str(NODE_MODULES)}, check=True,
    )  # fmt: skip
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


def test_an_ethers_and_siwe_client_signs_in_bids_and_submits(api: dict[str, Any]) -> None:
    client = api["client"]
    key = api["keys"][6]
    admin, oracle = participant(api, 0), participant(api, 1)
    admin.sign_in()
    oracle.sign_in()
    me = participant(api, 6)  # only for its address and to compare signatures
    admin.grant_role(oracle.address, "ORACLE")
    admin.grant_role(me.address, "AGGREGATOR")
    admin.mint(me.address, 10**9)
    now = int(admin.deployment()["block_timestamp"])
    session = open_far_session(oracle, "ethers", slot_count=96, min_bid_w=1_000,
                               granularity_w=100)  # fmt: skip
    me.sign_in()
    me.join(session, 1)  # a commit needs an allowance

    # sign in with the siwe package's message
    nonce = client.post("/auth/nonce").json()
    issued = datetime.now(UTC).replace(microsecond=0)
    siwe = {
        "domain": nonce["domain"], "uri": nonce["uri"], "chain_id": nonce["chain_id"],
        "nonce": nonce["nonce"], "statement": nonce["statement"],
        "issued_at": issued.isoformat().replace("+00:00", "Z"),
        "expiration_time": (issued + timedelta(seconds=240)).isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    # a bid with a 96-slot mask, the price cap 2^64 - 1 and a 64-bit nonce: beyond 2^53
    relay_domain = client.get("/deployment").json()["relay_domain"]
    bid = {
        "zone": "T1", "direction": "down", "divisible": True, "quantity_w": 3_700,
        "min_quantity_w": 1_000, "price_eur_per_mw": str(2**64 - 1),
        "slot_mask": str(2**96 - 1), "asset_ids": ["0x" + "11" * 32, "0x" + "22" * 32],
        "salt": "0x" + "ab" * 32,
    }  # fmt: skip
    relay_nonce, reveal_nonce, deadline = 2**63 + 5, 2**63 + 6, now + 50_000
    (signed,) = _ethers([{
        "private_key": key, "siwe": siwe,
        "commit": {"session_id": session, "bid": bid, "relay_domain": relay_domain,
                   "nonce": str(relay_nonce), "reveal_nonce": str(reveal_nonce),
                   "deadline": str(deadline)},
    }])  # fmt: skip
    assert signed["address"] == me.address
    r = client.post("/auth/token", json=signed["siwe"])
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}

    # the same bytes as python_client
    fields = BidFields(
        label("T1"), Direction.DOWN, True, 3_700, 2**64 - 1, 2**96 - 1,
        (bytes.fromhex("11" * 32), bytes.fromhex("22" * 32)), bytes.fromhex("ab" * 32), 1_000,
    )  # fmt: skip
    c = commitment(session, me.address, fields)
    domain = RelayDomain(int(relay_domain["chainId"]), relay_domain["verifyingContract"])
    digest = commit_digest(domain, me.address, session, c, relay_nonce, deadline)
    out = signed["commit"]
    assert out["commitment"] == "0x" + c.hex()
    assert out["bid_id"] == "0x" + bid_id(me.address, c).hex()
    assert out["digest"] == "0x" + digest.hex()
    assert out["body"]["signature"] == "0x" + sign_digest(key, digest).hex()  # RFC 6979
    reveal = reveal_digest(domain, me.address, c, reveal_nonce, deadline)
    assert out["reveal_signature"] == "0x" + sign_digest(key, reveal).hex()
    # and the API takes the ethers-made body as it is (decimal strings)
    r = client.post(f"/sessions/{session}/bids", json=out["body"], headers=auth)
    assert r.status_code == 202 and r.json()["bid_id"] == out["bid_id"], r.text

    # a prepared deposit (approve, deposit) signed by ethers: legacy, then EIP-1559
    prepared = client.post("/participants/me/deposits", json={"amount_ueur": "1000000"},
                           headers=auth).json()["transactions"]  # fmt: skip
    approve, deposit = (_ethers([{"private_key": key, "tx": p["tx"]}])[0] for p in prepared)
    for raw, item in ((approve["legacy"], prepared[0]), (deposit["eip1559"], prepared[1])):
        r = client.post("/transactions", json={"raw_tx": raw, "intent": item["intent"]},
                        headers=auth)  # fmt: skip
        assert r.status_code == 200, r.text
    r = client.get("/participants/me", headers=auth)
    assert r.json()["free_ueur"] == "1000000", r.text
