"""Batched sealed bids (issue 21, IFlexBatches): one Merkle root per batch, reveals with a
multiproof, every bid still revealed, forfeited, bonded, awarded and settled on its own; and
the attacks of item 3, each refused by its error name.

Leaves, trees and proofs come from `python_client.batches` (the one home of the encoding),
so these tests also check that module against the contract.
"""

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from brownie import Contract, FlexRelay, FlexResults, web3
from conftest import BID_NONE, BID_REVEALED, RES_FINAL, _b32, reverts
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from python_client.batches import (  # noqa: E402
    Batch,
    MerkleTree,
    batched_bid_id,
    bid_leaf,
    bids_hash,
    decode_records,
    load_args,
    pack_terms,
)
from python_client.records import BidFields, Direction  # noqa: E402

BATCH = (
    "CommitBatch(address seller,uint64 sessionId,bytes32 root,uint16 count,"
    "uint256 nonce,uint256 deadline)"
)
REVEAL_BATCH = (
    "RevealBatch(address seller,bytes32 root,bytes32 bidsHash,uint256 nonce,uint256 deadline)"
)
DOMAIN = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
FAR = 2**40
EVIDENCE = "0x" + "11" * 32


def fields(bid):
    """An Env.make_bid tuple as the SDK's BidFields."""
    _, zone, direction, divisible, q, min_q, price, mask, assets, salt = bid
    return BidFields(_b32(zone), Direction(direction), divisible, q, price, mask,
                     tuple(_b32(a) for a in assets), _b32(salt), min_q)  # fmt: skip


def hx(value):
    """Lowercase 0x hex of bytes or of brownie's hex values."""
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


@pytest.fixture(scope="module")
def batches(env):
    """The market's address with the IFlexBatches functions (run by its fallback)."""
    market_abi = env.market.abi
    names = {item.get("name") for item in market_abi}
    extra = [i for i in FlexResults.abi if i["type"] == "function" and i["name"] not in names]
    # one ABI for the address (brownie decodes its events by it): the market's and the batches'
    return Contract.from_abi("FlexMarket", env.market.address, market_abi + extra)


def _setup(env, seller=None, bids=4, join=None, count=None, prices=None):
    """A session with one need; `seller` (agg1) joined for `join` bids and holding a batch of
    `bids` bids (4 shared assets, 12,300 W each) built but not committed."""
    seller = seller or env.agg1
    sid = env.open_session()
    env.post_need(sid)
    env.join(sid, seller, join or bids)
    assets = env.register_assets(seller, 4)
    prices = prices or [500_000 + 10_000 * i for i in range(bids)]
    raw = [env.make_bid(sid, assets, 12_300, p) for p in prices]
    batch = Batch.build(env.market.address, sid, seller.address, [fields(b) for b in raw])
    return sid, batch


def _commit(batches, batch, seller, count=None):
    return batches.commitBatch(batch.session_id, batch.root, count or batch.count, {"from": seller})


def _reveal(batches, batch, seller, indices=None):
    return batches.revealBatch(*batch.reveal_args(indices), {"from": seller})


def _zone_index(env):
    return {env.zone: int(env.registry.zoneIndexOf(env.zone))}


def _load(env, batches, reveal_tx, wanted):
    event = reveal_tx.events["BatchRevealed"]
    records = _records(env, event)
    args = load_args(_b32(event["termsRoot"]), records, _zone_index(env), set(wanted))
    return batches.loadBatchedBids(args, {"from": env.oracle})


def _records(env, event):
    rate = int(env.session(int(event["sessionId"]))[2][4])
    return decode_records(_b32(event["batchId"]), event["seller"], int(event["sessionId"]),
                          [_b32(a) for a in event["assetIds"]], _b32(event["bids"]),
                          rate)  # fmt: skip


# ------------------------------------------------------------------ the whole life


