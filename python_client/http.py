"""The participant API from Python, with the participant's own wallet.

    api = HttpClient("http://127.0.0.1:8000", private_key)
    api.sign_in()                                  # EIP-4361, the key signs locally
    api.register_asset(asset_id, "load", 3700, 0, "T1")
    api.join(session_id, bids=2)                   # EIP-712, relayed: no gas needed
    bid = api.commit_bid(session_id, fields)       # queued, relayed in a batch
    api.reveal_bid(session_id, fields)             # after gate closure
    api.result(session_id); api.withdraw(amount)

A TSO (or BRP) buys with the same client: its role comes from the chain's registry.

    tso = HttpClient("http://127.0.0.1:8000", tso_key); tso.sign_in()
    tso.deposit(10**12)
    need = tso.post_need(session_id, {"zone": None, "direction": "up", "buyer_role": "TSO",
                                      "budget_ueur": 10**10, "quantity_w": [0, 0, 45_000]})
    tso.my_shares(session_id)      # after clearing: what it pays of each award
    tso.payments(session_id)       # after settlement: paid, refunded, penalties received

Writes other than join/commit/reveal come back from the API as unsigned transactions;
this client signs them with the key and posts them to `/transactions`. The key never
leaves this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from python_client.errors import ClientError
from python_client.hashing import bid_id, commitment, label_text
from python_client.records import BidFields, Direction
from python_client.relay import (
    NonceSequence,
    RelayDomain,
    commit_digest,
    join_digest,
    reveal_digest,
    sign_digest,
)


class ApiError(ClientError):
    """A problem-details answer: `status`, `problem` (the body)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title')}: {problem.get('detail')}")
        self.status = status
        self.problem = problem


def siwe_message(
    domain: str, uri: str, address: str, chain_id: int, nonce: str,
    statement: str = "Sign in to the flexmarket participant API.",
    issued_at: datetime | None = None, ttl_s: int = 240,
) -> str:  # fmt: skip
    """An EIP-4361 message (the fields the server checks)."""
    issued = issued_at or datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (
        f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
        f"{statement}\n\nURI: {uri}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\n"
        f"Issued At: {issued.strftime(fmt)}\n"
        f"Expiration Time: {(issued + timedelta(seconds=ttl_s)).strftime(fmt)}"
    )


