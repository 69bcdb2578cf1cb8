"""Prepared transactions: the API checks a request, answers unsigned transactions with an
`intent` each (HMAC of sender, target, calldata and expiry); the participant signs them with
its own wallet and posts them back (`broadcast`), where only a transaction matching an
unused, unexpired intent issued to that caller, with the account's next nonce, is simulated
and sent. So a client can send only the calls the API authorised, with the fields it
checked, and the API never holds a participant's key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from typing import Any

import rlp
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from api.auth import same_mac
from api.problems import Problem, reverted_problem
from api.reads import ChainReads
from api.store import Store
from api.wire import event_json
from python_client.chain import ErrorDecoder, Wallet
from python_client.errors import TransactionReverted

INTENT_TTL_S = 600
LATER_GAS = 500_000  # a prepared call after the first depends on it (approve, then deposit)


def decode_tx(raw: bytes) -> tuple[str, str, int, int]:
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


class PreparedTransactions:
    def __init__(
        self, w3: Web3, reads: ChainReads, caller: Wallet, errors: ErrorDecoder, store: Store,
        secret: bytes, chain_id: int,
    ) -> None:  # fmt: skip
        self.w3 = w3
        self._reads = reads
        self._caller = caller  # decodes a simulated call's refusal
        self._errors = errors
        self._store = store  # intents are single use: one INSERT decides
        self._secret = secret
        self.chain_id = chain_id

    def _intent_mac(self, sender: str, to: str, data: str, expires: int) -> str:
        text = f"{sender.lower()}|{to.lower()}|{data.lower()}|{expires}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def prepare(self, fns: list[Any], sender: str) -> dict[str, Any]:
        """Unsigned transactions (consecutive nonces) for `sender` to sign, each with an
        intent that `/transactions` requires. Simulated first: a call the contract would
        refuse is answered 409 now, before anything is signed."""
        nonce = int(self.w3.eth.get_transaction_count(to_checksum_address(sender), "pending"))
        gas_price = int(self.w3.eth.gas_price)
        expires = int(time.time()) + INTENT_TTL_S
        txs = []
        for i, fn in enumerate(fns):
            if i == 0:
                try:
                    gas = int(fn.estimate_gas({"from": sender}) * 1.2) + 20_000
                except Exception as exc:  # noqa: BLE001 - decoded below
                    raise reverted_problem(self._caller._reverted(fn, exc)) from exc
            else:
                gas = LATER_GAS
            tx = fn.build_transaction(
                {"from": sender, "chainId": self.chain_id, "gasPrice": gas_price, "gas": gas,
                 "nonce": nonce + i}
            )  # fmt: skip
            to, data = str(tx["to"]), str(tx["data"])
            txs.append(
                {
                    "tx": {
                        "to": to, "data": data, "value": 0, "gas": gas, "gasPrice": gas_price,
                        "nonce": nonce + i, "chainId": self.chain_id,
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
            to, data, chain_id, nonce = decode_tx(raw)
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
        self.check_nonce(sender, nonce)
        try:
            self.w3.eth.call(
                {"from": sender, "to": to, "data": data},  # type: ignore[typeddict-item]
                "pending",
            )
        except Exception as exc:  # noqa: BLE001
            data_ = getattr(exc, "data", None)
            name, args = self._errors.decode(data_ if isinstance(data_, (str, bytes)) else None)
            raise reverted_problem(TransactionReverted("submit", name, args)) from exc
        if not self._store.use_intent(mac, expires, int(time.time())):
            raise Problem(
                409, "intent-used", "intent: already used (an intent is single use: prepare "
                "the call again)", field="intent", reason="already used",
            )  # fmt: skip
        try:
            tx_hash = self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:  # noqa: BLE001 - underpriced, replaced, ...
            self._store.release_intent(mac)  # nothing was broadcast with it
            raise Problem(409, "node-refused", f"the node refused the transaction: {exc}") from exc
        return str(tx_hash.to_0x_hex())

    def check_nonce(self, sender: str, nonce: int) -> None:
        """A transaction's nonce must be the account's next one (counting its transactions
        waiting in the node's pool): an older one was used, a later one would wait in the
        pool for the gap to fill, maybe for ever."""
        mined = int(self._reads.rpc("eth_getTransactionCount", [sender, "latest"]), 16)
        pending = int(self._reads.rpc("eth_getTransactionCount", [sender, "pending"]), 16)
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

    def status(self, tx_hash: str) -> dict[str, Any] | None:
        """A transaction's state: `mined` (with its decoded events), `reverted`, `pending`
        (known to the node, not mined), or None (unknown to the node)."""
        receipt = self._reads.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt:
            mined = int(receipt["status"], 16) == 1
            full = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
            events = self._reads.contracts.decode_logs(full)
            return {
                "tx_hash": tx_hash, "status": "mined" if mined else "reverted",
                "block_number": int(receipt["blockNumber"], 16),
                "events": [event_json(e) for e in events] if mined else [],
            }  # fmt: skip
        if self._reads.rpc("eth_getTransactionByHash", [tx_hash]):
            return {"tx_hash": tx_hash, "status": "pending", "block_number": None, "events": []}
        return None

    async def wait_mined(self, tx_hash: str, timeout_s: float) -> dict[str, Any] | None:
        """The transaction's state once mined, or None if it is not mined within
        `timeout_s`: polled without holding a worker thread between polls."""
        end = time.monotonic() + timeout_s
        pause = 0.01
        # not a retry (python_client.retry): polling for a receipt until a deadline
        while True:
            receipt = await asyncio.to_thread(
                self._reads.rpc, "eth_getTransactionReceipt", [tx_hash]
            )
            if receipt:
                return await asyncio.to_thread(self.status, tx_hash)
            if time.monotonic() + pause > end:
                return None
            await asyncio.sleep(pause)
            pause = min(0.25, pause * 1.5)
