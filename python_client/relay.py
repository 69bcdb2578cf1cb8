"""EIP-712 messages for FlexRelay (contracts/interfaces/IFlexRelay.sol): a seller signs,
anyone relays and pays the gas; the market acts for the signer.

The domain is `FlexRelay`, version `1`, the chain id and the relay's address. The market
creates its relay and trusts no other, so a signature is bound to one chain and one
market. Nonces are unordered (any unused value); a deadline is the last valid second.

The relay keeps used nonces as bitmap words (bit `nonce % 256` of word `nonce // 256`,
as Permit2): `NonceSequence` hands out the 256 nonces of a random word in turn, so the
relay writes a word once per 256 messages (a fresh storage slot costs 22,100 gas, a set
one 2,900 or less) where random 64-bit nonces would each take a fresh slot.

    sig = sign_commit(key, domain, seller, session_id, commitment, nonce, deadline)
    assert recover_commit(domain, seller, session_id, commitment, nonce, deadline, sig) == seller
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cached_property

from coincurve import PublicKey
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
JOIN_TYPE = (
    "JoinSession(address seller,uint64 sessionId,uint16 addedBids,uint256 nonce,uint256 deadline)"
)
COMMIT_TYPE = (
    "CommitBid(address seller,uint64 sessionId,bytes32 commitment,uint256 nonce,uint256 deadline)"
)
REVEAL_TYPE = "RevealBid(address seller,bytes32 commitment,uint256 nonce,uint256 deadline)"
BATCH_TYPE = (
    "CommitBatch(address seller,uint64 sessionId,bytes32 root,uint16 count,uint256 nonce,"
    "uint256 deadline)"
)  # a batch of sealed bids (python_client.batches): the root and count signed
REVEAL_BATCH_TYPE = (
    "RevealBatch(address seller,bytes32 root,bytes32 bidsHash,uint256 nonce,uint256 deadline)"
)  # leaves of a batch revealed: python_client.batches.bids_hash of the call's bids
NAME, VERSION = "FlexRelay", "1"
JOIN_TYPEHASH = keccak(text=JOIN_TYPE)
COMMIT_TYPEHASH = keccak(text=COMMIT_TYPE)
REVEAL_TYPEHASH = keccak(text=REVEAL_TYPE)
BATCH_TYPEHASH = keccak(text=BATCH_TYPE)
REVEAL_BATCH_TYPEHASH = keccak(text=REVEAL_BATCH_TYPE)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class RelayDomain:
    """The EIP-712 domain of one relay on one chain."""

    chain_id: int
    relay: str

    @cached_property
    def separator(self) -> bytes:
        return keccak(
            encode(
                ["bytes32", "bytes32", "bytes32", "uint256", "address"],
                [
                    keccak(text=DOMAIN_TYPE),
                    keccak(text=NAME),
                    keccak(text=VERSION),
                    self.chain_id,
                    to_checksum_address(self.relay),
                ],
            )
        )


def new_nonce() -> int:
    """A random nonce in a random bitmap word (use `NonceSequence` for many)."""
    return int.from_bytes(os.urandom(8), "big")


class NonceSequence:
    """Nonces for one seller's messages: the 256 bits of a random word in turn, then a new
    random word. Unique as long as two sequences of a seller do not draw the same 56-bit
    word (one chance in 2**56 per word); thread-safe."""

    def __init__(self) -> None:
        self._word = 0
        self._bit = 256
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            if self._bit == 256:
                self._word, self._bit = int.from_bytes(os.urandom(7), "big"), 0
            nonce = (self._word << 8) | self._bit
            self._bit += 1
            return nonce


def _word(value: int) -> bytes:
    """A uint as one ABI word (OverflowError below 0 or from 2**256)."""
    return value.to_bytes(32, "big")


def _address(seller: str) -> bytes:
    raw = bytes.fromhex(seller.removeprefix("0x"))
    if len(raw) != 20:
        raise ValueError(f"seller: {seller!r} is not a 20-byte address")
    return bytes(12) + raw


def _typed(domain: RelayDomain, struct: bytes) -> bytes:
    """The EIP-712 digest of an ABI-encoded struct (its type hash first). The fields of
    these messages are all static, so their encoding is the words side by side."""
    return keccak(b"\x19\x01" + domain.separator + keccak(struct))


def _uint(value: int, bits: int, name: str) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name}: {value} does not fit uint{bits}")
    return _word(value)


def join_digest(
    domain: RelayDomain, seller: str, session_id: int, added_bids: int, nonce: int, deadline: int
) -> bytes:
    sid, added = _uint(session_id, 64, "session_id"), _uint(added_bids, 16, "added_bids")
    struct = JOIN_TYPEHASH + _address(seller) + sid + added + _word(nonce) + _word(deadline)
    return _typed(domain, struct)


def commit_digest(
    domain: RelayDomain, seller: str, session_id: int, commitment: bytes, nonce: int, deadline: int
) -> bytes:
    if len(commitment) != 32:
        raise ValueError("commitment: not 32 bytes")
    sid = _uint(session_id, 64, "session_id")
    struct = COMMIT_TYPEHASH + _address(seller) + sid + commitment + _word(nonce) + _word(deadline)
    return _typed(domain, struct)


def batch_digest(
    domain: RelayDomain, seller: str, session_id: int, root: bytes, count: int, nonce: int,
    deadline: int,
) -> bytes:  # fmt: skip
    """`CommitBatch`: a relayer can neither add, drop nor reorder a leaf (the root) nor
    change how many bids are bonded (the count)."""
    if len(root) != 32:
        raise ValueError("root: not 32 bytes")
    sid, n = _uint(session_id, 64, "session_id"), _uint(count, 16, "count")
    struct = BATCH_TYPEHASH + _address(seller) + sid + root + n + _word(nonce) + _word(deadline)
    return _typed(domain, struct)


def reveal_digest(
    domain: RelayDomain, seller: str, commitment: bytes, nonce: int, deadline: int
) -> bytes:
    if len(commitment) != 32:
        raise ValueError("commitment: not 32 bytes")
    return _typed(
        domain, REVEAL_TYPEHASH + _address(seller) + commitment + _word(nonce) + _word(deadline)
    )


def reveal_batch_digest(
    domain: RelayDomain, seller: str, root: bytes, bids_hash: bytes, nonce: int, deadline: int
) -> bytes:
    """`RevealBatch`: which leaves of the batch `root` are revealed, with which fields
    (`bids_hash`, python_client.batches); a relayer can change neither."""
    if len(root) != 32 or len(bids_hash) != 32:
        raise ValueError("root, bids_hash: 32 bytes each")
    struct = REVEAL_BATCH_TYPEHASH + _address(seller) + root + bids_hash
    return _typed(domain, struct + _word(nonce) + _word(deadline))


def _slow_digest(
    domain: RelayDomain, type_string: str, types: list[str], values: list[object]
) -> bytes:
    """The same digests through eth_abi (tests check the hand encoding against it)."""
    struct = keccak(encode(["bytes32", *types], [keccak(text=type_string), *values]))
    return keccak(b"\x19\x01" + domain.separator + struct)


def sign_digest(private_key: str | bytes, digest: bytes) -> bytes:
    """A 65-byte (r, s, v) signature of an EIP-712 digest."""
    return bytes(Account.unsafe_sign_hash(digest, private_key).signature)


def recover_raw(digest: bytes, signature: bytes) -> bytes | None:
    """The 20-byte signer of `digest`, or None where OpenZeppelin's `ECDSA.tryRecover`
    (FlexRelay) finds no signer: not 65 bytes, v not 27/28 (0/1 too: the EVM's ecrecover
    knows only 27/28, so OpenZeppelin refuses them), r or s zero or out of range, s in the
    upper half (malleable), no point. secp256k1 (coincurve) directly: eth_account's
    recovery costs ~100 us, this ~40."""
    if len(signature) != 65:
        return None
    v = signature[64] - 27
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if v not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        return None
    try:
        point = PublicKey.from_signature_and_message(
            signature[:64] + bytes((v,)), digest, hasher=None
        )
    except Exception:  # noqa: BLE001 - no point for this r: no signer
        return None
    return keccak(point.format(compressed=False)[1:])[12:]


def recover(digest: bytes, signature: bytes) -> str | None:
    """The checksummed signer of `digest`, or None for a malformed signature."""
    raw = recover_raw(digest, signature)
    return None if raw is None else to_checksum_address(raw)
