"""The chain's time as the API sees it: the latest block's timestamp, reused while fresh.

The chain follower reads the head block every `follow_interval_s` and hands its timestamp
here (`observe`); a request reads the chain itself only when that reading is older than
`clock_max_age_s` (`now`), and the commit route's hot path asks only for a fresh reading
(`fresh_now`: no chain read at all). `forget` drops the reading after a local chain was
moved: a read begun before it (the follower's, in flight) is discarded, never stored."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class ChainClock:
    def __init__(
        self,
        read_timestamp: Callable[[], int],
        max_age_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read_timestamp  # the latest block's timestamp, from the node
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._reading: tuple[int, float] = (0, -math.inf)  # (chain time, when read, local)
        self._epoch = 0  # bumped by forget(): a reading begun before is dropped

    @property
    def epoch(self) -> int:
        """Take it before reading the chain; give it back to `observe` with the reading."""
        return self._epoch

    def observe(self, timestamp: int, epoch: int) -> None:
        """A reading of the chain's time, begun at `epoch` (dropped if `forget` came since)."""
        if epoch == self._epoch:
            self._reading = (timestamp, self._monotonic())

    def fresh_now(self) -> int | None:
        """The chain's time if read within `max_age_s` (no chain read), else None."""
        value, at = self._reading
        return value if self._monotonic() - at <= self._max_age_s else None

    def now(self) -> int:
        """The chain's time: the fresh reading, else read from the node now."""
        value = self.fresh_now()
        if value is None:
            epoch = self._epoch
            value = self._read()
            self.observe(value, epoch)
        return value

    def forget(self) -> None:
        """Read the chain's time afresh next time (after a local chain was moved)."""
        self._epoch += 1
        self._reading = (0, -math.inf)
