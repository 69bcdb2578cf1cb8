"""api.roles.RoleCache without a chain: answers reused for the cache's lifetime, dropped at
once when the follower sees the role change, and a 403 naming the roles required."""

from __future__ import annotations

import pytest

from api.problems import Problem
from api.roles import ROLE_BY_ID, ROLE_IDS, ROLE_NAMES, RoleCache

ALICE = "0x" + "a1" * 20


def _cache(held: set[tuple[str, str]], cache_s: float = 60.0) -> tuple[RoleCache, list[str]]:
    asked: list[str] = []

    def read(address: str, role: str) -> bool:
        asked.append(role)
        return (address, role) in held

    now = [0.0]
    cache = RoleCache(read, cache_s, lambda: now[0])
    cache.now = now  # type: ignore[attr-defined]
    return cache, asked


def test_an_answer_is_reused_for_the_cache_lifetime_then_read_again() -> None:
    held = {(ALICE, "DSO")}
    cache, asked = _cache(held, cache_s=60.0)
    assert cache.has_role(ALICE, "DSO") and cache.has_role(ALICE, "DSO")
    assert asked == ["DSO"]
    held.clear()  # revoked on chain, the follower has not seen it
    assert cache.cached_role(ALICE, "DSO") is True
    cache.now[0] = 60.0  # type: ignore[attr-defined]
    assert cache.cached_role(ALICE, "DSO") is None
    assert not cache.has_role(ALICE, "DSO") and asked == ["DSO", "DSO"]


def test_a_role_change_seen_on_chain_drops_the_answer_at_once() -> None:
    held = {(ALICE, "AGGREGATOR")}
    cache, asked = _cache(held)
    assert cache.has_role(ALICE, "AGGREGATOR")
    held.clear()
    cache.drop(ALICE, "AGGREGATOR")
    assert cache.cached_role(ALICE, "AGGREGATOR") is None
    assert not cache.has_role(ALICE, "AGGREGATOR")


def test_require_role_is_403_naming_the_roles() -> None:
    cache, _ = _cache({(ALICE, "ORACLE")})
    cache.require_role(ALICE, "DSO", "ORACLE")
    with pytest.raises(Problem) as info:
        cache.require_role(ALICE, "DSO", "TSO")
    assert info.value.status == 403 and "DSO, TSO" in info.value.detail
    assert cache.roles_of(ALICE) == ["ORACLE"]


def test_role_ids_are_the_registrys() -> None:
    from eth_utils.crypto import keccak

    assert all(ROLE_IDS[n] == keccak(text=f"{n}_ROLE") for n in ROLE_NAMES)
    assert ROLE_IDS["ADMIN"] == bytes(32)  # OpenZeppelin's DEFAULT_ADMIN_ROLE
    assert {ROLE_BY_ID["0x" + v.hex()] for v in ROLE_IDS.values()} == set(ROLE_IDS)
