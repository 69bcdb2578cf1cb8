"""python_client.localchain.start_chain: a node that exits at start because its free port
was taken meanwhile is started again on another port by the one retry policy (PORT)."""

from __future__ import annotations

import logging
import socket

import pytest

from python_client import localchain
from python_client.errors import LocalChainError


def test_a_node_whose_port_was_taken_starts_again_on_another(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1]]
        real = localchain.free_port
        monkeypatch.setattr(
            localchain, "free_port", lambda host: ports.pop() if ports else real(host)
        )
        with (
            caplog.at_level(logging.WARNING, logger="python_client.retry"),
            localchain.start_chain("anvil", accounts=1) as chain,
        ):
            assert chain.port != taken.getsockname()[1]
        assert any("exited at start" in r.getMessage() for r in caplog.records)


def test_a_port_given_is_tried_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(LocalChainError, match="exited with"):
            localchain.start_chain("anvil", port=taken.getsockname()[1], accounts=1)
