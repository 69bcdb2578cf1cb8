"""A typed client per role over web3.py, each with the participant's own key.

    w3 = connect(url)
    contracts = Contracts(w3, Deployment.load(Path("deployments/31337.json")))
    dso = DsoClient(contracts, dso_key)
    session_id = dso.open_session(params)

Every method that writes sends one signed transaction and returns the decoded events of
its receipt (`ChainEvent`); a revert raises `TransactionReverted` with the contract's
error name. Gas per call kind is kept in `client.gas_log` (shareable between clients).
"""

from __future__ import annotations

from typing import Any

from web3.types import TxReceipt

from python_client.artifacts import load_artifact
from python_client.batches import Batch, as_bytes, load_args, revealed_bids
from python_client.chain import Contracts, Wallet
from python_client.contract_types import (
    ROLE_IDS,
    ROLES,
    AwardView,
    BalancesOfView,
    BidView,
    NeedView,
    Participation,
    SessionView,
)
from python_client.hashing import bid_id, commitment
from python_client.records import (
    AssetType,
    AwardRow,
    BidFields,
    ChainEvent,
    GasLog,
    NeedParams,
    SessionParams,
)


class ParticipantClient:
    """Anyone with a key: balances, deposits, withdrawals, settlement and releases."""

    def __init__(self, contracts: Contracts, private_key: str, gas_log: GasLog | None = None):
        self.contracts = contracts
        self.wallet = Wallet(contracts.w3, private_key, contracts.errors, gas_log)
        self.address = self.wallet.address
        self.gas_log = self.wallet.gas_log

    # --- plumbing
    def _send(self, fn: Any, gas: int | None = None) -> list[ChainEvent]:
        return self.contracts.decode_logs(self.wallet.transact(fn, gas))

    def _send_receipt(self, fn: Any, gas: int | None = None) -> TxReceipt:
        return self.wallet.transact(fn, gas)

    def _send_grid(self, session_id: int, grid: bytes) -> list[ChainEvent]:
        """A session's grid inputs in `publishGrid` parts (oracle.grid.published.grid_parts:
        64 KiB, ~2.7 M gas each; an MV grid's inputs do not fit one block), one transaction
        after the other, in order; the events of all of them."""
        from oracle.grid.published import grid_parts

        parts = grid_parts(grid)
        events: list[ChainEvent] = []
        for index, part in enumerate(parts):
            events += self._send(self.market.publishGrid(session_id, index, len(parts), part))
        return events

    @property
    def market(self) -> Any:
        return self.contracts.market.functions

    @property
    def batches(self) -> Any:
        """IFlexBatches on the market's address (FlexMarket runs them through its fallback on
        its FlexResults module, whose ABI carries them)."""
        contract = self.contracts.w3.eth.contract(
            address=self.contracts.market.address, abi=load_artifact("FlexResults").abi
        )
        return contract.functions

    @property
    def registry(self) -> Any:
        return self.contracts.registry.functions

    @property
    def token(self) -> Any:
        return self.contracts.token.functions

    # --- money
    def balances(self) -> BalancesOfView:
        """(free_ueur, locked_ueur) µEUR in the market's escrow."""
        return BalancesOfView.from_abi(self.wallet.call(self.market.balancesOf(self.address)))

    def token_balance(self) -> int:
        return int(self.wallet.call(self.token.balanceOf(self.address)))

    def deposit(self, amount_ueur: int) -> list[ChainEvent]:
        """Approve the market and deposit into the free balance."""
        self._send(self.token.approve(self.contracts.market.address, amount_ueur))
        return self._send(self.market.deposit(amount_ueur))

    def withdraw(self, amount_ueur: int) -> list[ChainEvent]:
        return self._send(self.market.withdraw(amount_ueur))

    def withdraw_all(self) -> int:
        free, _ = self.balances()
        if free:
            self.withdraw(free)
        return free

    # --- permissionless steps
    def settle_award(
        self, session_id: int, award_index: int, gas: int | None = None
    ) -> list[ChainEvent]:
        """Settle one award. With `gas`, the transaction is sent without an estimate: a node
        that mines only on transactions estimates against its latest block, whose time may
        still be inside the award's correction window (the mined block's time is not)."""
        return self._send(self.market.settleAward(session_id, award_index), gas)

    def settle_awards(self, session_id: int, from_index: int, count: int) -> list[ChainEvent]:
        return self._send(self.market.settleAwards(session_id, from_index, count))

    def forfeit_bond(self, bid: bytes) -> list[ChainEvent]:
        """One unrevealed bid's bond to the session operator (from the reveal deadline)."""
        return self._send(self.market.forfeitBond(bid))

    def forfeit_bonds(self, session_id: int, seller: str) -> list[ChainEvent]:
        """Every unrevealed bond of `seller` in the session at once (one storage write,
        `BondsForfeited`); `release_seller_funds` does it too."""
        return self._send(self.market.forfeitBonds(session_id, seller))

    def release_budget(self, session_id: int, need_index: int) -> list[ChainEvent]:
        return self._send(self.market.releaseBudget(session_id, need_index))

    def release_seller_funds(self, session_id: int, seller: str) -> list[ChainEvent]:
        return self._send(self.market.releaseSellerFunds(session_id, seller))

    # --- reads: typed records of python_client.contract_types, fields by name
    def session(self, session_id: int) -> SessionView:
        return SessionView.from_abi(self.wallet.call(self.market.session(session_id)))

    def award(self, session_id: int, award_index: int) -> AwardView:
        return AwardView.from_abi(self.wallet.call(self.market.award(session_id, award_index)))

    def bid(self, bid: bytes) -> BidView:
        return BidView.from_abi(self.wallet.call(self.market.bid(bid)))

    def need(self, session_id: int, need_index: int) -> NeedView:
        return NeedView.from_abi(self.wallet.call(self.market.need(session_id, need_index)))

    def participation(self, session_id: int, seller: str) -> Participation:
        raw = self.wallet.call(self.market.participation(session_id, seller))
        return Participation.from_abi(raw)


