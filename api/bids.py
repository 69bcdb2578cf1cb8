"""Relayed bids: the checks of a join, a commit and a reveal, before anything is reserved,
queued or sent, and what a caller may see of a bid.

The aggregator signs EIP-712 messages (python_client.relay); the API checks them and its
relayer sends them through FlexRelay. A commit is the hot path (`commit`): its checks read
nothing from the chain per request (roles, session timing and chain time cached, relay
nonces known from the chain follower) and it is queued for the next batch. A join or a
reveal is relayed at once and answered when mined.

Visibility: before the reveal deadline a caller sees only its own bids (another's bid is
404, as if it did not exist); from the reveal deadline, revealed bids are public."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from starlette.concurrency import run_in_threadpool

from api.clock import ChainClock
from api.problems import Problem
from api.reads import ZERO_ADDRESS, ChainReads, SessionTiming
from api.relay_batcher import PendingCommit, RelayBatcher
from api.relay_nonces import RelayNonces
from api.relayer import Relayer
from api.roles import RoleCache
from api.schemas import BidPublic
from api.store import Store
from python_client.contract_types import AssetView, BidStatus, BidView
from python_client.hashing import bid_id as bid_id_of
from python_client.hashing import commitment as commitment_of
from python_client.records import BidFields
from python_client.relay import RelayDomain, commit_digest, join_digest, recover_raw, reveal_digest


def check_signer(signer: bytes | None, seller: str) -> None:
    """422 for a signature with no signer, 403 for another signer than the seller."""
    if signer is None:
        raise Problem(422, "bad-signature", "signature: malformed", field="signature",
                      reason="no signer can be recovered")  # fmt: skip
    if signer != bytes.fromhex(seller[2:]):
        # Someone else's signature, or the caller's over other fields: either way the
        # caller may not have it relayed as its own (the seller is always the caller).
        raise Problem(
            403, "not-your-signature", "signature: not the signed-in seller's signature of "
            "this message (chain id, relay, seller, fields, nonce, deadline)",
            field="signature", reason=f"recovered {to_checksum_address(signer)}, not {seller}",
        )  # fmt: skip


class RelayedBids:
    def __init__(
        self, reads: ChainReads, clock: ChainClock, roles: RoleCache, nonces: RelayNonces,
        batcher: RelayBatcher, relayer: Relayer, store: Store, domain: RelayDomain,
        min_deadline_margin_s: int,
    ) -> None:  # fmt: skip
        self._reads = reads
        self._clock = clock
        self._roles = roles
        self._nonces = nonces
        self._batcher = batcher
        self._relayer = relayer
        self._store = store
        self.domain = domain
        self._margin_s = min_deadline_margin_s

    async def aggregator_session_now(
        self, seller: str, session_id: int
    ) -> tuple[SessionTiming, int]:
        """What a relayed commit (single or batched) reads first: the seller holds AGGREGATOR
        (403 otherwise), the session's timing and the chain's time. A cache miss is read once
        in a worker thread for every request waiting for it; otherwise nothing leaves the
        event loop."""
        reads = self._reads
        if self._roles.cached_role(seller, "AGGREGATOR") is not True:
            await reads.once(("role", seller), self._roles.require_role, seller, "AGGREGATOR")
        t = reads.cached_session(session_id)
        if t is None:
            t = await reads.once(("session", session_id), reads.session, session_id)
        now = self._clock.fresh_now()
        if now is None:
            now = await reads.once(("now",), self._clock.now)
        return t, now

    def check_message(
        self, deadline: int, digest: bytes, signature: bytes, seller: str, now: int
    ) -> None:
        """A relayed message valid at least `min_deadline_margin_s` after chain time (422),
        signed by the seller (422 malformed, 403 someone else's)."""
        if deadline < now + self._margin_s:
            raise Problem(
                422, "deadline-too-close",
                f"deadline: must be at least {self._margin_s} s after chain time",
                field="deadline", reason="expired or about to expire",
            )  # fmt: skip
        check_signer(recover_raw(digest, signature), seller)

    def _bidding_open(self, session_id: int, bidding_end: int, now: int) -> None:
        if now >= bidding_end:
            raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed")

    # --- commit: the hot path
    async def commit(
        self, seller: str, session_id: int, commitment: bytes, nonce: int, deadline: int,
        signature: bytes,
    ) -> PendingCommit:  # fmt: skip
        """Check a signed commit (aggregator, session open, deadline, signature, nonce, not
        submitted already) and queue it. A cache miss is read once in a worker thread for
        every request waiting for it; otherwise nothing leaves the event loop."""
        t, now = await self.aggregator_session_now(seller, session_id)
        self._bidding_open(session_id, t.bidding_end, now)
        return self.accept_commit(seller, session_id, commitment, nonce, deadline, signature, now)

    def accept_commit(
        self, seller: str, session_id: int, commitment: bytes, nonce: int, deadline: int,
        signature: bytes, now: int,
    ) -> PendingCommit:  # fmt: skip
        """Check a signed commit (deadline, signature, nonce, not already submitted) and
        queue it; nothing read from the chain. The caller checked role and session."""
        digest = commit_digest(self.domain, seller, session_id, commitment, nonce, deadline)
        self.check_message(deadline, digest, signature, seller, now)
        self._nonces.take(seller, nonce)
        # the bid's id on chain: keccak256(abi.encode(seller, commitment)) (hashing.bid_id)
        bid_id = "0x" + keccak(bytes(12) + bytes.fromhex(seller[2:]) + commitment).hex()
        pending = PendingCommit(bid_id, seller, session_id, commitment, nonce, deadline, signature)
        self._batcher.enqueue(pending)
        return pending

    async def wait_commit(self, bid_id: str, timeout_s: float) -> None:
        await self._batcher.wait(bid_id, timeout_s)

    # --- join and reveal: relayed at once
    async def join(
        self, seller: str, session_id: int, added_bids: int, nonce: int, deadline: int,
        signature: bytes,
    ) -> dict[str, Any]:  # fmt: skip
        """Join (lock `added_bids` bonds): checked in a worker thread, relayed at once."""
        fn = await run_in_threadpool(
            self._join_call, seller, session_id, added_bids, nonce, deadline, signature
        )
        return await self._relayer.relay_with_nonce(seller, nonce, fn)

    def _join_call(
        self, seller: str, session_id: int, added_bids: int, nonce: int, deadline: int,
        signature: bytes,
    ) -> Any:  # fmt: skip
        """The checks of a join (role, session open, deadline, signature); its relay call."""
        self._roles.require_role(seller, "AGGREGATOR")
        t = self._reads.session(session_id)
        now = self._clock.now()
        self._bidding_open(session_id, t.bidding_end, now)
        digest = join_digest(self.domain, seller, session_id, added_bids, nonce, deadline)
        self.check_message(deadline, digest, signature, seller, now)
        return self._relayer.relay.functions.joinSessionFor(
            seller, session_id, added_bids, nonce, deadline, signature
        )

    async def reveal(
        self, seller: str, session_id: int, bid_id: str, fields: BidFields, nonce: int,
        deadline: int, signature: bytes,
    ) -> dict[str, Any]:  # fmt: skip
        """Reveal a bid the caller committed: checked in a worker thread, relayed at once."""
        fn = await run_in_threadpool(
            self._reveal_call, seller, session_id, bid_id, fields, nonce, deadline, signature
        )
        return await self._relayer.relay_with_nonce(seller, nonce, fn)

    def _reveal_call(
        self, seller: str, session_id: int, bid_id: str, fields: BidFields, nonce: int,
        deadline: int, signature: bytes,
    ) -> Any:  # fmt: skip
        """The checks of a reveal (role, fields, deadline, signature, assets); its relay call."""
        self._roles.require_role(seller, "AGGREGATOR")
        commitment = commitment_of(session_id, seller, fields)
        if "0x" + bid_id_of(seller, commitment).hex() != bid_id.lower():
            raise Problem(
                404, "not-found", f"bid {bid_id}: not a bid of yours with these fields "
                "(they must hash to its commitment)",
            )  # fmt: skip
        digest = reveal_digest(self.domain, seller, commitment, nonce, deadline)
        self.check_message(deadline, digest, signature, seller, self._clock.now())
        registry = self._reads.contracts.registry.functions
        for i, asset in enumerate(fields.asset_ids):
            manager = AssetView.from_abi(self._reads.call(registry.asset(asset))).manager
            if manager == ZERO_ADDRESS:
                raise Problem(422, "invalid-input", f"asset_ids[{i}]: not registered",
                              field=f"asset_ids[{i}]", reason="not registered")  # fmt: skip
            if manager != seller:
                raise Problem(
                    403, "not-asset-manager", f"asset_ids[{i}]: managed by another aggregator",
                    field=f"asset_ids[{i}]", reason="you do not manage this asset",
                )  # fmt: skip
        return self._relayer.relay.functions.revealBidFor(
            seller, fields.reveal_tuple(session_id), nonce, deadline, signature
        )

    # --- reads
    def bid(self, caller: str, session_id: int, bid_id: str) -> BidPublic:
        """A bid as `caller` may see it (404 for another's before it is public)."""
        reads = self._reads
        t = reads.session(session_id)
        row = self._store.bid(bid_id)
        market = reads.contracts.market.functions
        core, terms = BidView.from_abi(reads.call(market.bid(bytes.fromhex(bid_id[2:]))))
        seller = row["seller"] if row else core.seller
        on_chain = core.status
        in_session = int(row["session_id"] if row else core.session_id) == session_id
        if (row is None and on_chain == BidStatus.NONE) or not in_session:
            raise Problem(404, "not-found", f"bid {bid_id} not found in session {session_id}")
        public = on_chain >= BidStatus.REVEALED and self._clock.now() >= t.reveal_deadline
        if seller != caller and not public:
            raise Problem(404, "not-found", f"bid {bid_id} not found in session {session_id}")
        # not on chain (yet): the relay's word (queued, failed)
        relayed = row["status"] if row else "none"
        state = on_chain.label if on_chain != BidStatus.NONE else relayed
        revealed = on_chain >= BidStatus.REVEALED and terms.quantity_w > 0
        return BidPublic(
            bid_id=bid_id, session_id=session_id, seller=seller, status=state,
            relay_tx_hash=row["tx_hash"] if row else None,
            relay_error=row["error"] if row else None,
            quantity_w=terms.quantity_w if revealed else None,
            price_eur_per_mw=terms.price_eur_per_mw if revealed else None,
            awarded_w=terms.awarded_w if revealed else None,
        )  # fmt: skip

    def bids(self, caller: str, session_id: int) -> list[BidPublic]:
        """Before the reveal deadline: the caller's own bids only. From it: the caller's bids
        and every revealed bid of the session."""
        t = self._reads.session(session_id)
        ids = [r["bid_id"] for r in self._store.bids_of(caller, session_id)]
        if self._clock.now() >= t.reveal_deadline:
            logs = self._reads.session_logs(session_id, ["BidRevealed"])
            ids += ["0x" + bytes(e.args["bidId"]).hex() for e in logs]
        return [self.bid(caller, session_id, b) for b in dict.fromkeys(ids)]
