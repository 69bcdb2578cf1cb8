"""A participant's connection to the chain: web3.py with the participant's own key.

The key never leaves this process: transactions are signed here and sent raw
(`eth_sendRawTransaction`); the node holds no key. Reverts are decoded into the contract's
custom error name (:class:`TransactionReverted`). Many transactions can be signed with
consecutive nonces and sent in one batched JSON-RPC request (:meth:`Wallet.send_batch`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.types import TxReceipt

from python_client.artifacts import load_artifact
from python_client.errors import ClientError, DeploymentError, TransactionReverted
from python_client.paths import ARTIFACTS_DIR
from python_client.records import ChainEvent, GasLog

CONTRACTS = ("FlexToken", "FlexRegistry", "FlexMarket")
RECEIPT_POLL_S = 0.02
BATCH_SIZE = 500  # requests per JSON-RPC batch


def _abi_type(item: dict[str, Any]) -> str:
    if item["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in item["components"])
        return f"({inner}){item['type'][5:]}"
    return str(item["type"])


class ErrorDecoder:
    """Maps 4-byte selectors of every custom error in the ABIs to names and types."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    types = [_abi_type(i) for i in item["inputs"]]
                    signature = f"{item['name']}({','.join(types)})"
                    self._errors[function_signature_to_4byte_selector(signature)] = (
                        item["name"],
                        types,
                    )

    def decode(self, data: bytes | str | None) -> tuple[str, tuple[Any, ...]]:
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if not data or len(data) < 4:
            return ("Revert", ())
        if data[:4] == bytes.fromhex("08c379a0"):
            return ("Error", tuple(decode(["string"], data[4:])))
        if data[:4] == bytes.fromhex("4e487b71"):
            return ("Panic", tuple(decode(["uint256"], data[4:])))
        name, types = self._errors.get(data[:4], (f"0x{data[:4].hex()}", []))
        try:
            return (name, tuple(decode(types, data[4:])))
        except Exception:  # noqa: BLE001 - undecodable arguments still name the error
            return (name, ())


@dataclass(frozen=True)
class Deployment:
    """Addresses of the three contracts on one chain."""

    chain_id: int
    token: str
    registry: str
    market: str

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "contracts": {
                "FlexToken": self.token,
                "FlexRegistry": self.registry,
                "FlexMarket": self.market,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        c = data["contracts"]
        return cls(int(data["chain_id"]), c["FlexToken"], c["FlexRegistry"], c["FlexMarket"])

    @classmethod
    def load(cls, path: Path) -> Deployment:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


class Contracts:
    """web3 contract objects of a deployment, with their ABIs from build/artifacts."""

    def __init__(self, w3: Web3, deployment: Deployment, artifacts_dir: Path | None = None):
        self.w3 = w3
        self.deployment = deployment
        arts = {name: load_artifact(name, artifacts_dir or ARTIFACTS_DIR) for name in CONTRACTS}
        self.token: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.token), abi=arts["FlexToken"].abi
        )
        self.registry: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.registry), abi=arts["FlexRegistry"].abi
        )
        self.market: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.market), abi=arts["FlexMarket"].abi
        )
        self.errors = ErrorDecoder([a.abi for a in arts.values()])
        self._by_address = {c.address.lower(): c for c in (self.token, self.registry, self.market)}
        self._topics: dict[bytes, tuple[Contract, str]] = {}
        for contract, name in (
            (self.token, "FlexToken"),
            (self.registry, "FlexRegistry"),
            (self.market, "FlexMarket"),
        ):
            for item in arts[name].abi:
                if item.get("type") == "event":
                    sig = f"{item['name']}({','.join(_abi_type(i) for i in item['inputs'])})"
                    self._topics[keccak(text=sig)] = (contract, item["name"])

    def decode_logs(self, receipt: TxReceipt) -> list[ChainEvent]:
        """Every log of our contracts in a receipt, decoded."""
        events = []
        for log in receipt["logs"]:
            if log["address"].lower() not in self._by_address or not log["topics"]:
                continue
            found = self._topics.get(bytes(log["topics"][0]))
            if found is None:
                continue
            contract, name = found
            decoded = contract.events[name]().process_log(log)
            events.append(
                ChainEvent(
                    name=name,
                    args=dict(decoded["args"]),
                    address=log["address"],
                    block_number=int(log["blockNumber"]),
                    tx_hash=log["transactionHash"].to_0x_hex(),
                    log_index=int(log["logIndex"]),
                )
            )
        return events


def _kind(fn: Any) -> str:
    """Call kind for gas figures and errors: the function name, or "deploy:<Contract>"."""
    return str(getattr(fn, "fn_name", None) or "constructor")


