"""Batched sealed bids (issue 21): the one home of their leaves, ids, Merkle trees, proofs
and the packed records of `BatchRevealed`, exactly as `contracts/FlexBatches.sol` computes
them. Pure: no chain, no I/O.

A seller commits one root per batch (`commitBatch(sessionId, root, count)`); leaf `i` is

    keccak256(keccak256(abi.encode(market, sessionId, seller, i, commitment)))

(OpenZeppelin's double hash, so no inner node passes for a leaf), `commitment` as for a
single bid (:func:`python_client.hashing.commitment`). Trees are OpenZeppelin
StandardMerkleTree's layout, leaves unsorted: `2n - 1` nodes in an array, leaf `i` at
`2n - 2 - i`, node `k` = sorted-pair keccak of nodes `2k + 1` and `2k + 2`. A multiproof of
ascending leaf indices is OpenZeppelin's `getMultiProof`, its flags packed as bits (bit
`i % 256` of word `i // 256`).

The batch id is `keccak256(abi.encode(seller, root))` and the id of its bid `i`
`keccak256(abi.encode(batchId, i))`: unique per bid without a storage slot per bid (the
single-bid rule `keccak256(abi.encode(seller, commitment))` would give two equal leaves of
two batches one id).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from python_client.contract_types import BID_RECORD_BYTES as RECORD_BYTES
from python_client.errors import ClientError
from python_client.hashing import commitment, label_text
from python_client.records import BidFields


def _raw_keccak() -> Callable[[bytes], bytes] | None:
    """pycryptodome's keccak C functions called directly (its per-hash objects and argument
    conversions cost more than the hash); None if this pycryptodome lays them out otherwise."""
    try:
        from Crypto.Hash import keccak as module
    except ImportError:
        return None
    lib: Any = getattr(module, "_raw_keccak_lib", None)
    if lib is None:
        return None
    init, absorb, squeeze, destroy = (lib.keccak_init, lib.keccak_absorb, lib.keccak_digest,
                                      lib.keccak_destroy)  # fmt: skip
    capacity, rounds = ctypes.c_size_t(64), ctypes.c_ubyte(24)  # keccak256: 512-bit capacity
    size, padding = ctypes.c_size_t(32), ctypes.c_ubyte(1)  # keccak's padding, not SHA-3's

    def digest(data: bytes) -> bytes:
        state = ctypes.c_void_p()
        init(ctypes.byref(state), capacity, rounds)
        try:
            absorb(state, data, ctypes.c_size_t(len(data)))
            out = ctypes.create_string_buffer(32)  # per call: ctypes lets other threads run
            squeeze(state, out, size, padding)
        finally:
            destroy(state)
        return bytes(out.raw)

    # pycryptodome loads its C code by cffi when cffi is installed (its objects then refuse
    # ctypes arguments) and by ctypes otherwise: use the direct call only where it works and
    # gives keccak256's bytes, else eth_utils' keccak
    try:
        if digest(b"flexmarket") != keccak(b"flexmarket"):
            return None
    except (TypeError, AttributeError, ctypes.ArgumentError):
        return None
    return digest


_RAW_KECCAK = _raw_keccak()


def fast_keccak(data: bytes) -> bytes:
    """keccak256 as eth_utils' (tests check it), ~2x faster: a batch hashes ~3 times per bid
    on the API's request path (leaf, its outer hash, its tree node)."""
    if _RAW_KECCAK is None:
        return keccak(data)
    return _RAW_KECCAK(data)


if TYPE_CHECKING:  # python_client.relay needs coincurve, which brownie's venv lacks
    from python_client.relay import RelayDomain

MAX_ASSETS_PER_REVEAL = 256  # an asset mask is 256 bits
TERMS_TYPES = ["bytes32", "uint40", "uint40", "uint64", "uint16", "uint8", "bool"]


class BatchError(ClientError, ValueError):
    """A batch that the contract would refuse (named field, value)."""


# ------------------------------------------------------------------ ids and leaves


def batch_id(seller: str, root: bytes) -> bytes:
    return keccak(encode(["address", "bytes32"], [to_checksum_address(seller), root]))


def batched_bid_id(batch: bytes, index: int) -> bytes:
    """The id of leaf `index` of batch `batch` (what BidRevealed-style consumers key on)."""
    return keccak(encode(["bytes32", "uint256"], [batch, index]))


def leaf(market: str, session_id: int, seller: str, index: int, commitment_hash: bytes) -> bytes:
    inner = keccak(encode(["address", "uint64", "address", "uint256", "bytes32"],
                          [to_checksum_address(market), session_id, to_checksum_address(seller),
                           index, commitment_hash]))  # fmt: skip
    return keccak(inner)


