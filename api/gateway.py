"""The API's side of the chain: reads, role checks, relayed bids and participant-signed
transactions.

Two ways a participant writes, and in neither does the API hold its key:

- **Relayed** (join, commit, reveal): the participant signs an EIP-712 message
  (python_client.relay); the API checks it and sends it through FlexRelay with its own
  relayer key, which pays the gas. Commits are *accepted* once checked (signature,
  deadline, nonce, session open) and queued; a background thread sends them in batches
  (`commitBidsFor`), so the API answers fast and the chain sees one transaction per batch.
  A commit's checks read nothing from the chain per request: roles, session timing and
  chain time are cached, and relay nonces are known from a follower thread that reads
  FlexRelay's `Relayed`/`RelayFailed` logs (and the registry's role changes) block by block.
- **Prepared** (everything else): the API checks the request and the caller's roles,
  answers an unsigned transaction plus an `intent` (HMAC of sender, target and calldata);
  the participant signs it with its wallet and posts it to `/transactions`, where only a
  transaction matching an intent issued to that caller is simulated, then broadcast.
  So a client can send only the calls the API authorised, with the fields it checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import rlp
from eth_abi.abi import decode, encode
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from starlette.concurrency import run_in_threadpool
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import RPCEndpoint

from api.auth import same_mac
from api.config import Settings
from api.problems import Problem
from api.store import Store
from python_client.artifacts import load_artifact
from python_client.chain import Contracts, Deployment, ErrorDecoder, Wallet
from python_client.errors import ClientError, TransactionReverted
from python_client.records import ChainEvent
from python_client.relay import RelayDomain, commit_digest, recover_raw

log = logging.getLogger("flexmarket.api")
T = TypeVar("T")

ROLE_NAMES = ("DSO", "TSO", "BRP", "AGGREGATOR", "ORACLE", "VALIDATOR", "METERING")
ROLE_IDS: dict[str, bytes] = {name: keccak(text=f"{name}_ROLE") for name in ROLE_NAMES}
ROLE_IDS["ADMIN"] = b"\0" * 32
COMMIT_GAS_BASE, COMMIT_GAS_PER_BID = 60_000, 75_000
NONCE_USED_SELECTOR = keccak(text="nonceUsed(address,uint256)")[:4]
RELAYED_TOPIC = "0x" + keccak(text="Relayed(address,uint256)").hex()
RELAY_FAILED_TOPIC = "0x" + keccak(text="RelayFailed(address,uint256,bytes)").hex()
ROLE_GRANTED_TOPIC = "0x" + keccak(text="RoleGranted(bytes32,address,address)").hex()
ROLE_REVOKED_TOPIC = "0x" + keccak(text="RoleRevoked(bytes32,address,address)").hex()
ROLE_BY_ID = {"0x" + v.hex(): k for k, v in ROLE_IDS.items()}
FOLLOW_RANGE = 10_000  # blocks per eth_getLogs (the follower's, and the session log reads)
RELAY_ROUNDS = 4  # a reverted commit batch is sent again without its refused commits


@dataclass(frozen=True)
class SessionTiming:
    session_id: int
    operator: str
    bidding_end: int
    reveal_deadline: int
    clearing_deadline: int
    delivery_start: int
    slot_count: int
    slot_minutes: int
    pricing: int
    attestation_quorum: int


@dataclass
class PendingCommit:
    bid_id: str
    seller: str
    session_id: int
    commitment: bytes
    nonce: int
    deadline: int
    signature: bytes
    done: threading.Event = field(default_factory=threading.Event)

    def request(self) -> tuple[Any, ...]:
        return (
            self.seller, self.session_id, self.commitment, self.nonce, self.deadline,
            self.signature,
        )  # fmt: skip


COMMIT_BIDS_FOR = keccak(text="commitBidsFor((address,uint64,bytes32,uint256,uint256,bytes)[])")[:4]


def encode_commit_bids_for(batch: list[PendingCommit]) -> bytes:
    """Calldata of `FlexRelay.commitBidsFor(CommitRequest[])`, by hand: web3's encoder
    spends ~1 ms of Python per request (the relay thread holds the GIL the event loop
    needs). Each request is (address, uint64, bytes32, uint256, uint256, bytes): six head
    words (the last the offset of the signature, 0xc0), its length, its padded bytes."""
    n = len(batch)
    offsets, tails = [], []
    at = 32 * n
    for p in batch:
        sig = p.signature
        padded = sig + bytes(-len(sig) % 32)
        tail = b"".join(
            (
                bytes(12) + bytes.fromhex(p.seller[2:]),
                p.session_id.to_bytes(32, "big"),
                p.commitment,
                p.nonce.to_bytes(32, "big"),
                p.deadline.to_bytes(32, "big"),
                (0xC0).to_bytes(32, "big"),
                len(sig).to_bytes(32, "big"),
                padded,
            )
        )
        offsets.append(at.to_bytes(32, "big"))
        tails.append(tail)
        at += len(tail)
    head = (0x20).to_bytes(32, "big") + n.to_bytes(32, "big")
    return COMMIT_BIDS_FOR + head + b"".join(offsets) + b"".join(tails)


def market_topics(market: Contract) -> dict[str, str]:
    """Each market event's first topic (`0x` hex), by name, from the ABI."""
    from verifier.events import event_signature

    abi: list[dict[str, Any]] = [dict(item) for item in market.abi]
    return {
        str(item["name"]): "0x" + keccak(text=event_signature(item)).hex()
        for item in abi
        if item.get("type") == "event"
    }


