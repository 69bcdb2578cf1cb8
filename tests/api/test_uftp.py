"""UFTP (issue 18) against a real anvil, over HTTP on loopback: the API served by uvicorn; a
DSO and two aggregators speak Shapeshifter with the `shapeshifter-uftp` package's own,
unmodified client classes (`ShapeshifterDsoAgrClient`, `ShapeshifterAgrDsoClient`, posting
with `requests`) and its signing; their wallets sign what the market prepares
(`HttpClient`) and read its responses (`GET /uftp/messages`). A FlexRequest becomes a need
on chain, FlexOffers sealed bids, the committed award a FlexOrder copying the winning offer.
Refusals (bad signature, unknown sender, replayed message ID, tampered body, a participant
acting for another, an offer for another conversation) are answered as UFTP says, and
nothing reaches the chain."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import uuid
from base64 import b64encode
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from nacl.signing import SigningKey
from pydantic import SecretStr
from shapeshifter_uftp import (
    AcceptedRejected,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOfferResponse,
    FlexOfferRevocation,
    FlexOrder,
    FlexOrderResponse,
    FlexRequest,
    FlexRequestISP,
    FlexRequestResponse,
    FlexSettlement,
    ShapeshifterAgrDsoClient,
    ShapeshifterDsoAgrClient,
    SignedMessage,
    transport,
)
from shapeshifter_uftp.exceptions import ClientTransportException
from shapeshifter_uftp.uftp.enums import AvailableRequested

from api import uftp_mapping as mapping
from api.config import Settings
from api.main import create_app
from api.store import Store
from api.uftp import UftpStore, registration_text
from python_client.chain import Wallet, connect, deploy
from python_client.hashing import asset_id, label
from python_client.http import ApiError, HttpClient
from python_client.localchain import LocalChain
from python_client.records import BidFields, Direction
from tests.verifier.indexer_helpers import Postgres, postgres_server

CP = "ean.871685900012345678"  # the DSO's congestion point: its zone's label
OTHER_CP = "ean.871685900099999999"
TZ = "Europe/Amsterdam"
PHASE_S = 60
DEPOSIT_UEUR = 10**15
BUDGET_UEUR = 10**12
NEED_W = 10_000
PATH = "/shapeshifter/api/v3/message"
ENDPOINT_HOSTS = "FLEXMARKET_API_UFTP_ENDPOINT_HOSTS"


@dataclass
class Party:
    """A UFTP participant: its wallet (HttpClient) and its UFTP identity."""

    wallet: HttpClient
    domain: str
    role: str
    private_key: str  # base64 of the 64-byte Ed25519 secret key, as the package takes it
    signing: SigningKey


def _identity(wallet: HttpClient, domain: str, role: str) -> Party:
    key = SigningKey.generate()
    private = b64encode(bytes(key) + bytes(key.verify_key)).decode()
    return Party(wallet, domain, role, private, key)


def _register(
    api: dict[str, Any], p: Party, budget_ueur: int = 0, endpoint: str | None = None
) -> None:
    chain_id = api["w3"].eth.chain_id
    proof = p.signing.sign(registration_text(p.wallet.address, p.domain, p.role, chain_id))
    p.wallet.request("POST", "/uftp/participants", json={
        "domain": p.domain, "role": p.role,
        "public_key": b64encode(bytes(p.signing.verify_key)).decode(),
        "proof": b64encode(proof.signature).decode(), "budget_ueur": budget_ueur,
        "endpoint": endpoint,
    })  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live(chain: LocalChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The API served by uvicorn on a loopback socket: the package's clients post to it
    with `requests`, unmodified, as they would to any UFTP party."""
    keys = chain.dev_private_keys
    w3 = connect(chain.url)
    tmp = tmp_path_factory.mktemp("uftp")
    dep_file = Path(tmp) / "deployment.json"
    dep_file.write_text(json.dumps(deploy(w3, Wallet(w3, keys[0])).to_json()))
    port = _free_port()
    settings = Settings(
        rpc_url=chain.url, deployment_file=str(dep_file), relayer_key=SecretStr(keys[9]),
        db_url=f"sqlite:///{tmp}/api.sqlite3", domain=f"127.0.0.1:{port}",
        uri=f"http://127.0.0.1:{port}", role_cache_s=0.0,
    )  # fmt: skip
    hosts = os.environ.get(ENDPOINT_HOSTS)
    os.environ[ENDPOINT_HOSTS] = "127.0.0.1"  # participants' endpoints on loopback only
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "keys": keys, "chain": chain, "w3": w3,
               "app": app}  # fmt: skip
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        if hosts is None:
            os.environ.pop(ENDPOINT_HOSTS, None)
        else:
            os.environ[ENDPOINT_HOSTS] = hosts


@dataclass
class World:
    api: dict[str, Any]
    market_domain: str
    market_key: str
    session_id: int
    slots: list[tuple[str, int]]  # (Period, ISP number) of each session slot
    dso: Party
    agr1: Party
    agr2: Party
    dso2: Party
    oracle: HttpClient
    admin: HttpClient