class Wallet:
    """A participant's key and the transactions it sends."""

    def __init__(
        self,
        w3: Web3,
        private_key: str,
        errors: ErrorDecoder | None = None,
        gas_log: GasLog | None = None,
    ) -> None:
        self.w3 = w3
        self.account: LocalAccount = Account.from_key(private_key)
        self.address = Web3.to_checksum_address(self.account.address)
        self.errors = errors or ErrorDecoder([])
        self.gas_log = gas_log if gas_log is not None else GasLog()
        self.sent: list[str] = []  # hashes of every transaction mined for this wallet, in order
        self._chain_id = w3.eth.chain_id
        self._nonce: int | None = None

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        nonce = self._nonce
        self._nonce += 1
        return nonce

    def reset_nonce(self) -> None:
        self._nonce = None

    def _reverted(self, fn: Any, exc: Exception) -> TransactionReverted:
        data = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        name, args = self.errors.decode(data if isinstance(data, (str, bytes)) else None)
        return TransactionReverted(_kind(fn), name, args)

    def call(self, fn: ContractFunction) -> Any:
        """A read-only call from this wallet's address."""
        try:
            return fn.call({"from": self.address})
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self._reverted(fn, exc) from exc

    def _build(self, fn: Any, gas: int | None, gas_price: int) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "from": self.address,
            "chainId": self._chain_id,
            "gasPrice": gas_price,
        }
        if gas is None:
            try:
                gas = int(fn.estimate_gas({"from": self.address}) * 1.2) + 20_000
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                raise self._reverted(fn, exc) from exc
        tx["gas"] = gas
        built = fn.build_transaction(tx)
        built["nonce"] = self._next_nonce()
        return dict(built)

    def transact(self, fn: Any, gas: int | None = None, kind: str | None = None) -> TxReceipt:
        """Sign, send, wait for the receipt; raise TransactionReverted on failure. `kind`
        names the call in the gas log (default: the function name)."""
        raw = self.send_batch([fn], gas=gas, kind=kind)[0]
        return self.w3.eth.get_transaction_receipt(raw["transactionHash"])

    def send_batch(
        self, fns: list[Any], gas: int | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Sign every call with consecutive nonces, send them in batched JSON-RPC requests
        and wait for all receipts (raw JSON: hex fields). `gas` None: estimated per call.
        Raises TransactionReverted for the first that failed.

        Transactions go in groups whose gas limits fit one block: a node that mines on
        arrival (anvil's automine) leaves no pending remainder waiting for a next arrival."""
        gas_price = self.w3.eth.gas_price
        block_gas = int(self.w3.eth.get_block("latest")["gasLimit"] * 0.9)
        groups: list[list[tuple[Any, bytes]]] = [[]]
        group_gas = 0
        for fn in fns:
            tx = self._build(fn, gas, gas_price)
            if groups[-1] and group_gas + tx["gas"] > block_gas:
                groups.append([])
                group_gas = 0
            groups[-1].append((fn, self.account.sign_transaction(tx).raw_transaction))
            group_gas += tx["gas"]
        receipts: list[dict[str, Any]] = []
        for group in groups:
            calls = [("eth_sendRawTransaction", ["0x" + raw.hex()]) for _, raw in group]
            replies = self._batch(calls)
            failed = [r["error"] for r in replies if "error" in r]
            if failed:
                self.reset_nonce()
                raise ClientError(f"node refused {len(failed)} transactions: {failed[0]}")
            group_receipts = self._wait([r["result"] for r in replies])
            for (fn, _), receipt in zip(group, group_receipts, strict=True):
                if int(receipt["status"], 16) != 1:
                    self.reset_nonce()
                    raise self._replay_failure(fn, int(receipt["blockNumber"], 16))
                self.gas_log.add(kind or _kind(fn), int(receipt["gasUsed"], 16))
                self.sent.append(receipt["transactionHash"])
            receipts += group_receipts
        return receipts

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One JSON-RPC batch (web3.py refuses eth_sendRawTransaction in its own batches)."""
        replies: list[dict[str, Any]] = []
        for i in range(0, len(calls), BATCH_SIZE):
            chunk = calls[i : i + BATCH_SIZE]
            answer = self.w3.provider.make_batch_request(chunk)  # type: ignore[attr-defined]
            if isinstance(answer, dict):  # the node refused the whole batch
                raise ClientError(f"batch request failed: {answer.get('error')}")
            by_id = sorted(answer, key=lambda r: int(r["id"]))
            replies += [dict(r) for r in by_id]
        return replies

    def _wait(self, hashes: list[str], timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Raw receipts (hex fields) of `hashes`, polled in batches."""
        receipts: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        # not a retry (python_client.retry): polling for receipts until a deadline
        while True:
            missing = [i for i in range(len(hashes)) if i not in receipts]
            if not missing:
                return [receipts[i] for i in range(len(hashes))]
            replies = self._batch([("eth_getTransactionReceipt", [hashes[i]]) for i in missing])
            for i, reply in zip(missing, replies, strict=True):
                if reply.get("result"):
                    receipts[i] = reply["result"]
            if len(receipts) < len(hashes):
                if time.monotonic() > deadline:
                    raise ClientError(f"{len(hashes) - len(receipts)} transactions not mined")
                time.sleep(RECEIPT_POLL_S)

    def _replay_failure(self, fn: Any, block_number: int) -> TransactionReverted:
        if hasattr(fn, "call"):
            try:
                fn.call({"from": self.address}, block_identifier=block_number - 1)
            except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
                return self._reverted(fn, exc)
        return TransactionReverted(_kind(fn), "Revert")


def connect(url: str) -> Web3:
    """A web3 connection over HTTP JSON-RPC."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    if not w3.is_connected():
        raise ClientError(f"no JSON-RPC node answers at {url}")
    return w3


def deploy(w3: Web3, admin: Wallet, artifacts_dir: Path | None = None) -> Deployment:
    """Deploy FlexToken, FlexRegistry and FlexMarket with `admin` as admin."""
    arts = {name: load_artifact(name, artifacts_dir or ARTIFACTS_DIR) for name in CONTRACTS}

    def create(name: str, *args: Any) -> str:
        factory = w3.eth.contract(abi=arts[name].abi, bytecode=arts[name].bytecode)
        receipt = admin.transact(factory.constructor(*args), kind=f"deploy:{name}")
        address = receipt["contractAddress"]
        if address is None:
            raise DeploymentError(f"{name} deployment returned no address")
        return str(address)

    token = create("FlexToken", admin.address)
    registry = create("FlexRegistry", admin.address)
    market = create("FlexMarket", token, registry)
    return Deployment(w3.eth.chain_id, token, registry, market)
