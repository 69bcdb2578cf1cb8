"""verifier.indexer.Indexer.run re-reads a chain changing under it by the one retry policy
(python_client.retry.REREAD): each re-read logged by the policy, a stop ends it at once, and
past REREAD.retries in a row it gives up with IndexerError."""

from __future__ import annotations

import logging
import threading

import pytest

from python_client.retry import REREAD
from verifier.errors import IndexerError
from verifier.indexer import Indexer, IndexerStats, _Retry


class Flaky(Indexer):
    """An indexer whose steps find the chain changing `changes` times, then are at the head."""

    def __init__(self, changes: int, stop: threading.Event | None = None) -> None:
        self.stats = IndexerStats()
        self.changes = changes
        self.steps = 0
        self.stop = stop

    def step(self) -> bool:
        self.steps += 1
        if self.steps <= self.changes:
            if self.stop is not None:
                self.stop.set()
            raise _Retry(f"block {self.steps} is gone")
        return False

    def checkpoint(self) -> tuple[int, str]:  # type: ignore[override]
        return (0, "0x00")


def test_a_changing_chain_is_read_again_by_the_retry_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    indexer = Flaky(changes=3)
    with caplog.at_level(logging.WARNING, logger="python_client.retry"):
        indexer.run(poll_interval_s=0.001)
    assert indexer.steps == 4
    retries = [r.getMessage() for r in caplog.records if r.name == "python_client.retry"]
    assert len(retries) == 3 and f"retry 3 of {REREAD.retries}" in retries[-1]


def test_the_indexer_gives_up_past_the_policys_retries() -> None:
    indexer = Flaky(changes=REREAD.retries + 1)
    with pytest.raises(IndexerError, match="keeps changing"):
        indexer.run(poll_interval_s=0.001)
    assert indexer.steps == REREAD.retries + 1


def test_a_stop_while_reading_again_ends_the_run() -> None:
    stop = threading.Event()
    indexer = Flaky(changes=REREAD.retries + 5, stop=stop)
    indexer.run(poll_interval_s=0.001, stop=stop)  # no IndexerError: stopped
    assert indexer.steps == 1