def leaves(market: str, session_id: int, seller: str, commitments: Sequence[bytes]) -> list[bytes]:
    """The leaves of a batch from its commitments, in leaf order: `leaf` with the encoding
    written out (each field is one static ABI word), ~4 us a leaf where eth_abi takes ~30."""
    if not 0 <= session_id < 1 << 64:
        raise BatchError(f"session_id: {session_id} does not fit uint64")
    prefix = (bytes(12) + bytes.fromhex(to_checksum_address(market)[2:])
              + session_id.to_bytes(32, "big")
              + bytes(12) + bytes.fromhex(to_checksum_address(seller)[2:]))  # fmt: skip
    out = []
    for i, c in enumerate(commitments):
        if len(c) != 32:
            raise BatchError(f"commitments[{i}]: not 32 bytes")
        out.append(fast_keccak(fast_keccak(prefix + i.to_bytes(32, "big") + c)))
    return out


def commitments(session_id: int, seller: str, bids: Sequence[BidFields]) -> list[bytes]:
    """`python_client.hashing.commitment` of each bid with the ABI encoding written out (the
    static fields' words, the asset ids' offset, then their count and words), ~6x faster
    than eth_abi: a batch's thousand commitments are on the API's request path."""
    head = session_id.to_bytes(32, "big") + bytes(12) + bytes.fromhex(
        to_checksum_address(seller)[2:])  # fmt: skip
    out = []
    for i, b in enumerate(bids):
        try:
            words = b"".join((
                head, b.zone, int(b.direction).to_bytes(32, "big"),
                int(b.divisible).to_bytes(32, "big"), b.quantity_w.to_bytes(32, "big"),
                b.min_quantity_w.to_bytes(32, "big"), b.price_eur_per_mw.to_bytes(32, "big"),
                b.slot_mask.to_bytes(32, "big"), (0x160).to_bytes(32, "big"), b.salt,
                len(b.asset_ids).to_bytes(32, "big"), *b.asset_ids,
            ))  # fmt: skip
        except OverflowError as exc:
            raise BatchError(f"bids[{i}]: a field does not fit its type") from exc
        if len(words) != 32 * (12 + len(b.asset_ids)):
            raise BatchError(f"bids[{i}]: a zone, salt or asset id is not 32 bytes")
        out.append(fast_keccak(words))
    return out


def bid_leaf(market: str, session_id: int, seller: str, index: int, bid: BidFields) -> bytes:
    return leaf(market, session_id, seller, index, commitment(session_id, seller, bid))


def terms_leaf(
    bid_id: bytes, quantity_w: int, min_quantity_w: int, price_eur_per_mw: int,
    zone_index: int, direction: int, divisible: bool,
) -> bytes:  # fmt: skip
    values = [bid_id, quantity_w, min_quantity_w, price_eur_per_mw, zone_index, direction,
              divisible]  # fmt: skip
    return keccak(keccak(encode(TERMS_TYPES, values)))


# ------------------------------------------------------------------ trees and proofs


def hash_pair(a: bytes, b: bytes) -> bytes:
    return fast_keccak(a + b if a <= b else b + a)


