"""The API's side of the chain, composed: one object per concern, built and started here.

- `reads` (api.reads): JSON-RPC, contract calls at one block, session timing, session logs;
- `clock` (api.clock): the chain's time, reused while fresh;
- `roles` (api.roles): the registry's `hasRole`, cached;
- `nonces` (api.relay_nonces): relay nonces taken here or used on chain;
- `follower` (api.chain_follower): a thread reading the head block and the relay's, the
  registry's and the market's logs, feeding the clock, the nonces, the roles and `reads`;
- `transactions` (api.transactions): prepared transactions, their intents, broadcasting
  one the participant signed, waiting for mining;
- `relayer` (api.relayer): the relayer account (its lock, sending, relaying at once);
- `batcher` (api.relay_batcher): a thread sending queued commits as `commitBidsFor`;
- `bids` (api.bids): the checks of relayed joins, commits and reveals; bids as a caller
  may see them;
- `batch_relay`, `batches` (api.batches): sellers' batches of sealed bids (issue 21), queued
  and sent as `commitBatchesFor`, revealed through `revealBatchFor`.

Two ways a participant writes, and in neither does the API hold its key: **relayed** (join,
commit, reveal: an EIP-712 message the participant signed, sent by the API's relayer through
FlexRelay) and **prepared** (everything else: an unsigned transaction and an intent, signed
by the participant and posted to `/transactions`). Routes reach the parts through the
`Gateway` (`api.deps.GatewayDep`); the operations most routes need are the parts' own
methods, named here as well (`gateway.require_role` is `gateway.roles.require_role`).
"""

from __future__ import annotations

from web3 import Web3
from web3.contract import Contract

from api.batches import BatchRelay, RelayedBatches
from api.bids import RelayedBids
from api.chain_follower import ChainFollower
from api.clock import ChainClock
from api.config import Settings
from api.reads import ChainReads, SessionTiming
from api.relay_batcher import RelayBatcher
from api.relay_nonces import RelayNonces, nonce_used_on_chain
from api.relayer import Relayer
from api.roles import ROLE_IDS, RoleCache
from api.store import Store
from api.transactions import PreparedTransactions
from python_client.artifacts import load_artifact
from python_client.chain import Contracts, Deployment, ErrorDecoder, Wallet
from python_client.relay import RelayDomain

__all__ = ["Gateway", "SessionTiming"]


class Gateway:
    def __init__(
        self,
        settings: Settings,
        w3: Web3,
        deployment: Deployment,
        relayer_key: str,
        store: Store,
    ) -> None:
        self.settings = settings
        self.w3 = w3
        self.store = store
        self.deployment = deployment
        self.contracts = Contracts(w3, deployment)
        relay_art = load_artifact("FlexRelay")
        relay_address = self.contracts.market.functions.relay().call()
        self.relay: Contract = w3.eth.contract(address=relay_address, abi=relay_art.abi)
        self.errors = ErrorDecoder(
            [load_artifact(n).abi for n in ("FlexToken", "FlexRegistry", "FlexMarket")]
            + [relay_art.abi]
        )
        self.contracts.errors = self.errors
        self.chain_id = int(w3.eth.chain_id)
        self.domain = RelayDomain(self.chain_id, relay_address)
        wallet = Wallet(w3, relayer_key, self.errors)

        self.reads = ChainReads(w3, self.contracts, wallet)
        self.clock = ChainClock(self.reads.head_timestamp, settings.clock_max_age_s)
        self.roles = RoleCache(
            lambda address, role: self.reads.has_role(address, ROLE_IDS[role]),
            settings.role_cache_s,
        )
        self.nonces = RelayNonces(
            lambda seller, nonce: nonce_used_on_chain(w3, relay_address, seller, nonce)
        )
        self.follower = ChainFollower(
            self.reads, self.clock, self.roles, self.nonces, relay_address,
            settings.follow_interval_s,
        )  # fmt: skip
        self.transactions = PreparedTransactions(
            w3, self.reads, wallet, self.errors, store,
            settings.token_secret.get_secret_value().encode(), self.chain_id,
        )  # fmt: skip
        self.relayer = Relayer(
            w3, wallet, self.relay, self.nonces, self.transactions.wait_mined,
            self.transactions.status, settings.mined_wait_s,
        )  # fmt: skip
        self.batcher = RelayBatcher(
            self.relayer, store, self.nonces, self.errors, settings.relay_batch_size,
            settings.relay_batch_wait_s,
        )  # fmt: skip
        self.bids = RelayedBids(
            self.reads, self.clock, self.roles, self.nonces, self.batcher, self.relayer,
            store, self.domain, settings.min_deadline_margin_s,
        )  # fmt: skip
        self.batch_relay = BatchRelay(
            self.relayer, store, self.errors, settings.relay_batches_per_tx,
            settings.relay_batch_wait_s,
        )  # fmt: skip
        self.batches = RelayedBatches(
            self.reads, self.clock, self.roles, self.nonces, self.bids, self.batch_relay,
            self.relayer, store, deployment.market, self.errors,
        )  # fmt: skip

        # what most routes need, by the names they use
        self.now = self.clock.now
        self.forget_clock = self.clock.forget
        self.has_role = self.roles.has_role
        self.roles_of = self.roles.roles_of
        self.require_role = self.roles.require_role
        self.session = self.reads.session
        self.call = self.reads.call
        self.head = self.reads.head
        self.session_logs = self.reads.session_logs
        self.prepare = self.transactions.prepare

    def start(self) -> None:
        # nonces of commits refused earlier stay taken (never handed back), then every
        # nonce used on chain so far, before the first request
        self.nonces.keep(self.store.refused_nonces())
        self.follower.start()
        self.batcher.start()
        self.batch_relay.start()

    def stop(self) -> None:
        self.batch_relay.stop()
        self.batcher.stop()
        self.follower.stop()

    @property
    def followed_block(self) -> int:
        """The last block whose relay nonces and role changes this API has read."""
        return self.follower.followed_block