def test_a_batched_bid_is_committed_revealed_loaded_awarded_and_settled(env, batches):
    sid, batch = _setup(env, bids=4)
    free0, locked0 = env.balances(env.agg1)
    tx = _commit(batches, batch, env.agg1)
    ev = tx.events["BatchCommitted"]
    assert hx(ev["batchId"]) == hx(batch.batch_id) and hx(ev["root"]) == hx(batch.root)
    assert ev["count"] == 4 and ev["seller"] == env.agg1.address
    stored = batches.batch(batch.batch_id)
    assert (stored[0], stored[1], stored[2]) == (env.agg1.address, sid, 4)
    assert env.market.participation(sid, env.agg1)[6] == 4  # committed
    env.to_reveal(sid)
    tx = _reveal(batches, batch, env.agg1)
    ev = tx.events["BatchRevealed"]
    records = _records(env, ev)
    ids = [hx(batch.bid_id(i)) for i in range(4)]
    assert [r["bidId"] for r in records] == ids
    assert [r["priceEurPerMw"] for r in records] == [500_000, 510_000, 520_000, 530_000]
    assert all(r["assetIds"] == [hx(a) for a in batch.bids[0].asset_ids] for r in records)
    assert all(batches.leafUsed(batch.batch_id, i) for i in range(4))
    collateral = 4 * 12_300 * 50_000
    assert ev["collateralUeur"] == collateral
    assert env.balances(env.agg1) == (free0 - collateral, locked0 + collateral)
    p = env.market.participation(sid, env.agg1)
    assert (p[1], p[4]) == (4, collateral)  # revealed, collateral pool
    # the terms root is what Python rebuilds from the event's records
    tree = MerkleTree([_terms(env, r) for r in records])
    assert hx(tree.root) == hx(ev["termsRoot"])
    # an award of bid 2: loaded, committed, delivered, settled
    assert env.market.bid(ids[2])[0][2] == BID_NONE
    _load(env, batches, tx, [ids[2]])
    core, terms = env.market.bid(ids[2])
    assert (core[0], core[1], core[2]) == (env.agg1.address, sid, BID_REVEALED)
    assert (terms[0], terms[1], terms[2]) == (12_300, 12_300, 520_000)
    _load(env, batches, tx, [ids[2]])  # loaded already: skipped
    env.to_clearing(sid)
    env.commit_result(sid, [env.award(ids[2], 12_300, 520_000)])
    assert env.status(sid) == RES_FINAL
    env.market.recordDeliveries(sid, [0], [12_300], EVIDENCE, {"from": env.metering})
    free1, _ = env.balances(env.agg1)
    tx = env.market.settleAward(sid, 0, {"from": env.admin})
    assert tx.events["AwardSettled"]["paymentUeur"] == 12_300 * 520_000
    assert env.balances(env.agg1)[0] == free1 + 12_300 * 520_000
    env.market.releaseSellerFunds(sid, env.agg1, {"from": env.admin})
    assert env.market.participation(sid, env.agg1)[5]  # released


def _terms(env, r):
    from python_client.batches import terms_leaf

    return terms_leaf(_b32(r["bidId"]), r["quantityW"], r["minQuantityW"], r["priceEurPerMw"],
                      _zone_index(env)[r["zone"]], r["direction"], r["divisible"])  # fmt: skip


def test_a_partial_reveal_and_a_batch_of_one(env, batches):
    sid, batch = _setup(env, bids=5)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    _reveal(batches, batch, env.agg1, [1, 3])
    _reveal(batches, batch, env.agg1, [4])
    used = [batches.leafUsed(batch.batch_id, i) for i in range(5)]
    assert used == [False, True, False, True, True]
    assert env.market.participation(sid, env.agg1)[1] == 3
    sid2, single = _setup(env, bids=1)
    _commit(batches, single, env.agg1)
    env.to_reveal(sid2)
    tx = _reveal(batches, single, env.agg1)
    assert hx(tx.events["BatchRevealed"]["termsRoot"]) != hx(single.root)


