"""The market as a UFTP (Shapeshifter 3) party: signed XML messages in, the chain action each
one maps to prepared for the sender's own wallet, UFTP responses out (docs/uftp.md).

Built on the `shapeshifter-uftp` package's message models, XML and signing
(`shapeshifter_uftp.transport`); its services are not used (they need another FastAPI),
and its DNS key lookup is replaced by the participants registered here: a signed-in wallet
binds its UFTP domain, role and Ed25519 public key to itself, proving it holds the key.

A message is checked in this order, each failure answered as UFTP says: XML that is not a
`SignedMessage` (HTTP 400), a sender domain and role nobody registered (419, the package's
"authentication timeout": no key to verify with), a signature that does not verify or an
inner message that is not UFTP (401, 400); then, answered HTTP 200 with the signed
`...Response` of the message type and `Result="Rejected"`: an inner sender domain other than
the wrapper's, a message ID used before by that sender (IDs are single use, kept in the API's
store: one INSERT decides), another recipient, a message type the sender's role does not
send to the market, and whatever `api.uftp_mapping` or the chain refuses. Nothing reaches the
chain for a rejected message, nor for an accepted one until its sender's wallet signs.

The gateway never holds a participant's wallet key: an accepted FlexRequest becomes a
prepared `postNeed` for the DSO's wallet, an accepted FlexOffer a sealed bid whose fields
(salt included) its aggregator's wallet commits and later reveals through the relay, as every
bid (`GET /uftp/actions`). What the market sends (`GET /uftp/messages`) is built from the
chain when read: a FlexRequest forwarded to the aggregators once its need is on chain, the
outcome FlexOffer to the DSO, the FlexOrder and FlexSettlement of each awarded UFTP bid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from base64 import b64decode, b64encode
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from shapeshifter_uftp import (
    AcceptedRejected,
    DPrognosis,
    FlexOffer,
    FlexOfferRevocation,
    FlexOrder,
    FlexRequest,
    FlexReservationUpdate,
    FlexSettlement,
    Metering,
    PayloadMessage,
    SignedMessage,
    TestMessage,
    UsefRole,
)
from shapeshifter_uftp import transport as uftp_transport
from shapeshifter_uftp.exceptions import TransportException
from shapeshifter_uftp.uftp import request_response_map, routing_map

from api import ledger, views
from api import uftp_mapping as mapping
from api.gateway import Gateway
from api.problems import Problem
from api.reads import FOLLOW_RANGE, ZERO_ADDRESS
from api.store import Store
from python_client.contract_types import NO_LIMIT, AssetView, BuyerRole, Direction
from python_client.hashing import bid_id as bid_id_of
from python_client.hashing import commitment as commitment_of
from python_client.hashing import label, new_salt
from python_client.records import BidFields

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS uftp_participants (
        domain TEXT NOT NULL, role TEXT NOT NULL, public_key TEXT NOT NULL, wallet TEXT NOT NULL,
        budget_ueur TEXT NOT NULL, endpoint TEXT, PRIMARY KEY (domain, role))""",
    # messages delivered to a participant's own endpoint (each once)
    """CREATE TABLE IF NOT EXISTS uftp_delivered (
        domain TEXT NOT NULL, role TEXT NOT NULL, message_id TEXT NOT NULL,
        PRIMARY KEY (domain, role, message_id))""",
    # every message ID a registered sender used, accepted or not: single use
    """CREATE TABLE IF NOT EXISTS uftp_messages (
        sender_domain TEXT NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL,
        conversation_id TEXT NOT NULL, sha256 TEXT NOT NULL, result TEXT,
        PRIMARY KEY (sender_domain, message_id))""",
    # accepted FlexRequests and FlexOffers: the conversation state, with what each asks the
    # sender's wallet to sign (`action`, JSON)
    """CREATE TABLE IF NOT EXISTS uftp_conversations (
        message_id TEXT PRIMARY KEY, kind TEXT NOT NULL, conversation_id TEXT NOT NULL,
        domain TEXT NOT NULL, wallet TEXT NOT NULL, session_id BIGINT NOT NULL,
        reference TEXT, expires_at BIGINT NOT NULL, sha256 TEXT NOT NULL, message TEXT NOT NULL,
        action TEXT NOT NULL, bid_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS uftp_conversations_wallet ON uftp_conversations (wallet)",
    # the market's responses, for the recipient to read (UFTP answers asynchronously)
    """CREATE TABLE IF NOT EXISTS uftp_outbox (
        message_id TEXT PRIMARY KEY, recipient_domain TEXT NOT NULL,
        recipient_role TEXT NOT NULL, sent_at DOUBLE PRECISION NOT NULL, xml TEXT NOT NULL)""",
]
ROLES = {"DSO": UsefRole.DSO, "AGR": UsefRole.AGR}
# messages a DSO sends an aggregator, or the other way round, that the market has no
# counterpart for (docs/uftp.md)
NOT_SUPPORTED: dict[type, str] = {
    FlexOfferRevocation: "a committed sealed bid cannot be withdrawn (left unrevealed, it "
    "forfeits its bond)",
    FlexReservationUpdate: "the market holds no bilateral reservations",
    DPrognosis: "the market takes no prognoses (congestion comes as FlexRequests)",
    Metering: "delivery is metered on chain by the metering operator",
    FlexSettlement: "the market settles on chain and sends FlexSettlements itself",
}
LOG = logging.getLogger(__name__)
# the namespace of the MessageIDs the market derives (forwarded requests, outcomes, orders,
# settlements): the same message has the same ID on every read
ORDER_NAMESPACE = uuid.UUID("5d0b2f6e-2f38-4c59-9c1e-6a1f3f1b8a18")


class UftpSettings(BaseSettings):
    """`FLEXMARKET_API_UFTP_DOMAIN`: the market's UFTP domain; `..._SIGNING_KEY`: its Ed25519
    signing key, base64 of the 64-byte secret key as the package writes it (a new one per
    process when unset: `GET /uftp/identity` says which)."""

    model_config = SettingsConfigDict(env_prefix="FLEXMARKET_API_UFTP_")
    domain: str = "market.flexmarket.example"
    signing_key: SecretStr | None = None
    # hosts a participant's own UFTP endpoint may name (comma-separated): the market posts
    # only there (no other host can be made a target of its requests); empty: no delivery
    endpoint_hosts: str = ""


def registration_text(wallet: str, domain: str, role: str, chain_id: int) -> bytes:
    """What a participant's UFTP key signs to be bound to its wallet (the `proof`)."""
    return (f"flexmarket UFTP key of {wallet} for {domain} as {role} on chain {chain_id}"
            ).encode()  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a UFTP message: a status and, with 200, the signed response."""

    status: int
    body: bytes
    result: str  # Accepted, Rejected, or the transport failure
    reason: str | None = None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _expiry(text: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
        moment.timestamp()
    except (ValueError, OverflowError, TypeError):
        raise mapping.Refusal(mapping.EXPIRATION_OUT_OF_BOUNDS, f"{name} {text!r}") from None
    if moment.tzinfo is None:
        raise mapping.Refusal(mapping.EXPIRATION_OUT_OF_BOUNDS, f"{name}: no time zone")
    return int(moment.timestamp())


class UftpStore:
    """The UFTP tables in the API's store (`api.store.Store`)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        for statement in SCHEMA:
            self._exec(statement)

    def _exec(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._store._exec(sql, params)  # noqa: SLF001 - its one connection and lock

    def register(
        self, domain: str, role: str, public_key: str, wallet: str, budget: int,
        endpoint: str | None = None,
    ) -> bool:  # fmt: skip
        """Bind (domain, role) to `wallet` and its key; False if another wallet holds it."""
        row = self.participant(domain, role)
        if row is not None and row["wallet"] != wallet:
            return False
        self._exec(
            "INSERT INTO uftp_participants (domain, role, public_key, wallet, budget_ueur, "
            "endpoint) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (domain, role) DO UPDATE SET "
            "public_key = excluded.public_key, budget_ueur = excluded.budget_ueur, "
            "endpoint = excluded.endpoint WHERE uftp_participants.wallet = excluded.wallet",
            (domain, role, public_key, wallet, str(budget), endpoint),
        )
        found = self.participant(domain, role)
        return found is not None and found["wallet"] == wallet

    _IDENTITY = ("domain", "role", "public_key", "wallet", "budget_ueur", "endpoint")

    def participant(self, domain: str, role: str) -> dict[str, Any] | None:
        row = self._exec(
            f"SELECT {', '.join(self._IDENTITY)} FROM uftp_participants "
            "WHERE domain = ? AND role = ?", (domain, role),
        ).fetchone()  # fmt: skip
        return None if row is None else dict(zip(self._IDENTITY, row, strict=True))

    def with_endpoints(self) -> list[dict[str, Any]]:
        cur = self._exec(
            f"SELECT {', '.join(self._IDENTITY)} FROM uftp_participants "
            "WHERE endpoint IS NOT NULL ORDER BY domain, role"
        )
        return [dict(zip(self._IDENTITY, r, strict=True)) for r in cur.fetchall()]

    def delivered(self, domain: str, role: str, message_id: str) -> bool:
        row = self._exec(
            "SELECT 1 FROM uftp_delivered WHERE domain = ? AND role = ? AND message_id = ?",
            (domain, role, message_id.lower()),
        ).fetchone()
        return row is not None

    def mark_delivered(self, domain: str, role: str, message_id: str) -> None:
        self._exec(
            "INSERT INTO uftp_delivered (domain, role, message_id) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING", (domain, role, message_id.lower()),
        )  # fmt: skip

    def use_message(self, sender: str, message_id: str, kind: str, conv: str, sha: str) -> bool:
        """True once per (sender domain, message ID): one INSERT decides."""
        cur = self._exec(
            "INSERT INTO uftp_messages (sender_domain, message_id, kind, conversation_id, sha256)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (sender, message_id.lower(), kind, conv.lower(), sha),
        )
        return bool(cur.rowcount == 1)

    def set_result(self, sender: str, message_id: str, result: str) -> None:
        self._exec(
            "UPDATE uftp_messages SET result = ? WHERE sender_domain = ? AND message_id = ?",
            (result[:500], sender, message_id.lower()),
        )

    def message_result(self, sender: str, message_id: str) -> str | None:
        row = self._exec(
            "SELECT result FROM uftp_messages WHERE sender_domain = ? AND message_id = ?",
            (sender, message_id.lower()),
        ).fetchone()
        return None if row is None else row[0]

    def add(self, row: dict[str, Any]) -> None:
        self._exec(
            "INSERT INTO uftp_conversations (message_id, kind, conversation_id, domain, wallet, "
            "session_id, reference, expires_at, sha256, message, action, bid_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row["message_id"], row["kind"], row["conversation_id"], row["domain"],
             row["wallet"], row["session_id"], row["reference"], row["expires_at"],
             row["sha256"], row["message"], json.dumps(row["action"]), row["bid_id"]),
        )  # fmt: skip

    _COLUMNS = ("message_id", "kind", "conversation_id", "domain", "wallet", "session_id",
                "reference", "expires_at", "sha256", "message", "action", "bid_id")  # fmt: skip

    def _rows(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        cur = self._exec(
            f"SELECT {', '.join(self._COLUMNS)} FROM uftp_conversations WHERE {where} "
            "ORDER BY session_id, message_id", params,
        )  # fmt: skip
        out = []
        for r in cur.fetchall():
            row = dict(zip(self._COLUMNS, r, strict=True))
            row["action"] = json.loads(row["action"])
            out.append(row)
        return out

    def conversation(self, message_id: str) -> dict[str, Any] | None:
        rows = self._rows("message_id = ?", (message_id.lower(),))
        return rows[0] if rows else None

    def of_wallet(self, wallet: str) -> list[dict[str, Any]]:
        return self._rows("wallet = ?", (wallet,))

    def requests_open(self, now: int) -> list[dict[str, Any]]:
        """Accepted FlexRequests not expired at `now` (chain time)."""
        return self._rows("kind = 'FlexRequest' AND expires_at > ?", (now,))

    def request_in(self, conversation_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "kind = 'FlexRequest' AND conversation_id = ?", (conversation_id.lower(),)
        )
        return rows[0] if rows else None

    def identities(self, wallet: str, role: str) -> list[str]:
        cur = self._exec(
            "SELECT domain FROM uftp_participants WHERE wallet = ? AND role = ? ORDER BY domain",
            (wallet, role),
        )
        return [str(r[0]) for r in cur.fetchall()]

    def send(self, message_id: str, domain: str, role: str, xml: str) -> None:
        self._exec(
            "INSERT INTO uftp_outbox (message_id, recipient_domain, recipient_role, sent_at, xml)"
            " VALUES (?, ?, ?, ?, ?)", (message_id, domain, role, time.time(), xml),
        )  # fmt: skip

    def outbox(self, wallet: str) -> list[str]:
        """The market's messages to every UFTP identity of `wallet`, oldest first."""
        cur = self._exec(
            "SELECT o.xml FROM uftp_outbox o JOIN uftp_participants p ON "
            "p.domain = o.recipient_domain AND p.role = o.recipient_role WHERE p.wallet = ? "
            "ORDER BY o.sent_at, o.message_id", (wallet,),
        )  # fmt: skip
        return [str(r[0]) for r in cur.fetchall()]


class UftpGateway:
    """The market's UFTP side for one API: receive a message, answer it."""

    def __init__(self, gateway: Gateway, settings: UftpSettings | None = None) -> None:
        settings = settings or UftpSettings()
        self.gateway = gateway
        self.domain = settings.domain
        if settings.signing_key is None:
            key = SigningKey.generate()
            self._signing_key = b64encode(bytes(key) + bytes(key.verify_key)).decode()
        else:
            self._signing_key = settings.signing_key.get_secret_value()
        self.public_key = b64encode(b64decode(self._signing_key)[32:]).decode()
        self.store = UftpStore(gateway.store)
        self.endpoint_hosts = {h.strip() for h in settings.endpoint_hosts.split(",") if h.strip()}

    # --- registration
    def register(
        self, wallet: str, domain: str, role: str, public_key: str, proof: str, budget_ueur: int,
        endpoint: str | None = None,
    ) -> None:  # fmt: skip
        """Bind a UFTP identity to the signed-in `wallet` (422 naming the field, 403 for a
        role the wallet lacks, 409 for an identity another wallet holds). `endpoint`: where
        the market delivers its messages, an http(s) URL on an allowed host."""
        if endpoint is not None:
            url = httpx.URL(endpoint) if endpoint.isascii() else None
            if url is None or url.scheme not in ("http", "https") or (
                url.host not in self.endpoint_hosts
            ):  # fmt: skip
                raise Problem(422, "invalid-input", "endpoint: not an http(s) URL on a host "
                              "FLEXMARKET_API_UFTP_ENDPOINT_HOSTS allows", field="endpoint",
                              reason="host not allowed")  # fmt: skip
        if role not in ROLES:
            raise Problem(422, "invalid-input", f"role: {role!r} is not DSO or AGR",
                          field="role", reason="DSO or AGR")  # fmt: skip
        if not _is_domain(domain):
            raise Problem(
                422,
                "invalid-input",
                f"domain: {domain!r} is not a domain name",
                field="domain",
                reason="lower-case DNS name, as UFTP's pattern",
            )
        try:
            key = VerifyKey(b64decode(public_key, validate=True))
        except Exception:  # noqa: BLE001 - any undecodable key
            raise Problem(
                422,
                "invalid-input",
                "public_key: not base64 of a 32-byte Ed25519 key",
                field="public_key",
                reason="base64, 32 bytes",
            ) from None
        try:
            key.verify(registration_text(wallet, domain, role, self.gateway.chain_id),
                       b64decode(proof, validate=True))  # fmt: skip
        except (BadSignatureError, ValueError, TypeError):
            raise Problem(
                422,
                "bad-signature",
                "proof: not this key's signature of the registration text",
                field="proof",
                reason="Ed25519 signature of registration_text",
            ) from None
        if role == "DSO" and budget_ueur <= 0:
            raise Problem(422, "invalid-input", "budget_ueur: a DSO's need locks a budget",
                          field="budget_ueur", reason="positive, in µEUR")  # fmt: skip
        self.gateway.require_role(wallet, "DSO" if role == "DSO" else "AGGREGATOR")
        if not self.store.register(domain, role, public_key, wallet, budget_ueur, endpoint):
            raise Problem(409, "uftp-identity-taken", f"domain: {domain} as {role} is "
                          "registered by another wallet", field="domain",
                          reason="registered by another wallet")  # fmt: skip

    # --- receiving
    def receive(self, body: bytes) -> Answer:
        """Check and act on one UFTP message; the answer (never raises)."""
        if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
            return Answer(400, b"", "SchemaError", "a DTD is not allowed")
        try:
            signed = uftp_transport.from_xml(body)
        except Exception:  # noqa: BLE001 - xsdata's parse errors, any of them
            return Answer(400, b"", "SchemaError", "not a SignedMessage")
        if not isinstance(signed, SignedMessage):
            return Answer(400, b"", "SchemaError", "not a SignedMessage")
        role = str(signed.sender_role)
        sender = self.store.participant(signed.sender_domain, role)
        if sender is None:
            return Answer(
                419, b"", "UnknownSender", f"{signed.sender_domain} as {role}: not registered"
            )
        sealed = bytes(signed.body)
        if b"<!DOCTYPE" in sealed[64:].upper() or b"<!ENTITY" in sealed[64:].upper():
            return Answer(400, b"", "SchemaError", "a DTD is not allowed")
        try:
            message = uftp_transport.unseal_message(sealed, sender["public_key"])
        except TransportException as exc:
            return Answer(exc.http_status_code, b"", type(exc).__name__, str(exc) or None)
        except Exception:  # noqa: BLE001 - an inner message the parser cannot read
            return Answer(400, b"", "SchemaError", "inner message not UFTP")
        if not isinstance(message, PayloadMessage) or not _uuids(message):
            return Answer(400, b"", "SchemaError", "inner message not UFTP (its MessageID and "
                          "ConversationID are UUIDs)")  # fmt: skip
        sha = "0x" + hashlib.sha256(sealed).hexdigest()
        try:
            self._check(signed, message, sender, sha)
            self._act(message, sender, sha, sealed[64:])
        except mapping.Refusal as refusal:
            return self._respond(message, signed, refusal.text)
        except Exception:  # noqa: BLE001 - a case the checks missed: rejected, never a 5xx
            LOG.exception("UFTP %s %s: not handled", type(message).__name__, message.message_id)
            return self._respond(message, signed, "Market Refused: the market could not "
                                 "process this message")  # fmt: skip
        return self._respond(message, signed, None)

    def _check(
        self, signed: SignedMessage, message: PayloadMessage, sender: dict[str, Any], sha: str
    ) -> None:
        if message.sender_domain != signed.sender_domain:
            raise mapping.Refusal(mapping.INVALID_SENDER, f"SenderDomain {message.sender_domain}"
                                  f" inside, {signed.sender_domain} outside")  # fmt: skip
        kind = type(message).__name__
        if not self.store.use_message(
            signed.sender_domain, str(message.message_id), kind,
            str(message.conversation_id), sha,
        ):  # fmt: skip
            raise mapping.Refusal(mapping.DUPLICATE_IDENTIFIER,
                                  f"MessageID {message.message_id} used before")  # fmt: skip
        if message.recipient_domain != self.domain:
            raise mapping.Refusal(
                mapping.UNKNOWN_RECIPIENT,
                f"RecipientDomain {message.recipient_domain}: the market is {self.domain}",
            )
        other = "AGR" if sender["role"] == "DSO" else "DSO"  # the market plays the other role
        if not (
            isinstance(message, TestMessage)
            or routing_map.get(type(message)) == (sender["role"], other)
        ):
            raise mapping.Refusal(mapping.INVALID_MESSAGE, f"{kind} from a {sender['role']}: "
                                  "not taken by the market (docs/uftp.md)")  # fmt: skip

    def _act(self, message: PayloadMessage, sender: dict[str, Any], sha: str, xml: bytes) -> None:
        try:
            if isinstance(message, FlexRequest):
                self._flex_request(message, sender, sha, xml)
            elif isinstance(message, FlexOffer):
                self._flex_offer(message, sender, sha, xml)
            elif isinstance(message, FlexOrder):
                self._flex_order(message, sender)
            elif type(message) in NOT_SUPPORTED:
                raise mapping.Refusal(mapping.NOT_MAPPABLE, NOT_SUPPORTED[type(message)])
            # else: a response to what the market sent, or a TestMessage: recorded, answered
        except Problem as problem:  # the chain's or the API's refusal, as a UFTP reason
            reason = {403: mapping.UNAUTHORIZED, 404: mapping.UNKNOWN_REFERENCE}.get(
                problem.status, "Market Refused"
            )
            detail = problem.detail
            if problem.extra.get("error"):
                detail = f"{problem.extra['error']}{tuple(problem.extra.get('error_args', ()))}"
            raise mapping.Refusal(reason, detail) from None

    def _slots(self, session_id: int) -> tuple[mapping.Slots, int, int]:
        t = self.gateway.session(session_id)
        return (
            mapping.Slots(t.delivery_start, t.slot_minutes, t.slot_count),
            t.bidding_end,
            self.gateway.now(),
        )

    def _flex_request(
        self, request: FlexRequest, sender: dict[str, Any], sha: str, xml: bytes
    ) -> None:
        if request.revision != 1:
            raise mapping.Refusal(mapping.NOT_MAPPABLE, f"Revision {request.revision}: a posted "
                                  "need cannot be revised; send a new FlexRequest")  # fmt: skip
        session_id = mapping.session_of(request.contract_id)
        slots, bidding_end, now = self._slots(session_id)
        need = mapping.need_of(request, slots)
        expires = _expiry(request.expiration_date_time, "ExpirationDateTime")
        if now >= bidding_end or expires <= now:
            raise mapping.Refusal(
                mapping.REFERENCE_MESSAGE_EXPIRED,
                f"session {session_id} takes no more needs (bidding closed or request expired)",
            )
        wallet = sender["wallet"]
        dso = views.zone_dso(self.gateway, need.zone)
        if dso == ZERO_ADDRESS:
            raise mapping.Refusal(mapping.INVALID_CONGESTION_POINT, f"CongestionPoint "
                                  f"{need.zone}: no zone of that name on chain")  # fmt: skip
        if dso != wallet:
            raise mapping.Refusal(mapping.UNAUTHORIZED, f"CongestionPoint {need.zone}: "
                                  "registered by another DSO")  # fmt: skip
        self.gateway.require_role(wallet, "DSO")
        action = {
            "kind": "post-need", "session_id": session_id, "zone": need.zone,
            "direction": need.direction.label, "quantity_w": list(need.quantity_w),
            "budget_ueur": str(sender["budget_ueur"]), "uftp_sha256": sha,
        }  # fmt: skip
        self._prepare_need(action, wallet)  # simulated now: a refusal is a Problem
        self.store.add({
            "message_id": str(request.message_id).lower(), "kind": "FlexRequest",
            "conversation_id": str(request.conversation_id).lower(),
            "domain": request.sender_domain, "wallet": wallet, "session_id": session_id,
            "reference": None, "expires_at": expires, "sha256": sha, "message": xml.decode(),
            "action": action,
            "bid_id": None,
        })  # fmt: skip

    def _flex_offer(self, offer: FlexOffer, sender: dict[str, Any], sha: str, xml: bytes) -> None:
        if offer.flex_request_message_id is None:
            raise mapping.Refusal(
                mapping.NOT_MAPPABLE,
                "an unsolicited FlexOffer: the market's "
                "bids answer a FlexRequest (FlexRequestMessageID)",
            )
        request = self.store.conversation(offer.flex_request_message_id)
        if request is None:  # the market's copy of it, forwarded to this aggregator
            request = self.store.request_in(str(offer.conversation_id))
            if request is not None and forward_id(
                request["message_id"], offer.sender_domain
            ) != str(offer.flex_request_message_id).lower():  # fmt: skip
                request = None
        if request is None or request["kind"] != "FlexRequest":
            raise mapping.Refusal(
                mapping.UNKNOWN_REFERENCE,
                f"FlexRequestMessageID {offer.flex_request_message_id}: no such FlexRequest "
                "(in this conversation, forwarded to you)",
            )
        if str(offer.conversation_id).lower() != request["conversation_id"]:
            raise mapping.Refusal(mapping.UNKNOWN_REFERENCE, f"ConversationID "
                                  f"{offer.conversation_id}: the FlexRequest is in conversation "
                                  f"{request['conversation_id']}")  # fmt: skip
        asked = uftp_transport.from_xml(request["message"].encode())
        if str(offer.period) != str(asked.period):
            raise mapping.Refusal(mapping.REFERENCE_PERIOD_MISMATCH, f"Period {offer.period}: "
                                  f"the FlexRequest is for {asked.period}")  # fmt: skip
        session_id = int(request["session_id"])
        slots, bidding_end, now = self._slots(session_id)
        if now >= bidding_end or request["expires_at"] <= now:
            raise mapping.Refusal(
                mapping.REFERENCE_MESSAGE_EXPIRED,
                f"FlexRequest {offer.flex_request_message_id}: expired or bidding closed",
            )
        clearing_deadline = self.gateway.session(session_id).clearing_deadline
        if _expiry(offer.expiration_date_time, "ExpirationDateTime") < clearing_deadline:
            raise mapping.Refusal(
                mapping.EXPIRATION_OUT_OF_BOUNDS,
                f"ExpirationDateTime {offer.expiration_date_time}: before the session's "
                f"clearing deadline {clearing_deadline} (chain time), when the market orders",
            )
        if self._need_index(request) is None:
            raise mapping.Refusal(
                mapping.UNKNOWN_REFERENCE,
                f"FlexRequest {request['message_id']}: its need is not on chain yet (the DSO's "
                "wallet has not signed it)",
            )
        need = mapping.need_of(asked, slots)
        bid = mapping.bid_of(offer, need, slots)
        wallet = sender["wallet"]
        self.gateway.require_role(wallet, "AGGREGATOR")
        assets = self._assets(wallet, need.zone)
        if not assets:
            raise mapping.Refusal(mapping.UNAUTHORIZED, f"CongestionPoint {need.zone}: no "
                                  "prequalified asset of yours there")  # fmt: skip
        fields = BidFields(
            label(bid.zone), bid.direction, False, bid.quantity_w, bid.price_eur_per_mw,
            bid.slot_mask, BidFields.sorted_assets(assets), new_salt(),
        )  # fmt: skip
        bid_id = "0x" + bid_id_of(wallet, commitment_of(session_id, wallet, fields)).hex()
        self.store.add({
            "message_id": str(offer.message_id).lower(), "kind": "FlexOffer",
            "conversation_id": str(offer.conversation_id).lower(),
            "domain": offer.sender_domain, "wallet": wallet, "session_id": session_id,
            "reference": request["message_id"], "expires_at": request["expires_at"],
            "sha256": sha, "message": xml.decode(),
            "action": {"kind": "commit-bid", "session_id": session_id, "bid_id": bid_id,
                       "uftp_sha256": sha, "bid": bid_json(fields)},
            "bid_id": bid_id,
        })  # fmt: skip

    def _assets(self, wallet: str, zone: str) -> list[bytes]:
        """The wallet's prequalified assets in `zone` (registered by it or passed to it),
        their logs read in ranges of FOLLOW_RANGE blocks, each asset then read at the head."""
        registry = self.gateway.contracts.registry
        head = self.gateway.head()
        ids: set[bytes] = set()
        for first in range(0, head + 1, FOLLOW_RANGE):
            last = min(head, first + FOLLOW_RANGE - 1)
            for event, who in (("AssetRegistered", "manager"),
                               ("ManagementTransferred", "newManager")):  # fmt: skip
                logs = getattr(registry.events, event).get_logs(
                    from_block=first, to_block=last, argument_filters={who: wallet}
                )
                ids |= {bytes(e["args"]["assetId"]) for e in logs}
        out = []
        for asset in sorted(ids):
            a = AssetView.from_abi(self.gateway.call(registry.functions.asset(asset), head))
            if a.manager == wallet and a.zone == label(zone) and a.prequalified:
                out.append(asset)
        return out

    def _respond(
        self, message: PayloadMessage, signed: SignedMessage, reason: str | None
    ) -> Answer:
        """The signed `...Response` to `message` (HTTP 200), its result recorded."""
        result = "Accepted" if reason is None else "Rejected"
        if (
            reason is None
            or self.store.message_result(signed.sender_domain, str(message.message_id)) is None
        ):
            self.store.set_result(
                signed.sender_domain,
                str(message.message_id),
                result if reason is None else f"Rejected: {reason}",
            )
        response_type = request_response_map.get(type(message))
        if response_type is None:  # a response itself (FlexOrderResponse): nothing to answer
            return Answer(200, b"", result, reason)
        name = "".join("_" + c.lower() if c.isupper() else c for c in type(message).__name__)
        fields: dict[str, Any] = {
            "conversation_id": message.conversation_id,
            "result": AcceptedRejected.ACCEPTED if reason is None else AcceptedRejected.REJECTED,
            "rejection_reason": reason,
        }
        if response_type.__name__ != "TestMessageResponse":
            fields[name.lstrip("_") + "_message_id"] = message.message_id
        response = response_type(**fields)
        as_role = UsefRole.AGR if signed.sender_role == UsefRole.DSO else UsefRole.DSO
        xml = self.seal(response, signed.sender_domain, as_role)
        self.store.send(str(response.message_id), signed.sender_domain, str(signed.sender_role),
                        xml.decode())  # fmt: skip
        return Answer(200, xml, result, reason)

    def seal(self, message: PayloadMessage, recipient: str, as_role: UsefRole) -> bytes:
        """`message` from the market to `recipient`, signed, as SignedMessage XML."""
        message.version = message.version or "3.1.0"
        message.sender_domain = self.domain
        message.recipient_domain = recipient
        message.time_stamp = message.time_stamp or _now_iso()
        message.message_id = message.message_id or str(uuid.uuid4())
        sealed = uftp_transport.seal_message(message, self._signing_key)
        wrapper = SignedMessage(sender_domain=self.domain, sender_role=as_role, body=sealed)
        xml: str = uftp_transport.to_xml(wrapper)
        return xml.encode()

    def _prepare_need(self, action: dict[str, Any], wallet: str) -> dict[str, Any]:
        """The `postNeed` of an accepted FlexRequest, prepared for the DSO's wallet (an
        intent valid 10 minutes, as every prepared write); a refusal is a Problem."""
        direction = int(Direction[action["direction"].upper()])
        fields = (
            action["session_id"], label(action["zone"]), direction, int(BuyerRole.DSO), NO_LIMIT,
            int(action["budget_ueur"]), action["quantity_w"],
        )  # fmt: skip
        fn = self.gateway.contracts.market.functions.postNeed(fields)
        return self.gateway.prepare([fn], wallet)

    # --- what a wallet does next, and the FlexOrders it gets
    def actions(self, wallet: str) -> list[dict[str, Any]]:
        """The chain actions the wallet's accepted UFTP messages ask it to sign. A need is
        prepared afresh on each read (`prepared`; `refused` names why the chain would refuse
        it now, e.g. bidding closed); signing it twice posts it twice."""
        out = []
        for r in self.store.of_wallet(wallet):
            item = {"message_id": r["message_id"], "conversation_id": r["conversation_id"],
                    "message_type": r["kind"], **r["action"]}  # fmt: skip
            if item["kind"] == "post-need":
                try:
                    item["prepared"] = self._prepare_need(r["action"], wallet)
                except Problem as problem:
                    item["refused"] = problem.detail
            out.append(item)
        return out

    def messages(self, wallet: str) -> list[str]:
        """Every message of the market to the wallet's UFTP identities: its responses (as
        sent in each HTTP answer), the FlexRequests open to its aggregator identities, then
        its FlexOrders and FlexSettlements."""
        return (
            self.store.outbox(wallet) + self.flex_requests(wallet) + self.outcomes(wallet)
            + self.flex_orders(wallet)
        )  # fmt: skip

    def deliver(self) -> dict[str, int]:
        """Post each message of the market not yet delivered to its recipient's own
        endpoint (registered, on an allowed host), as the package's clients post: a
        SignedMessage, text/xml; HTTP 200 marks it delivered, anything else leaves it for
        the next call. Counts of `delivered` and `failed`."""
        counts = {"delivered": 0, "failed": 0}
        for p in self.store.with_endpoints():
            if httpx.URL(p["endpoint"]).host not in self.endpoint_hosts:
                continue  # the allow-list changed since it registered
            for xml in self.messages(p["wallet"]):
                signed = uftp_transport.from_xml(xml.encode())
                inner = uftp_transport.unseal_message(signed.body, self.public_key)
                to_role = "AGR" if signed.sender_role == UsefRole.DSO else "DSO"
                if (inner.recipient_domain, to_role) != (p["domain"], p["role"]):
                    continue
                if self.store.delivered(p["domain"], p["role"], str(inner.message_id)):
                    continue
                try:
                    r = httpx.post(p["endpoint"], content=xml.encode(), timeout=10.0,
                                   headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.store.mark_delivered(p["domain"], p["role"], str(inner.message_id))
                counts["delivered" if ok else "failed"] += 1
        return counts

    def _need_index(self, request: dict[str, Any]) -> int | None:
        """The need on chain that a FlexRequest's action posted: the DSO's, in its zone,
        direction and watts per slot (None before the DSO's wallet signed it)."""
        a = request["action"]
        for need in views.needs(self.gateway, int(request["session_id"])):
            if (need.buyer, need.zone, need.direction, need.quantity_w) == (
                request["wallet"], a["zone"], a["direction"], a["quantity_w"]
            ):  # fmt: skip
                return int(need.need_index)
        return None

    def _outcome(self, row: dict[str, Any]) -> FlexOffer | None:
        """The cleared outcome of an accepted FlexRequest as a FlexOffer to its DSO (None
        before a committed result, when nothing serves its need, or when what it pays is
        not a whole 0.0001 EUR)."""
        need_index = self._need_index(row)
        sid = int(row["session_id"])
        if need_index is None:
            return None
        result = views.result(self.gateway, sid)
        if result.status not in ("pending", "final"):
            return None
        masks = {
            "0x" + bytes(e.args["bidId"]).hex(): int(e.args["slotMask"])
            for e in self.gateway.session_logs(sid, ["BidRevealed"])
        }
        slots, _, _ = self._slots(sid)
        awarded = [0] * slots.slot_count
        payment = 0
        for award in result.awards:
            parts = [int(p.payment_ueur) for p in award.shares if p.need_index == need_index]
            if not parts:
                continue
            payment += sum(parts)
            for k in range(slots.slot_count):
                if masks.get(award.bid_id, 0) >> k & 1:
                    awarded[k] += award.quantity_w
        if not payment and not any(awarded):
            return None
        request = uftp_transport.from_xml(row["message"].encode())
        try:
            offer = mapping.outcome_of(
                request, slots, awarded, Direction[row["action"]["direction"].upper()], payment
            )
        except (mapping.Refusal, ValueError, TypeError):
            return None  # documented: no outcome when an amount is not exactly UFTP's
        offer.message_id = outcome_id(row["message_id"])
        return offer

    def outcomes(self, wallet: str) -> list[str]:
        """The outcome FlexOffer of each of the wallet's FlexRequests, to its DSO identity."""
        out = []
        for row in self.store.of_wallet(wallet):
            if row["kind"] == "FlexRequest":
                offer = self._outcome(row)
                if offer is not None:
                    out.append(self.seal(offer, row["domain"], UsefRole.AGR).decode())
        return out

    def _flex_order(self, order: FlexOrder, sender: dict[str, Any]) -> None:
        """A DSO ordering the outcome offered to it: accepted when it copies the offer (the
        clearing ordered it on chain already: nothing more happens), else rejected."""
        rows = [
            r for r in self.store.of_wallet(sender["wallet"])
            if r["kind"] == "FlexRequest" and r["domain"] == order.sender_domain
            and outcome_id(r["message_id"]) == str(order.flex_offer_message_id).lower()
        ]  # fmt: skip
        offer = self._outcome(rows[0]) if rows else None
        if offer is None:
            raise mapping.Refusal(
                mapping.UNKNOWN_REFERENCE,
                f"FlexOfferMessageID {order.flex_offer_message_id}: no outcome offered to you",
            )
        option = offer.offer_options[0]
        ordered = [(i.power, i.start, i.duration) for i in order.isps]
        offered = [(i.power, i.start, i.duration) for i in option.isps]
        if ordered != offered or order.price != option.price:
            raise mapping.Refusal(mapping.ISP_CONFLICT, "the FlexOrder's ISPs or Price differ "
                                  "from the offer's")  # fmt: skip
        if str(order.conversation_id).lower() != str(offer.conversation_id).lower():
            raise mapping.Refusal(mapping.UNKNOWN_REFERENCE, f"ConversationID "
                                  f"{order.conversation_id}: not the offer's")  # fmt: skip

    def flex_requests(self, wallet: str) -> list[str]:
        """Each accepted FlexRequest whose need is on chain and whose session still takes
        bids, forwarded by the market (as DSO) to each aggregator identity of `wallet`: the
        DSO's request with the market as sender, its ConversationID kept and a MessageID of
        its own per aggregator (`forward_id`), which the aggregator's FlexOffer names."""
        domains = self.store.identities(wallet, "AGR")
        if not domains:
            return []
        out = []
        now = self.gateway.now()
        for row in self.store.requests_open(now):
            if now >= self.gateway.session(int(row["session_id"])).bidding_end:
                continue
            if self._need_index(row) is None:
                continue
            for domain in domains:
                request = uftp_transport.from_xml(row["message"].encode())
                request.message_id = forward_id(row["message_id"], domain)
                request.time_stamp = None
                out.append(self.seal(request, domain, UsefRole.DSO).decode())
        return out

    def flex_orders(self, wallet: str) -> list[str]:
        """Signed messages (SignedMessage XML) for each of the wallet's UFTP bids awarded in
        a committed result: its FlexOrder (the offer's ISPs and price), and once the award
        is settled on chain its FlexSettlement (none when an amount is not exactly UFTP's).
        Their message IDs are UUID5s of the offer's: the same message on every read."""
        out = []
        settled: dict[int, Any] = {}
        delivered: dict[int, dict[int, int]] = {}
        for row in self.store.of_wallet(wallet):
            if row["kind"] != "FlexOffer":
                continue
            sid = int(row["session_id"])
            if sid not in settled:  # settlements first: a delivery is recorded before them
                settled[sid] = ledger.settlements(self.gateway, sid)
                delivered[sid] = {
                    a.award_index: a.delivered_w for a in views.result(self.gateway, sid).awards
                }
            if settled[sid].status not in ("pending", "final"):  # not committed, or voided
                continue
            for award in settled[sid].awards:
                if award.bid_id != row["bid_id"] or award.quantity_w == 0:
                    continue
                offer = uftp_transport.from_xml(row["message"].encode())
                reference = f"{sid}-{award.award_index}"
                order = mapping.order_of(offer, reference)
                order.message_id = str(uuid.uuid5(ORDER_NAMESPACE, row["message_id"]))
                out.append(self.seal(order, row["domain"], UsefRole.DSO).decode())
                if not award.settled:
                    continue
                try:
                    settlement = mapping.settlement_of(
                        offer, sid, reference, delivered[sid][award.award_index],
                        int(award.paid_ueur), int(award.penalty_ueur),
                    )  # fmt: skip
                except (mapping.Refusal, ValueError, TypeError):  # the package's checks too
                    continue  # documented: no FlexSettlement for amounts UFTP cannot carry
                settlement.message_id = str(uuid.uuid5(ORDER_NAMESPACE, "s" + row["message_id"]))
                out.append(self.seal(settlement, row["domain"], UsefRole.DSO).decode())
        return out


def outcome_id(request_message_id: str) -> str:
    """The MessageID of the outcome FlexOffer of a DSO's FlexRequest."""
    return str(uuid.uuid5(ORDER_NAMESPACE, f"{request_message_id}/outcome"))


def forward_id(request_message_id: str, aggregator_domain: str) -> str:
    """The MessageID of a DSO's FlexRequest as the market forwards it to one aggregator."""
    return str(uuid.uuid5(ORDER_NAMESPACE, f"{request_message_id}/{aggregator_domain}"))


def bid_json(fields: BidFields) -> dict[str, Any]:
    """A bid's fields as the SDK's `BidFields` takes them (bytes as 0x hex)."""
    return {
        "zone": "0x" + fields.zone.hex(), "direction": fields.direction.label,
        "divisible": fields.divisible, "quantity_w": fields.quantity_w,
        "min_quantity_w": fields.min_quantity_w, "price_eur_per_mw": str(fields.price_eur_per_mw),
        "slot_mask": str(fields.slot_mask), "asset_ids": ["0x" + a.hex() for a in fields.asset_ids],
        "salt": "0x" + fields.salt.hex(),
    }  # fmt: skip


def _uuids(message: PayloadMessage) -> bool:
    """The message's MessageID and ConversationID are UUIDs, as UFTP's schema says."""
    try:
        uuid.UUID(str(message.message_id))
        uuid.UUID(str(message.conversation_id))
    except ValueError:
        return False
    return True


def _is_domain(domain: str) -> bool:
    """UFTP's domain pattern, as the package's SignedMessage declares it."""
    pattern = SignedMessage.__dataclass_fields__["sender_domain"].metadata["pattern"]
    return len(domain) < 254 and re.fullmatch(pattern, domain) is not None


_LOCK = threading.Lock()


def uftp_of(app_state: Any) -> UftpGateway:
    """The app's UftpGateway, built on first use (one per app)."""
    found: UftpGateway | None = getattr(app_state, "uftp", None)
    if found is None:
        with _LOCK:
            found = getattr(app_state, "uftp", None)
            if found is None:
                found = UftpGateway(app_state.gateway)
                app_state.uftp = found
    return found