@pytest.fixture(scope="module")
def world(live: dict[str, Any]) -> World:
    api = live
    admin, oracle = HttpClient(api["url"], api["keys"][0]), HttpClient(api["url"], api["keys"][1])
    dso_w, agr1_w, agr2_w, dso2_w = (HttpClient(api["url"], api["keys"][i]) for i in (3, 4, 5, 6))
    for c in (admin, oracle, dso_w, agr1_w, agr2_w, dso2_w):
        c.sign_in()
    admin.grant_role(oracle.address, "ORACLE")
    for c, role in ((dso_w, "DSO"), (dso2_w, "DSO"), (agr1_w, "AGGREGATOR"),
                    (agr2_w, "AGGREGATOR")):  # fmt: skip
        admin.grant_role(c.address, role)
        admin.mint(c.address, DEPOSIT_UEUR)
        c.deposit(DEPOSIT_UEUR)
    dso_w.register_zone(CP, 1_000_000)
    dso2_w.register_zone(OTHER_CP, 1_000_000)
    for i, agr in enumerate((agr1_w, agr2_w)):
        asset = asset_id(f"871685900000000{i}", b"uftp-test")
        agr.register_asset(asset, "load", 20_000, 0, CP)
        dso_w.prequalify(asset)

    now = int(admin.deployment()["block_timestamp"])
    start = -(-(now + 4 * PHASE_S + 3600) // 900) * 900  # on a 15-minute boundary
    tz = ZoneInfo(TZ)
    slots = []
    for k in range(4):
        local = datetime.fromtimestamp(start + 900 * k, tz)
        midnight = datetime(local.year, local.month, local.day, tzinfo=tz)
        slots.append((local.date().isoformat(), (start + 900 * k - int(midnight.timestamp()))
                      // 900 + 1))  # fmt: skip
    if len({p for p, _ in slots}) > 1:  # the four slots straddle local midnight: start later
        pytest.skip("session would straddle local midnight")  # not with this start: +1h
    session_id = oracle.open_session({
        "market_id": "UFTP-T1", "product": "PowerMax", "pricing": "pay_as_bid",
        "slot_count": 4, "slot_minutes": 15, "delivery_start": start,
        "bidding_end": now + PHASE_S, "reveal_deadline": now + 2 * PHASE_S,
        "clearing_deadline": now + 3 * PHASE_S, "min_bid_w": 0, "granularity_w": 1,
        "bid_bond_ueur": 1_000_000, "collateral_ueur_per_w": 1_000, "tolerance_bps": 1_000,
    })  # fmt: skip
    market = admin.request("GET", "/uftp/identity")
    dso = _identity(dso_w, "dso.example.com", "DSO")
    agr1 = _identity(agr1_w, "agr-one.example.com", "AGR")
    agr2 = _identity(agr2_w, "agr-two.example.com", "AGR")
    dso2 = _identity(dso2_w, "dso-two.example.com", "DSO")
    _register(api, dso, BUDGET_UEUR)
    _register(api, dso2, BUDGET_UEUR)
    _register(api, agr1)
    _register(api, agr2)
    return World(api, market["domain"], market["public_key"], session_id, slots, dso, agr1, agr2,
                 dso2, oracle, admin)  # fmt: skip


# --- helpers: the package's clients, and reading the market's answers
def dso_client(w: World, p: Party) -> ShapeshifterDsoAgrClient:
    return ShapeshifterDsoAgrClient(
        sender_domain=p.domain, signing_key=p.private_key, recipient_domain=w.market_domain,
        recipient_endpoint=w.api["url"] + PATH, recipient_signing_key=w.market_key,
    )  # fmt: skip


def agr_client(w: World, p: Party) -> ShapeshifterAgrDsoClient:
    return ShapeshifterAgrDsoClient(
        sender_domain=p.domain, signing_key=p.private_key, recipient_domain=w.market_domain,
        recipient_endpoint=w.api["url"] + PATH, recipient_signing_key=w.market_key,
    )  # fmt: skip


def unsealed(w: World, xml: bytes) -> Any:
    """A message of the market, its signature checked with the market's public key."""
    signed = transport.from_xml(xml)
    assert isinstance(signed, SignedMessage) and signed.sender_domain == w.market_domain
    return transport.unseal_message(signed.body, w.market_key)


def answer(w: World, p: Party, message: Any) -> Any:
    """The market's last response to `message`, as `p` reads it (GET /uftp/messages)."""
    ref = type(message).__name__[0].lower() + type(message).__name__[1:]
    ref = "".join("_" + c.lower() if c.isupper() else c for c in ref) + "_message_id"
    found = [m for m in (unsealed(w, x.encode()) for x in p.wallet.request("GET", "/uftp/messages"))
             if getattr(m, ref, None) == message.message_id]  # fmt: skip
    assert found, f"no response to {message.message_id}"
    return found[-1]


def forwarded(w: World, p: Party) -> list[FlexRequest]:
    """The FlexRequests the market forwards to `p` (GET /uftp/messages)."""
    found = [unsealed(w, x.encode()) for x in p.wallet.request("GET", "/uftp/messages")]
    return [m for m in found if isinstance(m, FlexRequest)]


def expires() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


def flex_request(w: World, cp: str = CP, watts: int = NEED_W, **kw: Any) -> FlexRequest:
    period = w.slots[0][0]
    isps = [FlexRequestISP(disposition=AvailableRequested.REQUESTED, min_power=-2 * watts,
                           max_power=-watts, start=n) for _, n in w.slots]  # fmt: skip
    fields: dict[str, Any] = {
        "isp_duration": "PT15M", "time_zone": TZ, "period": period, "congestion_point": cp,
        "isps": isps, "revision": 1, "expiration_date_time": expires(),
        "contract_id": str(w.session_id),
    }  # fmt: skip
    fields.update(kw)
    return FlexRequest(**fields)


def flex_offer(w: World, request: FlexRequest, price: str, watts: int = NEED_W,
               **kw: Any) -> FlexOffer:  # fmt: skip
    isps = [FlexOfferOptionISP(power=-watts, start=n) for _, n in w.slots]
    fields: dict[str, Any] = {
        "isp_duration": "PT15M", "time_zone": TZ, "period": w.slots[0][0],
        "congestion_point": CP, "expiration_date_time": expires(),
        "flex_request_message_id": request.message_id,
        "conversation_id": request.conversation_id,
        "offer_options": [FlexOfferOption(isps=isps, option_reference="opt-1",
                                          price=Decimal(price))],
    }  # fmt: skip
    fields.update(kw)
    return FlexOffer(**fields)


def chain_state(w: World) -> tuple[int, ...]:
    """What a refused message must not change: every wallet's and the relayer's nonce, the
    session's needs, the API's actions for each wallet."""
    w3 = w.api["w3"]
    relayer = w3.eth.account.from_key(w.api["keys"][9]).address
    addresses = [p.wallet.address for p in (w.dso, w.agr1, w.agr2, w.dso2)] + [relayer]
    return (
        *(w3.eth.get_transaction_count(a) for a in addresses),
        len(w.dso.wallet.needs(w.session_id)),
        *(len(p.wallet.request("GET", "/uftp/actions")) for p in (w.dso, w.agr1, w.agr2, w.dso2)),
    )


def post_raw(w: World, xml: bytes) -> httpx.Response:
    return httpx.post(w.api["url"] + PATH, content=xml,
                      headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip


def sealed_xml(p: Party, message: Any, market_domain: str, key: str | None = None) -> bytes:
    """A message as the package's client seals it (for the refusal tests that tamper)."""
    message.sender_domain = message.sender_domain or p.domain
    message.recipient_domain = market_domain
    message.time_stamp = datetime.now(UTC).isoformat()
    message.message_id = message.message_id or str(uuid.uuid4())
    message.conversation_id = message.conversation_id or str(uuid.uuid4())
    body = transport.seal_message(message, key or p.private_key)
    signed = SignedMessage(sender_domain=p.domain, sender_role=p.role, body=body)
    return str(transport.to_xml(signed)).encode()


# --- the flow
STATE: dict[str, Any] = {}


def test_flex_request_becomes_the_dsos_need_once_its_wallet_signs(world: World) -> None:
    w = world
    request = flex_request(w)
    dso_client(w, w.dso).send_flex_request(request)
    reply = answer(w, w.dso, request)
    assert isinstance(reply, FlexRequestResponse), reply
    assert reply.result == AcceptedRejected.ACCEPTED, reply.rejection_reason
    assert reply.flex_request_message_id == request.message_id
    assert reply.conversation_id == request.conversation_id
    assert w.dso.wallet.needs(w.session_id) == []  # nothing on chain until the wallet signs
    assert forwarded(w, w.agr1) == []  # nor offered to the aggregators
    (action,) = w.dso.wallet.request("GET", "/uftp/actions")
    assert action["message_type"] == "FlexRequest" and action["kind"] == "post-need"
    assert action["message_id"] == request.message_id
    assert action["quantity_w"] == [NEED_W] * 4 and action["direction"] == "up"
    w.dso.wallet._sign_and_submit(action["prepared"])  # the DSO's own key
    (need,) = w.dso.wallet.needs(w.session_id)
    assert need["buyer"] == w.dso.wallet.address and need["zone"] == CP
    assert need["quantity_w"] == [NEED_W] * 4 and need["direction"] == "up"
    assert int(need["budget_ueur"]) == BUDGET_UEUR
    assert action["uftp_sha256"].startswith("0x") and len(action["uftp_sha256"]) == 66
    STATE["request"] = request


@pytest.mark.parametrize("who,price", [("agr1", "5"), ("agr2", "7.5")])
def test_flex_offer_becomes_a_sealed_bid_committed_through_the_relay(
    world: World, who: str, price: str
) -> None:
    w = world
    party: Party = getattr(w, who)
    (copy,) = forwarded(w, party)  # the DSO's request, as the market forwards it to this one
    assert copy.sender_domain == w.market_domain and copy.recipient_domain == party.domain
    assert copy.conversation_id == STATE["request"].conversation_id
    assert copy.message_id != STATE["request"].message_id
    assert copy.isps == STATE["request"].isps and copy.contract_id == str(w.session_id)
    STATE[f"copy-{who}"] = copy
    offer = flex_offer(w, copy, price)
    agr_client(w, party).send_flex_offer(offer)
    reply = answer(w, party, offer)
    assert isinstance(reply, FlexOfferResponse)
    assert reply.result == AcceptedRejected.ACCEPTED, reply.rejection_reason
    assert reply.flex_offer_message_id == offer.message_id
    (action,) = [a for a in party.wallet.request("GET", "/uftp/actions")
                 if a["message_id"] == offer.message_id]  # fmt: skip
    bid = action["bid"]
    assert int(bid["price_eur_per_mw"]) * NEED_W == int(Decimal(price) * 10**6)
    assert bid["quantity_w"] == NEED_W and bid["direction"] == "up" and not bid["divisible"]
    assert int(bid["slot_mask"]) == 0b1111
    fields = BidFields(
        bytes.fromhex(bid["zone"][2:]), Direction.UP, bid["divisible"], bid["quantity_w"],
        int(bid["price_eur_per_mw"]), int(bid["slot_mask"]),
        tuple(bytes.fromhex(a[2:]) for a in bid["asset_ids"]), bytes.fromhex(bid["salt"][2:]),
    )  # fmt: skip
    assert fields.zone == label(CP)
    party.wallet.join(w.session_id, 1)
    out = party.wallet.commit_bid(w.session_id, fields, wait=True)
    assert out["status"] == "committed" and out["bid_id"] == action["bid_id"]
    STATE[who] = (offer, fields, action["bid_id"])
    for other in (w.agr1, w.agr2, w.dso):  # a bid's salt is shown to its own wallet only
        if other is not party:
            seen = other.wallet.request("GET", "/uftp/actions")
            assert action["bid_id"] not in {a.get("bid_id") for a in seen}


def test_rejections_reach_nothing_on_chain(world: World) -> None:
    w = world
    before = chain_state(w)
    request = STATE["request"]

    # a signature by another key: 401, and the message ID is not burnt by it
    forged = flex_request(w)
    r = post_raw(w, sealed_xml(w.dso, forged, w.market_domain, key=w.agr1.private_key))
    assert r.status_code == 401 and r.content == b""
    # a tampered body: one digit of the signed XML changed (the signature no longer holds)
    honest = sealed_xml(w.dso, flex_request(w), w.market_domain)
    signed = transport.from_xml(honest)
    body = bytes(signed.body)
    assert f'MaxPower="-{NEED_W}"'.encode() in body
    signed.body = body.replace(f'MaxPower="-{NEED_W}"'.encode(), b'MaxPower="-99999"', 1)
    assert post_raw(w, str(transport.to_xml(signed)).encode()).status_code == 401
    # an unknown sender (no key registered for it): 419, as the package's key lookup says
    stranger = _identity(w.dso.wallet, "nobody.example.com", "DSO")
    r = post_raw(w, sealed_xml(stranger, flex_request(w), w.market_domain))
    assert r.status_code == 419
    # an aggregator posing as the DSO: its own key under the DSO's domain: 401
    posing = Party(w.agr1.wallet, w.dso.domain, "DSO", w.agr1.private_key, w.agr1.signing)
    assert post_raw(w, sealed_xml(posing, flex_request(w), w.market_domain)).status_code == 401
    # not XML at all, and XML with a DTD: 400
    assert post_raw(w, b"hello").status_code == 400
    no_uuid = sealed_xml(w.dso, flex_request(w, message_id="not-a-uuid"), w.market_domain)
    assert post_raw(w, no_uuid).status_code == 400  # UFTP's IDs are UUIDs
    assert post_raw(w, b'<!DOCTYPE x [<!ENTITY a "b">]><x/>').status_code == 400
    assert chain_state(w) == before

    # functional refusals: HTTP 200, the signed response Rejected with the reason
    parties = {p.domain: p for p in (w.dso, w.dso2, w.agr1, w.agr2)}

    def refused(send: Any, message: Any, reason: str) -> None:
        send(message)
        reply = answer(w, parties[send.__self__.sender_domain], message)
        assert reply.result == AcceptedRejected.REJECTED, (reason, reply)
        assert reply.rejection_reason.startswith(reason), (reason, reply.rejection_reason)
        assert chain_state(w) == before

    dso = dso_client(w, w.dso)
    # the request already accepted, sent again with its message ID: a replay
    replay = flex_request(w, message_id=request.message_id)
    refused(dso.send_flex_request, replay, "Duplicate Identifier")
    r = post_raw(w, sealed_xml(w.dso, flex_request(w, message_id=request.message_id),
                               w.market_domain))  # fmt: skip
    assert r.status_code == 200  # a synchronous answer too: the response in the HTTP body
    assert unsealed(w, r.content).rejection_reason.startswith("Duplicate Identifier")
    # another DSO's congestion point: acting for another
    refused(dso_client(w, w.dso2).send_flex_request, flex_request(w), "Unauthorized")
    # a congestion point no zone is named after, a session that does not exist, a revision
    refused(dso.send_flex_request, flex_request(w, cp="ean.871685900000000000"),
            "Invalid Congestion Point")  # fmt: skip
    refused(dso.send_flex_request, flex_request(w, contract_id="999"), "Unknown Reference")
    refused(dso.send_flex_request, flex_request(w, revision=2), "Not Supported")
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refused(dso.send_flex_request, flex_request(w, expiration_date_time=past),
            "Reference Message Expired")  # fmt: skip
    refused(dso.send_flex_request, flex_request(w, isp_duration="PT5M"), "ISP Duration Rejected")
    # an aggregator sending a FlexRequest: not its message to send
    agr = agr_client(w, w.agr1)
    agr_as_dso = ShapeshifterDsoAgrClient(
        sender_domain=w.agr1.domain, signing_key=w.agr1.private_key,
        recipient_domain=w.market_domain, recipient_endpoint=w.api["url"] + PATH,
    )  # fmt: skip
    agr_as_dso.sender_role = "AGR"
    refused(agr_as_dso.send_flex_request, flex_request(w), "Invalid Message")
    # an offer naming the request as forwarded to another aggregator: acting for another
    refused(agr.send_flex_offer, flex_offer(w, STATE["copy-agr2"], "5"), "Unknown Reference")
    # offers: for another conversation, for no request, unsolicited, a price that is not a
    # whole EUR/MW, two options
    refused(agr.send_flex_offer, flex_offer(w, request, "5", conversation_id=str(uuid.uuid4())),
            "Unknown Reference")  # fmt: skip
    refused(agr.send_flex_offer, flex_offer(w, request, "5",
                                            flex_request_message_id=str(uuid.uuid4())),
            "Unknown Reference")  # fmt: skip
    refused(agr.send_flex_offer, flex_offer(w, request, "5", flex_request_message_id=None,
                                            unsolicited=True), "Not Supported")  # fmt: skip
    refused(agr.send_flex_offer, flex_offer(w, request, "5.0001"), "Not Supported")
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()  # before the clearing
    refused(agr.send_flex_offer, flex_offer(w, request, "5", expiration_date_time=soon),
            "Expiration DateTime Out Of Bounds")  # fmt: skip
    two = flex_offer(w, request, "5")
    two.offer_options = two.offer_options * 2
    refused(agr.send_flex_offer, two, "Not Supported")
    # numbers beyond what the chain holds, and not numbers: refused, never a 5xx
    refused(dso.send_flex_request, flex_request(w, watts=2**41), "Not Supported")
    refused(dso.send_flex_request, flex_request(w, contract_id="9" * 40), "Unknown Reference")
    refused(agr.send_flex_offer, flex_offer(w, request, "1e30"), "Not Supported")
    refused(agr.send_flex_offer, flex_offer(w, request, "NaN"), "Not Supported")
    refused(agr.send_flex_offer, flex_offer(w, request, "5", watts=2**41), "Not Supported")
    # the recipient is not the market
    other = ShapeshifterAgrDsoClient(
        sender_domain=w.agr1.domain, signing_key=w.agr1.private_key,
        recipient_domain="elsewhere.example.com", recipient_endpoint=w.api["url"] + PATH,
    )  # fmt: skip
    refused(other.send_flex_offer, flex_offer(w, request, "5"), "Unknown Recipient")
    # the package's client raises on the transport refusals
    with pytest.raises(ClientTransportException):
        ShapeshifterDsoAgrClient(
            sender_domain="nobody.example.com", signing_key=w.dso.private_key,
            recipient_domain=w.market_domain, recipient_endpoint=w.api["url"] + PATH,
        ).send_flex_request(flex_request(w))  # fmt: skip
    assert chain_state(w) == before


def test_registration_refuses_another_wallets_identity_and_a_wrong_proof(world: World) -> None:
    w = world
    taken = _identity(w.agr2.wallet, w.agr1.domain, "AGR")  # agr2's wallet, agr1's domain
    with pytest.raises(ApiError) as e:
        _register(w.api, taken)
    assert e.value.status == 409
    bad = _identity(w.agr2.wallet, "agr-three.example.com", "AGR")
    with pytest.raises(ApiError) as e:
        w.agr2.wallet.request("POST", "/uftp/participants", json={
            "domain": bad.domain, "role": "AGR",
            "public_key": b64encode(bytes(bad.signing.verify_key)).decode(),
            "proof": b64encode(b"\0" * 64).decode(),
        })  # fmt: skip
    assert e.value.status == 422
    with pytest.raises(ApiError) as e:  # a DSO identity for a wallet without the DSO role
        _register(w.api, _identity(w.agr2.wallet, "dso-three.example.com", "DSO"), 1)
    assert e.value.status == 403


def test_the_committed_award_comes_back_as_a_flex_order(world: World) -> None:
    w = world
    session = w.oracle.session(w.session_id)
    w.api["chain"].warp_to(session["bidding_end"])
    w.api["app"].state.gateway.forget_clock()
    late = flex_offer(w, STATE["request"], "5")
    agr_client(w, w.agr1).send_flex_offer(late)  # after gate closure: refused
    assert answer(w, w.agr1, late).rejection_reason.startswith("Reference Message Expired")
    (action,) = w.dso.wallet.request("GET", "/uftp/actions")  # the need cannot be posted now
    assert "prepared" not in action and "FlexMarketBiddingClosed" in action["refused"]
    for who in ("agr1", "agr2"):
        getattr(w, who).wallet.reveal_bid(w.session_id, STATE[who][1])
    w.api["chain"].warp_to(session["reveal_deadline"])
    w.api["app"].state.gateway.forget_clock()
    offer, fields, bid_id = STATE["agr1"]  # the cheaper: 5 EUR for 10 kW
    w.oracle.commit_result(w.session_id, "0x" + label("uftp-input").hex(),
                           "0x" + label("uftp-result").hex(),
                           [{"bid_id": bid_id, "need_index": 0, "quantity_w": NEED_W,
                             "price_eur_per_mw": fields.price_eur_per_mw}])  # fmt: skip
    order_xml = w.agr1.wallet.request("GET", "/uftp/messages")[-1]
    signed = transport.from_xml(order_xml.encode())
    assert signed.sender_domain == w.market_domain and signed.sender_role == "DSO"
    order = transport.unseal_message(signed.body, w.market_key)
    assert isinstance(order, FlexOrder)
    assert order.flex_offer_message_id == offer.message_id
    assert order.conversation_id == offer.conversation_id
    assert order.recipient_domain == w.agr1.domain
    assert order.price == Decimal("5") and order.currency == "EUR"
    assert [(i.power, i.start, i.duration) for i in order.isps] == [
        (i.power, i.start, i.duration) for i in offer.offer_options[0].isps
    ]
    assert order.order_reference == f"{w.session_id}-0"
    (award,) = w.dso.wallet.result(w.session_id)["awards"]
    assert award["bid_id"] == bid_id and int(award["payment_ueur"]) == 5_000_000
    others = [unsealed(w, x.encode()) for x in w.agr2.wallet.request("GET", "/uftp/messages")]
    assert others and not [m for m in others if isinstance(m, FlexOrder)]  # not awarded
    # the outcome to the DSO: a FlexOffer from the market answering its request, which it
    # may order (nothing more happens on chain: the clearing ordered it)
    to_dso = [unsealed(w, x.encode()) for x in w.dso.wallet.request("GET", "/uftp/messages")]
    (outcome,) = [m for m in to_dso if isinstance(m, FlexOffer)]
    assert outcome.flex_request_message_id == STATE["request"].message_id
    assert outcome.conversation_id == STATE["request"].conversation_id
    assert [(i.power, i.start) for i in outcome.offer_options[0].isps] == [
        (-NEED_W, n) for _, n in w.slots
    ]
    assert outcome.offer_options[0].price == Decimal("5")
    before = chain_state(w)
    dso = dso_client(w, w.dso)
    wrong = mapping.order_of(outcome, "dso-order-1")
    wrong.price = Decimal("4")
    dso.send_flex_order(wrong)
    assert answer(w, w.dso, wrong).rejection_reason.startswith("ISP Conflict")
    right = mapping.order_of(outcome, "dso-order-2")
    dso.send_flex_order(right)
    assert answer(w, w.dso, right).result == AcceptedRejected.ACCEPTED
    assert isinstance(answer(w, w.dso, right), FlexOrderResponse)
    stray = mapping.order_of(outcome, "dso-order-3")
    stray.flex_offer_message_id = str(uuid.uuid4())
    dso.send_flex_order(stray)
    assert answer(w, w.dso, stray).rejection_reason.startswith("Unknown Reference")
    assert chain_state(w) == before

    # the aggregator acknowledges the order (recorded); it cannot revoke its offer now
    agr = agr_client(w, w.agr1)
    ack = FlexOrderResponse(flex_order_message_id=order.message_id,
                            conversation_id=order.conversation_id)  # fmt: skip
    agr.send_flex_order_response(ack)  # a response: HTTP 200, nothing to answer
    revoke = FlexOfferRevocation(flex_offer_message_id=offer.message_id,
                                 conversation_id=offer.conversation_id)  # fmt: skip
    agr.send_flex_offer_revocation(revoke)
    assert answer(w, w.agr1, revoke).rejection_reason.startswith(
        "Not Supported: a committed sealed bid cannot be withdrawn"
    )
    again = unsealed(w, w.agr1.wallet.request("GET", "/uftp/messages")[-1].encode())
    assert again.message_id == order.message_id  # the same order on every read
    STATE["order"] = order


def test_the_on_chain_settlement_comes_back_as_a_flex_settlement(world: World) -> None:
    w = world
    validator, metering = (HttpClient(w.api["url"], w.api["keys"][i]) for i in (7, 2))
    for c in (validator, metering):
        c.sign_in()
    w.admin.grant_role(validator.address, "VALIDATOR")
    w.admin.grant_role(metering.address, "METERING")
    validator.attest(w.session_id, "0x" + label("uftp-result").hex())
    assert not [m for m in (unsealed(w, x.encode()) for x in
                            w.agr1.wallet.request("GET", "/uftp/messages"))
                if isinstance(m, FlexSettlement)]  # fmt: skip
    delivered_w = 9_000  # a shortfall of 1 kW
    metering.record_deliveries(w.session_id, {0: delivered_w}, "0x" + label("uftp-meter").hex())
    w.agr1.wallet.settle(w.session_id)
    (award,) = w.agr1.wallet.settlements(w.session_id)["awards"]
    assert award["settled"]
    messages = [unsealed(w, x.encode()) for x in w.agr1.wallet.request("GET", "/uftp/messages")]
    (settlement,) = [m for m in messages if isinstance(m, FlexSettlement)]
    assert settlement.conversation_id == STATE["order"].conversation_id
    assert settlement.currency == "EUR"
    (os_,) = settlement.flex_order_settlements
    assert os_.order_reference == STATE["order"].order_reference
    assert os_.price == Decimal(int(award["paid_ueur"])) / 10**6
    assert os_.penalty == Decimal(int(award["penalty_ueur"])) / 10**6
    assert os_.net_settlement == os_.price - os_.penalty
    assert [(i.start, i.ordered_flex_power, i.delivered_flex_power, i.power_deficiency)
            for i in os_.isps] == [(n, -NEED_W, -delivered_w, NEED_W - delivered_w)
                                   for _, n in w.slots]  # fmt: skip


class Receiver(BaseHTTPRequestHandler):
    """A participant's own UFTP endpoint: keeps what is posted; answers `status`."""

    bodies: list[bytes] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Content-Type"].startswith("text/xml")
        if Receiver.status == 200:
            Receiver.bodies.append(body)
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_messages_are_delivered_to_a_registered_endpoint_once(world: World) -> None:
    w = world
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
        with pytest.raises(ApiError) as e:  # a host the operator did not allow
            _register(w.api, w.agr1, endpoint="http://10.0.0.1/shapeshifter/api/v3/message")
        assert e.value.status == 422
        _register(w.api, w.agr1, endpoint=endpoint)
        with pytest.raises(ApiError) as e:  # the admin's call only
            w.agr1.wallet.request("POST", "/uftp/deliveries")
        assert e.value.status == 403
        Receiver.status = 503  # the endpoint is down: nothing is marked delivered
        first = w.admin.request("POST", "/uftp/deliveries")
        assert first["failed"] > 0 and first["delivered"] == 0 and Receiver.bodies == []
        Receiver.status = 200
        second = w.admin.request("POST", "/uftp/deliveries")
        assert second == {"delivered": first["failed"], "failed": 0}
        assert w.admin.request("POST", "/uftp/deliveries") == {"delivered": 0, "failed": 0}
        got = [unsealed(w, b) for b in Receiver.bodies]
        assert {m.recipient_domain for m in got} == {w.agr1.domain}
        kinds = {type(m).__name__ for m in got}
        assert {"FlexOfferResponse", "FlexOrder", "FlexSettlement"} <= kinds, kinds
        assert len({m.message_id for m in got}) == len(got)  # each once
    finally:
        server.shutdown()


SERVICE = """
import json, sys
import shapeshifter_uftp

kind, port, domain, market_key, private_key, out = sys.argv[1:7]
base = getattr(shapeshifter_uftp, kind)


def record(self, message):
    with open(out, "a") as fh:
        fh.write(json.dumps({"type": type(message).__name__,
                             "offer": getattr(message, "flex_offer_message_id", None),
                             "request": getattr(message, "flex_request_message_id", None),
                             "result": str(getattr(message, "result", ""))}) + "\\n")


abstract = [n for n in dir(base) if getattr(getattr(base, n), "__isabstractmethod__", False)]
Service = type("Service", (base,), {n: record for n in abstract})
Service(sender_domain=domain, signing_key=private_key, host="127.0.0.1", port=int(port),
        key_lookup_function=lambda d, r: market_key,
        endpoint_lookup_function=lambda d, r: "http://127.0.0.1:9/").run()
"""


@pytest.mark.parametrize("kind", ["ShapeshifterAgrService", "ShapeshifterDsoService"])
def test_the_packages_own_services_take_the_markets_messages(
    world: World, tmp_path: Path, kind: str
) -> None:
    """The package's `ShapeshifterAgrService` and `ShapeshifterDsoService`, unmodified, as
    the participants' endpoints: they do not start on this venv's FastAPI (fastapi-xml 1.1.2
    needs FastAPI 0.138), so they run in a venv of their own, named by
    FLEXMARKET_UFTP_SERVICE_PYTHON (docs/uftp.md); skipped without one."""
    python = os.environ.get("FLEXMARKET_UFTP_SERVICE_PYTHON")
    if not python:
        pytest.skip("FLEXMARKET_UFTP_SERVICE_PYTHON: no venv with the package's services")
    w = world
    party = w.agr2 if kind == "ShapeshifterAgrService" else w.dso
    script, out, port = tmp_path / "service.py", tmp_path / "received.jsonl", _free_port()
    script.write_text(SERVICE)
    proc = subprocess.Popen(
        [python, str(script), kind, str(port), party.domain, w.market_key, party.private_key,
         str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < end and proc.poll() is None, "service did not start"
                time.sleep(0.2)
        budget = BUDGET_UEUR if party is w.dso else 0
        _register(w.api, party, budget, endpoint=f"http://127.0.0.1:{port}{PATH}")
        sent = w.admin.request("POST", "/uftp/deliveries")
        assert sent["delivered"] >= 1 and sent["failed"] == 0, sent  # its signature checks
        if party is w.agr2:  # the response to its accepted offer
            wanted = {"type": "FlexOfferResponse", "offer": STATE["agr2"][0].message_id,
                      "request": None, "result": "Accepted"}  # fmt: skip
        else:  # the outcome of its request
            wanted = {"type": "FlexOffer", "offer": None, "result": "",
                      "request": STATE["request"].message_id}  # fmt: skip
        got: list[dict[str, Any]] = []
        while wanted not in got and time.monotonic() < end:  # processed in its own threads
            got = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
            time.sleep(0.2)
        assert wanted in got, got
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_of_racing_copies_of_one_message_exactly_one_is_taken(world: World) -> None:
    """Eight copies of one signed FlexOffer posted at once: one INSERT decides, so exactly
    one is answered by the mapping and the other seven `Duplicate Identifier`."""
    w = world
    xml = sealed_xml(w.agr2, flex_offer(w, STATE["request"], "5"), w.market_domain)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post_raw(w, xml), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    reasons = sorted(str(unsealed(w, a.content).rejection_reason) for a in answers)
    duplicates = [r for r in reasons if r.startswith("Duplicate Identifier")]
    assert len(duplicates) == 7, reasons


def test_isps_map_to_slots_by_elapsed_time_from_local_midnight_also_on_dst_days() -> None:
    """2026-03-29 in Amsterdam has 92 ISPs: ISP 9 starts 2 h after local midnight (23:00 UTC
    the day before), which is 03:00 local; ISP 92 is the last one of the day."""
    midnight_utc = int(datetime(2026, 3, 28, 23, 0, tzinfo=UTC).timestamp())
    slots = mapping.Slots(midnight_utc + 8 * 900, 15, 4)
    rows = mapping.isp_slots("2026-03-29", TZ, "PT15M", [(8, 6), (92, 1)], slots)
    assert rows == [[-1, 0, 1, 2, 3, -1], [-1]]
    with pytest.raises(mapping.Refusal, match="ISP Duration Rejected"):
        mapping.isp_slots("2026-03-29", TZ, "PT30M", [(9, 1)], slots)
    with pytest.raises(mapping.Refusal, match="TimeZone Rejected"):
        mapping.isp_slots("2026-03-29", "Europe/Nowhere", "PT15M", [(9, 1)], slots)
    with pytest.raises(mapping.Refusal, match="ISPs Out Of Bounds"):
        mapping.isp_slots("2026-03-29", TZ, "PT15M", [(100, 2)], slots)


def test_prices_map_exactly_or_not_at_all() -> None:
    assert mapping.price_eur_per_mw(Decimal("5"), 10_000) == 500  # 5 EUR = 10 kW * 500 EUR/MW
    assert mapping.price_eur_per_mw(Decimal("0.0037"), 3_700) == 1
    with pytest.raises(mapping.Refusal, match="multiple of 0.0037 EUR"):
        mapping.price_eur_per_mw(Decimal("0.0038"), 3_700)
    assert mapping.eur_of(5_000_100) == Decimal("5.0001")
    with pytest.raises(mapping.Refusal):
        mapping.eur_of(5_000_001)  # 5.000001 EUR: UFTP carries 4 decimals


# --- the UFTP tables, on SQLite and on PostgreSQL (as the API's store, tests/api/test_api_store)
@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def uftp_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UftpStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/api.sqlite3"
    else:
        url = request.getfixturevalue("pg").create_db(f"uftp_store_{uuid.uuid4().hex[:8]}")
    store = Store(url)
    yield UftpStore(store)
    store.close()


def test_the_uftp_tables_keep_identities_ids_conversations_and_the_outbox(
    uftp_store: UftpStore,
) -> None:
    s = uftp_store
    alice, bob = "0x" + "a" * 40, "0x" + "b" * 40
    assert s.register("agr.example.com", "AGR", "k1", alice, 0)
    assert s.register("agr.example.com", "AGR", "k2", alice, 0)  # its own: a new key
    assert not s.register("agr.example.com", "AGR", "k3", bob, 0)  # another wallet's
    assert s.participant("agr.example.com", "AGR") == {
        "domain": "agr.example.com", "role": "AGR", "public_key": "k2", "wallet": alice,
        "budget_ueur": "0", "endpoint": None,
    }  # fmt: skip
    assert s.register("agr.example.com", "DSO", "k4", bob, 10**20)  # another role: another key
    assert s.identities(alice, "AGR") == ["agr.example.com"] and s.identities(bob, "AGR") == []

    mid, conv = str(uuid.uuid4()), str(uuid.uuid4())
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda _: s.use_message("agr.example.com", mid.upper(), "FlexOffer",
                                                    conv, "0x00"), range(8)))  # fmt: skip
    assert won.count(True) == 1  # one INSERT decides, whatever the case of the ID
    assert s.use_message("other.example.com", mid, "FlexOffer", conv, "0x00")  # per sender
    s.set_result("agr.example.com", mid, "Accepted")
    assert s.message_result("agr.example.com", mid) == "Accepted"

    row = {
        "message_id": mid, "kind": "FlexRequest", "conversation_id": conv,
        "domain": "dso.example.com", "wallet": bob, "session_id": 2**47, "reference": None,
        "expires_at": 1_000, "sha256": "0x01", "message": "<x/>",
        "action": {"kind": "post-need", "quantity_w": [2**40 - 1]}, "bid_id": None,
    }  # fmt: skip
    s.add(row)
    assert s.conversation(mid.upper()) == row
    assert s.request_in(conv) == row and s.of_wallet(bob) == [row] and s.of_wallet(alice) == []
    assert s.requests_open(999) == [row] and s.requests_open(1_000) == []

    s.send(str(uuid.uuid4()), "agr.example.com", "AGR", "<first/>")
    s.send(str(uuid.uuid4()), "agr.example.com", "DSO", "<to-the-dso-identity/>")
    s.send(str(uuid.uuid4()), "agr.example.com", "AGR", "<second/>")
    assert s.outbox(alice) == ["<first/>", "<second/>"]
    assert s.outbox(bob) == ["<to-the-dso-identity/>"]