def test_a_divisible_bids_minimum_is_filled_in_as_a_single_reveal_does(env, batches):
    sid = env.open_session()
    env.join(sid, env.agg1, 1)
    assets = env.register_assets(env.agg1, 4, p_min_w=700)
    bid = env.make_bid(sid, assets, 12_300, 500_000, divisible=True)
    batch = Batch.build(env.market.address, sid, env.agg1.address, [fields(bid)])
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    records = _records(env, _reveal(batches, batch, env.agg1).events["BatchRevealed"])
    assert records[0]["minQuantityW"] == 700 and records[0]["divisible"] is True


# ------------------------------------------------------------------ item 3: the attacks


def test_reveal_refuses_a_forged_leaf(env, batches):
    sid, batch = _setup(env)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    root, table, rows, proof, flags = batch.reveal_args()
    forged = list(rows)
    cheaper = replace(batch.bids[1], price_eur_per_mw=1)  # not the committed price
    forged[1] = (pack_terms(1, cheaper), *rows[1][1:])
    with reverts("FlexBatchesProofInvalid"):
        batches.revealBatch(root, table, forged, proof, flags, {"from": env.agg1})
    # a leaf beyond the batch (one more bid than committed)
    with reverts("FlexBatchesIndexInvalid"):
        batches.revealBatch(root, table, [*rows, (pack_terms(4, batch.bids[0]), *rows[0][1:])],
                            proof, flags,
                            {"from": env.agg1})  # fmt: skip


def test_reveal_refuses_a_duplicated_leaf(env, batches):
    sid, batch = _setup(env)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    root, table, rows, proof, flags = batch.reveal_args([0, 1])
    with reverts("FlexBatchesLeavesNotAscending"):
        batches.revealBatch(root, table, [rows[0], rows[0], rows[1]], proof, flags,
                            {"from": env.agg1})  # fmt: skip
    with reverts("FlexBatchesLeavesNotAscending"):
        batches.revealBatch(root, table, [rows[1], rows[0]], proof, flags, {"from": env.agg1})
    with reverts("FlexBatchesLeavesNotAscending"):
        batches.revealBatch(root, table, [], [], [], {"from": env.agg1})


def test_two_equal_bids_in_a_batch_are_two_leaves_with_two_ids(env, batches):
    sid = env.open_session()
    env.join(sid, env.agg1, 2)
    assets = env.register_assets(env.agg1, 4)
    same = fields(env.make_bid(sid, assets, 12_300, 500_000))
    batch = Batch.build(env.market.address, sid, env.agg1.address, [same, same])
    assert batch.tree.tree[1] != batch.tree.tree[2]  # the leaf binds its index
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    records = _records(env, _reveal(batches, batch, env.agg1).events["BatchRevealed"])
    assert len({r["bidId"] for r in records}) == 2


def test_reveal_refuses_a_proof_for_another_batch(env, batches):
    sid, batch_a = _setup(env, bids=2, join=4)
    assets = env.register_assets(env.agg1, 4)
    other = [fields(env.make_bid(sid, assets, 12_300, 900_000)) for _ in range(2)]
    batch_b = Batch.build(env.market.address, sid, env.agg1.address, other)
    _commit(batches, batch_a, env.agg1)
    _commit(batches, batch_b, env.agg1)
    env.to_reveal(sid)
    _, table, rows, proof, flags = batch_b.reveal_args()
    with reverts("FlexBatchesProofInvalid"):
        batches.revealBatch(batch_a.root, table, rows, proof, flags, {"from": env.agg1})

def test_a_root_built_for_another_session_or_market_proves_nothing_here(env, batches):
    """The contract hashes each leaf with this market, the batch's session and its seller:
    a root built for another session or market can be committed but never revealed."""
    sid, batch = _setup(env, bids=2, join=4)
    moved = Batch.build(env.market.address, sid + 1, env.agg1.address, list(batch.bids))
    elsewhere = Batch.build(env.agg2.address, sid, env.agg1.address, list(batch.bids))
    for wrong in (moved, elsewhere):
        batches.commitBatch(sid, wrong.root, 2, {"from": env.agg1})
    env.to_reveal(sid)
    for wrong in (moved, elsewhere):
        with reverts("FlexBatchesProofInvalid"):
            _reveal(batches, wrong, env.agg1)


