"""Relay nonces: which (seller, nonce) pairs FlexRelay may still use, as this API knows it.

`FlexRelay` keeps each seller's used nonces (bitmap words shared by joins, commits and
reveals). A nonce is taken when this API accepted a message with it (`take`, in memory: the
commit route's hot path reads nothing from the chain) or when the chain follower saw it used
on chain (`saw_used`, whoever relayed it). A join or reveal, relayed at once, also asks the
chain (`reserve`: the exact answer costs nothing there). A nonce is given back (`release`)
only when nothing used it; a commit the chain refused keeps its nonce (`keep`, also for the
refused commits in the store at start), so the same signed message cannot come back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import RPCEndpoint

from api.problems import Problem

NONCE_USED_SELECTOR = keccak(text="nonceUsed(address,uint256)")[:4]
# FlexRelay's logs of a used nonce (seller and nonce indexed), whoever relayed it
RELAYED_TOPIC = "0x" + keccak(text="Relayed(address,uint256)").hex()
RELAY_FAILED_TOPIC = "0x" + keccak(text="RelayFailed(address,uint256,bytes)").hex()


def _used(nonce: int, reason: str) -> Problem:
    return Problem(409, "nonce-used", f"nonce: {nonce} already used", field="nonce", reason=reason)


class RelayNonces:
    def __init__(self, used_on_chain: Callable[[str, int], bool]) -> None:
        self._used_on_chain = used_on_chain  # FlexRelay.nonceUsed, asked of the node
        self._lock = threading.Lock()
        self._reserved: set[tuple[str, int]] = set()  # taken by this API
        self._on_chain: set[tuple[str, int]] = set()  # used on chain (the follower's reading)

    def take(self, seller: str, nonce: int) -> None:
        """Reserve a nonce neither this API took nor the follower saw used (409 otherwise;
        in memory, no chain read). Atomic: of two racing takes of one nonce, one wins."""
        key = (seller, nonce)
        with self._lock:
            if key in self._reserved or key in self._on_chain:
                raise _used(nonce, "already used")
            self._reserved.add(key)

    def reserve(self, seller: str, nonce: int) -> None:
        """`take`, then ask the chain too (a nonce used there is refused and not kept: the
        chain remembers it)."""
        self.take(seller, nonce)
        if self._used_on_chain(seller, nonce):
            self.release(seller, nonce)
            raise _used(nonce, "already used on chain")

    def release(self, seller: str, nonce: int) -> None:
        """Give a nonce back: nothing used it (a relay that did not happen)."""
        with self._lock:
            self._reserved.discard((seller, nonce))

    def keep(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Hold nonces taken for good (commits refused earlier), checked or not."""
        with self._lock:
            self._reserved.update(pairs)

    def saw_used(self, seller: str, nonce: int) -> None:
        """The follower saw FlexRelay use this nonce (`Relayed` or `RelayFailed`)."""
        with self._lock:
            self._on_chain.add((seller, nonce))

    def taken(self, seller: str, nonce: int) -> bool:
        """Taken by this API (accepted, relayed or refused) or used on chain as seen."""
        key = (seller, nonce)
        with self._lock:
            return key in self._reserved or key in self._on_chain


def nonce_used_on_chain(w3: Web3, relay: str, seller: str, nonce: int) -> bool:
    """`FlexRelay.nonceUsed` as one raw `eth_call` (web3's contract call costs ~6 ms of
    Python per call; this is on every join's and reveal's path)."""
    data = NONCE_USED_SELECTOR + encode(["address", "uint256"], [seller, nonce])
    reply = w3.provider.make_request(
        RPCEndpoint("eth_call"), [{"to": relay, "data": "0x" + data.hex()}, "latest"]
    )
    if "error" in reply or not isinstance(reply.get("result"), str):
        raise Problem(502, "node-failed", f"the node could not answer: {reply.get('error')}")
    return int(reply["result"], 16) != 0
