"""Sign-in with Ethereum (EIP-4361) and the API's short-lived bearer tokens.

The `siwe` package parses the message; every rule is checked here, by the server:
domain and URI equal the server's, the chain id equals the chain's, version 1,
issued-at recent (not in the future beyond the clock skew), an expiration time that is
required, in the future and no later than the maximum age after issue, not-before
passed, the EIP-191 signature made by the message's address, and last the nonce: issued
by this server, unexpired, consumed in one statement so that it works once.

A token is `base64url(payload).base64url(hmac_sha256(secret, payload))`; it carries the
address and its expiry, never roles: roles are read from the chain's registry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import to_checksum_address
from siwe import SiweMessage  # at import: building its grammar takes ~1 s of CPU

from api.config import Settings
from api.problems import Problem
from api.store import Store


def _unauthorized(kind: str, detail: str, field: str | None = None) -> Problem:
    return Problem(
        401,
        kind,
        detail,
        field=field,
        reason=detail,
        headers={"WWW-Authenticate": 'Bearer realm="flexmarket"'},
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _timestamp(value: object, field: str) -> float:
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _unauthorized("siwe-invalid", f"{field}: {text!r} is not RFC 3339", field) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def same_mac(given: str, expected: str) -> bool:
    """Constant-time comparison of a MAC from the client (a header, a body) with ours.
    `hmac.compare_digest` raises TypeError on a non-ASCII str: compare UTF-8 bytes (our
    MAC is ASCII, so any other character simply does not match)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


@dataclass(frozen=True)
class Token:
    address: str
    issued_at: int
    expires_at: int
    raw: str


class Authenticator:
    def __init__(self, settings: Settings, store: Store, chain_id: int) -> None:
        self.settings = settings
        self.store = store
        self.chain_id = chain_id
        self._secret = settings.token_secret.get_secret_value().encode()

    # --- nonces
    def issue_nonce(self) -> tuple[str, int]:
        now = int(time.time())
        self.store.purge_nonces(now)
        nonce = secrets.token_hex(16)  # 32 alphanumeric characters (EIP-4361: >= 8)
        expires_at = now + self.settings.nonce_ttl_s
        self.store.add_nonce(nonce, expires_at)
        return nonce, expires_at

    # --- sign-in
    def sign_in(self, message: str, signature: str) -> Token:
        s = self.settings
        try:
            msg = SiweMessage.from_message(message=message, abnf=False)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the client's
            raise _unauthorized(
                "siwe-invalid", f"message: not an EIP-4361 message ({exc})"
            ) from exc
        now = time.time()
        if msg.domain != s.domain:
            raise _unauthorized(
                "siwe-domain", f"domain: {msg.domain!r} is not this server's {s.domain!r}", "domain"
            )
        if str(msg.uri) != s.uri:
            raise _unauthorized("siwe-uri", f"uri: {msg.uri!r} is not {s.uri!r}", "uri")
        if int(msg.chain_id) != self.chain_id:
            raise _unauthorized(
                "siwe-chain", f"chain_id: {msg.chain_id} is not this chain's {self.chain_id}",
                "chain_id",
            )  # fmt: skip
        if str(msg.version) != "1":
            raise _unauthorized("siwe-invalid", f"version: {msg.version!r} is not '1'", "version")
        issued = _timestamp(msg.issued_at, "issued_at")
        if issued > now + s.clock_skew_s:
            raise _unauthorized("siwe-time", "issued_at: in the future", "issued_at")
        if issued < now - s.message_max_age_s:
            raise _unauthorized(
                "siwe-expired", f"issued_at: older than {s.message_max_age_s} s", "issued_at"
            )
        if msg.expiration_time is None:
            raise _unauthorized(
                "siwe-invalid", "expiration_time: required by this server", "expiration_time"
            )
        expires = _timestamp(msg.expiration_time, "expiration_time")
        if expires <= now:
            raise _unauthorized("siwe-expired", "expiration_time: passed", "expiration_time")
        if expires > issued + s.message_max_age_s + s.clock_skew_s:
            raise _unauthorized(
                "siwe-time",
                f"expiration_time: more than {s.message_max_age_s} s after issued_at",
                "expiration_time",
            )
        if msg.not_before is not None and _timestamp(msg.not_before, "not_before") > now:
            raise _unauthorized("siwe-time", "not_before: not yet valid", "not_before")
        try:
            signer = Account.recover_message(
                encode_defunct(text=message), signature=bytes.fromhex(signature.removeprefix("0x"))
            )
        except Exception as exc:  # noqa: BLE001 - malformed signatures
            raise _unauthorized("siwe-signature", "signature: malformed", "signature") from exc
        address = to_checksum_address(str(msg.address))
        if to_checksum_address(signer) != address:
            raise _unauthorized(
                "siwe-signature", "signature: not made by the message's address", "signature"
            )
        if not self.store.consume_nonce(str(msg.nonce), int(now)):
            raise _unauthorized("siwe-nonce", "nonce: unknown, expired or already used", "nonce")
        return self.issue_token(address)

    # --- tokens
    def issue_token(self, address: str) -> Token:
        now = int(time.time())
        payload = {
            "sub": address,
            "iat": now,
            "exp": now + self.settings.token_ttl_s,
            "jti": secrets.token_hex(8),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())
        return Token(address, now, payload["exp"], f"{body}.{mac}")  # type: ignore[arg-type]

    def verify_token(self, raw: str) -> Token:
        body, _, mac = raw.partition(".")
        expected = _b64(
            hmac.new(self._secret, body.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        )
        if not mac or not same_mac(mac, expected):
            raise _unauthorized("token-invalid", "bearer token: invalid")
        try:
            payload = json.loads(_unb64(body))
            address, iat, exp = str(payload["sub"]), int(payload["iat"]), int(payload["exp"])
        except Exception as exc:  # noqa: BLE001
            raise _unauthorized("token-invalid", "bearer token: invalid") from exc
        if exp <= time.time():
            raise _unauthorized("token-expired", "bearer token: expired")
        return Token(address, iat, exp, raw)


class TokenBuckets:
    """In-process token buckets keyed by token subject or client IP."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0


class StreamCaps:
    """Server-sent event streams open at once, per signed-in address and per client IP:
    `open` refuses one beyond either cap (429), `close` gives its place back."""

    def __init__(self, per_token: int, per_ip: int) -> None:
        self.per_token = per_token
        self.per_ip = per_ip
        self._open: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def open(self, address: str, ip: str) -> None:
        with self._lock:
            by_token = self._open.get(("token", address), 0)
            by_ip = self._open.get(("ip", ip), 0)
            if by_token >= self.per_token or by_ip >= self.per_ip:
                who, cap = (
                    (address, self.per_token) if by_token >= self.per_token else (ip, self.per_ip)
                )
                raise Problem(
                    429, "too-many-streams",
                    f"{who} already has {cap} event streams open (at most {cap}): close one",
                    headers={"Retry-After": "1"},
                )  # fmt: skip
            self._open[("token", address)] = by_token + 1
            self._open[("ip", ip)] = by_ip + 1

    def close(self, address: str, ip: str) -> None:
        with self._lock:
            for key in (("token", address), ("ip", ip)):
                left = self._open.get(key, 0) - 1
                if left > 0:
                    self._open[key] = left
                else:
                    self._open.pop(key, None)

    def count(self, address: str, ip: str) -> tuple[int, int]:
        """(streams open by the address, by the IP)."""
        with self._lock:
            return self._open.get(("token", address), 0), self._open.get(("ip", ip), 0)