def test_nobody_reveals_someone_elses_leaf(env, batches):
    sid, batch = _setup(env)
    env.join(sid, env.agg2, 4)
    _commit(batches, batch, env.agg1)
    # the same root committed under agg2's name is agg2's batch: agg1's leaves do not prove
    # there, even once agg2 manages their assets (the asset check comes first)
    _commit(batches, batch, env.agg2)
    env.to_reveal(sid)
    with reverts("FlexRegistryAssetNotManaged"):
        _reveal(batches, batch, env.agg2)
    for asset in batch.bids[0].asset_ids:
        env.registry.transferManagement(asset, env.agg2, {"from": env.agg1})
    with reverts("FlexBatchesProofInvalid"):
        _reveal(batches, batch, env.agg2)
    sid2, batch2 = _setup(env)
    env.join(sid2, env.agg2, 4)
    _commit(batches, batch2, env.agg1)
    env.to_reveal(sid2)
    with reverts("FlexBatchesUnknown"):  # agg2 has no batch of that root
        _reveal(batches, batch2, env.agg2)


def test_the_same_root_commits_once_per_seller(env, batches):
    sid, batch = _setup(env, join=8)
    _commit(batches, batch, env.agg1)
    with reverts("FlexBatchesExists"):
        _commit(batches, batch, env.agg1)
    with reverts("FlexBatchesInvalid"):
        batches.commitBatch(sid, "0x" + "00" * 32, 1, {"from": env.agg1})
    with reverts("FlexBatchesInvalid"):
        batches.commitBatch(sid, batch.root, 0, {"from": env.agg1})


def test_a_batch_whose_bonds_do_not_cover_its_bids_is_refused(env, batches):
    sid, batch = _setup(env, bids=4, join=3)
    with reverts("FlexMarketTooManyBids"):
        _commit(batches, batch, env.agg1)
    with reverts("FlexMarketNotJoined"):
        _commit(batches, batch, env.agg2)
    env.join(sid, env.agg1, 1)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    with reverts("FlexMarketBiddingClosed"):
        batches.commitBatch(sid, "0x" + "22" * 32, 1, {"from": env.agg1})


def test_reveal_refuses_a_leaf_beyond_the_count_committed(env, batches):
    sid, batch = _setup(env, bids=4)
    _commit(batches, batch, env.agg1, count=3)  # the tree holds 4, the seller bonded 3
    env.to_reveal(sid)
    _reveal(batches, batch, env.agg1, [0, 1, 2])
    with reverts("FlexBatchesIndexInvalid"):
        _reveal(batches, batch, env.agg1, [3])


def test_reveal_is_open_only_between_gate_closure_and_the_reveal_deadline(env, batches):
    sid, batch = _setup(env)
    _commit(batches, batch, env.agg1)
    with reverts("FlexMarketRevealNotOpen"):
        _reveal(batches, batch, env.agg1)
    env.to_clearing(sid)
    with reverts("FlexMarketRevealClosed"):
        _reveal(batches, batch, env.agg1)


def test_a_leaf_is_revealed_once(env, batches):
    sid, batch = _setup(env)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    _reveal(batches, batch, env.agg1, [0, 2])
    with reverts("FlexBatchesLeafUsed"):
        _reveal(batches, batch, env.agg1, [1, 2])
    _reveal(batches, batch, env.agg1, [1, 3])