class MerkleTree:
    """OpenZeppelin StandardMerkleTree layout over `leaves` in the given order."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise BatchError("leaves: a tree needs at least one leaf")
        n = len(leaves)
        tree: list[bytes] = [b""] * (2 * n - 1)
        for i, value in enumerate(leaves):
            tree[2 * n - 2 - i] = bytes(value)
        for k in range(n - 2, -1, -1):
            tree[k] = hash_pair(tree[2 * k + 1], tree[2 * k + 2])
        self.n = n
        self.tree = tree

    @property
    def root(self) -> bytes:
        return self.tree[0]

    def _position(self, index: int) -> int:
        if not 0 <= index < self.n:
            raise BatchError(f"index: {index} is not a leaf of a tree of {self.n}")
        return 2 * self.n - 2 - index

    def proof(self, index: int) -> list[bytes]:
        """Sibling hashes from leaf `index` up (MerkleProof.verify)."""
        out = []
        k = self._position(index)
        while k > 0:
            out.append(self.tree[k + 1 if k % 2 else k - 1])
            k = (k - 1) // 2
        return out

    def multiproof(self, indices: Sequence[int]) -> tuple[list[bytes], list[int]]:
        """(proof, packed flags) for the leaves `indices`, strictly ascending."""
        if list(indices) != sorted(set(indices)) or not indices:
            raise BatchError("indices: give them strictly ascending, at least one")
        stack = [self._position(i) for i in indices]  # descending tree positions
        proof: list[bytes] = []
        flags: list[bool] = []
        while stack and stack[0] > 0:
            j = stack.pop(0)
            s = j + 1 if j % 2 else j - 1
            if stack and stack[0] == s:
                flags.append(True)
                stack.pop(0)
            else:
                flags.append(False)
                proof.append(self.tree[s])
            stack.append((j - 1) // 2)
        return proof, pack_flags(flags)


def pack_flags(flags: Sequence[bool]) -> list[int]:
    words = [0] * ((len(flags) + 255) // 256)
    for i, flag in enumerate(flags):
        if flag:
            words[i // 256] |= 1 << (i % 256)
    return words


def process_multiproof(
    leaves: Sequence[bytes], proof: Sequence[bytes], flag_words: Sequence[int]
) -> bytes:
    """What the contract computes (OpenZeppelin processMultiProof); b"" when malformed."""
    count = len(leaves) + len(proof) - 1
    if not leaves or len(flag_words) < (count + 255) // 256:
        return b""
    hashes: list[bytes] = []
    leaf_pos = hash_pos = proof_pos = 0

    def take() -> bytes:
        nonlocal leaf_pos, hash_pos
        if leaf_pos < len(leaves):
            leaf_pos += 1
            return leaves[leaf_pos - 1]
        hash_pos += 1
        return hashes[hash_pos - 1] if hash_pos - 1 < len(hashes) else b"\0" * 32

    for i in range(count):
        a = take()
        if flag_words[i // 256] >> (i % 256) & 1:
            b = take()
        else:
            if proof_pos >= len(proof):
                return b""
            b = proof[proof_pos]
            proof_pos += 1
        if hash_pos > i:
            return b""
        hashes.append(hash_pair(a, b))
    if count:
        return hashes[-1] if proof_pos == len(proof) else b""
    return leaves[0]


# ------------------------------------------------------------------ a seller's batch


def pack_terms(index: int, bid: BidFields) -> int:
    """`BatchedBid.terms`: the small fields in one word, low bits first: quantityW [0, 40),
    minQuantityW [40, 80), priceEurPerMw [80, 144), index [144, 160), direction [160, 168),
    divisible [168, 176)."""
    fields = ((bid.quantity_w, 40, "quantity_w"), (bid.min_quantity_w, 40, "min_quantity_w"),
              (bid.price_eur_per_mw, 64, "price_eur_per_mw"), (index, 16, "index"))  # fmt: skip
    out, shift = 0, 0
    for value, bits, name in fields:
        if not 0 <= value < 1 << bits:
            raise BatchError(f"{name}: {value} does not fit uint{bits}")
        out |= value << shift
        shift += bits
    return out | int(bid.direction) << 160 | int(bid.divisible) << 168


@dataclass(frozen=True)
class Batch:
    """A seller's batch: its bids in leaf order, the tree of their leaves."""

    market: str
    session_id: int
    seller: str
    bids: tuple[BidFields, ...]
    tree: MerkleTree

    @classmethod
    def build(cls, market: str, session_id: int, seller: str, bids: Sequence[BidFields]) -> Batch:
        if not 1 <= len(bids) <= 0xFFFF:
            raise BatchError(f"bids: a batch holds 1 to 65,535 bids, not {len(bids)}")
        hashes = commitments(session_id, seller, bids)
        tree = MerkleTree(leaves(market, session_id, seller, hashes))
        return cls(market, session_id, seller, tuple(bids), tree)

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def count(self) -> int:
        return len(self.bids)

    @property
    def batch_id(self) -> bytes:
        return batch_id(self.seller, self.root)

    def bid_id(self, index: int) -> bytes:
        return batched_bid_id(self.batch_id, index)

    def reveal_args(self, indices: Sequence[int] | None = None) -> tuple[Any, ...]:
        """`revealBatch` arguments for the leaves `indices` (default all), ascending."""
        indices = list(range(self.count)) if indices is None else sorted(indices)
        table, rows = reveal_rows(indices, [self.bids[i] for i in indices])
        proof, flags = self.tree.multiproof(indices)
        return self.root, table, rows, proof, flags

    def reveal_chunks(self, assets_per_call: int = MAX_ASSETS_PER_REVEAL,
                      bids_per_call: int = 1000) -> list[list[int]]:  # fmt: skip
        """Leaf indices split into reveal calls: ascending, each naming at most
        `assets_per_call` assets and `bids_per_call` bids."""
        calls: list[list[int]] = []
        current: list[int] = []
        assets: set[bytes] = set()
        for i, b in enumerate(self.bids):
            more = assets | set(b.asset_ids)
            if current and (len(more) > assets_per_call or len(current) >= bids_per_call):
                calls.append(current)
                current, more = [], set(b.asset_ids)
            current.append(i)
            assets = more
        if current:
            calls.append(current)
        return calls