class AdminClient(ParticipantClient):
    """The admin: roles, minting (demo), disputes, reinstatement."""

    ROLE_NAMES = ROLES

    def role_id(self, role: str) -> bytes:
        """The role's id (FlexRoles.sol, mirrored in python_client.contract_types)."""
        if role not in ROLE_IDS:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        return ROLE_IDS[role]

    def grant_role(self, role: str, account: str) -> list[ChainEvent]:
        return self._send(self.registry.grantRole(self.role_id(role), account))

    def mint(self, to: str, amount_ueur: int) -> list[ChainEvent]:
        return self._send(self.token.mint(to, amount_ueur))

    def resolve_dispute(self, session_id: int, result_stands: bool) -> list[ChainEvent]:
        return self._send(self.market.resolveDispute(session_id, result_stands))

    def reinstate_seller(self, seller: str) -> list[ChainEvent]:
        return self._send(self.market.reinstateSeller(seller))

    def set_minimum_quorum(self, minimum_quorum: int) -> list[ChainEvent]:
        """The deployment-wide minimum attestation quorum (>= 1) of sessions opened later."""
        return self._send(self.market.setMinimumQuorum(minimum_quorum))

    def minimum_quorum(self) -> int:
        return int(self.wallet.call(self.market.minimumQuorum()))


class BuyerClient(ParticipantClient):
    """DSO, TSO or BRP posting needs."""

    def post_need(self, need: NeedParams) -> int:
        events = self._send(self.market.postNeed(need.as_tuple()))
        return int(next(e for e in events if e.name == "NeedPosted").args["needIndex"])


class DsoClient(BuyerClient):
    """The DSO: zones, pre-qualification, sessions, needs."""

    def register_zone(self, zone: bytes, limit_w: int = 0) -> list[ChainEvent]:
        return self._send(self.registry.registerZone(zone, limit_w))

    def prequalify(self, asset: bytes, prequalified: bool = True) -> list[ChainEvent]:
        return self._send(self.registry.setPrequalified(asset, prequalified))

    def open_session(self, params: SessionParams) -> int:
        events = self._send(self.market.openSession(params.as_tuple()))
        return int(next(e for e in events if e.name == "SessionOpened").args["sessionId"])

    def publish_coordination(self, session_id: int, coordination: bytes) -> list[ChainEvent]:
        """The coordination inputs of a session this DSO opened, before gate closure."""
        return self._send(self.market.publishCoordination(session_id, coordination))

    def publish_grid(self, session_id: int, grid: bytes) -> list[ChainEvent]:
        """The grid inputs of a session this DSO opened, before gate closure (canonical JSON,
        oracle.grid.published.grid_json), in parts (see ParticipantClient._send_grid)."""
        return self._send_grid(session_id, grid)


