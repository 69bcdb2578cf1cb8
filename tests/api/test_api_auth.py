"""Sign-in with Ethereum: each broken rule is a 401 problem; a token works once issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from python_client.http import siwe_message
from tests.api.conftest import participant


def _attempt(api: dict[str, Any], key: str, **override: Any) -> Any:
    c = api["client"]
    n = c.post("/auth/nonce").json()
    acct = Account.from_key(key)
    fields = {"domain": n["domain"], "uri": n["uri"], "address": acct.address,
              "chain_id": n["chain_id"], "nonce": n["nonce"]}  # fmt: skip
    fields.update(override)
    message = siwe_message(**fields)
    sig = acct.sign_message(encode_defunct(text=message)).signature
    body = {"message": message, "signature": "0x" + sig.hex()}
    return c.post("/auth/token", json=body), body


def test_sign_in_gives_a_token_and_roles_from_the_chain(api: dict[str, Any]) -> None:
    r, _ = _attempt(api, api["keys"][0])
    assert r.status_code == 200, r.text
    me = api["client"].get(
        "/participants/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.status_code == 200 and "ADMIN" in me.json()["roles"]


def test_replayed_nonce_is_401(api: dict[str, Any]) -> None:
    r, body = _attempt(api, api["keys"][1])
    assert r.status_code == 200
    again = api["client"].post("/auth/token", json=body)
    assert again.status_code == 401
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["errors"][0]["field"] == "nonce"


def test_expired_message_is_401(api: dict[str, Any]) -> None:
    old = datetime.now(UTC) - timedelta(seconds=600)
    r, _ = _attempt(api, api["keys"][1], issued_at=old)
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "issued_at"


def test_wrong_domain_is_401(api: dict[str, Any]) -> None:
    r, _ = _attempt(api, api["keys"][1], domain="evil.example")
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "domain"


def test_wrong_chain_id_is_401(api: dict[str, Any]) -> None:
    r, _ = _attempt(api, api["keys"][1], chain_id=1)
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "chain_id"


def test_wrong_uri_and_forged_signature_are_401(api: dict[str, Any]) -> None:
    r, _ = _attempt(api, api["keys"][1], uri="http://evil.example")
    assert r.status_code == 401
    c = api["client"]
    n = c.post("/auth/nonce").json()
    victim = Account.from_key(api["keys"][2]).address
    message = siwe_message(n["domain"], n["uri"], victim, n["chain_id"], n["nonce"])
    sig = Account.from_key(api["keys"][3]).sign_message(encode_defunct(text=message)).signature
    r = c.post("/auth/token", json={"message": message, "signature": "0x" + sig.hex()})
    assert r.status_code == 401 and r.json()["errors"][0]["field"] == "signature"


def test_no_token_or_a_forged_token_is_401(api: dict[str, Any]) -> None:
    c = api["client"]
    assert c.get("/participants/me").status_code == 401
    p = participant(api, 1)
    p.sign_in()
    assert p.token is not None
    forged = p.token[:-2] + ("AA" if not p.token.endswith("AA") else "BB")
    r = c.get("/participants/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