def test_a_batched_bid_breaking_a_session_rule_takes_its_reveal_call_down(env, batches):
    sid = env.open_session()
    env.join(sid, env.agg1, 2)
    assets = env.register_assets(env.agg1, 4)
    good = env.make_bid(sid, assets, 12_300, 500_000)
    small = env.make_bid(sid, assets, 500, 500_000)  # below minBidW 1,000
    batch = Batch.build(env.market.address, sid, env.agg1.address, [fields(good), fields(small)])
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    with reverts("FlexMarketBidBelowMinimum"):
        _reveal(batches, batch, env.agg1)
    _reveal(batches, batch, env.agg1, [0])
    foreign = env.register_assets(env.agg2, 1)
    root, table, rows, proof, flags = batch.reveal_args([1])
    # a valid quantity: the asset checks come next
    row = (pack_terms(1, replace(batch.bids[1], quantity_w=12_300)), *rows[0][1:3])
    with reverts("FlexBatchesAssetMaskInvalid"):  # bit 4 of a 4-asset table
        batches.revealBatch(root, table, [(*row, 16, rows[0][4])], proof, flags,
                            {"from": env.agg1})  # fmt: skip
    with reverts("FlexMarketBidWithoutAssets"):
        batches.revealBatch(root, table, [(*row, 0, rows[0][4])], proof, flags,
                            {"from": env.agg1})  # fmt: skip
    with reverts("FlexRegistryAssetNotManaged"):
        batches.revealBatch(root, [foreign[0]], [(*row, 1, rows[0][4])], proof, flags,
                            {"from": env.agg1})  # fmt: skip
    for bad in (2 << 160, 2 << 168, 1 << 176):  # a direction or flag beyond 0/1, stray bits
        with reverts("FlexBatchesTermsInvalid"):
            batches.revealBatch(root, table, [(row[0] | bad, *rows[0][1:])], proof, flags,
                                {"from": env.agg1})  # fmt: skip


def test_an_unrevealed_leaf_of_a_batch_forfeits_its_bond(env, batches):
    sid, batch = _setup(env, bids=4)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    _reveal(batches, batch, env.agg1, [0, 1])
    with reverts("FlexMarketBondNotForfeitable"):  # before the reveal deadline
        batches.forfeitBatchedBond(batch.batch_id, 2, {"from": env.admin})
    env.to_clearing(sid)
    with reverts("FlexMarketBondNotForfeitable"):  # revealed
        batches.forfeitBatchedBond(batch.batch_id, 1, {"from": env.admin})
    with reverts("FlexBatchesIndexInvalid"):
        batches.forfeitBatchedBond(batch.batch_id, 4, {"from": env.admin})
    with reverts("FlexBatchesUnknown"):
        batches.forfeitBatchedBond("0x" + "33" * 32, 0, {"from": env.admin})
    operator_free = env.balances(env.dso)[0]
    tx = batches.forfeitBatchedBond(batch.batch_id, 2, {"from": env.admin})
    ev = tx.events["BondForfeited"]
    assert hx(ev["bidId"]) == hx(batch.bid_id(2)) and ev["amountUeur"] == 1_000_000
    assert env.balances(env.dso)[0] == operator_free + 1_000_000
    with reverts("FlexMarketBondNotForfeitable"):  # forfeited
        batches.forfeitBatchedBond(batch.batch_id, 2, {"from": env.admin})
    # the last one with every unrevealed bond of the seller at once
    tx = env.market.forfeitBonds(sid, env.agg1, {"from": env.admin})
    assert tx.events["BondsForfeited"]["bids"] == 1
    with reverts("FlexMarketBondNotForfeitable"):
        batches.forfeitBatchedBond(batch.batch_id, 3, {"from": env.admin})
    assert env.market.participation(sid, env.agg1)[2] == 2  # forfeited


def test_loading_refuses_terms_no_reveal_stored(env, batches):
    sid, batch = _setup(env, bids=2)
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    tx = _reveal(batches, batch, env.agg1)
    event = tx.events["BatchRevealed"]
    records = _records(env, event)
    args = load_args(_b32(event["termsRoot"]), records, _zone_index(env), {records[0]["bidId"]})
    cheaper = [(*args[0][:4], 1, *args[0][5:])]  # another price than revealed
    with reverts("FlexBatchesProofInvalid"):
        batches.loadBatchedBids(cheaper, {"from": env.oracle})
    with reverts("FlexBatchesRevealUnknown"):
        batches.loadBatchedBids([("0x" + "44" * 32, *args[0][1:])], {"from": env.oracle})
    # an award of a batched bid that was not loaded is an award of no revealed bid
    env.to_clearing(sid)
    with reverts("FlexMarketAwardBidInvalid"):
        env.commit_result(sid, [env.award(records[1]["bidId"], 12_300, 510_000)])


