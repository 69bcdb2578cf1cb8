"""Fixtures of the brownie contract tests (`make test-contracts`, run in .venv-brownie).

The main pytest run (.venv, no brownie) skips this folder: these tests need brownie's
plugin, its `accounts`/`chain` fixtures and a running anvil.

`env` deploys the three contracts once per module, grants every role, mints and deposits
money; `fn_isolation` reverts the chain after each test. `Env` holds small helpers that
build the calldata tuples (sessions, needs, bids, awards) in the order of FlexTypes.sol.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from python_client.contract_types import (
    NO_LIMIT,
    AssetType,
    BidStatus,
    BuyerRole,
    Direction,
    Pricing,
    ResultStatus,
)

try:
    import brownie
    from brownie.exceptions import VirtualMachineError
    from eth_abi import encode
    from eth_utils import keccak
except ImportError:  # main .venv: nothing here to collect
    brownie = None
    collect_ignore_glob = ["test_*.py"]

# The contracts' enums as the plain ints brownie encodes, from their one mirror (generated
# from the compiled contracts): a new or removed member fails the unpacking here.
UP, DOWN = (int(m) for m in Direction)
PAY_AS_BID, UNIFORM = (int(m) for m in Pricing)
BUYER_DSO, BUYER_TSO, BUYER_BRP = (int(m) for m in BuyerRole)
LOAD, GENERATION, STORAGE = (int(m) for m in AssetType)
BID_NONE, BID_COMMITTED, BID_REVEALED, BID_FORFEITED, BID_RELEASED = (int(m) for m in BidStatus)
RES_NONE, RES_COMMITTING, RES_PENDING, RES_FINAL, RES_DISPUTED, RES_VOIDED = (
    int(m) for m in ResultStatus
)

INITIAL_DEPOSIT_UEUR = 10**12  # 1,000,000 EUR each
COMMITMENT_TYPES = [
    "uint64",
    "address",
    "bytes32",
    "uint8",
    "bool",
    "uint40",
    "uint40",
    "uint64",
    "uint256",
    "bytes32[]",
    "bytes32",
]


def label(text: str) -> str:
    """A UTF-8 label as bytes32 hex (zone ids, market ids)."""
    raw = text.encode()
    assert len(raw) <= 32
    return "0x" + raw.ljust(32, b"\0").hex()


def asset_id(meter_code: str, key: bytes = b"flexmarket-test-key") -> str:
    """Keyed hash of a meter code, as the SDK computes it (the code stays off chain)."""
    return "0x" + keccak(encode(["bytes32", "string"], [keccak(key), meter_code])).hex()


def commitment(seller: str, bid: tuple[Any, ...]) -> str:
    session_id, zone, direction, divisible, q, min_q, price, mask, assets, salt = bid
    values = [
        session_id,
        seller,
        _b32(zone),
        direction,
        divisible,
        q,
        min_q,
        price,
        mask,
        [_b32(a) for a in assets],
        _b32(salt),
    ]
    return "0x" + keccak(encode(COMMITMENT_TYPES, values)).hex()


def bid_id_of(seller: str, commitment_hex: str) -> str:
    return "0x" + keccak(encode(["address", "bytes32"], [seller, _b32(commitment_hex)])).hex()


def _b32(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def error_name(exc: Exception) -> str:
    message = getattr(exc, "revert_msg", None) or str(exc)
    return message.split(":")[0].strip()


@contextmanager
def reverts(expected: str) -> Iterator[None]:
    """Assert that the block reverts with the custom error named `expected`."""
    try:
        yield
    except VirtualMachineError as exc:
        assert error_name(exc) == expected, f"reverted with {exc.revert_msg!r}, expected {expected}"
    else:
        raise AssertionError(f"did not revert (expected {expected})")


class Env:
    """Deployed contracts, named accounts and helpers."""

    def __init__(self, accounts: Any, chain: Any, token: Any, registry: Any, market: Any) -> None:
        self.accounts = accounts
        self.chain = chain
        self.token = token
        self.registry = registry
        self.market = market
        (
            self.admin,
            self.dso,
            self.tso,
            self.brp,
            self.agg1,
            self.agg2,
            self.oracle,
            self.validator,
            self.metering,
            self.owner,
        ) = accounts[:10]
        self.zone = label("T1")
        self.zone2 = label("T2")
        self._salts = itertools.count(1)
        self._auto_attest: set[int] = set()
        self._meters = itertools.count(1)

    # ---- setup
    def setup(self) -> None:
        r = self.registry
        for role, account in [
            (r.DSO_ROLE(), self.dso),
            (r.TSO_ROLE(), self.tso),
            (r.BRP_ROLE(), self.brp),
            (r.AGGREGATOR_ROLE(), self.agg1),
            (r.AGGREGATOR_ROLE(), self.agg2),
            (r.ORACLE_ROLE(), self.oracle),
            (r.VALIDATOR_ROLE(), self.validator),
            (r.METERING_ROLE(), self.metering),
        ]:
            r.grantRole(role, account, {"from": self.admin})
        r.registerZone(self.zone, 175_000, {"from": self.dso})
        r.registerZone(self.zone2, 0, {"from": self.dso})
        for account in [self.dso, self.tso, self.brp, self.agg1, self.agg2, self.oracle]:
            self.fund(account, INITIAL_DEPOSIT_UEUR)

    def fund(self, account: Any, amount: int) -> None:
        self.token.mint(account, amount, {"from": self.admin})
        self.token.approve(self.market, amount, {"from": account})
        self.market.deposit(amount, {"from": account})

    def balances(self, account: Any) -> tuple[int, int]:
        free, locked = self.market.balancesOf(account)
        return int(free), int(locked)

    # ---- assets
    def register_assets(
        self,
        manager: Any,
        count: int = 4,
        p_max_w: int = 3700,
        p_min_w: int = 0,
        zone: str | None = None,
        prequalify: bool = True,
    ) -> list[str]:
        ids = []
        for _ in range(count):
            aid = asset_id(f"meter-{next(self._meters)}")
            self.registry.registerAsset(
                aid, LOAD, p_max_w, p_min_w, zone or self.zone, self.owner, {"from": manager}
            )
            if prequalify:
                self.registry.setPrequalified(aid, True, {"from": self.dso})
            ids.append(aid)
        return sorted(ids)

    # ---- sessions
    def session_params(self, **overrides: Any) -> tuple[Any, ...]:
        now = self.now()
        p = {
            "marketId": label("T1-PowerMax-2014W"),
            "product": label("PowerMax"),
            "pricing": PAY_AS_BID,
            "slotCount": 14,
            "slotMinutes": 15,
            "deliveryStart": now + 40_000,
            "biddingEnd": now + 10_000,
            "revealDeadline": now + 20_000,
            "clearingDeadline": now + 30_000,
            "minBidW": 1000,
            "granularityW": 100,
            "priceFloorEurPerMw": 0,
            "priceCapEurPerMw": NO_LIMIT,
            "unmetPenaltyEurPerMw": 10**12,
            "bidBondUeur": 1_000_000,
            "collateralUeurPerW": 50_000,
            "shortfallPenaltyEurPerMw": 100_000,
            "toleranceBps": 1000,
            "attestationQuorum": 1,
            "attestationDeadline": now + 35_000,
            "deliveryDeadline": now + 100_000,
            "correctionWindowS": 0,
        }
        p.update(overrides)
        return tuple(p.values())

    def open_session(self, opener: Any = None, **overrides: Any) -> int:
        """A session (quorum 1 unless overridden). Its result is attested by `validator` as
        soon as `commit_result` completes it, unless the test set the quorum itself."""
        tx = self.market.openSession(self.session_params(**overrides), {"from": opener or self.dso})
        sid = int(tx.return_value)
        if "attestationQuorum" not in overrides:
            self._auto_attest.add(sid)
        else:  # ids repeat after the chain is reverted between tests
            self._auto_attest.discard(sid)
        return sid

    def session(self, session_id: int) -> Any:
        """(operator, timing, rules, money, inputHash, resultHash)."""
        return self.market.session(session_id)

    def status(self, session_id: int) -> int:
        return int(self.market.session(session_id)[3][0])

    def post_need(
        self,
        session_id: int,
        quantity_w: int = 37_800,
        budget: int | None = None,
        buyer: Any = None,
        role: int = BUYER_DSO,
        zone: str | None = None,
        direction: int = UP,
        max_price: int = NO_LIMIT,
    ) -> int:
        buyer = buyer or self.dso
        budget = budget if budget is not None else quantity_w * 1_000_000
        need = (
            session_id,
            self.zone if zone is None else zone,
            direction,
            role,
            max_price,
            budget,
            [quantity_w],
        )
        return int(self.market.postNeed(need, {"from": buyer}).return_value)

    def join(self, session_id: int, seller: Any, bids: int = 4) -> Any:
        return self.market.joinSession(session_id, bids, {"from": seller})

    def make_bid(
        self,
        session_id: int,
        assets: list[str],
        quantity_w: int = 12_300,
        price: int = 500_000,
        divisible: bool = False,
        min_q: int = 0,
        mask: int | None = None,
        zone: str | None = None,
        direction: int = UP,
    ) -> tuple[Any, ...]:
        slot_count = int(self.session(session_id)[1][4])
        mask = (1 << slot_count) - 1 if mask is None else mask
        salt = "0x" + next(self._salts).to_bytes(32, "big").hex()
        return (
            session_id,
            zone or self.zone,
            direction,
            divisible,
            quantity_w,
            min_q,
            price,
            mask,
            assets,
            salt,
        )

    def commit(self, seller: Any, bid: tuple[Any, ...]) -> tuple[str, Any]:
        c = commitment(seller.address, bid)
        tx = self.market.commitBid(bid[0], c, {"from": seller})
        return bid_id_of(seller.address, c), tx

    def reveal(self, seller: Any, bid: tuple[Any, ...]) -> Any:
        return self.market.revealBid(bid, {"from": seller})

    def revealed_bid(self, session_id: int, **bid: Any) -> str:
        """agg1 (joined) commits a bid (`make_bid` keywords) over 4 fresh assets of its own,
        then reveals it after gate closure: its id. The chain is in the reveal phase."""
        made = self.make_bid(session_id, self.register_assets(self.agg1, 4), **bid)
        bid_id, _ = self.commit(self.agg1, made)
        self.to_reveal(session_id)
        self.reveal(self.agg1, made)
        return bid_id

    def to_reveal(self, session_id: int) -> None:
        self.sleep_until(int(self.session(session_id)[1][0]))

    def to_clearing(self, session_id: int) -> None:
        self.sleep_until(int(self.session(session_id)[1][1]))

    def to_after_clearing(self, session_id: int) -> None:
        self.sleep_until(int(self.session(session_id)[1][2]))

    def now(self) -> int:
        """The chain's time: the latest block's timestamp (brownie's chain.time() follows
        the wall clock and can lag the node's by a second)."""
        return int(brownie.web3.eth.get_block("latest").timestamp)

    def sleep_until(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (if the chain is not past it): later blocks follow it."""
        if timestamp > self.now():
            brownie.web3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])
        brownie.web3.provider.make_request("evm_mine", [])

    # ---- result
    @staticmethod
    def award(
        bid_id: str, quantity_w: int, price: int, need_index: int = 0, payment: int | None = None
    ) -> tuple[Any, ...]:
        return (
            bid_id,
            need_index,
            quantity_w,
            price,
            quantity_w * price if payment is None else payment,
        )

    def commit_result(
        self,
        session_id: int,
        awards: list[tuple[Any, ...]],
        last: bool = True,
        input_hash: str | None = None,
        result_hash: str | None = None,
    ) -> Any:
        awards = sorted(awards, key=lambda a: (int(a[0], 16), a[1]))
        tx = self.market.commitResult(
            session_id,
            input_hash or label("input"),
            result_hash or label("result"),
            awards,
            last,
            {"from": self.oracle},
        )
        if last and session_id in self._auto_attest:
            self.market.attestResult(
                session_id, result_hash or label("result"), {"from": self.validator}
            )
        return tx

    def revealed_session(
        self, bids: int = 2, extra_needs: list[dict[str, Any]] | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """A session with one need (plus `extra_needs`, post_need keyword sets), agg1 bidding
        `bids` indivisible 12,300 W bids (4 assets each, prices 500k, 600k, ...) and agg2 one
        divisible 15,400 W bid, all revealed; the chain is at the reveal deadline."""
        sid = self.open_session(**overrides)
        self.post_need(sid)
        for need in extra_needs or []:
            self.post_need(sid, **need)
        self.join(sid, self.agg1, bids)
        self.join(sid, self.agg2, 1)
        out: dict[str, Any] = {"session": sid, "bids": [], "reveals": []}
        pending = []
        for i in range(bids):
            assets = self.register_assets(self.agg1, 4)
            bid = self.make_bid(sid, assets, 12_300, 500_000 + 100_000 * i)
            bid_id, _ = self.commit(self.agg1, bid)
            pending.append((self.agg1, bid, bid_id))
        assets = self.register_assets(self.agg2, 5)
        bid = self.make_bid(sid, assets, 15_400, 1_000_000, divisible=True)
        bid_id, _ = self.commit(self.agg2, bid)
        pending.append((self.agg2, bid, bid_id))
        self.to_reveal(sid)
        for seller, bid, bid_id in pending:
            out["reveals"].append(self.reveal(seller, bid))
            out["bids"].append(bid_id)
        self.to_clearing(sid)
        return out


if brownie is not None:

    @pytest.fixture(scope="module")
    def env(
        module_isolation: Any,
        accounts: Any,
        chain: Any,
        FlexToken: Any,
        FlexRegistry: Any,
        FlexMarket: Any,
    ) -> Env:
        admin = accounts[0]
        token = FlexToken.deploy(admin, {"from": admin})
        registry = FlexRegistry.deploy(admin, {"from": admin})
        market = FlexMarket.deploy(token, registry, {"from": admin})
        e = Env(accounts, chain, token, registry, market)
        e.setup()
        return e

    @pytest.fixture(scope="module")
    def revealed(env: Env) -> dict[str, Any]:
        """One default `Env.revealed_session()` per module, shared (each test reverts)."""
        return env.revealed_session()

    @pytest.fixture(autouse=True)
    def isolation(fn_isolation: Any) -> None:
        pass
