"""api.chain_follower.ChainFollower without a chain: one pass reads the head block (the
chain's time) and the logs of the blocks not yet read, in ranges a node answers, and hands
each log to its part: a relay nonce used (whoever relayed it), a role granted or revoked
(the cached answer dropped), a session opened (where its logs begin)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from eth_utils.address import to_checksum_address

from api.chain_follower import ROLE_GRANTED_TOPIC, ROLE_REVOKED_TOPIC, ChainFollower
from api.clock import ChainClock
from api.reads import FOLLOW_RANGE
from api.relay_nonces import RELAY_FAILED_TOPIC, RELAYED_TOPIC, RelayNonces
from api.roles import ROLE_IDS, RoleCache

RELAY = to_checksum_address("0x" + "12" * 20)
REGISTRY = to_checksum_address("0x" + "34" * 20)
MARKET = to_checksum_address("0x" + "56" * 20)
SELLER = to_checksum_address("0x" + "5e" * 20)
OPENED = "0x" + "ab" * 32


def _word(value: int | str) -> str:
    if isinstance(value, str):  # an address
        return "0x" + "0" * 24 + value[2:].lower()
    return "0x" + value.to_bytes(32, "big").hex()


class Node:
    """Answers eth_getBlockByNumber and eth_getLogs from a script; records the ranges."""

    def __init__(self, head: int, logs: list[dict[str, Any]]) -> None:
        self.head, self.logs, self.ranges = head, logs, []
        self.contracts = SimpleNamespace(
            registry=SimpleNamespace(address=REGISTRY), market=SimpleNamespace(address=MARKET)
        )
        self.topics = {"SessionOpened": OPENED}
        self.opened: dict[int, int] = {}

    def rpc(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            return {"number": hex(self.head), "timestamp": hex(1_700_000_000 + self.head)}
        assert method == "eth_getLogs"
        first, last = int(params[0]["fromBlock"], 16), int(params[0]["toBlock"], 16)
        self.ranges.append((first, last))
        return [lg for lg in self.logs if first <= int(lg["blockNumber"], 16) <= last]

    def session_opened(self, session_id: int, block: int) -> None:
        self.opened.setdefault(session_id, block)


def _follower(node: Node) -> tuple[ChainFollower, ChainClock, RoleCache, RelayNonces]:
    clock = ChainClock(lambda: 0, 0.5)
    roles = RoleCache(lambda address, role: True, 3_600.0)
    nonces = RelayNonces(lambda seller, nonce: False)
    follower = ChainFollower(node, clock, roles, nonces, RELAY, 0.1)  # type: ignore[arg-type]
    return follower, clock, roles, nonces


def _log(block: int, address: str, *topics: str) -> dict[str, Any]:
    return {"blockNumber": hex(block), "address": address.lower(), "topics": list(topics)}


def test_one_pass_feeds_the_clock_the_nonces_the_roles_and_the_sessions() -> None:
    node = Node(head=30, logs=[
        _log(3, RELAY, RELAYED_TOPIC, _word(SELLER), _word(7)),
        _log(4, RELAY, RELAY_FAILED_TOPIC, _word(SELLER), _word(8)),
        _log(5, REGISTRY, ROLE_REVOKED_TOPIC, "0x" + ROLE_IDS["AGGREGATOR"].hex(),
             _word(SELLER), _word(SELLER)),
        _log(6, REGISTRY, ROLE_GRANTED_TOPIC, "0x" + ROLE_IDS["DSO"].hex(), _word(SELLER),
             _word(SELLER)),
        _log(9, MARKET, OPENED, _word(2)),
        _log(12, MARKET, OPENED, _word(2)),  # never again, but the first one counts
    ])  # fmt: skip
    follower, clock, roles, nonces = _follower(node)
    assert roles.has_role(SELLER, "AGGREGATOR") and roles.has_role(SELLER, "DSO")
    follower.follow_once()
    assert follower.followed_block == 30 and clock.fresh_now() == 1_700_000_030
    assert nonces.taken(SELLER, 7) and nonces.taken(SELLER, 8) and not nonces.taken(SELLER, 9)
    assert roles.cached_role(SELLER, "AGGREGATOR") is None  # dropped: read again
    assert roles.cached_role(SELLER, "DSO") is None
    assert node.opened == {2: 9}
    node.head = 31
    follower.follow_once()
    assert node.ranges[-1] == (31, 31)  # only the new block


def test_a_long_chain_is_read_in_ranges_a_node_answers() -> None:
    node = Node(head=2 * FOLLOW_RANGE + 5, logs=[])
    follower, *_ = _follower(node)
    follower.follow_once()
    assert node.ranges == [
        (0, FOLLOW_RANGE - 1), (FOLLOW_RANGE, 2 * FOLLOW_RANGE - 1),
        (2 * FOLLOW_RANGE, 2 * FOLLOW_RANGE + 5),
    ]  # fmt: skip
    assert follower.followed_block == 2 * FOLLOW_RANGE + 5
