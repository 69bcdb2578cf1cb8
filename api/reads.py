"""Reading the chain: raw JSON-RPC, contract calls at one block, a session's fixed timing
(cached: it never changes once opened), a session's logs, and one read shared by every
request that needs it meanwhile (`once`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from eth_utils.crypto import keccak
from starlette.concurrency import run_in_threadpool
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import RPCEndpoint

from api.problems import Problem, reverted_problem
from python_client.chain import Contracts, Wallet
from python_client.contract_types import SessionView
from python_client.errors import TransactionReverted
from python_client.records import ChainEvent

T = TypeVar("T")
FOLLOW_RANGE = 10_000  # blocks per eth_getLogs (the follower's, and the session log reads)
MAX_SESSION_ID = 2**48 - 1
ZERO_ADDRESS = "0x" + "0" * 40  # an unset address in storage (an asset not registered)


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


def market_topics(market: Contract) -> dict[str, str]:
    """Each market event's first topic (`0x` hex), by name, from the ABI."""
    from verifier.events import event_signature

    abi: list[dict[str, Any]] = [dict(item) for item in market.abi]
    return {
        str(item["name"]): "0x" + keccak(text=event_signature(item)).hex()
        for item in abi
        if item.get("type") == "event"
    }


class ChainReads:
    def __init__(self, w3: Web3, contracts: Contracts, caller: Wallet) -> None:
        self.w3 = w3
        self.contracts = contracts
        self._caller = caller  # reads are made `from` it; it decodes a revert's error
        self.topics = market_topics(contracts.market)
        self._sessions: dict[int, SessionTiming] = {}
        self._opened_at: dict[int, int] = {}  # session -> block of its SessionOpened
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}  # see once()

    def rpc(self, method: str, params: list[Any]) -> Any:
        """One JSON-RPC call's result; a node error is a 502."""
        reply = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in reply or "result" not in reply:
            raise Problem(502, "node-failed", f"the node could not answer: {reply.get('error')}")
        return reply["result"]

    def head(self) -> int:
        """The latest block's number (reads that must agree are made at one block)."""
        return int(self.rpc("eth_blockNumber", []), 16)

    def head_timestamp(self) -> int:
        """The latest block's timestamp: the chain's time."""
        return int(self.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def call(self, fn: Any, block: int | None = None) -> Any:
        """A read-only call (at `block`, default the latest); a revert is a 409 problem."""
        try:
            if block is None:
                return self._caller.call(fn)
            try:
                return fn.call({"from": self._caller.address}, block_identifier=block)
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                raise self._caller._reverted(fn, exc) from exc
        except TransactionReverted as exc:
            raise reverted_problem(exc) from exc

    def has_role(self, address: str, role_id: bytes) -> bool:
        """The registry's `hasRole`, read now."""
        registry = self.contracts.registry.functions
        return bool(registry.hasRole(role_id, address).call())

    # --- sessions
    def cached_session(self, session_id: int) -> SessionTiming | None:
        return self._sessions.get(session_id)

    def session(self, session_id: int) -> SessionTiming:
        """A session's fixed timing (cached: it never changes once opened); 404 if none."""
        found = self._sessions.get(session_id)
        if found is not None:
            return found
        if session_id < 1 or session_id > MAX_SESSION_ID:
            raise Problem(404, "not-found", f"session {session_id} does not exist")
        count = int(self.contracts.market.functions.sessionCount().call())
        if session_id > count:
            raise Problem(404, "not-found", f"session {session_id} does not exist")
        view = SessionView.from_abi(self.contracts.market.functions.session(session_id).call())
        t = view.timing
        found = SessionTiming(
            session_id, view.operator, t.bidding_end, t.reveal_deadline, t.clearing_deadline,
            t.delivery_start, t.slot_count, t.slot_minutes, t.pricing, t.attestation_quorum,
        )  # fmt: skip
        self._sessions[session_id] = found
        return found

    def session_opened(self, session_id: int, block: int) -> None:
        """The follower saw `SessionOpened` of `session_id` in `block`."""
        self._opened_at.setdefault(session_id, block)

    def session_logs(
        self, session_id: int, names: Sequence[str], to_block: int | None = None
    ) -> list[ChainEvent]:
        """The market's events `names` of one session (each has `sessionId` as its first
        indexed argument), decoded, in chain order: from the block that opened the session
        (known from the follower; else the chain's start) to `to_block` (default: the
        head), in ranges of FOLLOW_RANGE blocks."""
        last_block = self.head() if to_block is None else to_block
        first = self._opened_at.get(session_id, 0)
        topics = [[self.topics[n] for n in names], "0x" + session_id.to_bytes(32, "big").hex()]
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
