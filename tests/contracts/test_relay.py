"""FlexRelay: joins, commits and reveals a seller signed (EIP-712), relayed by someone else.

The seller here is a fresh key that never sends a market transaction itself: the relayer
(another account) pays the gas, the market acts for the signer. The digest is built by hand
from the type strings of IFlexRelay, an independent check of the contract's type hashes.
"""

import pytest
from brownie import FlexRelay, web3
from brownie.exceptions import VirtualMachineError
from conftest import BID_COMMITTED, BID_REVEALED, commitment, error_name, reverts
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

JOIN = (
    "JoinSession(address seller,uint64 sessionId,uint16 addedBids,uint256 nonce,uint256 deadline)"
)
COMMIT = (
    "CommitBid(address seller,uint64 sessionId,bytes32 commitment,uint256 nonce,uint256 deadline)"
)
REVEAL = "RevealBid(address seller,bytes32 commitment,uint256 nonce,uint256 deadline)"
DOMAIN = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
FAR = 2**40


def _domain(relay, chain_id=None):
    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=DOMAIN),
                keccak(text="FlexRelay"),
                keccak(text="1"),
                chain_id or web3.eth.chain_id,
                relay.address,
            ],
        )
    )


def _sign(key, relay, type_string, types, values, chain_id=None):
    struct = keccak(encode(["bytes32", *types], [keccak(text=type_string), *values]))
    digest = keccak(b"\x19\x01" + _domain(relay, chain_id) + struct)
    return Account.unsafe_sign_hash(digest, key).signature


class Seller:
    def __init__(self, key, account):
        self.key = key
        self.account = account
        self.address = account.address


@pytest.fixture(scope="module")
def relay(env):
    return FlexRelay.at(env.market.relay())


@pytest.fixture(scope="module")
def seller(env, accounts):
    """A fresh aggregator key: funded with ETH only to register its assets."""
    key = "0x" + keccak(text="flexmarket relay test seller").hex()
    account = accounts.add(key)
    env.admin.transfer(account, 10**18)
    env.registry.grantRole(env.registry.AGGREGATOR_ROLE(), account, {"from": env.admin})
    env.fund(account, 10**12)
    return Seller(key, account)


@pytest.fixture
def relayer(env):
    return env.oracle  # any account: the relay checks signatures, not the caller


def _join(env, relay, seller, sid, bids, nonce, deadline=FAR, key=None, relayer=None):
    sig = _sign(
        key or seller.key,
        relay,
        JOIN,
        ["address", "uint64", "uint16", "uint256", "uint256"],
        [seller.address, sid, bids, nonce, deadline],
    )
    return relay.joinSessionFor(
        seller.address, sid, bids, nonce, deadline, sig, {"from": relayer or env.validator}
    )


def _commit_request(relay, seller, sid, c, nonce, deadline=FAR, key=None, chain_id=None):
    sig = _sign(
        key or seller.key,
        relay,
        COMMIT,
        ["address", "uint64", "bytes32", "uint256", "uint256"],
        [seller.address, sid, bytes.fromhex(c[2:]), nonce, deadline],
        chain_id,
    )
    return (seller.address, sid, c, nonce, deadline, sig)


def _reveal_sig(relay, seller, bid, nonce, deadline=FAR, key=None):
    c = commitment(seller.address, bid)
    return _sign(
        key or seller.key,
        relay,
        REVEAL,
        ["address", "bytes32", "uint256", "uint256"],
        [seller.address, bytes.fromhex(c[2:]), nonce, deadline],
    )


def _selector(signature):
    return keccak(text=signature)[:4]


def test_market_and_relay_name_each_other(env, relay):
    assert relay.market() == env.market.address
    assert relay.domainSeparator() == "0x" + _domain(relay).hex()


