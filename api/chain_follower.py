"""The chain follower: a thread that reads, every `follow_interval_s`, the head block (the
chain's time, for `ChainClock`) and the logs of the blocks not yet read: FlexRelay's
`Relayed`/`RelayFailed` (nonces used on chain, whoever relayed them: `RelayNonces`), the
registry's role changes (a cached answer dropped: `RoleCache`) and the market's
`SessionOpened` (where a session's logs begin: `ChainReads`). So the commit route reads
nothing from the chain per request and still misses nothing the chain says."""

from __future__ import annotations

import logging
import threading

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from api.clock import ChainClock
from api.reads import FOLLOW_RANGE, ChainReads
from api.relay_nonces import RELAY_FAILED_TOPIC, RELAYED_TOPIC, RelayNonces
from api.roles import ROLE_BY_ID, RoleCache

log = logging.getLogger("flexmarket.api")
ROLE_GRANTED_TOPIC = "0x" + keccak(text="RoleGranted(bytes32,address,address)").hex()
ROLE_REVOKED_TOPIC = "0x" + keccak(text="RoleRevoked(bytes32,address,address)").hex()


class ChainFollower:
    def __init__(
        self, reads: ChainReads, clock: ChainClock, roles: RoleCache, nonces: RelayNonces,
        relay_address: str, interval_s: float,
    ) -> None:  # fmt: skip
        self._reads = reads
        self._clock = clock
        self._roles = roles
        self._nonces = nonces
        self._relay = relay_address
        self._interval_s = interval_s
        self._followed = -1  # the last block whose logs were read
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="follow", daemon=True)

    @property
    def followed_block(self) -> int:
        """The last block whose relay nonces and role changes this API has read."""
        return self._followed

    def start(self) -> None:
        """Catch up with the chain (every nonce used so far, before the first request),
        then follow it in the background."""
        self.follow_once()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval_s):
            try:
                self.follow_once()
            except Exception:  # noqa: BLE001 - a node hiccup: try again next tick
                log.exception("following the chain failed")

    def follow_once(self) -> None:
        """Read the head block and the logs of the blocks up to it not yet read."""
        epoch = self._clock.epoch
        head = self._reads.rpc("eth_getBlockByNumber", ["latest", False])
        number = int(head["number"], 16)
        self._clock.observe(int(head["timestamp"], 16), epoch)
        while self._followed < number:  # in ranges a node answers (a long chain at start)
            to = min(number, self._followed + FOLLOW_RANGE)
            self._read_logs(self._followed + 1, to)
            self._followed = to

    def _read_logs(self, first: int, last: int) -> None:
        contracts = self._reads.contracts
        opened = self._reads.topics["SessionOpened"]
        logs = self._reads.rpc(
            "eth_getLogs",
            [
                {
                    "fromBlock": hex(first),
                    "toBlock": hex(last),
                    "address": [self._relay, contracts.registry.address, contracts.market.address],
                    "topics": [
                        [RELAYED_TOPIC, RELAY_FAILED_TOPIC, ROLE_GRANTED_TOPIC, ROLE_REVOKED_TOPIC,
                         opened]
                    ],
                }
            ],
        )  # fmt: skip
        relay = self._relay.lower()
        for lg in logs:
            topics = lg["topics"]
            if topics[0] == opened:
                self._reads.session_opened(int(topics[1], 16), int(lg["blockNumber"], 16))
            elif lg["address"].lower() == relay:
                seller = to_checksum_address("0x" + topics[1][-40:])
                self._nonces.saw_used(seller, int(topics[2], 16))
            else:
                role = ROLE_BY_ID.get(topics[1])
                if role is not None:
                    self._roles.drop(to_checksum_address("0x" + topics[2][-40:]), role)