class AggregatorClient(ParticipantClient):
    """A flexibility service provider: assets, joining, sealed bids."""

    def register_asset(
        self,
        asset: bytes,
        asset_type: AssetType,
        p_max_w: int,
        p_min_w: int,
        zone: bytes,
        owner: str,
    ) -> list[ChainEvent]:
        return self._send(
            self.registry.registerAsset(asset, int(asset_type), p_max_w, p_min_w, zone, owner)
        )

    def transfer_management(self, asset: bytes, new_manager: str) -> list[ChainEvent]:
        return self._send(self.registry.transferManagement(asset, new_manager))

    def join_session(self, session_id: int, bids: int) -> list[ChainEvent]:
        return self._send(self.market.joinSession(session_id, bids))

    def commitment_of(self, session_id: int, bid: BidFields) -> bytes:
        return commitment(session_id, self.address, bid)

    def bid_id_of(self, session_id: int, bid: BidFields) -> bytes:
        return bid_id(self.address, self.commitment_of(session_id, bid))

    def commit_bid(self, session_id: int, bid: BidFields) -> bytes:
        """Commit one sealed bid; returns its id. The fields stay in this process."""
        self._send(self.market.commitBid(session_id, self.commitment_of(session_id, bid)))
        return self.bid_id_of(session_id, bid)

    def commit_bids(
        self, session_id: int, bids: list[BidFields], per_tx: int = 100, gas_per_bid: int = 30_000
    ) -> list[bytes]:
        """Commit many bids: `per_tx` commitments per `commitBids` transaction, all the
        transactions signed here and sent in one batched request."""
        commitments = [self.commitment_of(session_id, b) for b in bids]
        calls = [
            self.market.commitBids(session_id, commitments[i : i + per_tx])
            for i in range(0, len(commitments), per_tx)
        ]
        gas = 60_000 + gas_per_bid * min(per_tx, len(commitments))
        self.wallet.send_batch(calls, gas=gas)
        return [bid_id(self.address, c) for c in commitments]

    def commit_batch(self, session_id: int, bids: list[BidFields]) -> Batch:
        """Commit `bids` as one batch (one Merkle root, one transaction, one fresh storage
        slot whatever their number; counted against the joined allowance). The returned
        batch (fields, tree, bid ids) stays in this process for the reveal."""
        batch = Batch.build(self.contracts.market.address, session_id, self.address, bids)
        self._send(self.batches.commitBatch(session_id, batch.root, batch.count))
        return batch

    def reveal_batch(
        self, batch: Batch, indices: list[int] | None = None, bids_per_call: int = 1000
    ) -> list[ChainEvent]:
        """Reveal a batch's bids (default all): one `revealBatch` transaction per
        `bids_per_call` bids (at most 256 assets named per call), each with a multiproof."""
        if indices is None:
            chunks = batch.reveal_chunks(bids_per_call=bids_per_call)
        else:
            chosen = sorted(indices)
            chunks = [chosen[i : i + bids_per_call] for i in range(0, len(chosen), bids_per_call)]
        events: list[ChainEvent] = []
        for chunk in chunks:
            events += self._send(self.batches.revealBatch(*batch.reveal_args(chunk)))
        return events

    def reveal_bid(self, session_id: int, bid: BidFields) -> list[ChainEvent]:
        return self._send(self.market.revealBid(bid.reveal_tuple(session_id)))

    def reveal_bids(
        self, session_id: int, bids: list[BidFields], gas_per_asset: int = 12_000
    ) -> None:
        """Reveal many bids in one batched request (one transaction each)."""
        calls = [self.market.revealBid(b.reveal_tuple(session_id)) for b in bids]
        gas = 120_000 + gas_per_asset * max((len(b.asset_ids) for b in bids), default=0)
        if calls:
            self.wallet.send_batch(calls, gas=gas)