class RawCall:
    """A contract call given as calldata, for `Wallet.send_batch` (which asks a call only
    for `build_transaction`, its name, and `call` to replay a failure)."""

    def __init__(self, to: str, data: bytes, fn_name: str, replay: Any) -> None:
        self.to, self.data, self.fn_name = to, data, fn_name
        self._replay = replay  # () -> the web3 function, built only to replay a failure

    def build_transaction(self, tx: dict[str, Any]) -> dict[str, Any]:
        return {**tx, "to": self.to, "data": "0x" + self.data.hex()}

    def call(self, tx: dict[str, Any], block_identifier: Any = "latest") -> Any:
        return self._replay().call(tx, block_identifier=block_identifier)


def check_signer(signer: bytes | None, seller: str) -> None:
    """422 for a signature with no signer, 403 for another signer than the seller."""
    if signer is None:
        raise Problem(422, "bad-signature", "signature: malformed", field="signature",
                      reason="no signer can be recovered")  # fmt: skip
    if signer != bytes.fromhex(seller[2:]):
        # Someone else's signature, or the caller's over other fields: either way the
        # caller may not have it relayed as its own (the seller is always the caller).
        raise Problem(
            403, "not-your-signature", "signature: not the signed-in seller's signature of "
            "this message (chain id, relay, seller, fields, nonce, deadline)",
            field="signature", reason=f"recovered {to_checksum_address(signer)}, not {seller}",
        )  # fmt: skip


def reverted_problem(exc: TransactionReverted) -> Problem:
    args = [a.hex() if isinstance(a, bytes) else a for a in exc.args_]
    return Problem(
        409,
        "chain-refused",
        f"the contract refused the call: {exc.error}",
        extra={"error": exc.error, "error_args": [str(a) for a in args]},
    )


