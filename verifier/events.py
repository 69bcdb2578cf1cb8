"""Decode the logs of the deployed contracts, fast, from raw JSON-RPC logs.

An :class:`EventDecoder` is built once from the ABIs in build/artifacts: it maps each
(contract address, first topic) to a precompiled reader per argument, so a log costs a
dictionary look-up and a few ``int.from_bytes`` on 32-byte words. web3's
``process_log`` (and eth_abi's generic decoder) re-derive the types and build
AttributeDicts for every log, which is many times slower (see bench/bench_decode.py).
Types the fast path does not know (a tuple holding a dynamic type, nested arrays) fall
back to eth_abi for that event, with the same output.

Decoded values are plain JSON-ready Python: integers as ``int``, ``bool``, addresses as
lowercase ``0x`` hex, ``bytesN``/``bytes`` as lowercase ``0x`` hex, ``string`` as text,
structs as dicts keyed by field name, arrays as lists. :func:`args_json` writes them for
the indexer's `args` column: sorted keys, no spaces, ASCII, integers beyond 2**53 - 1 in
magnitude as decimal strings (see docs/indexer.md). It is not the canonical JSON that is
hashed (`oracle.canonical.canonical_json`: UTF-8, integers only, no strings for numbers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from verifier.errors import DecodeError

CONTRACTS = ("FlexToken", "FlexRegistry", "FlexMarket")
MAX_SAFE_INTEGER = 2**53 - 1  # JSON readers that use doubles (JavaScript) keep these exact
WORD = 32

# A reader decodes one value whose head word starts at `pos` of `data`; `base` is where the
# enclosing tuple's encoding starts (offsets of dynamic values count from there).
Reader = Callable[[bytes, int, int], Any]


def abi_type(item: Mapping[str, Any]) -> str:
    """The canonical type string of an ABI input, tuples expanded: `(bytes32,uint8)[]`."""
    kind = str(item["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in item["components"])
        return f"({inner}){kind[5:]}"
    return kind


def event_signature(item: Mapping[str, Any]) -> str:
    return f"{item['name']}({','.join(abi_type(i) for i in item['inputs'])})"


# ------------------------------------------------------------------ fast readers


def _word(data: bytes, pos: int) -> bytes:
    if pos + WORD > len(data):
        raise DecodeError(f"data too short: word at byte {pos} of {len(data)}")
    return data[pos : pos + WORD]


def _uint_reader(bits: int) -> Reader:
    limit = 1 << bits

    def read(data: bytes, base: int, pos: int) -> int:
        value = int.from_bytes(_word(data, pos), "big")
        if value >= limit:
            raise DecodeError(f"uint{bits} out of range: {value}")
        return value

    return read


def _int_reader(bits: int) -> Reader:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def read(data: bytes, base: int, pos: int) -> int:
        value = int.from_bytes(_word(data, pos), "big", signed=True)
        if not low <= value < high:
            raise DecodeError(f"int{bits} out of range: {value}")
        return value

    return read


def _read_address(data: bytes, base: int, pos: int) -> str:
    word = _word(data, pos)
    if any(word[:12]):
        raise DecodeError(f"address with dirty high bytes: 0x{word.hex()}")
    return "0x" + word[12:].hex()


def _read_bool(data: bytes, base: int, pos: int) -> bool:
    value = int.from_bytes(_word(data, pos), "big")
    if value > 1:
        raise DecodeError(f"bool out of range: {value}")
    return value == 1


def _fixed_bytes_reader(size: int) -> Reader:
    def read(data: bytes, base: int, pos: int) -> str:
        word = _word(data, pos)
        if any(word[size:]):
            raise DecodeError(f"bytes{size} with dirty padding: 0x{word.hex()}")
        return "0x" + word[:size].hex()

    return read


def _dynamic_bytes(data: bytes, base: int, pos: int) -> bytes:
    start = base + int.from_bytes(_word(data, pos), "big")
    length = int.from_bytes(_word(data, start), "big")
    end = start + WORD + length
    if end > len(data):
        raise DecodeError(f"bytes of length {length} run past the data")
    return data[start + WORD : end]


def _read_bytes(data: bytes, base: int, pos: int) -> str:
    return "0x" + _dynamic_bytes(data, base, pos).hex()


def _read_string(data: bytes, base: int, pos: int) -> str:
    try:
        return _dynamic_bytes(data, base, pos).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"string is not UTF-8: {exc}") from exc


def _elementary_reader(kind: str) -> Reader | None:
    """A reader for a static elementary type, or None."""
    if kind.startswith("uint"):
        return _uint_reader(int(kind[4:] or 256))
    if kind.startswith("int"):
        return _int_reader(int(kind[3:] or 256))
    if kind == "address":
        return _read_address
    if kind == "bool":
        return _read_bool
    if kind.startswith("bytes") and kind != "bytes":
        return _fixed_bytes_reader(int(kind[5:]))
    return None


@dataclass(frozen=True)
class _Compiled:
    reader: Reader
    head_words: int  # words the value takes in its tuple's head
    dynamic: bool


def _compile(item: Mapping[str, Any]) -> _Compiled | None:
    """A reader for an ABI input, or None when the fast path does not handle its type."""
    kind = str(item["type"])
    if kind.endswith("]"):
        inner_kind, _, count = kind[:-1].rpartition("[")
        if inner_kind.endswith("]"):
            return None  # nested arrays: eth_abi
        inner = _compile({**item, "type": inner_kind})
        if inner is None or inner.dynamic:
            return None
        step = inner.head_words * WORD
        read_inner = inner.reader
        if count:  # T[k] of a static T: inline
            n = int(count)

            def read_static_array(data: bytes, base: int, pos: int) -> list[Any]:
                return [read_inner(data, pos, pos + i * step) for i in range(n)]

            return _Compiled(read_static_array, n * inner.head_words, False)

        def read_dynamic_array(data: bytes, base: int, pos: int) -> list[Any]:
            start = base + int.from_bytes(_word(data, pos), "big")
            length = int.from_bytes(_word(data, start), "big")
            first = start + WORD
            if first + length * step > len(data):
                raise DecodeError(f"array of length {length} runs past the data")
            return [read_inner(data, first, first + i * step) for i in range(length)]

        return _Compiled(read_dynamic_array, 1, True)
    if kind == "tuple":
        parts = [(str(c["name"]), _compile(c)) for c in item["components"]]
        static = [(name, p) for name, p in parts if p is not None and not p.dynamic]
        if len(static) < len(parts):
            return None  # a struct holding a dynamic type: eth_abi
        fields: list[tuple[str, Reader, int]] = []
        offset = 0
        for name, part in static:
            fields.append((name, part.reader, offset))
            offset += part.head_words * WORD

        def read_tuple(data: bytes, base: int, pos: int) -> dict[str, Any]:
            return {name: read(data, pos, pos + off) for name, read, off in fields}

        return _Compiled(read_tuple, offset // WORD, False)
    if kind == "bytes":
        return _Compiled(_read_bytes, 1, True)
    if kind == "string":
        return _Compiled(_read_string, 1, True)
    elementary = _elementary_reader(kind)
    return None if elementary is None else _Compiled(elementary, 1, False)


# ------------------------------------------------------------------ eth_abi fallback


def _normalise(item: Mapping[str, Any], value: Any) -> Any:
    """eth_abi's output in the fast path's form (hex strings, dicts for structs)."""
    kind = str(item["type"])
    if kind.endswith("]"):
        inner = {**item, "type": kind[: kind.rindex("[")]}
        return [_normalise(inner, v) for v in value]
    if kind == "tuple":
        pairs = zip(item["components"], value, strict=True)
        return {str(c["name"]): _normalise(c, v) for c, v in pairs}
    if kind == "address":
        return str(value).lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return value


# ------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventSpec:
    """One event of one contract, with its precompiled readers."""

    contract: str
    name: str
    signature: str
    topic0: bytes
    inputs: tuple[Mapping[str, Any], ...]
    indexed: tuple[tuple[str, Reader | None], ...]  # None: a hashed dynamic value
    data: tuple[tuple[str, Reader, int], ...] | None  # (name, reader, head position); None: eth_abi
    data_inputs: tuple[Mapping[str, Any], ...]

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        if len(topics) != 1 + len(self.indexed):
            raise DecodeError(
                f"{self.contract}.{self.name}: {len(topics)} topics, "
                f"expected {1 + len(self.indexed)}"
            )
        args: dict[str, Any] = {}
        for (name, read), topic in zip(self.indexed, topics[1:], strict=True):
            args[name] = "0x" + topic.hex() if read is None else read(topic, 0, 0)
        if self.data is not None:
            for name, read, pos in self.data:
                args[name] = read(data, 0, pos)
        else:
            types = [abi_type(i) for i in self.data_inputs]
            try:
                values = abi_decode(types, data)
            except Exception as exc:  # noqa: BLE001 - eth_abi raises many kinds
                raise DecodeError(f"{self.contract}.{self.name}: {exc}") from exc
            for item, value in zip(self.data_inputs, values, strict=True):
                args[str(item["name"])] = _normalise(item, value)
        return args


def _spec(contract: str, item: Mapping[str, Any]) -> EventSpec:
    signature = event_signature(item)
    inputs = tuple(item["inputs"])
    indexed: list[tuple[str, Reader | None]] = []
    for i in inputs:
        if i.get("indexed"):
            compiled = _compile(i)
            static = compiled is not None and not compiled.dynamic and compiled.head_words == 1
            indexed.append((str(i["name"]), compiled.reader if static and compiled else None))
    data_inputs = tuple(i for i in inputs if not i.get("indexed"))
    readers: list[tuple[str, Reader, int]] | None = None
    compiled_data = [(str(i["name"]), _compile(i)) for i in data_inputs]
    known = [(name, c) for name, c in compiled_data if c is not None]
    if len(known) == len(compiled_data):  # else eth_abi decodes the data
        readers = []
        pos = 0  # static tuples and static arrays take several head words
        for name, c in known:
            readers.append((name, c.reader, pos))
            pos += c.head_words * WORD
    return EventSpec(
        contract=contract,
        name=str(item["name"]),
        signature=signature,
        topic0=keccak(text=signature),
        inputs=inputs,
        indexed=tuple(indexed),
        data=None if readers is None else tuple(readers),
        data_inputs=data_inputs,
    )


@dataclass(frozen=True, slots=True)
class DecodedLog:
    """One log of our contracts, decoded; `event` is "" when no ABI names its topic."""

    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    tx_index: int
    address: str
    contract: str
    event: str
    args: dict[str, Any]


class EventDecoder:
    """Every event of the deployed contracts, keyed by (address, topic0)."""

    def __init__(self, abis: Mapping[str, list[dict[str, Any]]], addresses: Mapping[str, str]):
        """`abis`: contract name -> ABI; `addresses`: contract name -> address."""
        self.contract_of: dict[str, str] = {a.lower(): n for n, a in addresses.items()}
        self.specs: dict[tuple[str, bytes], EventSpec] = {}
        for name, address in addresses.items():
            for item in abis[name]:
                if item.get("type") == "event" and not item.get("anonymous"):
                    spec = _spec(name, item)
                    self.specs[(address.lower(), spec.topic0)] = spec

    @classmethod
    def from_artifacts(cls, addresses: Mapping[str, str], artifacts_dir: Path) -> EventDecoder:
        abis = {}
        for name in addresses:
            path = artifacts_dir / f"{name}.json"
            if not path.is_file():
                raise DecodeError(f"{path} is missing: run `make build-contracts`")
            abis[name] = json.loads(path.read_text(encoding="utf-8"))["abi"]
        return cls(abis, addresses)

    @property
    def addresses(self) -> list[str]:
        return sorted(self.contract_of)

    def decode(self, log: Mapping[str, Any]) -> DecodedLog:
        """A raw JSON-RPC log (hex strings) decoded. A log whose topic no ABI names keeps
        its raw topics and data as args."""
        address = str(log["address"]).lower()
        contract = self.contract_of.get(address)
        if contract is None:
            raise DecodeError(f"log of an unknown address {address}")
        raw_topics: list[str] = log["topics"]
        topics = [bytes.fromhex(t[2:]) for t in raw_topics]
        data = bytes.fromhex(str(log["data"])[2:])
        spec = self.specs.get((address, topics[0])) if topics else None
        if spec is None:
            event, args = "", {"topics": [t.lower() for t in raw_topics], "data": "0x" + data.hex()}
        else:
            event, args = spec.name, spec.decode(topics, data)
        return DecodedLog(
            block_number=int(log["blockNumber"], 16),
            block_hash=str(log["blockHash"]).lower(),
            log_index=int(log["logIndex"], 16),
            tx_hash=str(log["transactionHash"]).lower(),
            tx_index=int(log["transactionIndex"], 16),
            address=address,
            contract=contract,
            event=event,
            args=args,
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[DecodedLog]:
        return [self.decode(log) for log in logs]


# ------------------------------------------------------------------ the args column


def jsonable(value: Any) -> Any:
    """`value` with integers beyond 2**53 - 1 in magnitude as decimal strings."""
    if type(value) is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if type(value) is dict:
        return {k: jsonable(v) for k, v in value.items()}
    if type(value) is list:
        return [jsonable(v) for v in value]
    return value


def args_json(args: Mapping[str, Any]) -> str:
    """An event's arguments as the indexer stores them: sorted keys, no spaces, ASCII only,
    big integers as decimal strings (readable by JavaScript's JSON.parse without loss)."""
    return json.dumps(jsonable(dict(args)), sort_keys=True, separators=(",", ":"))