def test_join_commit_reveal_through_the_relay_act_for_the_signer(env, relay, seller, relayer):
    sid = env.open_session()
    tx = _join(env, relay, seller, sid, 2, nonce=7, relayer=relayer)
    assert tx.events["SessionJoined"]["seller"] == seller.address
    assert tx.events["Relayed"]["seller"] == seller.address and relay.nonceUsed(seller.address, 7)
    assert env.market.participation(sid, seller.address)[0] == 2
    assets = env.register_assets(seller.account, 4)
    bid = env.make_bid(sid, assets)
    c = commitment(seller.address, bid)
    tx = relay.commitBidFor(_commit_request(relay, seller, sid, c, nonce=8), {"from": relayer})
    bid_id = tx.return_value
    core, _ = env.market.bid(bid_id)
    assert (core[0], core[2]) == (seller.address, BID_COMMITTED)
    assert tx.events["BidCommitted"]["seller"] == seller.address
    env.to_reveal(sid)
    tx = relay.revealBidFor(
        seller.address, bid, 9, FAR, _reveal_sig(relay, seller, bid, 9), {"from": relayer}
    )
    assert tx.return_value == bid_id
    assert env.market.bid(bid_id)[0][2] == BID_REVEALED
    assert tx.events["BidRevealed"]["seller"] == seller.address


def test_commit_bids_for_relays_a_batch_and_reports_refused_commits(env, relay, seller, relayer):
    sid = env.open_session()
    _join(env, relay, seller, sid, 4, nonce=99)
    assets = env.register_assets(seller.account, 4)
    bids = [env.make_bid(sid, assets) for _ in range(3)]
    cs = [commitment(seller.address, b) for b in bids]
    requests = [_commit_request(relay, seller, sid, c, 100 + i) for i, c in enumerate(cs)]
    requests.append(_commit_request(relay, seller, sid, cs[0], 200))  # same bid again
    tx = relay.commitBidsFor(requests, {"from": relayer})
    assert tx.return_value == 1
    assert len(tx.events["BidCommitted"]) == 3 and len(tx.events["Relayed"]) == 3
    failed = tx.events["RelayFailed"]
    assert (failed["seller"], failed["nonce"]) == (seller.address, 200)
    assert relay.nonceUsed(seller.address, 200)


def test_relay_reverts_when_the_deadline_passed(env, relay, seller):
    sid = env.open_session()
    deadline = env.now() - 1
    with reverts("FlexRelayExpired"):
        _join(env, relay, seller, sid, 1, nonce=1, deadline=deadline)
    c = "0x" + "11" * 32
    with reverts("FlexRelayExpired"):
        relay.commitBidFor(
            _commit_request(relay, seller, sid, c, 2, deadline), {"from": env.oracle}
        )


def test_relay_reverts_when_the_nonce_is_used(env, relay, seller):
    sid = env.open_session()
    _join(env, relay, seller, sid, 1, nonce=5)
    with reverts("FlexRelayNonceUsed"):
        _join(env, relay, seller, sid, 1, nonce=5)  # a replay would lock another bond
    c = "0x" + "22" * 32
    with reverts("FlexRelayNonceUsed"):  # nonces are shared by every message kind
        relay.commitBidFor(_commit_request(relay, seller, sid, c, 5), {"from": env.oracle})


def test_relay_reverts_when_another_key_signed(env, relay, seller):
    sid = env.open_session()
    other = "0x" + keccak(text="someone else").hex()
    with reverts("FlexRelayInvalidSignature"):
        _join(env, relay, seller, sid, 1, nonce=1, key=other)
    c = "0x" + "33" * 32
    with reverts("FlexRelayInvalidSignature"):
        relay.commitBidFor(
            _commit_request(relay, seller, sid, c, 2, key=other), {"from": env.oracle}
        )


def test_relay_reverts_when_signed_for_another_chain(env, relay, seller):
    sid = env.open_session()
    c = "0x" + "44" * 32
    request = _commit_request(relay, seller, sid, c, 3, chain_id=web3.eth.chain_id + 1)
    with reverts("FlexRelayInvalidSignature"):
        relay.commitBidFor(request, {"from": env.oracle})


def test_relay_reverts_when_a_signed_field_is_changed(env, relay, seller):
    sid = env.open_session()
    c = "0x" + "55" * 32
    request = list(_commit_request(relay, seller, sid, c, 4))
    request[2] = "0x" + "56" * 32
    with reverts("FlexRelayInvalidSignature"):
        relay.commitBidFor(tuple(request), {"from": env.oracle})
    request = list(_commit_request(relay, seller, sid, c, 4))
    request[5] = b"\x01" * 64  # malformed (64 bytes, not 65)
    with reverts("FlexRelayInvalidSignature"):
        relay.commitBidFor(tuple(request), {"from": env.oracle})
    assert not relay.nonceUsed(seller.address, 4)  # nothing was spent


