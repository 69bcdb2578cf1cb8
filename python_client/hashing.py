"""Identifiers and commitments computed off chain, exactly as the contracts expect them.

- An asset id is a keyed hash of its meter code: the code never reaches the chain.
- A sealed bid is committed as a hash of its fields and a random salt bound to the
  session and the seller; its id binds the seller too (see IFlexMarket.BidCommitted).
"""

from __future__ import annotations

import os

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from python_client.records import BidFields

COMMITMENT_TYPES = [
    "uint64", "address", "bytes32", "uint8", "bool", "uint40", "uint40", "uint64",
    "uint256", "bytes32[]", "bytes32",
]  # fmt: skip


def label(text: str) -> bytes:
    """A UTF-8 label (zone, market id, product) as bytes32, right-padded with zeros; `0x`
    and 64 hex digits is the bytes32 itself (how `label_text` writes a label that is not
    UTF-8: no UTF-8 label is that long)."""
    if len(text) == 66 and text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            pass  # not hex: taken as text below, and too long
    raw = text.encode("utf-8")
    if len(raw) > 32:
        raise ValueError(f"label {text!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


def unlabel(value: bytes) -> str:
    """Inverse of :func:`label` for a UTF-8 label (UnicodeDecodeError otherwise)."""
    return bytes(value).rstrip(b"\0").decode("utf-8")


def label_text(value: bytes) -> str:
    """A bytes32 label as text, never failing: its UTF-8 text (padding removed), or `0x`
    and 64 hex digits when it is not UTF-8 (registered on chain by someone who did not
    use :func:`label`). :func:`label` reads both back to the same bytes."""
    try:
        return unlabel(value)
    except UnicodeDecodeError:
        return "0x" + bytes(value).hex()


def asset_id(meter_code: str, key: bytes) -> bytes:
    """`keccak256(abi.encode(keccak256(key), meterCode))`: who does not hold `key` cannot
    link an asset id to a meter code, even by trying every code."""
    return keccak(encode(["bytes32", "string"], [keccak(key), meter_code]))


def new_salt() -> bytes:
    """32 random bytes for a sealed bid."""
    return os.urandom(32)


def commitment(session_id: int, seller: str, bid: BidFields) -> bytes:
    """The hash a seller commits before gate closure."""
    values = [
        session_id, to_checksum_address(seller), bid.zone, int(bid.direction), bid.divisible,
        bid.quantity_w, bid.min_quantity_w, bid.price_eur_per_mw, bid.slot_mask,
        list(bid.asset_ids), bid.salt,
    ]  # fmt: skip
    return keccak(encode(COMMITMENT_TYPES, values))


def bid_id(seller: str, commitment_hash: bytes) -> bytes:
    """`keccak256(abi.encode(seller, commitment))`: the bid's id on chain."""
    return keccak(encode(["address", "bytes32"], [to_checksum_address(seller), commitment_hash]))
