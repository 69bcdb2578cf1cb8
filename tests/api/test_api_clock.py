"""api.clock.ChainClock without a chain: the chain's time is read only when the reading is
older than its max age, and a reading begun before `forget` is dropped."""

from __future__ import annotations

from api.clock import ChainClock


class Ticking:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def _clock(max_age_s: float = 0.5) -> tuple[ChainClock, Ticking, list[int]]:
    mono = Ticking()
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return 1_700_000_000 + len(reads)

    return ChainClock(read, max_age_s, mono), mono, reads


def test_no_reading_is_fresh_before_the_first_read() -> None:
    clock, mono, reads = _clock()
    mono.t = 0.0  # even at the monotonic clock's origin
    assert clock.fresh_now() is None and reads == []


def test_now_reads_the_chain_once_then_reuses_the_reading_while_fresh() -> None:
    clock, mono, reads = _clock(max_age_s=0.5)
    first = clock.now()
    mono.t += 0.5
    assert clock.now() == first and clock.fresh_now() == first and len(reads) == 1
    mono.t += 0.01  # older than max_age_s: read again
    assert clock.fresh_now() is None
    assert clock.now() == first + 1 and len(reads) == 2


def test_the_followers_reading_serves_requests_without_a_read() -> None:
    clock, mono, reads = _clock()
    clock.observe(1_800_000_000, clock.epoch)
    assert clock.now() == 1_800_000_000 and reads == []


def test_forget_drops_the_reading_and_a_reading_begun_before_it() -> None:
    clock, mono, reads = _clock()
    clock.observe(1_800_000_000, clock.epoch)
    begun = clock.epoch  # the follower starts reading the head block ...
    clock.forget()  # ... the local chain is moved meanwhile
    clock.observe(1_800_000_001, begun)  # ... its reading arrives: stale, dropped
    assert clock.fresh_now() is None
    assert clock.now() == 1_700_000_001 and len(reads) == 1
