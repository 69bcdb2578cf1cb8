"""The verifier's JSON-RPC client against a node that fails for real: a local HTTP proxy in
front of anvil answers 503 or drops the connection (TCP reset, no reply) for the first
requests, then forwards. No mock: real sockets, a real node behind. What is transient is
retried with a growing pause (verifier.rpc.JsonRpc); an answer of the node's own (a JSON-RPC
error) is not retried; past the retries the caller gets RpcError naming the method."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from python_client.localchain import LocalChain, start_chain
from python_client.retry import PASS, Retry
from verifier.errors import RpcError
from verifier.rpc import JsonRpc


class FlakyProxy:
    """Forwards POSTs to `upstream`; the first `failures` requests get `fault` instead."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fault = "503"
        self.failures = 0
        self.seen = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with proxy.lock:
                    proxy.seen += 1
                    fail = proxy.failures > 0
                    proxy.failures -= fail
                if fail and proxy.fault == "reset":
                    # RST instead of FIN: the client sees the connection reset, no reply
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if fail:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = httpx.post(proxy.upstream, content=body,
                                   headers={"Content-Type": "application/json"})  # fmt: skip
                self.send_response(reply.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def arm(self, fault: str, failures: int) -> None:
        with self.lock:
            self.fault, self.failures, self.seen = fault, failures, 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def node() -> Iterator[tuple[LocalChain, FlakyProxy]]:
    with start_chain("anvil") as chain:
        proxy = FlakyProxy(chain.url)
        try:
            yield chain, proxy
        finally:
            proxy.close()


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_transient_failures_are_retried_until_the_node_answers(
    node: tuple[LocalChain, FlakyProxy], fault: str
) -> None:
    chain, proxy = node
    with JsonRpc(chain.url) as direct:
        head = direct.block_number()
    proxy.arm(fault, failures=3)
    with JsonRpc(proxy.url, retry=Retry(5, 0.01, 0.1)) as rpc:
        assert rpc.block_number() == head
        assert rpc.chain_id() == 31337
        assert rpc.requests == 5  # three failed, then one each
    assert proxy.seen == 5


@pytest.mark.parametrize("fault", ["503", "reset"])
def test_past_its_retries_the_caller_gets_an_rpc_error(
    node: tuple[LocalChain, FlakyProxy], fault: str
) -> None:
    _, proxy = node
    proxy.arm(fault, failures=10)
    with JsonRpc(proxy.url, retry=Retry(2, 0.01, 0.1)) as rpc, pytest.raises(RpcError) as caught:
        rpc.block_number()
    assert caught.value.method == "eth_blockNumber"
    assert "no answer" in str(caught.value)
    assert proxy.seen == 3  # the first try and two retries, no more


def test_an_error_the_node_answers_is_not_retried(node: tuple[LocalChain, FlakyProxy]) -> None:
    _, proxy = node
    proxy.arm("503", failures=0)
    with JsonRpc(proxy.url, retry=Retry(5, 0.01, 0.1)) as rpc, pytest.raises(RpcError) as caught:
        rpc.call("eth_getBlockByNumber", ["not a block", False])
    assert caught.value.code is not None  # the node's JSON-RPC error, passed on
    assert proxy.seen == 1


def test_the_oracle_service_rides_out_a_node_that_stops_answering(
    node: tuple[LocalChain, FlakyProxy], caplog: pytest.LogCaptureFixture,
) -> None:
    """More failures in a row than one JSON-RPC call retries (six attempts): the call gives
    up with a transient RpcError, the service's pass is retried (python_client.retry.PASS,
    here with short pauses) and runs again."""
    from nodes.service import OracleService
    from python_client.chain import Wallet, connect, deploy

    chain, proxy = node
    w3 = connect(chain.url)
    keys = chain.dev_private_keys
    deployment = deploy(w3, Wallet(w3, keys[0]))
    service = OracleService(proxy.url, keys[1], deployment)
    proxy.arm("reset", failures=7)
    with caplog.at_level("INFO", logger="python_client.retry"):
        done = service.run(once=True, retry=replace(PASS, max_pause_s=0.1))
    logs = caplog.messages
    assert done.committed == {} and done.skipped == {}  # no session yet: nothing to do
    assert any(line.startswith("oracle pass: ") and "retry 1 of 8" in line
               for line in logs), logs
    assert proxy.seen >= 8


def test_an_answer_that_is_not_transient_stops_the_service(
    node: tuple[LocalChain, FlakyProxy], caplog: pytest.LogCaptureFixture,
) -> None:
    from nodes.service import OracleService
    from verifier.errors import InputError

    chain, proxy = node
    proxy.arm("503", failures=0)
    wrong = {"chain_id": 1, "contracts": {"FlexToken": "0x" + "11" * 20,
                                          "FlexRegistry": "0x" + "22" * 20,
                                          "FlexMarket": "0x" + "33" * 20}}  # fmt: skip
    service = OracleService(proxy.url, chain.dev_private_keys[1], wrong)
    with caplog.at_level("INFO", logger="python_client.retry"), pytest.raises(InputError):
        service.run(once=True, retry=replace(PASS, max_pause_s=0.1))
    assert not any("oracle pass" in line for line in caplog.messages)