class HttpClient:
    def __init__(
        self, base_url: str, private_key: str, client: httpx.Client | None = None,
        deadline_s: int = 3600,
    ) -> None:  # fmt: skip
        self.http = client or httpx.Client(base_url=base_url, timeout=120)
        self.account = Account.from_key(private_key)
        self.address: str = self.account.address
        self._key = private_key
        self.token: str | None = None
        self.deadline_s = deadline_s
        self._domain: RelayDomain | None = None
        self.new_nonce = NonceSequence()  # relay nonces: the bits of one word in turn

    # --- plumbing
    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        r = self.http.request(method, path, headers=headers, **kwargs)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"detail": r.text}
            raise ApiError(r.status_code, body)
        return r.json() if r.content else None

    def _sign_and_submit(self, prepared: dict[str, Any]) -> list[dict[str, Any]]:
        """Sign each prepared transaction, submit it and wait until it is mined (the API
        answers 202 with a status route when mining takes longer than it waits): each
        mined transaction's `tx_hash`, `block_number` and `events`."""
        out = []
        for item in prepared["transactions"]:
            signed = Account.sign_transaction(item["tx"], self._key)
            raw = "0x" + bytes(signed.raw_transaction).hex()
            answer = self.request("POST", "/transactions",
                                  json={"raw_tx": raw, "intent": item["intent"]})  # fmt: skip
            out.append(self.wait_mined(answer))
        return out

    def wait_mined(self, answer: dict[str, Any], timeout_s: float = 600.0) -> dict[str, Any]:
        """A `/transactions` answer once mined: as is when mined already, else polled at
        its `status_url` (ApiError 409 if it reverted)."""
        end = time.monotonic() + timeout_s
        # not a retry (python_client.retry): polling a pending transaction until a deadline
        while answer.get("status", "mined") == "pending":
            if time.monotonic() > end:
                raise ClientError(f"transaction {answer['tx_hash']} not mined in {timeout_s} s")
            time.sleep(0.5)
            answer = self.request("GET", answer["status_url"])
        if answer.get("status") == "reverted":
            raise ApiError(409, {"title": "Conflict", "status": 409, "tx_hash": answer["tx_hash"],
                                 "detail": "the transaction reverted when mined"})  # fmt: skip
        return answer

    def write(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        """POST a prepared write, sign what comes back, submit; the mined results."""
        return self._sign_and_submit(self.request("POST", path, json=body))

    @property
    def domain(self) -> RelayDomain:
        if self._domain is None:
            d = self.request("GET", "/deployment")["relay_domain"]
            self._domain = RelayDomain(int(d["chainId"]), d["verifyingContract"])
        return self._domain

    def _deadline(self) -> int:
        return int(time.time()) + self.deadline_s

    # --- sign-in
    def sign_in(self) -> dict[str, Any]:
        n = self.request("POST", "/auth/nonce")
        message = siwe_message(n["domain"], n["uri"], self.address, n["chain_id"], n["nonce"])
        sig = self.account.sign_message(encode_defunct(text=message)).signature
        out: dict[str, Any] = self.request(
            "POST", "/auth/token", json={"message": message, "signature": "0x" + sig.hex()}
        )
        self.token = out["access_token"]
        return out

    def me(self) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", "/participants/me")
        return out

    # --- money, assets
    def deposit(self, amount_ueur: int) -> list[dict[str, Any]]:
        return self.write("/participants/me/deposits", {"amount_ueur": amount_ueur})

    def withdraw(self, amount_ueur: int) -> list[dict[str, Any]]:
        return self.write("/participants/me/withdrawals", {"amount_ueur": amount_ueur})

    def register_asset(
        self, asset_id: bytes, asset_type: str, p_max_w: int, p_min_w: int, zone: str
    ) -> list[dict[str, Any]]:
        return self.write("/assets", {
            "asset_id": "0x" + asset_id.hex(), "asset_type": asset_type, "p_max_w": p_max_w,
            "p_min_w": p_min_w, "zone": zone})  # fmt: skip

    # --- relayed bids
    def join(self, session_id: int, bids: int) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST", f"/sessions/{session_id}/participation",
            json={"added_bids": bids, **self._signed(
                lambda n, d: join_digest(self.domain, self.address, session_id, bids, n, d),
                None, None)},
        )  # fmt: skip
        return self.wait_mined(out)

    def commit_body(
        self, session_id: int, fields: BidFields, nonce: int | None = None,
        deadline: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The signed `BidCommitCreate` body of a sealed bid (the fields stay here)."""
        c = commitment(session_id, self.address, fields)
        return {"commitment": "0x" + c.hex(), **self._signed(
            lambda n, d: commit_digest(self.domain, self.address, session_id, c, n, d),
            nonce, deadline)}  # fmt: skip

    def commit_bid(self, session_id: int, fields: BidFields, wait: bool = False) -> dict[str, Any]:
        """Queued for the relay (202); `wait=True` answers once relayed (`committed`)."""
        out: dict[str, Any] = self.request(
            "POST", f"/sessions/{session_id}/bids", params={"wait": str(wait).lower()},
            json=self.commit_body(session_id, fields),
        )  # fmt: skip
        return out

    def bid_id_of(self, session_id: int, fields: BidFields) -> str:
        return "0x" + bid_id(self.address, commitment(session_id, self.address, fields)).hex()

    def reveal_body(
        self, session_id: int, fields: BidFields, nonce: int | None = None,
        deadline: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The signed `BidRevealCreate` body of a committed bid."""
        c = commitment(session_id, self.address, fields)
        return {
            "zone": label_text(fields.zone), "direction": Direction(fields.direction).label,
            "divisible": fields.divisible, "quantity_w": fields.quantity_w,
            "min_quantity_w": fields.min_quantity_w, "price_eur_per_mw": fields.price_eur_per_mw,
            "slot_mask": fields.slot_mask, "asset_ids": ["0x" + a.hex() for a in fields.asset_ids],
            "salt": "0x" + fields.salt.hex(),
            **self._signed(lambda n, d: reveal_digest(self.domain, self.address, c, n, d),
                           nonce, deadline),
        }  # fmt: skip

    def _signed(
        self, digest: Callable[[int, int], bytes], nonce: int | None, deadline: int | None
    ) -> dict[str, Any]:
        """`nonce`, `deadline` (a fresh nonce, the default deadline when not given) and this
        key's `signature` of `digest(nonce, deadline)`: the tail of every relayed body."""
        nonce = self.new_nonce() if nonce is None else nonce
        deadline = self._deadline() if deadline is None else deadline
        sig = sign_digest(self._key, digest(nonce, deadline))
        return {"nonce": nonce, "deadline": deadline, "signature": "0x" + sig.hex()}

    def reveal_bid(self, session_id: int, fields: BidFields) -> dict[str, Any]:
        """Relayed at once; answered when mined."""
        out: dict[str, Any] = self.request(
            "POST",
            f"/sessions/{session_id}/bids/{self.bid_id_of(session_id, fields)}/reveal",
            json=self.reveal_body(session_id, fields),
        )
        return self.wait_mined(out)

    def bids(self, session_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.request("GET", f"/sessions/{session_id}/bids")
        return out

    def bid(self, session_id: int, bid_id_hex: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/sessions/{session_id}/bids/{bid_id_hex}")
        return out

    def result(self, session_id: int) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/sessions/{session_id}/result")
        return out

    # --- reads anyone signed in may make
    def deployment(self) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", "/deployment")
        return out

    def session(self, session_id: int) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/sessions/{session_id}")
        return out

    def need(self, session_id: int, need_index: int) -> dict[str, Any]:
        out: dict[str, Any] = self.request("GET", f"/sessions/{session_id}/needs/{need_index}")
        return out

    def needs(self, session_id: int) -> list[dict[str, Any]]:
        """Every need of the session (buyer, role, zone, quantities, budget, committed)."""
        out: list[dict[str, Any]] = self.request("GET", f"/sessions/{session_id}/needs")
        return out

    def coordination(self, session_id: int) -> dict[str, Any]:
        """The session's published coordination inputs (`ApiError` 404 while none are)."""
        out: dict[str, Any] = self.request("GET", f"/sessions/{session_id}/coordination")
        return out

    def settlements(self, session_id: int, buyer: str | None = None) -> dict[str, Any]:
        """Every award with who pays it (`shares`) and, once settled, each buyer's part;
        each buyer's totals (`buyers`). With `buyer`: only what that buyer pays."""
        params = {} if buyer is None else {"buyer": buyer}
        out: dict[str, Any] = self.request(
            "GET", f"/sessions/{session_id}/settlements", params=params
        )
        return out

    def my_shares(self, session_id: int) -> list[dict[str, Any]]:
        """What this address pays of each committed award: `{award_index, bid_id,
        need_index, payment_ueur}` rows (one per need it pays from), from the result."""
        rows = []
        for award in self.result(session_id)["awards"]:
            for share in award["shares"]:
                if share["buyer"] == self.address:
                    rows.append({"award_index": award["award_index"], "bid_id": award["bid_id"],
                                 "need_index": share["need_index"],
                                 "payment_ueur": int(share["payment_ueur"])})  # fmt: skip
        return rows

    def payments(self, session_id: int) -> dict[str, int]:
        """This address's money in the session's awards: `committed_ueur` (its shares),
        `paid_ueur` (to sellers, settled so far), `refund_ueur`, `penalty_ueur` (received);
        zeros if it pays no award. (The API answers amounts as decimal strings.)"""
        found = self.settlements(session_id, buyer=self.address)["buyers"]
        zero = {"committed_ueur": 0, "paid_ueur": 0, "refund_ueur": 0, "penalty_ueur": 0}
        return {k: int(found[0][k]) for k in zero} if found else zero

    def events(self, from_block: int = 0, to_block: int | None = None) -> list[dict[str, Any]]:
        """The chain's events from the API's server-sent event stream, decoded (`name`,
        `args`, `block_number`, `tx_hash`, `log_index`), from `from_block` to `to_block`
        (default: the head block now)."""
        import json

        if to_block is None:
            to_block = int(self.deployment()["block_number"])
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        params = {"from_block": from_block, "to_block": to_block, "poll_s": 0.1}
        out: list[dict[str, Any]] = []
        with self.http.stream("GET", "/events", params=params, headers=headers) as r:
            if r.status_code >= 400:
                r.read()
                raise ApiError(r.status_code, r.json())
            for line in r.iter_lines():
                if line.startswith("data:"):
                    out.append(json.loads(line[5:].strip()))
        return out

    def withdraw_all(self) -> int:
        """Withdraw the whole free balance; the amount (0: nothing sent)."""
        free = int(self.me()["free_ueur"])
        if free:
            self.withdraw(free)
        return free

    # --- admin
    def grant_role(self, address: str, role: str) -> list[dict[str, Any]]:
        return self.write(f"/participants/{address}/roles", {"role": role})

    def mint(self, address: str, amount_ueur: int) -> list[dict[str, Any]]:
        return self.write(f"/participants/{address}/mints", {"amount_ueur": amount_ueur})

    # --- buyers (DSO, TSO, BRP), DSO, and the market operator for sessions
    def register_zone(self, zone: str, limit_w: int = 0) -> list[dict[str, Any]]:
        return self.write("/zones", {"zone": zone, "limit_w": limit_w})

    def prequalify(self, asset_id: bytes, prequalified: bool = True) -> list[dict[str, Any]]:
        return self.write(f"/assets/0x{asset_id.hex()}/prequalification",
                          {"prequalified": prequalified})  # fmt: skip

    def open_session(self, params: dict[str, Any]) -> int:
        """`params` as `SessionCreate`; the new session's id."""
        return int(_event_arg(self.write("/sessions", params), "SessionOpened", "sessionId"))

    def post_need(self, session_id: int, need: dict[str, Any]) -> int:
        """`need` as `NeedCreate` (`buyer_role` DSO, TSO or BRP: a role this address holds);
        the need's index in the session."""
        mined = self.write(f"/sessions/{session_id}/needs", need)
        return int(_event_arg(mined, "NeedPosted", "needIndex"))

    def publish_coordination(
        self, session_id: int, coordination: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The session operator: publish the coordination inputs (`coupling`, `priority`,
        `balance_dso`, `zones` with `forecast_w`, `limit_w`, `red_slots`), once, before
        gate closure. `python_client.shares.coordination_json(scenario)` gives a
        scenario's."""
        return self.write(f"/sessions/{session_id}/coordination", coordination)

    # --- market operator (oracle role), metering operator, anyone
    def commit_result(
        self, session_id: int, input_hash: str, result_hash: str,
        awards: list[dict[str, Any]], last_page: bool = True,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """`awards`: {bid_id, need_index, quantity_w, price_eur_per_mw} rows, and for a
        shared payment `payment_ueur`: the part the row's need pays (a share row has
        `quantity_w` 0)."""
        return self.write(f"/sessions/{session_id}/result", {
            "input_hash": input_hash, "result_hash": result_hash, "awards": awards,
            "last_page": last_page})  # fmt: skip

    def record_deliveries(
        self, session_id: int, delivered_w: dict[int, int], evidence_hash: str
    ) -> list[dict[str, Any]]:
        deliveries = [{"award_index": i, "delivered_w": w} for i, w in sorted(delivered_w.items())]
        return self.write(f"/sessions/{session_id}/metering",
                          {"deliveries": deliveries, "evidence_hash": evidence_hash})  # fmt: skip

    def correct_delivery(
        self, session_id: int, award_index: int, delivered_w: int, evidence_hash: str
    ) -> list[dict[str, Any]]:
        """Correct a recorded delivery within the session's correction window (metering
        operator; `DeliveryCorrected`)."""
        return self.write(f"/sessions/{session_id}/metering/{award_index}/correction",
                          {"delivered_w": delivered_w, "evidence_hash": evidence_hash})  # fmt: skip

    def settle(self, session_id: int, from_index: int = 0, count: int = 100) -> list[Any]:
        return self.write(f"/sessions/{session_id}/settlements",
                          {"from_index": from_index, "count": count})  # fmt: skip

    def release_budget(self, session_id: int, need_index: int) -> list[dict[str, Any]]:
        return self.write(f"/sessions/{session_id}/releases", {"need_index": need_index})

    def release_seller_funds(self, session_id: int, seller: str) -> list[dict[str, Any]]:
        return self.write(f"/sessions/{session_id}/releases", {"seller": seller})

    def attest(self, session_id: int, result_hash: str, dispute: bool = False) -> list[Any]:
        return self.write(f"/sessions/{session_id}/attestations",
                          {"result_hash": result_hash, "dispute": dispute})  # fmt: skip


def _event_arg(mined: list[dict[str, Any]], name: str, arg: str) -> Any:
    for tx in mined:
        for event in tx["events"]:
            if event["name"] == name:
                return event["args"][arg]
    raise ClientError(f"no {name} event in the mined transactions")