# ------------------------------------------------------------------ relayed batches


def _domain(relay):
    return keccak(encode(["bytes32", "bytes32", "bytes32", "uint256", "address"],
                         [keccak(text=DOMAIN), keccak(text="FlexRelay"), keccak(text="1"),
                          web3.eth.chain_id, relay.address]))  # fmt: skip


def _signed(key, relay, seller, sid, root, count, nonce, deadline=FAR):
    root = _b32(root)
    types = ["bytes32", "address", "uint64", "bytes32", "uint16", "uint256", "uint256"]
    struct = keccak(encode(types, [keccak(text=BATCH), seller, sid, root, count, nonce, deadline]))
    digest = keccak(b"\x19\x01" + _domain(relay) + struct)
    signature = Account.unsafe_sign_hash(digest, key).signature
    return (seller, sid, root, count, nonce, deadline, signature)


@pytest.fixture(scope="module")
def signers(env, accounts):
    """Two fresh aggregator keys that never send a market transaction themselves."""
    out = []
    for i in range(2):
        key = "0x" + keccak(text=f"flexmarket batch signer {i}").hex()
        account = accounts.add(key)
        env.admin.transfer(account, 10**18)
        env.registry.grantRole(env.registry.AGGREGATOR_ROLE(), account, {"from": env.admin})
        env.fund(account, 10**12)
        out.append((key, account))
    return out


def test_a_relayer_commits_many_sellers_batches_with_one_signature_each(env, batches, signers):
    relay = FlexRelay.at(env.market.relay())
    sid = env.open_session()
    built = []
    for key, account in signers:
        env.join(sid, account, 3)
        assets = env.register_assets(account, 2)
        bids = [fields(env.make_bid(sid, assets, 2_000, 400_000 + i)) for i in range(3)]
        built.append((key, account, Batch.build(env.market.address, sid, account.address, bids)))
    requests = [_signed(k, relay, a.address, sid, b.root, b.count, 7) for k, a, b in built]
    tx = relay.commitBatchesFor(requests, {"from": env.oracle})
    assert tx.return_value == 0
    committed = tx.events["BatchCommitted"]
    assert [e["seller"] for e in committed] == [a.address for _, a, _ in built]
    assert [hx(e["batchId"]) for e in committed] == [hx(b.batch_id) for _, _, b in built]
    env.to_reveal(sid)
    for _, account, batch in built:
        _reveal(batches, batch, account)  # each seller reveals its own
        assert env.market.participation(sid, account)[1] == 3


def test_a_relayer_cannot_drop_reorder_or_recount_a_sellers_leaves(env, batches, signers):
    relay = FlexRelay.at(env.market.relay())
    (key, account), _ = signers
    sid = env.open_session()
    env.join(sid, account, 4)
    assets = env.register_assets(account, 2)
    bids = [fields(env.make_bid(sid, assets, 2_000, 400_000 + i)) for i in range(4)]
    batch = Batch.build(env.market.address, sid, account.address, bids)
    signed = _signed(key, relay, account.address, sid, batch.root, 4, 11)
    dropped = Batch.build(env.market.address, sid, account.address, bids[:3])
    reordered = Batch.build(env.market.address, sid, account.address, bids[::-1])
    tampered = [
        (*signed[:2], dropped.root, 3, *signed[4:]),
        (*signed[:2], reordered.root, *signed[3:]),
        (*signed[:3], 3, *signed[4:]),
    ]
    tx = relay.commitBatchesFor(tampered, {"from": env.oracle})
    assert tx.return_value == 3
    reasons = [hx(e["reason"]) for e in tx.events["RelayFailed"]]
    selector = "0x" + keccak(text="FlexRelayInvalidSignature(address,address)")[:4].hex()
    assert len(reasons) == 3 and all(r.startswith(selector) for r in reasons)
    assert "BatchCommitted" not in tx.events
    assert not relay.nonceUsed(account.address, 11)  # a forgery burns no nonce
    tx = relay.commitBatchesFor([signed], {"from": env.oracle})
    assert tx.return_value == 0 and hx(tx.events["BatchCommitted"]["root"]) == hx(batch.root)
    tx = relay.commitBatchesFor([signed], {"from": env.oracle})  # replayed
    assert tx.return_value == 1
    assert hx(tx.events["RelayFailed"]["reason"]).startswith(
        "0x" + keccak(text="FlexRelayNonceUsed(address,uint256)")[:4].hex()
    )
    # a refused batch (beyond the allowance) spends its nonce and leaves the others
    over = _signed(key, relay, account.address, sid, "0x" + "55" * 32, 1, 12)
    tx = relay.commitBatchesFor([over], {"from": env.oracle})
    assert tx.return_value == 1 and relay.nonceUsed(account.address, 12)