def reveal_rows(
    indices: Sequence[int], bids: Sequence[BidFields]
) -> tuple[list[bytes], list[tuple[int, bytes, int, int, bytes]]]:
    """The asset table (ascending, at most 256) and the `BatchedBid` rows of a reveal of
    leaves `indices` (ascending) holding `bids`: the one rule for both, so a seller signing
    a relayed reveal (`bids_hash`) and the API relaying it build the same call."""
    table = sorted({a for b in bids for a in b.asset_ids})
    if len(table) > MAX_ASSETS_PER_REVEAL:
        raise BatchError(f"indices: the bids name {len(table)} assets, a reveal at most "
                         f"{MAX_ASSETS_PER_REVEAL}: reveal them in several calls")  # fmt: skip
    position = {a: j for j, a in enumerate(table)}
    rows = [
        (pack_terms(i, b), b.zone, b.slot_mask, sum(1 << position[a] for a in b.asset_ids),
         b.salt)
        for i, b in zip(indices, bids, strict=True)
    ]  # fmt: skip
    return table, rows


def bids_hash(rows: Sequence[tuple[int, bytes, int, int, bytes]]) -> bytes:
    """What a relayed reveal signs of its bids (`RevealBatch.bidsHash`,
    `FlexRelay.revealBatchFor`): keccak256 of the `BatchedBid` rows' words side by side,
    five words each (terms, zone, slotMask, assetMask, salt), in call order."""
    out = bytearray()
    for terms, zone, slot_mask, asset_mask, salt in rows:
        if len(zone) != 32 or len(salt) != 32:
            raise BatchError("bids: a zone and a salt are 32 bytes")
        out += terms.to_bytes(32, "big") + zone + slot_mask.to_bytes(32, "big")
        out += asset_mask.to_bytes(32, "big") + salt
    return fast_keccak(bytes(out))


# ------------------------------------------------------------------ the API's bodies


def commit_body(
    batch: Batch, private_key: str, domain: RelayDomain, nonce: int, deadline: int
) -> dict[str, Any]:
    """The signed `BatchCommitCreate` body (POST /sessions/{id}/batches): the commitments in
    leaf order, the root, the seller's `CommitBatch` signature (the fields stay here)."""
    from python_client.relay import batch_digest, sign_digest

    digest = batch_digest(domain, batch.seller, batch.session_id, batch.root, batch.count,
                          nonce, deadline)  # fmt: skip
    hashes = commitments(batch.session_id, batch.seller, batch.bids)
    signature = "0x" + sign_digest(private_key, digest).hex()
    return {"root": "0x" + batch.root.hex(),
            "commitments": ["0x" + c.hex() for c in hashes], "nonce": nonce,
            "deadline": deadline, "signature": signature}  # fmt: skip


def reveal_body(
    batch: Batch, indices: Sequence[int], private_key: str, domain: RelayDomain, nonce: int,
    deadline: int,
) -> dict[str, Any]:  # fmt: skip
    """The signed `BatchRevealCreate` body (POST .../batches/{batch_id}/reveal) of leaves
    `indices`: the seller's `RevealBatch` over the rows the API will send."""
    from python_client.relay import reveal_batch_digest, sign_digest

    indices = sorted(indices)
    chosen = [batch.bids[i] for i in indices]
    _, rows = reveal_rows(indices, chosen)
    digest = reveal_batch_digest(domain, batch.seller, batch.root, bids_hash(rows), nonce,
                                 deadline)  # fmt: skip
    bids = [{
        "index": i, "zone": label_text(b.zone),
        "direction": "up" if int(b.direction) == 0 else "down", "divisible": b.divisible,
        "quantity_w": b.quantity_w, "min_quantity_w": b.min_quantity_w,
        "price_eur_per_mw": b.price_eur_per_mw, "slot_mask": b.slot_mask,
        "asset_ids": ["0x" + a.hex() for a in b.asset_ids], "salt": "0x" + b.salt.hex(),
    } for i, b in zip(indices, chosen, strict=True)]  # fmt: skip
    return {"bids": bids, "nonce": nonce, "deadline": deadline,
            "signature": "0x" + sign_digest(private_key, digest).hex()}  # fmt: skip


# ------------------------------------------------------------------ BatchRevealed records


