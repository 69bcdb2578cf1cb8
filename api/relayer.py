"""The API's relayer: the one account that sends relayed messages (joins, reveals, commit
batches) to FlexRelay and pays their gas. Its transaction nonce lives in this process, so
its lock is held only while a transaction is signed and sent, never while a receipt is
awaited (forty slow transactions leave the thread pool to the other routes)."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from web3 import Web3
from web3.contract import Contract

from api.problems import Problem, reverted_problem
from api.relay_nonces import RelayNonces
from python_client.chain import Wallet
from python_client.errors import ClientError, TransactionReverted

WaitMined = Callable[[str, float], Awaitable[dict[str, Any] | None]]
TxStatus = Callable[[str], dict[str, Any] | None]


class Relayer:
    def __init__(
        self, w3: Web3, wallet: Wallet, relay: Contract, nonces: RelayNonces,
        wait_mined: WaitMined, status: TxStatus, wait_s: float,
    ) -> None:  # fmt: skip
        self.w3 = w3
        self.wallet = wallet
        self.relay = relay
        self.lock = threading.Lock()  # the relayer's transaction nonce
        self._nonces = nonces
        self._wait_mined = wait_mined  # polls on the event loop (PreparedTransactions)
        self._status = status  # a mined transaction's state and events
        self._wait_s = wait_s  # how long a relayed-at-once route waits for mining

    @property
    def address(self) -> str:
        return self.wallet.address

    def send(self, fn: Any, gas: int | None = None) -> str:
        """Sign and send one relayer transaction (gas estimated when None: a call the
        contract refuses raises TransactionReverted, nothing sent); its hash."""
        with self.lock:
            try:
                tx = self.wallet._build(fn, gas, int(self.w3.eth.gas_price))
                raw = bytes(self.wallet.account.sign_transaction(tx).raw_transaction)
                reply = self.wallet._batch([("eth_sendRawTransaction", ["0x" + raw.hex()])])[0]
            except TransactionReverted:
                self.wallet.reset_nonce()
                raise
            except Exception as exc:  # noqa: BLE001 - the node: nothing was sent
                self.wallet.reset_nonce()
                raise ClientError(f"the relayer could not send: {exc}") from exc
            if "error" in reply:
                self.wallet.reset_nonce()
                raise ClientError(f"the node refused the relayer's transaction: {reply['error']}")
            return str(reply["result"])

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """The raw receipt, waited for in this thread (no lock held)."""
        return self.wallet._wait([tx_hash])[0]

    def send_and_wait(self, fn: Any) -> dict[str, Any]:
        """Relay at once and wait for the receipt (the relay thread's fallback only)."""
        try:
            tx_hash = self.send(fn)
            receipt = self.receipt(tx_hash)
        except TransactionReverted as exc:
            raise reverted_problem(exc) from exc
        except ClientError as exc:
            raise Problem(502, "relay-failed", f"the relayer could not send: {exc}") from exc
        if int(receipt["status"], 16) != 1:
            raise Problem(409, "chain-refused", "the relayed transaction reverted when mined",
                          extra={"tx_hash": tx_hash})  # fmt: skip
        out = self._status(tx_hash)
        if out is None:  # mined a moment ago, unknown now: the node lost it (a reorg)
            raise Problem(502, "relay-failed", "the node no longer knows the relayed "
                          "transaction", extra={"tx_hash": tx_hash})  # fmt: skip
        return out

    async def relay_with_nonce(
        self, seller: str, nonce: int, fn: Any, gas: int | None = None
    ) -> dict[str, Any]:
        """Reserve the seller's nonce and relay at once; answered once mined, or after
        `mined_wait_s` as `pending` (no worker thread waits). A relay that did not happen (the
        contract refused it before or when mined, the node failed) gives the nonce back:
        nothing used it, and a join or reveal is never part of a batch. `gas` None:
        estimated."""
        nonces = self._nonces
        await run_in_threadpool(nonces.reserve, seller, nonce)
        try:
            tx_hash = await run_in_threadpool(self.send, fn, gas)
        except TransactionReverted as exc:
            nonces.release(seller, nonce)
            raise reverted_problem(exc) from exc
        except ClientError as exc:
            nonces.release(seller, nonce)
            raise Problem(502, "relay-failed", str(exc)) from exc
        mined = await self._wait_mined(tx_hash, self._wait_s)
        if mined is None:
            return {"tx_hash": tx_hash, "status": "pending", "block_number": None, "events": [],
                    "status_url": f"/transactions/{tx_hash}"}  # fmt: skip
        if mined["status"] != "mined":
            nonces.release(seller, nonce)
            raise Problem(409, "chain-refused", "the relayed transaction reverted when mined",
                          extra={"tx_hash": tx_hash})  # fmt: skip
        return mined