def _reveal_signed(key, relay, seller, args, nonce, deadline=FAR, rows=None):
    """revealBatchFor arguments: `args` (revealBatch's) signed by `key` for `seller`; the
    signature covers `rows` (default: the rows sent)."""
    root, table, sent, proof, flags = args
    types = ["bytes32", "address", "bytes32", "bytes32", "uint256", "uint256"]
    values = [keccak(text=REVEAL_BATCH), seller, _b32(root), bids_hash(rows or sent), nonce,
              deadline]  # fmt: skip
    digest = keccak(b"\x19\x01" + _domain(relay) + keccak(encode(types, values)))
    signature = Account.unsafe_sign_hash(digest, key).signature
    return (seller, nonce, deadline, signature, root, table, sent, proof, flags)


def _relayed_batch(env, batches, key, account, bids=4, count=1):
    """A session past gate closure where `account` has `count` batches of `bids` bids each,
    committed through the relay; the first batch, the relay (and all batches: `.batches`)."""
    sid = env.open_session()
    env.post_need(sid)
    env.join(sid, account, bids * count)
    assets = env.register_assets(account, 2)
    relay = FlexRelay.at(env.market.relay())
    built = []
    for k in range(count):
        raw = [fields(env.make_bid(sid, assets, 2_000, 400_000 + 100 * k + i))
               for i in range(bids)]  # fmt: skip
        batch = Batch.build(env.market.address, sid, account.address, raw)
        relay.commitBatchesFor([_signed(key, relay, account.address, sid, batch.root, bids,
                                        300 + k)], {"from": env.oracle})  # fmt: skip
        built.append(batch)
    env.to_reveal(sid)
    return sid, built, relay


def test_a_relayer_reveals_a_sellers_batch_it_signed(env, batches, signers):
    key, account = signers[0]
    sid, (batch,), relay = _relayed_batch(env, batches, key, account)
    args = batch.reveal_args([0, 2])
    tx = relay.revealBatchFor(*_reveal_signed(key, relay, account.address, args, 21),
                              {"from": env.oracle})  # fmt: skip
    event = tx.events["BatchRevealed"]
    assert event["seller"] == account.address and hx(event["batchId"]) == hx(batch.batch_id)
    assert hx(tx.return_value) == hx(event["termsRoot"])
    assert [r["bidId"] for r in _records(env, event)] == [hx(batch.bid_id(i)) for i in (0, 2)]
    assert tx.events["Relayed"]["seller"] == account.address and relay.nonceUsed(account, 21)
    assert env.market.participation(sid, account)[1] == 2
    # the rest in a second signed call
    tx = relay.revealBatchFor(*_reveal_signed(key, relay, account.address,
                                              batch.reveal_args([1, 3]), 22),
                              {"from": env.oracle})  # fmt: skip
    assert env.market.participation(sid, account)[1] == 4