def as_bytes(value: bytes | str) -> bytes:
    """Bytes of a value decoded either way: bytes (web3) or 0x hex (verifier.events)."""
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def revealed_bids(args: Mapping[str, Any], collateral_ueur_per_w: int) -> list[dict[str, Any]]:
    """The bids of one decoded `BatchRevealed` (its args, bytes or 0x hex) as
    `BidRevealed`-shaped argument dicts."""
    return decode_records(as_bytes(args["batchId"]), str(args["seller"]), int(args["sessionId"]),
                          [as_bytes(a) for a in args["assetIds"]], as_bytes(args["bids"]),
                          collateral_ueur_per_w)  # fmt: skip


def decode_records(
    batch: bytes, seller: str, session_id: int, asset_ids: Sequence[bytes], blob: bytes,
    collateral_ueur_per_w: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """The bids of one `BatchRevealed` as `BidRevealed`-shaped argument dicts (hex strings for
    bytes, as verifier.events decodes them)."""
    batch, blob, asset_ids = bytes(batch), bytes(blob), [bytes(a) for a in asset_ids]
    if len(blob) % RECORD_BYTES:
        raise BatchError(f"bids: {len(blob)} bytes is not a multiple of {RECORD_BYTES}")
    out = []
    for k in range(0, len(blob), RECORD_BYTES):
        r = blob[k : k + RECORD_BYTES]
        index = int.from_bytes(r[0:2], "big")
        quantity_w = int.from_bytes(r[36:41], "big")
        asset_mask = int.from_bytes(r[86:118], "big")
        picked = [asset_ids[j] for j in range(min(len(asset_ids), 256)) if asset_mask >> j & 1]
        if asset_mask >> len(asset_ids):
            raise BatchError(f"bids[{k // RECORD_BYTES}]: asset mask beyond the table")
        out.append({
            "sessionId": session_id,
            "bidId": "0x" + batched_bid_id(batch, index).hex(),
            "seller": seller,
            "zone": "0x" + r[2:34].hex(),
            "direction": r[34],
            "divisible": bool(r[35]),
            "quantityW": quantity_w,
            "minQuantityW": int.from_bytes(r[41:46], "big"),
            "priceEurPerMw": int.from_bytes(r[46:54], "big"),
            "slotMask": int.from_bytes(r[54:86], "big"),
            "assetIds": ["0x" + bytes(a).hex() for a in picked],
            "collateralUeur": quantity_w * collateral_ueur_per_w,
        })  # fmt: skip
    return out


def terms_tree(records: Sequence[dict[str, Any]], zone_index: dict[str, int]) -> MerkleTree:
    """The tree of terms a reveal stored (`BatchRevealed.termsRoot`), from its decoded
    records; `zone_index` maps a zone (0x hex) to its registry index."""
    return MerkleTree([_terms_leaf_of(r, zone_index) for r in records])


def _terms_leaf_of(r: dict[str, Any], zone_index: dict[str, int]) -> bytes:
    return terms_leaf(bytes.fromhex(r["bidId"][2:]), r["quantityW"], r["minQuantityW"],
                      r["priceEurPerMw"], zone_index[r["zone"]], int(r["direction"]),
                      r["divisible"])  # fmt: skip


def load_args(
    terms_root: bytes, records: Sequence[dict[str, Any]], zone_index: dict[str, int],
    wanted: set[str],
) -> list[tuple[Any, ...]]:  # fmt: skip
    """`loadBatchedBids` entries for the bids of one reveal whose ids are in `wanted`."""
    terms_root = bytes(terms_root)
    tree = terms_tree(records, zone_index)
    if tree.root != terms_root:
        raise BatchError(f"termsRoot: 0x{terms_root.hex()} is not the root of its records")
    out = []
    for i, r in enumerate(records):
        if r["bidId"] in wanted:
            out.append((terms_root, bytes.fromhex(r["bidId"][2:]), r["quantityW"],
                        r["minQuantityW"], r["priceEurPerMw"], zone_index[r["zone"]],
                        int(r["direction"]), r["divisible"], tree.proof(i)))  # fmt: skip
    return out


__all__ = [
    "RECORD_BYTES", "Batch", "BatchError", "MerkleTree", "as_bytes", "batch_id",
    "batched_bid_id", "bid_leaf", "bids_hash", "commit_body", "commitments",
    "decode_records", "fast_keccak", "leaf", "leaves", "load_args", "pack_flags", "pack_terms",
    "process_multiproof", "reveal_body", "reveal_rows", "revealed_bids", "terms_leaf",
    "terms_tree",
]  # fmt: skip
