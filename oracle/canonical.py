"""Canonical JSON and keccak256: the bytes that are hashed and compared.

Canonical JSON: UTF-8, keys sorted, no spaces, integers only (a float anywhere
is a bug and raises), lists in their given order.
"""

from __future__ import annotations

import json
from typing import Any

from Crypto.Hash import keccak


def _reject_floats(value: Any, path: str = "$") -> None:
    if _has_float(value):
        _name_float(value, path)


def _has_float(value: Any) -> bool:
    """Whether a float occurs anywhere in `value` (no path kept: the search of every
    document; `_name_float` names the first one only when there is one)."""
    kind = type(value)
    if kind is float:
        return True
    if kind is int or kind is str or value is None or kind is bool:
        return False
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list | tuple):
        return isinstance(value, float)
    for v in value:
        kind = type(v)
        if kind is int or kind is str:
            continue
        if _has_float(v):
            return True
    return False


def _name_float(value: Any, path: str) -> None:
    """Raise naming the first float of `value`, depth first in order (its path)."""
    if isinstance(value, float):
        raise TypeError(f"{path}: float {value!r} in canonical JSON (integers only)")
    if isinstance(value, dict):
        for k, v in value.items():
            _name_float(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _name_float(v, f"{path}[{i}]")


def canonical_json(value: Any, *, integers_checked: bool = False) -> bytes:
    """`integers_checked`: the caller's schema admits no float (pydantic models of ints and
    strings), so the recursive float check can be skipped on large documents."""
    if not integers_checked:
        _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def keccak_hex(data: bytes) -> str:
    return "0x" + keccak256(data).hex()