def test_a_relayer_cannot_add_drop_change_or_replay_a_signed_batch_reveal(env, batches, signers):
    key, account = signers[0]
    sid, (batch,), relay = _relayed_batch(env, batches, key, account)
    signed = _reveal_signed(key, relay, account.address, batch.reveal_args([0, 1]), 31)
    root, table, rows, proof, flags = batch.reveal_args([0, 1])
    tampered = []
    # a leaf added, a leaf dropped (each with a valid proof for what is sent)
    for indices in ([0, 1, 2], [1]):
        tampered.append((*signed[:4], *batch.reveal_args(indices)))
    # a field changed (the price of leaf 0: the proof would fail too, the signature first)
    changed = [(rows[0][0] + (1 << 80), *rows[0][1:]), rows[1]]
    tampered.append((*signed[:6], changed, proof, flags))
    # the order of the leaves changed
    tampered.append((*signed[:6], rows[::-1], proof, flags))
    for args in tampered:
        with reverts("FlexRelayInvalidSignature"):
            relay.revealBatchFor(*args, {"from": env.oracle})
    # another key's signature, another seller named, a deadline passed
    other_key, other = signers[1]
    forged = _reveal_signed(other_key, relay, account.address, batch.reveal_args([0, 1]), 31)
    with reverts("FlexRelayInvalidSignature"):
        relay.revealBatchFor(*forged, {"from": env.oracle})
    with reverts("FlexRelayInvalidSignature"):
        relay.revealBatchFor(other.address, *signed[1:], {"from": env.oracle})
    past = _reveal_signed(key, relay, account.address, batch.reveal_args([0, 1]), 32,
                          deadline=web3.eth.get_block("latest").timestamp - 1)  # fmt: skip
    with reverts("FlexRelayExpired"):
        relay.revealBatchFor(*past, {"from": env.oracle})
    assert not relay.nonceUsed(account, 31) and not relay.nonceUsed(account, 32)
    assert not batches.leafUsed(batch.batch_id, 0)
    relay.revealBatchFor(*signed, {"from": env.oracle})
    with reverts("FlexRelayNonceUsed"):  # the same message again
        relay.revealBatchFor(*signed, {"from": env.oracle})
    again = _reveal_signed(key, relay, account.address, batch.reveal_args([0, 1]), 33)
    with reverts("FlexBatchesLeafUsed"):  # signed again: the market's own error, no nonce spent
        relay.revealBatchFor(*again, {"from": env.oracle})
    assert not relay.nonceUsed(account, 33)


def test_a_relayed_reveal_proves_nothing_of_another_batch_or_seller(env, batches, signers):
    (key, account), (other_key, other) = signers
    sid, (batch, second), relay = _relayed_batch(env, batches, key, account, count=2)
    # another seller signing a reveal of account's leaves: its own batch of that root is unknown
    stolen = _reveal_signed(other_key, relay, other.address, batch.reveal_args([0]), 41)
    with reverts("FlexBatchesUnknown"):
        relay.revealBatchFor(*stolen, {"from": env.oracle})
    # a proof of another batch of the seller's, signed by the seller
    root, table, rows, proof, flags = batch.reveal_args([0])
    other_proof = second.reveal_args([0])[3]
    mixed = _reveal_signed(key, relay, account.address, (root, table, rows, other_proof, flags), 42)
    with reverts("FlexBatchesProofInvalid"):
        relay.revealBatchFor(*mixed, {"from": env.oracle})
    assert not relay.nonceUsed(other, 41) and not relay.nonceUsed(account, 42)


def test_a_leaf_hashes_as_the_sdk_says(env, batches):
    """python_client.batches.bid_leaf against the contract: a one-leaf tree's root is its leaf,
    and the contract accepts exactly that root for the bid."""
    sid, batch = _setup(env, bids=1)
    leaf = bid_leaf(env.market.address, sid, env.agg1.address, 0, batch.bids[0])
    assert batch.root == leaf
    assert batched_bid_id(batch.batch_id, 0) == keccak(encode(["bytes32", "uint256"],
                                                             [batch.batch_id, 0]))  # fmt: skip
    _commit(batches, batch, env.agg1)
    env.to_reveal(sid)
    _reveal(batches, batch, env.agg1)