class Gateway:
    def __init__(
        self,
        settings: Settings,
        w3: Web3,
        deployment: Deployment,
        relayer_key: str,
        store: Store,
    ) -> None:
        self.settings = settings
        self.w3 = w3
        self.store = store
        self.deployment = deployment
        self.contracts = Contracts(w3, deployment)
        relay_art = load_artifact("FlexRelay")
        relay_address = self.contracts.market.functions.relay().call()
        self.relay: Contract = w3.eth.contract(address=relay_address, abi=relay_art.abi)
        self.errors = ErrorDecoder(
            [load_artifact(n).abi for n in ("FlexToken", "FlexRegistry", "FlexMarket")]
            + [relay_art.abi]
        )
        self.contracts.errors = self.errors
        self.chain_id = int(w3.eth.chain_id)
        self.domain = RelayDomain(self.chain_id, relay_address)
        self.relayer = Wallet(w3, relayer_key, self.errors)
        self._relayer_lock = threading.Lock()
        self._secret = settings.token_secret.get_secret_value().encode()
        self._roles: dict[tuple[str, str], tuple[bool, float]] = {}
        self._sessions: dict[int, SessionTiming] = {}
        self._opened_at: dict[int, int] = {}  # session -> block of its SessionOpened
        self._topics = market_topics(self.contracts.market)
        self._reserved_nonces: set[tuple[str, int]] = set()  # taken by this API
        self._chain_nonces: set[tuple[str, int]] = set()  # used on chain (the follower)
        self._pending: dict[str, PendingCommit] = {}
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}  # see once()
        self._lock = threading.Lock()
        self._queue: queue.Queue[PendingCommit | None] = queue.Queue()
        self._worker = threading.Thread(target=self._relay_loop, name="bid-relay", daemon=True)
        self._follower = threading.Thread(target=self._follow_loop, name="follow", daemon=True)
        self._stopping = threading.Event()
        self._followed = -1  # the last block whose relay and role logs were read
        self._clock: tuple[int, float] = (0, 0.0)
        self._clock_epoch = 0  # bumped by forget_clock: a read begun before is dropped
        self.relay_stats = {"batches": 0, "bids": 0, "failed": 0, "seconds": 0.0}

    def start(self) -> None:
        # nonces of commits refused earlier stay taken (never handed back), then every
        # nonce used on chain so far, before the first request
        self._reserved_nonces.update(self.store.refused_nonces())
        self._follow_once()
        self._follower.start()
        self._worker.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._worker.join(timeout=30)
        self._follower.join(timeout=5)

    # --- following the chain: its time, used relay nonces, role changes
    def _rpc(self, method: str, params: list[Any]) -> Any:
        reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in reply or "result" not in reply:
            raise Problem(502, "node-failed", f"the node could not answer: {reply.get('error')}")
        return reply["result"]

    def _follow_loop(self) -> None:
        while not self._stopping.wait(self.settings.follow_interval_s):
            try:
                self._follow_once()
            except Exception:  # noqa: BLE001 - a node hiccup: try again next tick
                log.exception("following the chain failed")

    def _follow_once(self) -> None:
        """Read the head block (the chain's time) and, from the blocks not yet read,
        FlexRelay's `Relayed`/`RelayFailed` logs (nonces used on chain, whoever relayed
        them), the registry's role changes (drop the cached answer) and the market's
        `SessionOpened` (where a session's logs begin)."""
        epoch = self._clock_epoch
        head = self._rpc("eth_getBlockByNumber", ["latest", False])
        number = int(head["number"], 16)
        if epoch == self._clock_epoch:
            self._clock = (int(head["timestamp"], 16), time.monotonic())
        while self._followed < number:  # in ranges a node answers (a long chain at start)
            to = min(number, self._followed + FOLLOW_RANGE)
            self._read_logs(self._followed + 1, to)
            self._followed = to

    def _read_logs(self, first: int, last: int) -> None:
        logs = self._rpc(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(first),
                    "toBlock": hex(last),
                    "address": [
                        self.relay.address, self.contracts.registry.address,
                        self.contracts.market.address,
                    ],
                    "topics": [
                        [RELAYED_TOPIC, RELAY_FAILED_TOPIC, ROLE_GRANTED_TOPIC, ROLE_REVOKED_TOPIC,
                         self._topics["SessionOpened"]]
                    ],
                }
            ],
        )  # fmt: skip
        relay = self.relay.address.lower()
        for lg in logs:
            topics = lg["topics"]
            if topics[0] == self._topics["SessionOpened"]:
                self._opened_at.setdefault(int(topics[1], 16), int(lg["blockNumber"], 16))
            elif lg["address"].lower() == relay:
                seller = to_checksum_address("0x" + topics[1][-40:])
                self._chain_nonces.add((seller, int(topics[2], 16)))
            else:
                role = ROLE_BY_ID.get(topics[1])
                if role is not None:
                    self._roles.pop((to_checksum_address("0x" + topics[2][-40:]), role), None)

    @property
    def followed_block(self) -> int:
        """The last block whose relay nonces and role changes this API has read."""
        return self._followed

    # --- reads
    def now(self) -> int:
        """The chain's time (latest block): the follower's reading, read here when older
        than `clock_max_age_s`."""
        value = self.fresh_now()
        if value is None:
            epoch = self._clock_epoch
            value = int(self._rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
            if epoch == self._clock_epoch:
                self._clock = (value, time.monotonic())
        return value

    def fresh_now(self) -> int | None:
        """The chain's time if read in the last `clock_max_age_s` (no chain read), else
        None."""
        value, at = self._clock
        return value if time.monotonic() - at <= self.settings.clock_max_age_s else None

    def forget_clock(self) -> None:
        """Read the chain's time afresh next time (after a local chain was moved)."""
        self._clock_epoch += 1
        self._clock = (0, 0.0)

    def has_role(self, address: str, role: str) -> bool:
        """From the registry (`hasRole`), reused for `role_cache_s` (the follower drops
        an answer as soon as it sees that role granted to or revoked from the address)."""
        hit = self.cached_role(address, role)
        if hit is not None:
            return hit
        value = bool(self.contracts.registry.functions.hasRole(ROLE_IDS[role], address).call())
        self._roles[(address, role)] = (value, time.monotonic())
        return value

    def cached_role(self, address: str, role: str) -> bool | None:
        """The cached `hasRole` answer while fresh (no chain read), else None."""
        hit = self._roles.get((address, role))
        if hit is not None and time.monotonic() - hit[1] < self.settings.role_cache_s:
            return hit[0]
        return None

    def roles_of(self, address: str) -> list[str]:
        return [r for r in (*ROLE_NAMES, "ADMIN") if self.has_role(address, r)]

    def require_role(self, address: str, *roles: str) -> None:
        if not any(self.has_role(address, r) for r in roles):
            raise Problem(
                403, "role-required", f"{address} holds none of the roles {', '.join(roles)}"
            )

    def cached_session(self, session_id: int) -> SessionTiming | None:
        return self._sessions.get(session_id)

    async def once(self, key: tuple[Any, ...], fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker thread, shared by every request that asks for the same
        key meanwhile: fifty requests finding a cache empty make one chain read, not fifty
        (a burst of thread hops and web3 calls that stalls the event loop)."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(run_in_threadpool(fn, *args))
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        return cast(T, await asyncio.shield(task))

    def session(self, session_id: int) -> SessionTiming:
        """A session's fixed timing (cached: it never changes once opened)."""
        found = self._sessions.get(session_id)
        if found is not None:
            return found
        if session_id < 1 or session_id > 2**48 - 1:
            raise Problem(404, "not-found", f"session {session_id} does not exist")
        count = int(self.contracts.market.functions.sessionCount().call())
        if session_id > count:
            raise Problem(404, "not-found", f"session {session_id} does not exist")
        operator, t, *_ = self.contracts.market.functions.session(session_id).call()
        found = SessionTiming(
            session_id, operator, int(t[0]), int(t[1]), int(t[2]), int(t[3]), int(t[4]),
            int(t[5]), int(t[6]), int(t[7]),
        )  # fmt: skip
        self._sessions[session_id] = found
        return found

    def call(self, fn: Any, block: int | None = None) -> Any:
        """A read-only call (at `block`, default the latest); a revert is a 409 problem."""
        try:
            if block is None:
                return self.relayer.call(fn)
            try:
                return fn.call({"from": self.relayer.address}, block_identifier=block)
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                raise self.relayer._reverted(fn, exc) from exc
        except TransactionReverted as exc:
            raise reverted_problem(exc) from exc

    def head(self) -> int:
        """The latest block's number (reads that must agree are made at one block)."""
        return int(self._rpc("eth_blockNumber", []), 16)

    def session_logs(
        self, session_id: int, names: Sequence[str], to_block: int | None = None
    ) -> list[ChainEvent]:
        """The market's events `names` of one session (each has `sessionId` as its first
        indexed argument), decoded, in chain order: from the block that opened the session
        (known from the follower; else the chain's start) to `to_block` (default: the
        head), in ranges of FOLLOW_RANGE blocks."""
        last_block = self.head() if to_block is None else to_block
        first = self._opened_at.get(session_id, 0)
        topics = [[self._topics[n] for n in names], "0x" + session_id.to_bytes(32, "big").hex()]
        out: list[ChainEvent] = []
        while first <= last_block:
            last = min(last_block, first + FOLLOW_RANGE - 1)
            logs = self.w3.eth.get_logs(
                {"fromBlock": first, "toBlock": last, "address": self.contracts.market.address,
                 "topics": topics}
            )  # fmt: skip
            out += self.contracts.decode_logs(cast(Any, {"logs": logs}))
            first = last + 1
        return out

    # --- prepared transactions (participant-signed)
    def _intent_mac(self, sender: str, to: str, data: str, expires: int) -> str:
        text = f"{sender.lower()}|{to.lower()}|{data.lower()}|{expires}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def prepare(self, fns: list[Any], sender: str) -> dict[str, Any]:
        """Unsigned transactions (consecutive nonces) for `sender` to sign, each with an
        intent that `/transactions` requires. Simulated first: a call the contract would
        refuse is answered 409 now, before anything is signed."""
        nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(sender), "pending"))
        gas_price = int(self.w3.eth.gas_price)
        expires = int(time.time()) + 600
        txs = []
        for i, fn in enumerate(fns):
            if i == 0:
                try:
                    gas = int(fn.estimate_gas({"from": sender}) * 1.2) + 20_000
                except Exception as exc:  # noqa: BLE001 - decoded below
                    raise reverted_problem(self.relayer._reverted(fn, exc)) from exc
            else:
                gas = 500_000  # depends on the earlier ones (approve before deposit)
            tx = fn.build_transaction(
                {
                    "from": sender,
                    "chainId": self.chain_id,
                    "gasPrice": gas_price,
                    "gas": gas,
                    "nonce": nonce + i,
                }  # fmt: skip
            )
            to, data = str(tx["to"]), str(tx["data"])
            txs.append(
                {
                    "tx": {
                        "to": to,
                        "data": data,
                        "value": 0,
                        "gas": gas,
                        "gasPrice": gas_price,
                        "nonce": nonce + i,
                        "chainId": self.chain_id,
                    },  # fmt: skip
                    "function": getattr(fn, "fn_name", ""),
                    "intent": f"{expires}.{self._intent_mac(sender, to, data, expires)}",
                }
            )
        return {"sender": sender, "transactions": txs, "submit": "/transactions"}

    def broadcast(self, raw_hex: str, intent: str, subject: str) -> str:
        """Check a transaction the caller signed and broadcast it; its hash. Nothing here
        waits for mining (the route does, briefly, without holding a worker). Refused:
        undecodable (422), someone else's (403), another chain (422), no unexpired intent
        issued to the caller for this call, or one already used (403, 409), a nonce the
        account already used or one beyond its next (409 naming `nonce`: a transaction
        that cannot be mined is never broadcast), a call the contract refuses (409)."""
        try:
            raw = bytes.fromhex(raw_hex.removeprefix("0x"))
            sender = to_checksum_address(Account.recover_transaction(raw))
            to, data, chain_id, nonce = _decode_tx(raw)
        except Exception as exc:  # noqa: BLE001 - any undecodable transaction is the client's
            raise Problem(
                422, "invalid-transaction", "raw_tx: not a signed transaction", field="raw_tx",
                reason=str(exc)[:200],
            ) from exc  # fmt: skip
        if sender != subject:
            raise Problem(403, "not-your-transaction", f"raw_tx: signed by {sender}, not you")
        if chain_id != self.chain_id:
            raise Problem(
                422, "invalid-transaction", f"raw_tx: chain id {chain_id} is not {self.chain_id}",
                field="raw_tx", reason="wrong chain id",
            )  # fmt: skip
        expires_text, _, mac = intent.partition(".")
        expires = int(expires_text) if expires_text.isascii() and expires_text.isdigit() else 0
        good = same_mac(mac, self._intent_mac(sender, to, data, expires))
        if not good or expires < time.time():
            raise Problem(
                403, "intent-mismatch",
                "intent: does not match an unexpired intent issued to you for this call",
                field="intent", reason="no such intent for this sender, target and calldata",
            )  # fmt: skip
        self._check_tx_nonce(sender, nonce)
        try:
            self.w3.eth.call(
                {"from": sender, "to": to, "data": data},  # type: ignore[typeddict-item]
                "pending",
            )
        except Exception as exc:  # noqa: BLE001
            data_ = getattr(exc, "data", None)
            name, args = self.errors.decode(data_ if isinstance(data_, (str, bytes)) else None)
            raise reverted_problem(TransactionReverted("submit", name, args)) from exc
        if not self.store.use_intent(mac, expires, int(time.time())):
            raise Problem(
                409, "intent-used", "intent: already used (an intent is single use: prepare "
                "the call again)", field="intent", reason="already used",
            )  # fmt: skip
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - underpriced, replaced, ...
            self.store.release_intent(mac)  # nothing was broadcast with it
            raise Problem(409, "node-refused", f"the node refused the transaction: {exc}") from exc
        return str(tx_hash.to_0x_hex())

    def _check_tx_nonce(self, sender: str, nonce: int) -> None:
        """A transaction's nonce must be the account's next one (counting its transactions
        waiting in the node's pool): an older one was used, a later one would wait in the
        pool for the gap to fill, maybe for ever."""
        mined = int(self._rpc("eth_getTransactionCount", [sender, "latest"]), 16)
        pending = int(self._rpc("eth_getTransactionCount", [sender, "pending"]), 16)
        if nonce < mined:
            raise Problem(
                409, "nonce-used", f"nonce: {nonce} already used by {sender}; its next nonce "
                f"is {pending}", field="nonce", reason=f"already used; expected {pending}",
                extra={"expected_nonce": pending},
            )  # fmt: skip
        if nonce > pending:
            raise Problem(
                409, "nonce-gap", f"nonce: {nonce} leaves a gap: {sender}'s next nonce is "
                f"{pending} (a transaction after a gap is not mined until the gap is filled)",
                field="nonce", reason=f"expected {pending}", extra={"expected_nonce": pending},
            )  # fmt: skip

    def tx_status(self, tx_hash: str) -> dict[str, Any] | None:
        """A transaction's state: `mined` (with its decoded events), `reverted`, `pending`
        (known to the node, not mined), or None (unknown to the node)."""
        receipt = self._rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            mined = int(receipt["status"], 16) == 1
            events = self.contracts.decode_logs(self.w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            return {
                "tx_hash": tx_hash, "status": "mined" if mined else "reverted",
                "block_number": int(receipt["blockNumber"], 16),
                "events": [_event_json(e) for e in events] if mined else [],
            }  # fmt: skip
        if self._rpc("eth_getTransactionByHash", [tx_hash]):
            return {"tx_hash": tx_hash, "status": "pending", "block_number": None, "events": []}
        return None

    async def wait_mined(self, tx_hash: str, timeout_s: float) -> dict[str, Any] | None:
        """The transaction's state once mined, or None if it is not mined within
        `timeout_s`: polled without holding a worker thread between polls."""
        end = time.monotonic() + timeout_s
        pause = 0.01
        while True:
            receipt = await asyncio.to_thread(self._rpc, "eth_getTransactionReceipt", [tx_hash])
            if receipt:
                return await asyncio.to_thread(self.tx_status, tx_hash)
            if time.monotonic() + pause > end:
                return None
            await asyncio.sleep(pause)
            pause = min(0.25, pause * 1.5)

    # --- relayed: join, reveal (at once), commits (queued, batched)
    def relay_send(self, fn: Any, gas: int | None = None) -> str:
        """Sign and send one relayer transaction (gas estimated when None: a call the
        contract refuses raises TransactionReverted, nothing sent); its hash. The relayer
        lock (its nonce) is held only while signing and sending, never while a receipt
        is awaited."""
        with self._relayer_lock:
            try:
                tx = self.relayer._build(fn, gas, int(self.w3.eth.gas_price))
                raw = bytes(self.relayer.account.sign_transaction(tx).raw_transaction)
                reply = self.relayer._batch([("eth_sendRawTransaction", ["0x" + raw.hex()])])[0]
            except TransactionReverted:
                self.relayer.reset_nonce()
                raise
            except Exception as exc:  # noqa: BLE001 - the node: nothing was sent
                self.relayer.reset_nonce()
                raise ClientError(f"the relayer could not send: {exc}") from exc
            if "error" in reply:
                self.relayer.reset_nonce()
                raise ClientError(f"the node refused the relayer's transaction: {reply['error']}")
            return str(reply["result"])

    def relay_now(self, fn: Any) -> dict[str, Any]:
        """Relay at once and wait for the receipt (the relay thread's fallback only)."""
        try:
            tx_hash = self.relay_send(fn)
            receipt = self.relayer._wait([tx_hash])[0]
        except TransactionReverted as exc:
            raise reverted_problem(exc) from exc
        except ClientError as exc:
            raise Problem(502, "relay-failed", f"the relayer could not send: {exc}") from exc
        if int(receipt["status"], 16) != 1:
            raise Problem(409, "chain-refused", "the relayed transaction reverted when mined",
                          extra={"tx_hash": tx_hash})  # fmt: skip
        out = self.tx_status(tx_hash)
        assert out is not None
        return out

    async def relay_with_nonce(self, seller: str, nonce: int, fn: Any) -> dict[str, Any]:
        """Reserve the seller's nonce and relay at once; answered once mined, or after
        `mined_wait_s` as `pending` (no worker thread waits). A relay that did not happen
        (the contract refused it before or when mined, the node failed) gives the nonce
        back: nothing used it, and a join or reveal is never part of a batch."""
        await run_in_threadpool(self.reserve_nonce, seller, nonce)
        try:
            tx_hash = await run_in_threadpool(self.relay_send, fn)
        except TransactionReverted as exc:
            self.release_nonce(seller, nonce)
            raise reverted_problem(exc) from exc
        except ClientError as exc:
            self.release_nonce(seller, nonce)
            raise Problem(502, "relay-failed", str(exc)) from exc
        mined = await self.wait_mined(tx_hash, self.settings.mined_wait_s)
        if mined is None:
            return {"tx_hash": tx_hash, "status": "pending", "block_number": None, "events": [],
                    "status_url": f"/transactions/{tx_hash}"}  # fmt: skip
        if mined["status"] != "mined":
            self.release_nonce(seller, nonce)
            raise Problem(409, "chain-refused", "the relayed transaction reverted when mined",
                          extra={"tx_hash": tx_hash})  # fmt: skip
        return mined

    def release_nonce(self, seller: str, nonce: int) -> None:
        with self._lock:
            self._reserved_nonces.discard((seller, nonce))

    def _take_nonce(self, seller: str, nonce: int) -> None:
        """Reserve a nonce neither this API took nor the follower saw used on chain
        (in memory: no chain read)."""
        key = (seller, nonce)
        with self._lock:
            if key in self._reserved_nonces or key in self._chain_nonces:
                raise Problem(409, "nonce-used", f"nonce: {nonce} already used", field="nonce",
                              reason="already used")  # fmt: skip
            self._reserved_nonces.add(key)

    def reserve_nonce(self, seller: str, nonce: int) -> None:
        """Refuse a nonce this API already took or the relay already used (asked of the
        chain too: a join or reveal is relayed at once, the exact answer costs nothing)."""
        self._take_nonce(seller, nonce)
        if self.nonce_used_on_chain(seller, nonce):
            self.release_nonce(seller, nonce)  # used on chain: the chain remembers it
            raise Problem(409, "nonce-used", f"nonce: {nonce} already used", field="nonce",
                          reason="already used on chain")  # fmt: skip

    def nonce_used_on_chain(self, seller: str, nonce: int) -> bool:
        """`FlexRelay.nonceUsed` as one raw `eth_call` (web3's contract call costs ~6 ms of
        Python per call; this is on every relayed bid's path)."""
        data = NONCE_USED_SELECTOR + encode(["address", "uint256"], [seller, nonce])
        reply = self.w3.provider.make_request(
            RPCEndpoint("eth_call"),
            [{"to": self.relay.address, "data": "0x" + data.hex()}, "latest"],
        )
        if "error" in reply or not isinstance(reply.get("result"), str):
            raise Problem(502, "node-failed", f"the node could not answer: {reply.get('error')}")
        return int(reply["result"], 16) != 0

    def accept_commit(
        self, seller: str, session_id: int, commitment: bytes, nonce: int, deadline: int,
        signature: bytes, now: int,
    ) -> PendingCommit:  # fmt: skip
        """Check a signed commit (deadline, signature, nonce, not already submitted) and
        queue it; nothing read from the chain. The caller checked role and session."""
        margin = self.settings.min_deadline_margin_s
        if deadline < now + margin:
            raise Problem(
                422, "deadline-too-close",
                f"deadline: must be at least {margin} s after chain time",
                field="deadline", reason="expired or about to expire",
            )  # fmt: skip
        digest = commit_digest(self.domain, seller, session_id, commitment, nonce, deadline)
        check_signer(recover_raw(digest, signature), seller)
        self._take_nonce(seller, nonce)
        # the bid's id on chain: keccak256(abi.encode(seller, commitment)) (hashing.bid_id)
        bid_id = "0x" + keccak(bytes(12) + bytes.fromhex(seller[2:]) + commitment).hex()
        pending = PendingCommit(bid_id, seller, session_id, commitment, nonce, deadline, signature)
        self.enqueue_commit(pending)
        return pending

    def enqueue_commit(self, pending: PendingCommit) -> None:
        with self._lock:
            known = self.store.bid(pending.bid_id)
            if known is not None and known["status"] == "failed":
                self.store.forget_bid(pending.bid_id)  # its relay failed: it may be sent again
                known = None
            if pending.bid_id in self._pending or known is not None:
                self._reserved_nonces.discard((pending.seller, pending.nonce))
                raise Problem(409, "bid-exists", f"bid {pending.bid_id} was already submitted")
            self._pending[pending.bid_id] = pending
        self.store.add_bids(
            [
                (
                    pending.bid_id,
                    pending.session_id,
                    pending.seller,
                    "0x" + pending.commitment.hex(),
                    str(pending.nonce),
                    "queued",
                    time.time(),
                )
            ]  # fmt: skip
        )
        self._queue.put(pending)

    async def wait_commit(self, bid_id: str, timeout_s: float) -> None:
        """Until the commit's batch is mined or `timeout_s` passed, without holding a
        worker thread (a stuck relay must not take the pool with it)."""
        pending = self._pending.get(bid_id)
        end = time.monotonic() + timeout_s
        pause = 0.01
        while pending is not None and not pending.done.is_set() and time.monotonic() < end:
            await asyncio.sleep(pause)
            pause = min(0.1, pause * 1.5)

    def nonce_taken(self, seller: str, nonce: int) -> bool:
        """Whether a relay nonce is taken: by this API (accepted, relayed or refused) or on
        chain as the follower saw it."""
        with self._lock:
            key = (seller, nonce)
            return key in self._reserved_nonces or key in self._chain_nonces

    def _relay_loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.settings.relay_batch_wait_s
            while len(batch) < self.settings.relay_batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                self._send_batch(batch)
            except Exception:  # noqa: BLE001 - the loop must survive; each bid says why
                log.exception("bid relay batch failed")
                self._finish([p for p in batch if not p.done.is_set()], "failed", None,
                             "relay error")  # fmt: skip

    def _send_batch(self, batch: list[PendingCommit]) -> None:
        """Send a batch as one `commitBidsFor`. A commit the market refuses is skipped by
        the relay (`RelayFailed`); should the batch revert all the same (a commit the relay
        itself refuses: the chain moved since the API checked it), the commits the relay
        refuses now are found by one `eth_call` each, marked `failed` and dropped, and the
        rest is sent again as one batch: a bad commit costs the others one block, not one
        block each. A refused commit's nonce is never handed back (`nonce_taken`): the same
        signed message cannot come back to poison the next batch."""
        started = time.perf_counter()
        for _ in range(RELAY_ROUNDS):
            raw = self._send_commits(batch)
            if raw is not None:
                self._settle_batch(batch, raw)
                break
            refused = self._refused_alone(batch)
            for p, reason in refused:
                self._finish([p], "failed", None, reason)
            bad = {id(p) for p, _ in refused}
            batch = [p for p in batch if id(p) not in bad]
            if not batch:
                break
            if not refused:  # each passes alone, the batch does not: send them alone
                for p in batch:
                    try:
                        out = self.relay_now(self.relay.functions.commitBidFor(p.request()))
                        self._finish([p], "committed", out["tx_hash"], None)
                    except Problem as exc:
                        self._finish([p], "failed", None, exc.extra.get("error", exc.detail))
                break
        else:
            self._finish(batch, "failed", None, "relay batch kept reverting")
        self.relay_stats["seconds"] += time.perf_counter() - started

    def _send_commits(self, batch: list[PendingCommit]) -> dict[str, Any] | None:
        """One `commitBidsFor` transaction: its raw receipt, or None if it reverted. A
        node that refused the transaction (nonce, fees) is asked once more."""
        fn = RawCall(
            self.relay.address, encode_commit_bids_for(batch), "commitBidsFor",
            lambda: self.relay.functions.commitBidsFor([p.request() for p in batch]),
        )  # fmt: skip
        gas = COMMIT_GAS_BASE + COMMIT_GAS_PER_BID * len(batch)
        for attempt in range(2):
            try:
                tx_hash = self.relay_send(fn, gas)
                break
            except ClientError:
                if attempt:
                    raise
        receipt = self.relayer._wait([tx_hash])[0]  # this thread's wait: no lock held
        if int(receipt["status"], 16) != 1:
            return None
        self.relayer.gas_log.add("commitBidsFor", int(receipt["gasUsed"], 16))
        return receipt

    def _refused_alone(self, batch: list[PendingCommit]) -> list[tuple[PendingCommit, str]]:
        """The commits of `batch` that `commitBidFor` refuses alone now (one JSON-RPC batch
        of `eth_call`s, nothing mined), each with the contract's reason."""
        calls = [
            ("eth_call", [{"from": self.relayer.address, "to": self.relay.address,
                           "data": self.relay.functions.commitBidFor(p.request())
                           ._encode_transaction_data()}, "latest"])
            for p in batch
        ]  # fmt: skip
        refused = []
        for p, reply in zip(batch, self.relayer._batch(calls), strict=True):
            error = reply.get("error")
            if error is not None:
                data = error.get("data") if isinstance(error, dict) else None
                if isinstance(data, dict):
                    data = data.get("data")
                name = self.errors.decode(data if isinstance(data, (str, bytes)) else None)[0]
                refused.append((p, name))
        return refused

    def _settle_batch(self, batch: list[PendingCommit], raw: dict[str, Any]) -> None:
        """Each commit of a mined batch: `committed`, or `failed` with the reason its
        `RelayFailed` log gives."""
        failed: dict[tuple[str, int], str] = {}
        relay = self.relay.address.lower()
        for log_ in raw["logs"]:  # the raw receipt: only RelayFailed logs are decoded
            if log_["address"].lower() != relay or log_["topics"][0] != RELAY_FAILED_TOPIC:
                continue
            # RelayFailed(address indexed seller, uint256 indexed nonce, bytes reason)
            seller = to_checksum_address("0x" + log_["topics"][1][-40:])
            nonce = int(log_["topics"][2], 16)
            (reason,) = decode(["bytes"], bytes.fromhex(log_["data"][2:]))
            failed[(seller, nonce)] = self.errors.decode(bytes(reason))[0]
        tx_hash = raw["transactionHash"]
        ok = [p for p in batch if (p.seller, p.nonce) not in failed]
        self._finish(ok, "committed", tx_hash, None)
        for p in batch:
            if (p.seller, p.nonce) in failed:
                self._finish([p], "failed", tx_hash, failed[(p.seller, p.nonce)])
        self.relay_stats["batches"] += 1
        self.relay_stats["bids"] += len(batch)
        self.relay_stats["failed"] += len(failed)

    def _finish(
        self, items: list[PendingCommit], status: str, tx_hash: str | None, error: str | None
    ) -> None:
        """Record the outcome. A failed commit keeps its nonce taken (not handed back)."""
        self.store.set_bid_status([(status, tx_hash, error, p.bid_id) for p in items])
        with self._lock:
            for p in items:
                self._pending.pop(p.bid_id, None)
        for p in items:
            p.done.set()


def _decode_tx(raw: bytes) -> tuple[str, str, int, int]:
    """(to, data, chain id, nonce) of a signed legacy (EIP-155) or typed (EIP-2930,
    EIP-1559) transaction."""
    if raw and raw[0] <= 0x7F:
        d = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        to = d.get("to") or b""
        to_text = to if isinstance(to, str) else "0x" + bytes(to).hex()
        data = d.get("data") or b""
        data_text = data if isinstance(data, str) else "0x" + bytes(data).hex()
        return to_checksum_address(to_text), data_text, int(d["chainId"]), int(d["nonce"])
    fields = rlp.decode(raw)
    v = int.from_bytes(fields[6], "big")
    if v < 35:
        raise ValueError("transaction without EIP-155 chain id")
    return (
        to_checksum_address(fields[3]), "0x" + bytes(fields[5]).hex(), (v - 35) // 2,
        int.from_bytes(fields[0], "big"),
    )  # fmt: skip


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):  # web3's AttributeDict (struct arguments) too
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def _event_json(e: ChainEvent) -> dict[str, Any]:
    out = {
        "name": e.name,
        "args": _jsonable(e.args),
        "block_number": e.block_number,
        "tx_hash": e.tx_hash,
        "log_index": e.log_index,
    }
    if e.name == "CoordinationPublished":  # the published JSON too, when it is JSON
        import json

        try:
            out["coordination"] = json.loads(bytes(e.args["coordination"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            out["coordination"] = None
    return out
