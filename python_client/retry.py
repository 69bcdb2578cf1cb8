"""The one retry policy of flexmarket: a bounded exponential pause.

A failure worth retrying (the caller says which: a node that did not answer; never one that
answered an error, a refused transaction only as `RESEND` says) is tried again after a pause
that doubles from `first_pause_s` up to `max_pause_s`, at most `retries` times in a row; past
that the last failure is raised to the caller. Every retry is logged as a warning (`-q`
hides nothing of it: a node that keeps failing is worth knowing about).

The strengths of the one policy, stated here only:

- `REQUEST`: one JSON-RPC request (verifier.rpc.JsonRpc): seconds in all (0.2 s doubling,
  five retries, 6.2 s), so that a command given a dead node says so at once;
- `PASS`: one pass of a long-running node (the oracle service, a validator), which reads
  the chain again from the start: minutes (0.5 s doubling up to 30 s, eight retries), so
  that a node restarting under it is ridden out;
- `REREAD`: one step of the indexer that found the chain changing under it (a reorg in
  progress): read again after 0.2 s, twenty times in a row at most (4 s), then give up;
- `RESEND`: a transaction the node refused (nonce, fees: the relay's nonce moved under a
  batch) is sent once more at once, rebuilt with a fresh nonce; a second refusal is raised;
- `PORT`: a local chain whose node exited at start (its free port taken meanwhile) is
  started twice more on another port, at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retry:
    """`retries` retries after the first try, pausing `first_pause_s` * 2**(n-1) after the
    n-th failure in a row, never more than `max_pause_s`."""

    retries: int
    first_pause_s: float
    max_pause_s: float

    def pause_s(self, failures: int) -> float:
        """The pause after the `failures`-th failure in a row (1, 2, ...)."""
        return min(self.max_pause_s, self.first_pause_s * 2.0 ** (failures - 1))

    def total_pause_s(self) -> float:
        """The longest the pauses add up to before the last failure is raised."""
        return sum(self.pause_s(n) for n in range(1, self.retries + 1))

    def call(
        self,
        attempt: Callable[[], T],
        transient: Callable[[Exception], bool],
        *,
        what: str,
        on_retry: Callable[[Exception], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """`attempt()`'s value; a failure `transient` accepts is retried (after `on_retry`,
        which may reset a connection), any other failure, or one past `retries`, raised."""
        failures = 0
        while True:
            try:
                return attempt()
            except Exception as exc:
                if not transient(exc) or failures >= self.retries:
                    raise
                failures += 1
                if on_retry is not None:
                    on_retry(exc)
                pause = self.pause_s(failures)
                log.warning("%s: %s; retry %d of %d in %.1f s",
                            what, exc, failures, self.retries, pause)  # fmt: skip
                sleep(pause)


REQUEST = Retry(retries=5, first_pause_s=0.2, max_pause_s=5.0)
PASS = Retry(retries=8, first_pause_s=0.5, max_pause_s=30.0)
REREAD = Retry(retries=20, first_pause_s=0.2, max_pause_s=0.2)
RESEND = Retry(retries=1, first_pause_s=0.0, max_pause_s=0.0)
PORT = Retry(retries=2, first_pause_s=0.0, max_pause_s=0.0)
