"""python_client.batches: the leaves, trees, multiproofs and BatchRevealed records of batched
sealed bids, by themselves and against the contracts (a batch committed and revealed on
anvil through the SDK, then rebuilt by a replica from the events alone)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from python_client.batches import (
    RECORD_BYTES,
    Batch,
    BatchError,
    MerkleTree,
    batch_id,
    batched_bid_id,
    decode_records,
    hash_pair,
    pack_flags,
    pack_terms,
    process_multiproof,
)
from python_client.records import BidFields, Direction

MARKET = "0x" + "ab" * 20
SELLER = "0x" + "cd" * 20


def _leaves(n: int) -> list[bytes]:
    return [keccak(i.to_bytes(32, "big")) for i in range(n)]


def _fold(leaf: bytes, proof: list[bytes]) -> bytes:
    for sibling in proof:
        leaf = hash_pair(leaf, sibling)
    return leaf


def test_the_tree_has_openzeppelins_layout() -> None:
    a, b, c = _leaves(3)
    assert MerkleTree([a]).root == a
    assert MerkleTree([a, b]).root == hash_pair(a, b)
    # leaf i at 2n - 2 - i: c at 2, b at 3, a at 4; node 1 = (3, 4)
    assert MerkleTree([a, b, c]).root == hash_pair(hash_pair(b, a), c)
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_leaf_proves_its_root_and_no_other_leaf_does(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    for i, value in enumerate(leaves):
        assert _fold(value, tree.proof(i)) == tree.root
        assert _fold(keccak(value), tree.proof(i)) != tree.root


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_every_subset_has_a_multiproof_and_a_forged_leaf_breaks_it(n: int) -> None:
    leaves = _leaves(n)
    tree = MerkleTree(leaves)
    for size in range(1, n + 1):
        for chosen in itertools.combinations(range(n), size):
            proof, flags = tree.multiproof(list(chosen))
            picked = [leaves[i] for i in chosen]
            assert process_multiproof(picked, proof, flags) == tree.root
            forged = [keccak(picked[0]), *picked[1:]]
            assert process_multiproof(forged, proof, flags) != tree.root


def test_a_multiproof_refuses_duplicated_or_unordered_indices() -> None:
    tree = MerkleTree(_leaves(4))
    for indices in ([1, 1], [2, 1], []):
        with pytest.raises(BatchError, match="indices"):
            tree.multiproof(indices)
    proof, flags = tree.multiproof([0, 1])
    a, b = _leaves(2)
    assert process_multiproof([a, a, b], proof, flags) != tree.root
    assert process_multiproof([a, b], proof, []) == b""


def test_flags_pack_as_bits_of_256_bit_words() -> None:
    assert pack_flags([]) == []
    assert pack_flags([True, False, True]) == [0b101]
    assert pack_flags([False] * 256 + [True]) == [0, 1]


def _bid(price: int, assets: tuple[bytes, ...]) -> BidFields:
    return BidFields(b"T1".ljust(32, b"\0"), Direction.UP, False, 2_000, price, 0b11, assets,
                     keccak(price.to_bytes(8, "big")))  # fmt: skip


def test_a_batch_binds_its_leaves_to_market_session_seller_and_index() -> None:
    assets = (b"\x01" * 32, b"\x02" * 32)
    bids = [_bid(400_000, assets), _bid(400_000, assets)]
    batch = Batch.build(MARKET, 7, SELLER, bids)
    tree = batch.tree.tree
    assert tree[1] != tree[2]  # equal bids, two leaves
    for other in (Batch.build("0x" + "ef" * 20, 7, SELLER, bids),
                  Batch.build(MARKET, 8, SELLER, bids),
                  Batch.build(MARKET, 7, "0x" + "ef" * 20, bids)):  # fmt: skip
        assert other.root != batch.root
    assert batch.batch_id == batch_id(SELLER, batch.root)
    assert batch.bid_id(0) != batch.bid_id(1) == batched_bid_id(batch.batch_id, 1)
    root, table, rows, proof, flags = batch.reveal_args([1])
    assert table == sorted(assets) and rows[0][0] == pack_terms(1, bids[1]) and rows[0][3] == 0b11
    assert pack_terms(1, bids[1]) == 2_000 | 400_000 << 80 | 1 << 144  # up, indivisible
    with pytest.raises(BatchError, match="index"):
        pack_terms(1 << 16, bids[1])
    with pytest.raises(BatchError, match="bids"):
        Batch.build(MARKET, 7, SELLER, [])


def test_reveal_calls_split_at_256_assets() -> None:
    bids = [_bid(i + 1, (i.to_bytes(32, "big"),)) for i in range(300)]
    batch = Batch.build(MARKET, 1, SELLER, bids)
    chunks = batch.reveal_chunks()
    assert [len(c) for c in chunks] == [256, 44] and chunks[1][0] == 256
    assert [len(c) for c in batch.reveal_chunks(bids_per_call=100)] == [100, 100, 100]


def test_a_revealed_record_decodes_field_by_field() -> None:
    batch = b"\x09" * 32
    zone = b"T1".ljust(32, b"\0")
    record = (
        (5).to_bytes(2, "big") + zone + bytes([1, 1]) + (12_300).to_bytes(5, "big")
        + (700).to_bytes(5, "big") + (510_000).to_bytes(8, "big") + (0b111).to_bytes(32, "big")
        + (0b10).to_bytes(32, "big")
    )  # fmt: skip
    assert len(record) == RECORD_BYTES
    (r,) = decode_records(batch, SELLER, 3, [b"\x01" * 32, b"\x02" * 32], record, 10)
    assert r == {
        "sessionId": 3, "bidId": "0x" + batched_bid_id(batch, 5).hex(), "seller": SELLER,
        "zone": "0x" + zone.hex(), "direction": 1, "divisible": True, "quantityW": 12_300,
        "minQuantityW": 700, "priceEurPerMw": 510_000, "slotMask": 0b111,
        "assetIds": ["0x" + "02" * 32], "collateralUeur": 123_000,
    }  # fmt: skip
    with pytest.raises(BatchError, match="bids"):
        decode_records(batch, SELLER, 3, [], record[:-1], 10)
    with pytest.raises(BatchError, match="asset mask"):
        decode_records(batch, SELLER, 3, [b"\x01" * 32], record, 10)


# ------------------------------------------------------------------ against the contracts


@pytest.fixture(scope="module")
def chain_market() -> Iterator[tuple[object, ...]]:
    from python_client.artifacts import ensure_artifacts
    from python_client.chain import Contracts, Wallet, connect, deploy
    from python_client.clients import AdminClient, AggregatorClient, DsoClient, OracleClient
    from python_client.localchain import start_chain

    ensure_artifacts()
    with start_chain("anvil") as chain:
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        deployment = deploy(w3, Wallet(w3, keys[0]))
        contracts = Contracts(w3, deployment)
        admin = AdminClient(contracts, keys[0])
        dso, agg = DsoClient(contracts, keys[1]), AggregatorClient(contracts, keys[2])
        oracle = OracleClient(contracts, keys[3])
        for role, client in (("DSO", dso), ("AGGREGATOR", agg), ("ORACLE", oracle)):
            admin.grant_role(role, client.address)
        admin.mint(agg.address, 10**12)
        agg.deposit(10**12)
        yield chain, contracts, dso, agg, oracle


def test_a_batch_on_chain_is_what_the_sdk_built_and_what_a_replica_rebuilds(
    chain_market: tuple[object, ...],
) -> None:
    from python_client.hashing import asset_id, label
    from python_client.records import AssetType, Pricing, SessionParams
    from verifier.rebuild import rebuild

    chain, contracts, dso, agg, oracle = chain_market
    zone = label("B1")
    dso.register_zone(zone)  # type: ignore[attr-defined]
    assets = sorted(asset_id(f"batch-meter-{i}", b"k") for i in range(3))
    for a in assets:
        agg.register_asset(a, AssetType.LOAD, 3700, 0, zone, agg.address)  # type: ignore[attr-defined]
        dso.prequalify(a)  # type: ignore[attr-defined]
    now = int(contracts.w3.eth.get_block("latest")["timestamp"])  # type: ignore[attr-defined]
    params = SessionParams(label("batch"), label("PowerMax"), Pricing.PAY_AS_BID, 4, 15,
                           now + 4000, now + 1000, now + 2000, now + 3000, min_bid_w=100,
                           granularity_w=100, bid_bond_ueur=1_000,
                           collateral_ueur_per_w=10)  # fmt: skip
    sid = dso.open_session(params)  # type: ignore[attr-defined]
    agg.join_session(sid, 5)  # type: ignore[attr-defined]
    bids = [BidFields(zone, Direction.UP, i % 2 == 1, 1_000 + 100 * i, 400_000 + i, 0b1111,
                      tuple(assets[: 1 + i % 3]), keccak(bytes([i])))
            for i in range(5)]  # fmt: skip
    batch = agg.commit_batch(sid, bids)  # type: ignore[attr-defined]
    chain.rpc("evm_setNextBlockTimestamp", [params.bidding_end])  # type: ignore[attr-defined]
    chain.rpc("evm_mine", [])  # type: ignore[attr-defined]
    events = agg.reveal_batch(batch, [0, 2, 3, 4])  # type: ignore[attr-defined]
    (revealed,) = [e for e in events if e.name == "BatchRevealed"]
    assert revealed.args["batchId"] == batch.batch_id
    addresses = {"FlexToken": contracts.deployment.token,  # type: ignore[attr-defined]
                 "FlexRegistry": contracts.deployment.registry,  # type: ignore[attr-defined]
                 "FlexMarket": contracts.deployment.market}  # type: ignore[attr-defined]  # fmt: skip
    state = rebuild(chain.url, addresses)  # type: ignore[attr-defined]
    s = state.sessions[sid]
    assert not state.unplaced
    assert set(s.committed) == {"0x" + batch.bid_id(i).hex() for i in range(5)}
    by_id = {r["bidId"]: r for r in s.reveals}
    assert set(by_id) == {"0x" + batch.bid_id(i).hex() for i in (0, 2, 3, 4)}
    for i in (0, 2, 3, 4):
        r, b = by_id["0x" + batch.bid_id(i).hex()], bids[i]
        assert (r["quantityW"], r["priceEurPerMw"], r["slotMask"], r["divisible"]) == (
            b.quantity_w, b.price_eur_per_mw, b.slot_mask, b.divisible)  # fmt: skip
        assert r["assetIds"] == ["0x" + a.hex() for a in b.asset_ids]
        assert r["collateralUeur"] == b.quantity_w * 10
    scenario = state.scenario(sid)
    assert len(scenario["bids"]) == 4
    # the oracle loads two of them into the bid records (what commitResult checks awards of)
    wanted = {batch.bid_id(2), batch.bid_id(3)}
    oracle.load_batched_bids([revealed.args], wanted)  # type: ignore[attr-defined]
    for i in (0, 2, 3):
        core, terms = contracts.market.functions.bid(batch.bid_id(i)).call()  # type: ignore[attr-defined]
        assert core[2] == (2 if i in (2, 3) else 0)  # Revealed, None
        if i != 0:
            assert (terms[0], terms[2]) == (bids[i].quantity_w, bids[i].price_eur_per_mw)


def test_the_relay_digest_of_a_batch_is_the_eip712_of_its_type_string() -> None:
    from python_client.relay import BATCH_TYPE, RelayDomain, _slow_digest, batch_digest

    domain = RelayDomain(31337, "0x" + "12" * 20)
    root = keccak(b"root")
    fast = batch_digest(domain, SELLER, 7, root, 300, 5, 2**40)
    types = ["address", "uint64", "bytes32", "uint16", "uint256", "uint256"]
    assert fast == _slow_digest(domain, BATCH_TYPE, types, [SELLER, 7, root, 300, 5, 2**40])
    assert fast != batch_digest(domain, SELLER, 7, root, 299, 5, 2**40)  # the count is signed
    with pytest.raises(ValueError, match="count"):
        batch_digest(domain, SELLER, 7, root, 1 << 16, 5, 2**40)


def test_the_fast_keccak_is_keccak256() -> None:
    from python_client.batches import fast_keccak

    for data in (b"", b"\x00", bytes(range(200)) * 3, b"x" * 136, b"x" * 137):
        assert fast_keccak(data) == keccak(data)
    assert fast_keccak(b"").hex().startswith("c5d2460186f7233c927e7db2dcc703c0")


def test_the_fast_leaves_equal_the_abi_encoded_ones() -> None:
    from python_client.batches import bid_leaf, commitments, leaves
    from python_client.hashing import commitment

    bids = [BidFields(keccak(b"zone"), Direction.DOWN, True, 1_000 + i, 7, 3,
                      (keccak(b"a"),), keccak(bytes([i])), 100) for i in range(5)]  # fmt: skip
    hashes = [commitment(9, SELLER, b) for b in bids]
    assert commitments(9, SELLER, bids) == hashes  # hashing.commitment written out
    fast = leaves(MARKET, 9, SELLER, hashes)
    assert fast == [bid_leaf(MARKET, 9, SELLER, i, b) for i, b in enumerate(bids)]
    with pytest.raises(BatchError, match=r"bids\[0\]"):
        commitments(9, SELLER, [BidFields(b"z", Direction.UP, False, 1, 1, 1, (), b"s" * 32)])
    with pytest.raises(BatchError, match=r"commitments\[1\]"):
        leaves(MARKET, 9, SELLER, [fast[0], b"short"])


def test_a_relayed_reveal_signs_its_rows_in_order() -> None:
    from eth_abi.abi import encode

    from python_client.batches import bids_hash, reveal_rows
    from python_client.relay import (
        REVEAL_BATCH_TYPE,
        RelayDomain,
        _slow_digest,
        reveal_batch_digest,
    )

    a, b = keccak(b"a"), keccak(b"b")
    zone = keccak(b"z")
    bids = [BidFields(zone, Direction.UP, False, 2_000, 5, 1, (b,), keccak(b"s1")),
            BidFields(zone, Direction.UP, False, 2_000, 6, 1, (a, b), keccak(b"s2"))]  # fmt: skip
    table, rows = reveal_rows([3, 8], bids)
    assert table == sorted([a, b]) and [r[3] for r in rows] == [0b10, 0b11]
    words = encode(["(uint256,bytes32,uint256,uint256,bytes32)[]"], [rows])[64:]
    assert bids_hash(rows) == keccak(words)  # the rows' words side by side, as calldata
    assert bids_hash(rows) != bids_hash(rows[::-1])
    domain = RelayDomain(31337, "0x" + "12" * 20)
    root, h = keccak(b"root"), bids_hash(rows)
    types = ["address", "bytes32", "bytes32", "uint256", "uint256"]
    assert reveal_batch_digest(domain, SELLER, root, h, 4, 2**40) == _slow_digest(
        domain, REVEAL_BATCH_TYPE, types, [SELLER, root, h, 4, 2**40]
    )


def test_the_oracle_service_commits_awards_of_batched_bids(
    chain_market: tuple[object, ...], tmp_path: Path
) -> None:
    """`flexmarket oracle` clears a session whose bids came in a batch: it loads the awarded
    batched bids' terms (loadBatchedBids) before committing, so commitResult accepts them,
    and a replica finds the committed result its own."""
    import json

    from nodes.service import OracleService
    from python_client.hashing import asset_id, label
    from python_client.records import AssetType, BuyerRole, NeedParams, Pricing, SessionParams
    from verifier.rebuild import rebuild
    from verifier.verify import verify_chain

    chain, contracts, dso, agg, oracle = chain_market
    zone = label("B2")
    dso.register_zone(zone)  # type: ignore[attr-defined]
    assets = sorted(asset_id(f"served-meter-{i}", b"k") for i in range(4))
    for a in assets:
        agg.register_asset(a, AssetType.LOAD, 3700, 0, zone, agg.address)  # type: ignore[attr-defined]
        dso.prequalify(a)  # type: ignore[attr-defined]
    admin_key = chain.dev_private_keys[0]  # type: ignore[attr-defined]
    from python_client.clients import AdminClient

    AdminClient(contracts, admin_key).mint(dso.address, 10**12)  # type: ignore[attr-defined]
    dso.deposit(10**12)  # type: ignore[attr-defined]
    now = int(contracts.w3.eth.get_block("latest")["timestamp"])  # type: ignore[attr-defined]
    params = SessionParams(label("served"), label("PowerMax"), Pricing.PAY_AS_BID, 4, 15,
                           now + 4000, now + 1000, now + 2000, now + 3000, min_bid_w=100,
                           granularity_w=100, bid_bond_ueur=1_000, collateral_ueur_per_w=10,
                           unmet_penalty_eur_per_mw=10**9)  # fmt: skip
    sid = dso.open_session(params)  # type: ignore[attr-defined]
    dso.post_need(NeedParams(sid, zone, Direction.UP, BuyerRole.DSO, 10**10,  # type: ignore[attr-defined]
                             (2_000,)))
    agg.join_session(sid, 4)  # type: ignore[attr-defined]
    bids = [BidFields(zone, Direction.UP, True, 1_500, 300_000 + 10_000 * i, 0b1111,
                      (assets[i],), keccak(bytes([40 + i])))
            for i in range(4)]  # fmt: skip
    batch = agg.commit_batch(sid, bids)  # type: ignore[attr-defined]
    chain.rpc("evm_setNextBlockTimestamp", [params.bidding_end])  # type: ignore[attr-defined]
    chain.rpc("evm_mine", [])  # type: ignore[attr-defined]
    agg.reveal_batch(batch, [0, 1, 2, 3])  # type: ignore[attr-defined]
    chain.rpc("evm_setNextBlockTimestamp", [params.reveal_deadline])  # type: ignore[attr-defined]
    chain.rpc("evm_mine", [])  # type: ignore[attr-defined]
    deployment_file = tmp_path / "deployment.json"
    deployment_file.write_text(json.dumps(contracts.deployment.to_json()))  # type: ignore[attr-defined]
    done = OracleService(chain.url, chain.dev_private_keys[3],  # type: ignore[attr-defined]
                         deployment_file).step()
    assert sid in done.committed, done
    addresses = {"FlexToken": contracts.deployment.token,  # type: ignore[attr-defined]
                 "FlexRegistry": contracts.deployment.registry,  # type: ignore[attr-defined]
                 "FlexMarket": contracts.deployment.market}  # type: ignore[attr-defined]  # fmt: skip
    s = rebuild(chain.url, addresses).sessions[sid]  # type: ignore[attr-defined]
    # the two cheapest bids (1,500 W + 500 W of the second) serve the 2,000 W need
    assert [(a.bid, a.quantity_w) for a in s.awards] == [
        ("0x" + batch.bid_id(0).hex(), 1_500), ("0x" + batch.bid_id(1).hex(), 500)]
    report = verify_chain(chain.url, deployment_file, sessions=[sid])  # type: ignore[attr-defined]
    assert report.sessions[0].ok, report.sessions[0].violations
