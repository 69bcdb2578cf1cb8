"""EIP-712 messages for FlexRelay (contracts/interfaces/IFlexRelay.sol): a seller signs,
anyone relays and pays the gas; the market acts for the signer.

The domain is `FlexRelay`, version `1`, the chain id and the relay's address. The market
creates its relay and trusts no other, so a signature is bound to one chain and one
market. Nonces are unordered (any unused value); a deadline is the last valid second.

    sig = sign_commit(key, domain, seller, session_id, commitment, nonce, deadline)
    assert recover_commit(domain, seller, session_id, commitment, nonce, deadline, sig) == seller
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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
NAME, VERSION = "FlexRelay", "1"


@dataclass(frozen=True)
class RelayDomain:
    """The EIP-712 domain of one relay on one chain."""

    chain_id: int
    relay: str

    @property
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
    """A random 64-bit nonce: unordered nonces need only be unused."""
    return int.from_bytes(os.urandom(8), "big")


def _digest(domain: RelayDomain, type_string: str, types: list[str], values: list[object]) -> bytes:
    struct = keccak(encode(["bytes32", *types], [keccak(text=type_string), *values]))
    return keccak(b"\x19\x01" + domain.separator + struct)


def join_digest(
    domain: RelayDomain, seller: str, session_id: int, added_bids: int, nonce: int, deadline: int
) -> bytes:
    return _digest(
        domain,
        JOIN_TYPE,
        ["address", "uint64", "uint16", "uint256", "uint256"],
        [to_checksum_address(seller), session_id, added_bids, nonce, deadline],
    )


def commit_digest(
    domain: RelayDomain, seller: str, session_id: int, commitment: bytes, nonce: int, deadline: int
) -> bytes:
    return _digest(
        domain,
        COMMIT_TYPE,
        ["address", "uint64", "bytes32", "uint256", "uint256"],
        [to_checksum_address(seller), session_id, commitment, nonce, deadline],
    )


def reveal_digest(
    domain: RelayDomain, seller: str, commitment: bytes, nonce: int, deadline: int
) -> bytes:
    return _digest(
        domain,
        REVEAL_TYPE,
        ["address", "bytes32", "uint256", "uint256"],
        [to_checksum_address(seller), commitment, nonce, deadline],
    )


def sign_digest(private_key: str | bytes, digest: bytes) -> bytes:
    """A 65-byte (r, s, v) signature of an EIP-712 digest."""
    return bytes(Account.unsafe_sign_hash(digest, private_key).signature)


def recover(digest: bytes, signature: bytes) -> str | None:
    """The checksummed signer of `digest`, or None for a malformed signature."""
    if len(signature) != 65:
        return None
    try:
        return to_checksum_address(Account._recover_hash(digest, signature=signature))
    except Exception:  # noqa: BLE001 - a malformed signature has no signer
        return None
