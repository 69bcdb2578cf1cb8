"""verifier.events: the fast decoder reads every ABI type the same way eth_abi does,
refuses malformed data, keeps unknown logs raw, and writes canonical JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from verifier.errors import DecodeError
from verifier.events import EventDecoder, args_json, event_signature

ADDRESS = "0x" + "11" * 20
EMITTER = "0x" + "ee" * 20
WIDE = {
    "type": "event",
    "name": "Wide",
    "anonymous": False,
    "inputs": [
        {"name": "id", "type": "uint64", "indexed": True},
        {"name": "who", "type": "address", "indexed": True},
        {"name": "tag", "type": "string", "indexed": True},  # hashed in its topic
        {"name": "amount", "type": "uint256", "indexed": False},
        {"name": "delta", "type": "int16", "indexed": False},
        {"name": "flag", "type": "bool", "indexed": False},
        {"name": "key", "type": "bytes32", "indexed": False},
        {"name": "short", "type": "bytes4", "indexed": False},
        {"name": "note", "type": "string", "indexed": False},
        {"name": "blob", "type": "bytes", "indexed": False},
        {"name": "quantities", "type": "uint40[]", "indexed": False},
        {"name": "triple", "type": "uint16[3]", "indexed": False},
        {
            "name": "params",
            "type": "tuple",
            "indexed": False,
            "components": [
                {"name": "kind", "type": "uint8"},
                {"name": "zone", "type": "bytes32"},
                {"name": "owner", "type": "address"},
            ],
        },
        {"name": "ids", "type": "bytes32[]", "indexed": False},
    ],
}
NESTED = {  # fast path does not handle these: eth_abi decodes them
    "type": "event",
    "name": "Nested",
    "anonymous": False,
    "inputs": [
        {"name": "grid", "type": "uint8[][]", "indexed": False},
        {
            "name": "named",
            "type": "tuple",
            "indexed": False,
            "components": [{"name": "label", "type": "string"}, {"name": "n", "type": "uint8"}],
        },
    ],
}
WIDE_TYPES = ["uint256", "int16", "bool", "bytes32", "bytes4", "string", "bytes", "uint40[]",
              "uint16[3]", "(uint8,bytes32,address)", "bytes32[]"]  # fmt: skip
WIDE_VALUES: list[Any] = [
    2**200 + 7, -300, True, b"\x01" * 32, b"\xab\xcd\x00\x01", "gr\u00fcn", b"\x00\xff",
    [1, 2**40 - 1], [7, 8, 9], (3, b"Z".ljust(32, b"\0"), "0x" + "22" * 20),
    [b"\x05" * 32, b"\x06" * 32],
]  # fmt: skip


def _decoder() -> EventDecoder:
    return EventDecoder({"Thing": [WIDE, NESTED]}, {"Thing": EMITTER})


def _log(topics: list[bytes], data: bytes) -> dict[str, Any]:
    return {
        "address": EMITTER.upper().replace("0X", "0x"),
        "topics": ["0x" + t.hex() for t in topics],
        "data": "0x" + data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "AB" * 32,
        "logIndex": "0x2",
        "transactionHash": "0x" + "cd" * 32,
        "transactionIndex": "0x0",
    }


def _wide_log(data: bytes | None = None) -> dict[str, Any]:
    topics = [
        keccak(text=event_signature(WIDE)),
        (42).to_bytes(32, "big"),
        bytes(12) + bytes.fromhex(ADDRESS[2:]),
        keccak(text="hello"),
    ]
    return _log(topics, encode(WIDE_TYPES, WIDE_VALUES) if data is None else data)


def test_every_type_is_read_like_eth_abi() -> None:
    ev = _decoder().decode(_wide_log())
    assert (ev.contract, ev.event, ev.block_number, ev.log_index) == ("Thing", "Wide", 16, 2)
    assert ev.block_hash == "0x" + "ab" * 32 and ev.address == EMITTER
    assert ev.args == {
        "id": 42,
        "who": ADDRESS,
        "tag": "0x" + keccak(text="hello").hex(),
        "amount": 2**200 + 7,
        "delta": -300,
        "flag": True,
        "key": "0x" + "01" * 32,
        "short": "0xabcd0001",
        "note": "gr\u00fcn",
        "blob": "0x00ff",
        "quantities": [1, 2**40 - 1],
        "triple": [7, 8, 9],
        "params": {"kind": 3, "zone": "0x5a" + "00" * 31, "owner": "0x" + "22" * 20},
        "ids": ["0x" + "05" * 32, "0x" + "06" * 32],
    }


def test_types_the_fast_path_leaves_go_through_eth_abi() -> None:
    data = encode(["uint8[][]", "(string,uint8)"], [[[1, 2], [3]], ("zone", 9)])
    ev = _decoder().decode(_log([keccak(text=event_signature(NESTED))], data))
    assert ev.args == {"grid": [[1, 2], [3]], "named": {"label": "zone", "n": 9}}


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda d: d[:-1],  # truncated
        lambda d: d[:64],  # far too short
        lambda d: d[:32] + (2**15).to_bytes(32, "big") + d[64:],  # int16 out of range
        lambda d: d[:64] + (2).to_bytes(32, "big") + d[96:],  # bool 2
        lambda d: d[:128] + b"\xab\xcd\x00\x01\x01" + d[133:],  # bytes4 dirty padding
    ],
)
def test_malformed_data_is_refused(corrupt: Any) -> None:
    data = corrupt(encode(WIDE_TYPES, WIDE_VALUES))
    with pytest.raises(DecodeError):
        _decoder().decode(_wide_log(data))


def test_an_address_topic_with_dirty_high_bytes_is_refused() -> None:
    log = _wide_log()
    log["topics"][2] = "0x" + "01" * 12 + ADDRESS[2:]
    with pytest.raises(DecodeError, match="address"):
        _decoder().decode(log)


def test_a_wrong_topic_count_is_refused() -> None:
    log = _wide_log()
    log["topics"] = log["topics"][:2]
    with pytest.raises(DecodeError, match="topics"):
        _decoder().decode(log)


def test_an_unknown_event_is_kept_raw() -> None:
    ev = _decoder().decode(_log([keccak(text="Other(uint256)")], b"\x01" * 32))
    assert ev.event == "" and ev.args == {
        "topics": ["0x" + keccak(text="Other(uint256)").hex()],
        "data": "0x" + "01" * 32,
    }


def test_args_json_sorts_keys_and_writes_big_integers_as_strings() -> None:
    args = {"b": 2**53 - 1, "a": [2**53, -(2**53)], "c": {"y": True, "x": "0xab"}, "d": -5}
    text = args_json(args)
    assert text == (
        '{"a":["9007199254740992","-9007199254740992"],"b":9007199254740991,'
        '"c":{"x":"0xab","y":true},"d":-5}'
    )
    assert json.loads(args_json(_decoder().decode(_wide_log()).args))["amount"] == str(
        2**200 + 7
    )