def test_reveal_for_reverts_when_the_revealed_fields_differ_from_the_signed_ones(
    env, relay, seller
):
    sid = env.open_session()
    _join(env, relay, seller, sid, 1, nonce=30)
    bid = env.make_bid(sid, env.register_assets(seller.account, 4))
    c = commitment(seller.address, bid)
    relay.commitBidFor(_commit_request(relay, seller, sid, c, 31), {"from": env.oracle})
    env.to_reveal(sid)
    sig = _reveal_sig(relay, seller, bid, 32)
    changed = list(bid)
    changed[6] = bid[6] + 1  # price
    with reverts("FlexRelayInvalidSignature"):
        relay.revealBidFor(seller.address, tuple(changed), 32, FAR, sig, {"from": env.oracle})


def test_relay_passes_the_market_errors_through(env, relay, seller):
    sid = env.open_session()
    bid = env.make_bid(sid, env.register_assets(seller.account, 4))
    c = commitment(seller.address, bid)
    with reverts("FlexMarketNotJoined"):  # issue 11: no commit without a joined bond
        relay.commitBidFor(_commit_request(relay, seller, sid, c, 39), {"from": env.oracle})
    _join(env, relay, seller, sid, 2, nonce=38)
    relay.commitBidFor(_commit_request(relay, seller, sid, c, 40), {"from": env.oracle})
    with reverts("FlexMarketBidExists"):
        relay.commitBidFor(_commit_request(relay, seller, sid, c, 41), {"from": env.oracle})
    assert not relay.nonceUsed(seller.address, 41)  # the revert undid the nonce


def test_a_batch_skips_requests_the_relay_refuses_and_spends_no_nonce_for_them(env, relay, seller):
    """Issue 11.8: one bad request (a v of 0/1, another signer, expired, a used nonce) never
    reverts the batch; the honest commits stand and the refused ones keep their nonce."""
    sid = env.open_session()
    _join(env, relay, seller, sid, 4, nonce=49)
    good = _commit_request(relay, seller, sid, "0x" + "61" * 32, 50)
    bad = list(_commit_request(relay, seller, sid, "0x" + "62" * 32, 51))
    bad[3] = 52  # nonce changed after signing
    low_v = list(_commit_request(relay, seller, sid, "0x" + "63" * 32, 53))
    low_v[5] = low_v[5][:64] + bytes([low_v[5][64] - 27])  # v = 0/1: OpenZeppelin refuses it
    expired = _commit_request(relay, seller, sid, "0x" + "64" * 32, 54, deadline=env.now() - 1)
    reused = _commit_request(relay, seller, sid, "0x" + "65" * 32, 49)  # the join's nonce
    batch = [tuple(bad), good, tuple(low_v), expired, reused]
    tx = relay.commitBidsFor(batch, {"from": env.oracle})
    assert tx.return_value == 4
    assert len(tx.events["BidCommitted"]) == 1 and tx.events["Relayed"]["nonce"] == 50
    reasons = [bytes(e["reason"])[:4] for e in tx.events["RelayFailed"]]
    sig, exp, used = (_selector(n) for n in ("FlexRelayInvalidSignature(address,address)",
                                             "FlexRelayExpired(address,uint256)",
                                             "FlexRelayNonceUsed(address,uint256)"))
    assert reasons == [sig, sig, exp, used]
    for nonce in (51, 52, 53, 54):
        assert not relay.nonceUsed(seller.address, nonce)


def test_a_commit_the_market_refused_in_a_batch_cannot_be_replayed(env, relay, seller):
    sid = env.open_session()
    _join(env, relay, seller, sid, 1, nonce=70)
    first = _commit_request(relay, seller, sid, "0x" + "71" * 32, 71)
    over = _commit_request(relay, seller, sid, "0x" + "72" * 32, 72)  # beyond the allowance
    tx = relay.commitBidsFor([first, over], {"from": env.oracle})
    assert tx.return_value == 1 and relay.nonceUsed(seller.address, 72)
    assert bytes(tx.events["RelayFailed"]["reason"])[:4] == _selector(
        "FlexMarketTooManyBids(uint64,address,uint16)")
    tx = relay.commitBidsFor([over], {"from": env.oracle})  # replayed: refused, nothing done
    assert bytes(tx.events["RelayFailed"]["reason"])[:4] == _selector(
        "FlexRelayNonceUsed(address,uint256)")


