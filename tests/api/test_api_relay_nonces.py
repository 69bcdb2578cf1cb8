"""api.relay_nonces.RelayNonces without a chain: a nonce is taken once however many requests
race for it, a nonce used on chain is refused, and only a relay that did not happen gives
its nonce back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.problems import Problem
from api.relay_nonces import RelayNonces

SELLER = "0x" + "5e" * 20


def _refused(fn: object, *args: object) -> Problem:
    with pytest.raises(Problem) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.status == 409 and info.value.field == "nonce"
    return info.value


def test_of_many_racing_takes_of_one_nonce_exactly_one_wins() -> None:
    nonces = RelayNonces(lambda seller, nonce: False)
    start = threading.Barrier(32)

    def take(_: int) -> bool:
        start.wait()
        try:
            nonces.take(SELLER, 7)
        except Problem as exc:
            assert exc.status == 409 and exc.field == "nonce"
            return False
        return True

    for _ in range(20):  # many rounds: a lost race shows up at least once if there is one
        nonces = RelayNonces(lambda seller, nonce: False)
        start.reset()
        with ThreadPoolExecutor(32) as pool:
            won = list(pool.map(take, range(32)))
        assert won.count(True) == 1


def test_distinct_nonces_taken_concurrently_are_all_kept() -> None:
    nonces = RelayNonces(lambda seller, nonce: False)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: nonces.take(SELLER, n), range(2_000)))
    assert all(nonces.taken(SELLER, n) for n in range(2_000))
    assert not nonces.taken(SELLER, 2_000)
    assert not nonces.taken("0x" + "77" * 20, 0)  # per seller


def test_a_nonce_the_follower_saw_used_on_chain_is_refused_without_a_chain_read() -> None:
    asked: list[int] = []
    nonces = RelayNonces(lambda seller, nonce: bool(asked.append(nonce)))
    nonces.saw_used(SELLER, 3)
    assert nonces.taken(SELLER, 3)
    _refused(nonces.take, SELLER, 3)
    _refused(nonces.reserve, SELLER, 3)
    assert asked == []


def test_reserve_asks_the_chain_and_keeps_nothing_the_chain_already_used() -> None:
    nonces = RelayNonces(lambda seller, nonce: nonce == 9)
    problem = _refused(nonces.reserve, SELLER, 9)
    assert problem.reason == "already used on chain"
    assert not nonces.taken(SELLER, 9)  # the chain remembers it; nothing held here
    nonces.reserve(SELLER, 10)
    assert nonces.taken(SELLER, 10)
    _refused(nonces.take, SELLER, 10)  # one nonce for joins, commits and reveals


def test_release_gives_a_nonce_back_and_keep_holds_one_for_good() -> None:
    nonces = RelayNonces(lambda seller, nonce: False)
    nonces.take(SELLER, 1)
    nonces.release(SELLER, 1)  # the relay did not happen
    nonces.take(SELLER, 1)
    nonces.keep([(SELLER, 2)])  # refused on chain earlier (the store, at start)
    _refused(nonces.take, SELLER, 2)
