"""A small JSON-RPC client for the standard `eth_*` methods the verifier reads with.

It speaks raw JSON (hex strings in, hex strings out) over one keep-alive HTTP
connection, batches requests, and retries what is transient (connection refused or
reset, time-outs, HTTP 429/5xx) by the one retry policy (`python_client.retry.REQUEST`).
An error the node answers (a JSON-RPC `error` object) is not retried here: the caller
decides (the indexer halves its `eth_getLogs` range on one). web3.py is not used on this
path: its middleware and result formatting cost more than the decoding itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

from python_client.errors import (
    ArtifactError,
    ClientError,
    LocalChainError,
    TransactionReverted,
)
from python_client.retry import REQUEST, Retry
from verifier.errors import InputError, RpcError

TRANSIENT_STATUS = {429, 500, 502, 503, 504}


def _transient(exc: Exception) -> bool:
    """The node did not answer (connection, time-out) or answered HTTP 429/5xx."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code in TRANSIENT_STATUS
    return isinstance(exc, httpx.TransportError)


def is_transient(exc: BaseException) -> bool:
    """Failures worth retrying by a node's pass: the node did not answer (not: it answered an
    error, refused or reverted a transaction, or a file is missing)."""
    import requests

    if isinstance(exc, RpcError):
        return exc.code is None  # no JSON-RPC error object: transport or HTTP status
    if isinstance(exc, (httpx.TransportError, requests.ConnectionError, requests.Timeout)):
        return True
    if isinstance(exc, (TransactionReverted, ArtifactError, LocalChainError)):
        return False
    return isinstance(exc, (ClientError, ConnectionError, TimeoutError))


def check_rpc_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host; InputError(--rpc) otherwise."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError("--rpc", f"{url!r} is not an http:// or https:// JSON-RPC URL")
    try:
        parsed.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InputError("--rpc", f"{url!r}: {exc}") from exc
    return url


class JsonRpc:
    """JSON-RPC over HTTP with batches and retries of transient failures."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 60.0,
        retry: Retry = REQUEST,
    ) -> None:
        self.url = check_rpc_url(url)
        self.retry = retry
        self._client = httpx.Client(timeout=timeout_s)
        self._ids = itertools.count(1)
        self.requests = 0  # HTTP requests sent (for benchmarks)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JsonRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, method: str, body: Any) -> Any:
        def attempt() -> Any:
            self.requests += 1
            response = self._client.post(self.url, json=body)
            if response.status_code in TRANSIENT_STATUS:
                raise httpx.HTTPStatusError(
                    f"HTTP {response.status_code}", request=response.request, response=response
                )
            response.raise_for_status()
            return orjson.loads(response.content)  # 4x json's speed on big eth_getLogs

        try:
            return self.retry.call(attempt, _transient, what=f"{method} to {self.url}")
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            if status not in TRANSIENT_STATUS:
                raise RpcError(method, f"HTTP {status} from {self.url}") from exc
            raise RpcError(method, f"no answer from {self.url}: {exc}") from exc
        except httpx.TransportError as exc:
            raise RpcError(method, f"no answer from {self.url}: {exc}") from exc
        except ValueError as exc:  # not JSON
            raise RpcError(method, f"{self.url} did not answer JSON: {exc}") from exc

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        """One request; RpcError if the node answers an error."""
        reply = self._post(
            method, {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        if not isinstance(reply, dict):
            raise RpcError(method, f"unexpected reply {str(reply)[:200]}")
        if "error" in reply:
            error = reply["error"] or {}
            raise RpcError(method, str(error.get("message", error)), error.get("code"))
        return reply.get("result")

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], size: int = 200) -> list[Any]:
        """Results of `calls` in order, `size` per HTTP request; RpcError on the first error."""
        results: list[Any] = []
        for start in range(0, len(calls), size):
            chunk = calls[start : start + size]
            ids = [next(self._ids) for _ in chunk]
            body = [
                {"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                for i, (m, p) in zip(ids, chunk, strict=True)
            ]
            method = chunk[0][0] if chunk else "batch"
            reply = self._post(method, body)
            if isinstance(reply, dict):  # the node refused the whole batch
                error = reply.get("error") or {}
                raise RpcError(method, f"batch refused: {error.get('message', reply)}")
            by_id = {r.get("id"): r for r in reply}
            for i, (m, _) in zip(ids, chunk, strict=True):
                r = by_id.get(i)
                if r is None:
                    raise RpcError(m, f"no reply to request {i} of a batch")
                if "error" in r:
                    error = r["error"] or {}
                    raise RpcError(m, str(error.get("message", error)), error.get("code"))
                results.append(r.get("result"))
        return results

    # --- the methods the indexer reads with
    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def headers(self, numbers: Sequence[int]) -> list[dict[str, Any] | None]:
        """Blocks by number, without transactions (None: no such block now)."""
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        return self.batch(calls)

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[Any]:
        result = self.call(
            "eth_getLogs",
            [{"address": list(addresses), "fromBlock": hex(from_block), "toBlock": hex(to_block)}],
        )
        return list(result or [])