def test_a_relayer_cannot_burn_a_batched_commit_by_starving_its_gas(env, relay, seller):
    """Issue 11.7: whatever gas the relayer gives, a commit either happens or the whole batch
    reverts with its nonce unused; it never fails for lack of gas with its nonce spent.
    (Each commit gets a fixed 100,000 gas and a failed one is checked against EIP-150's
    63/64 rule, FlexRelayGasTooLow; a starved call usually leaves the relay too little to go
    on at all, and the batch then runs out of gas: reverted either way.)"""
    sid = env.open_session()
    _join(env, relay, seller, sid, 200, nonce=1_000)
    outcomes = set()
    for i, gas in enumerate(range(60_000, 200_000, 2_500)):
        nonce = 1_001 + i
        commitment = "0x" + nonce.to_bytes(32, "big").hex()
        request = _commit_request(relay, seller, sid, commitment, nonce)
        try:
            tx = relay.commitBidsFor(
                [request], {"from": env.oracle, "gas_limit": gas, "allow_revert": True}
            )
        except VirtualMachineError as exc:  # the whole batch reverted: nothing was spent
            assert error_name(exc) in ("FlexRelayGasTooLow", "out of gas", "revert"), exc
            assert not relay.nonceUsed(seller.address, nonce)
            outcomes.add("reverted")
            continue
        assert tx.return_value == 0, f"gas {gas}: commit failed yet the nonce was spent"
        assert relay.nonceUsed(seller.address, nonce)
        outcomes.add("committed")
    assert outcomes == {"committed", "reverted"}


def test_join_for_reverts_when_the_signer_is_not_an_aggregator(env, relay, accounts):
    key = "0x" + keccak(text="not an aggregator").hex()
    stranger = Seller(key, accounts.add(key))
    sid = env.open_session()
    with reverts("FlexMarketUnauthorized"):
        _join(env, relay, stranger, sid, 1, nonce=1)


def test_appending_an_address_does_not_impersonate_without_the_relay(env):
    sid = env.open_session()
    env.join(sid, env.agg2, 1)
    c = "0x" + "77" * 32
    data = env.market.commitBid.encode_input(sid, c) + env.agg1.address[2:].lower()
    tx = env.agg2.transfer(env.market, 0, data=data)
    assert tx.events["BidCommitted"]["seller"] == env.agg2.address


def test_nonces_are_bits_of_words_each_used_once(env, relay, seller):
    """Bit `nonce % 256` of word `nonce // 256` (Permit2-style unordered nonces): the bits
    of one word are independent nonces, each single-use; the first bit set in a word pays
    for a fresh storage slot, the next ones for a set slot (what NonceSequence exploits)."""
    sid = env.open_session()
    _join(env, relay, seller, sid, 10, nonce=(0xBEEF << 8) + 1)  # another word
    word = 0xC0FFEE << 8
    first = relay.commitBidFor(
        _commit_request(relay, seller, sid, "0x" + "81" * 32, word + 1), {"from": env.oracle}
    )
    second = relay.commitBidFor(
        _commit_request(relay, seller, sid, "0x" + "82" * 32, word + 2), {"from": env.oracle}
    )
    assert relay.nonceUsed(seller.address, word + 1) and relay.nonceUsed(seller.address, word + 2)
    for unused in (word, word + 3, word + 255, word + 256 + 1, word - 256 + 1):
        assert not relay.nonceUsed(seller.address, unused)
    assert first.gas_used - second.gas_used >= 15_000  # 22,100 (fresh slot) vs 2,900
    with reverts("FlexRelayNonceUsed"):  # a reused bit reverts, alone or in a batch
        relay.commitBidFor(
            _commit_request(relay, seller, sid, "0x" + "83" * 32, word + 2), {"from": env.oracle}
        )
    batch = [
        _commit_request(relay, seller, sid, "0x" + "84" * 32, word + 3),
        _commit_request(relay, seller, sid, "0x" + "85" * 32, word + 1),
    ]
    tx = relay.commitBidsFor(batch, {"from": env.oracle})  # in a batch: skipped, reported
    assert tx.return_value == 1 and relay.nonceUsed(seller.address, word + 3)
    assert tx.events["RelayFailed"]["nonce"] == word + 1