class OracleClient(ParticipantClient):
    """The market operator: sessions and clearing results."""

    def open_session(self, params: SessionParams) -> int:
        events = self._send(self.market.openSession(params.as_tuple()))
        return int(next(e for e in events if e.name == "SessionOpened").args["sessionId"])

    def publish_coordination(self, session_id: int, coordination: bytes) -> list[ChainEvent]:
        """The session's coordination inputs (see python_client.shares.coordination_json);
        the session's operator, before gate closure."""
        return self._send(self.market.publishCoordination(session_id, coordination))

    def publish_grid(self, session_id: int, grid: bytes) -> list[ChainEvent]:
        """The session's grid inputs (canonical JSON, oracle.grid.published.grid_json), before
        gate closure: what the session is cleared with on every node. In parts (see
        ParticipantClient._send_grid)."""
        return self._send_grid(session_id, grid)

    def load_batched_bids(
        self, batch_reveals: list[Any], bid_ids: set[bytes], per_tx: int = 100
    ) -> list[ChainEvent]:
        """Before committing awards of batched bids: write those of `bid_ids` into the bid
        records (`loadBatchedBids`), each with its proof against the terms root its
        `BatchRevealed` stored. `batch_reveals`: the args of the session's BatchRevealed
        events (web3 or verifier decoding); bids loaded already are skipped on chain."""
        wanted = {"0x" + bytes(b).hex() for b in bid_ids}
        zone_index: dict[str, int] = {}
        entries: list[Any] = []
        for args in batch_reveals:
            records = revealed_bids(args, 0)
            for r in records:
                if r["zone"] not in zone_index:
                    zone_index[r["zone"]] = int(
                        self.registry.zoneIndexOf(bytes.fromhex(r["zone"][2:])).call()
                    )
            entries += load_args(as_bytes(args["termsRoot"]), records, zone_index, wanted)
        events: list[ChainEvent] = []
        for i in range(0, len(entries), per_tx):
            events += self._send(self.batches.loadBatchedBids(entries[i : i + per_tx]))
        return events

    def commit_result(
        self,
        session_id: int,
        input_hash: bytes,
        result_hash: bytes,
        awards: list[AwardRow],
        page_size: int = 200,
    ) -> list[ChainEvent]:
        """Commit the awards sorted by (bid id, need), in pages of `page_size` rows."""
        rows = sorted(awards, key=AwardRow.sort_key)
        events: list[ChainEvent] = []
        pages = [rows[i : i + page_size] for i in range(0, len(rows), page_size)] or [[]]
        for n, page in enumerate(pages):
            events += self._send(
                self.market.commitResult(
                    session_id,
                    input_hash,
                    result_hash,
                    [r.as_tuple() for r in page],
                    n == len(pages) - 1,
                )
            )
        return events


class MeteringClient(ParticipantClient):
    """The metering data operator: delivered power per award."""

    def record_deliveries(
        self, session_id: int, delivered_w: dict[int, int], evidence_hash: bytes
    ) -> list[ChainEvent]:
        """Delivered W per award index, with the hash of the evidence (the metering report,
        e.g. of the meter data file; not zero). Each award's correction window opens."""
        indices = sorted(delivered_w)
        return self._send(
            self.market.recordDeliveries(
                session_id, indices, [delivered_w[i] for i in indices], evidence_hash
            )
        )

    def correct_delivery(
        self, session_id: int, award_index: int, delivered_w: int, evidence_hash: bytes
    ) -> list[ChainEvent]:
        """Correct a recorded delivery within its correction window (`DeliveryCorrected`)."""
        return self._send(
            self.market.correctDelivery(session_id, award_index, delivered_w, evidence_hash)
        )


class ValidatorClient(ParticipantClient):
    """A validator node: attests or disputes results."""

    def attest(self, session_id: int, result_hash: bytes) -> list[ChainEvent]:
        return self._send(self.market.attestResult(session_id, result_hash))

    def dispute(self, session_id: int, reason_hash: bytes) -> list[ChainEvent]:
        return self._send(self.market.disputeResult(session_id, reason_hash))
