"""Generate python_client/contract_types.py, the one Python mirror of the contracts.

The mirror is generated, not written by hand, so that it cannot drift: `make build-contracts`
(``python -m python_client.artifacts compile``) reads from the compiler's output

- the enums of contracts/ (names and member order from the AST),
- the integer and role constants of contracts/ (from the AST: literals and
  ``keccak256("...")``),
- the "no limit" sentinel (``type(uint64).max``) from the ABI type of the fields that carry it,
- the outputs of every view function of the deployed contracts (from the ABI, with their
  component names),

keeps what it read from the AST in ``build/artifacts/contract-types.json`` and writes the
module from that and the ABIs. The module is committed; tests/python_client/
test_contract_types.py renders it again from build/artifacts and fails on any difference (a
new or renamed enum member, a changed constant, a new view field).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from python_client.errors import ClientError

TYPES_FORMAT = "flexmarket.contract-types/1"
TYPES_FILE = "contract-types.json"
MIRROR_MODULE = Path("python_client") / "contract_types.py"
# Contracts whose view functions get typed records (the ones the runtime calls).
VIEW_CONTRACTS = ("FlexRegistry", "FlexMarket")
# Fields whose largest value means "no limit" (FlexTypes.sol): NO_LIMIT is their type's maximum.
NO_LIMIT_FIELDS = (("SessionParams", "priceCapEurPerMw"), ("NeedParams", "maxPriceEurPerMw"))
ROLES_LIBRARY = "FlexRoles"
_TUPLE_ATTRIBUTES = frozenset(dir(tuple))


class TypegenError(ClientError):
    """The compiler output holds something the mirror cannot express."""


# ---------------------------------------------------------------------- names


def snake_case(name: str) -> str:
    """``priceEurPerMw`` -> ``price_eur_per_mw``, ``pMaxW`` -> ``p_max_w``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def upper_snake(name: str) -> str:
    """``PayAsBid`` -> ``PAY_AS_BID``, ``DSO`` -> ``DSO``."""
    return snake_case(name).upper()


# ---------------------------------------------------------------------- from the AST


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _doc(node: dict[str, Any]) -> str:
    doc = node.get("documentation") or {}
    text = doc.get("text", "") if isinstance(doc, dict) else str(doc)
    lines = [line.strip() for line in text.replace("@notice", "").strip().splitlines()]
    return " ".join(line for line in lines if line)


def _constant_value(node: dict[str, Any], names: Mapping[int, Any]) -> Any:
    """The value of a constant's initialiser, or None if it is not a literal, a
    ``keccak256("...")`` or a reference to such a constant."""
    kind = node.get("nodeType")
    if kind == "Literal" and node.get("kind") == "number" and not node.get("subdenomination"):
        return int(str(node["value"]).replace("_", ""), 0)
    if kind == "FunctionCall" and node["expression"].get("name") == "keccak256":
        args = node.get("arguments", [])
        if len(args) == 1 and args[0].get("nodeType") == "Literal" and args[0]["kind"] == "string":
            return "0x" + keccak(text=args[0]["value"]).hex()
        return None
    if kind in ("Identifier", "MemberAccess"):
        return names.get(int(node.get("referencedDeclaration", -1)))
    return None


def extract(output: Mapping[str, Any], contracts_dir: str = "contracts") -> dict[str, Any]:
    """Enums and evaluable constants of our sources from a standard-JSON compiler output
    (it must hold the ``ast`` of every source)."""
    enums: list[dict[str, Any]] = []
    constants: list[dict[str, Any]] = []
    declarations: list[tuple[str, str, dict[str, Any]]] = []
    for source, data in sorted(output["sources"].items()):
        if not source.startswith(f"{contracts_dir}/"):
            continue
        if "ast" not in data:
            raise TypegenError(f"the compiler output has no AST of {source}")
        for unit in data["ast"]["nodes"]:
            owner = unit.get("name", "") if unit.get("nodeType") == "ContractDefinition" else ""
            for node in _walk(unit):
                if node.get("nodeType") == "EnumDefinition":
                    enums.append({
                        "name": node["name"], "source": source, "doc": _doc(node),
                        "members": [m["name"] for m in node["members"]],
                    })  # fmt: skip
                elif node.get("nodeType") == "VariableDeclaration" and node.get("constant"):
                    declarations.append((source, owner, node))
    values: dict[int, Any] = {}
    for _ in range(len(declarations) + 1):  # references resolve in at most that many passes
        for _source, _owner, node in declarations:
            if int(node["id"]) not in values:
                value = _constant_value(node.get("value", {}), values)
                if value is not None:
                    values[int(node["id"])] = value
    for source, owner, node in declarations:
        if int(node["id"]) in values:
            constants.append({
                "name": node["name"], "contract": owner, "source": source,
                "type": node["typeDescriptions"]["typeString"], "value": values[int(node["id"])],
            })  # fmt: skip
    return {"format": TYPES_FORMAT, "enums": enums, "constants": constants}


def write_types(types: Mapping[str, Any], out_dir: Path, digest: str) -> Path:
    """Keep what was read from the AST beside the artifacts (compiled from `digest`)."""
    path = out_dir / TYPES_FILE
    document = dict(types, inputDigest=digest)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------- rendering


def _struct_name(item: Mapping[str, Any]) -> str:
    """``struct IFlexMarket.SessionTiming`` -> ``SessionTiming``."""
    internal = str(item.get("internalType", ""))
    if not internal.startswith("struct "):
        raise TypegenError(f"tuple {item.get('name')!r} has no struct type: {internal!r}")
    return internal.removeprefix("struct ").split(".")[-1].removesuffix("[]")


class _Renderer:
    def __init__(self, enums: list[str]) -> None:
        self.enums = set(enums)
        self.records: dict[str, tuple[str, list[Mapping[str, Any]]]] = {}  # name -> (doc, items)

    def py_type(self, item: Mapping[str, Any]) -> tuple[str, str]:
        """(annotation, conversion of `{}`) of one ABI parameter."""
        abi_type = str(item["type"])
        internal = str(item.get("internalType", ""))
        if abi_type.endswith("[]"):
            inner = dict(item, type=abi_type[:-2], internalType=internal.removesuffix("[]"))
            annotation, convert = self.py_type(inner)
            return f"tuple[{annotation}, ...]", "tuple(" + convert.format("x") + " for x in {})"
        if abi_type == "tuple":
            name = self.record(_struct_name(item), f"``{item.get('internalType')}``",
                               item["components"])  # fmt: skip
            return name, name + ".from_abi({})"
        if internal.startswith("enum "):
            name = internal.removeprefix("enum ").split(".")[-1]
            if name not in self.enums:
                raise TypegenError(f"enum {name} is not in the AST of contracts/")
            return name, name + "({})"
        if re.fullmatch(r"u?int\d*", abi_type):
            return "int", "int({})"
        if abi_type == "bool":
            return "bool", "bool({})"
        if abi_type in ("address", "string"):
            return "str", "str({})"
        if re.fullmatch(r"bytes\d*", abi_type):
            return "bytes", "bytes({})"
        raise TypegenError(f"ABI type {abi_type} has no Python mirror")

    def record(self, name: str, doc: str, items: list[Mapping[str, Any]]) -> str:
        if name in self.records:
            if [(i["name"], i["type"]) for i in self.records[name][1]] != [
                (i["name"], i["type"]) for i in items
            ]:
                raise TypegenError(f"two different shapes are both named {name}")
            return name
        self.records[name] = (doc, items)
        for item in items:
            field = snake_case(str(item["name"]))
            if not field or field.startswith("_") or field in _TUPLE_ATTRIBUTES:
                raise TypegenError(f"{name}: component {item['name']!r} cannot be a field name")
            self.py_type(item)  # nested records first, so they are declared before use
        self.records[name] = self.records.pop(name)
        return name

    def render_record(self, name: str) -> list[str]:
        doc, items = self.records[name]
        lines = ["", "", f"class {name}(NamedTuple):", *_docstring(doc), ""]
        converts = []
        for i, item in enumerate(items):
            annotation, convert = self.py_type(item)
            lines.append(f"    {snake_case(str(item['name']))}: {annotation}")
            converts.append("            " + convert.format(f"raw[{i}]") + ",")
        lines += [
            "",
            "    @classmethod",
            f"    def from_abi(cls, raw: Sequence[Any]) -> {name}:",
            '        """From what web3 returns (a tuple in ABI order)."""',
            "        return cls(",
            *converts,
            "        )",
        ]
        return lines


def _abi_items(abis: Mapping[str, list[dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for contract in VIEW_CONTRACTS:
        for item in abis[contract]:
            yield contract, item


def _no_limit_bits(abis: Mapping[str, list[dict[str, Any]]]) -> int:
    found: set[str] = set()
    for _contract, item in _abi_items(abis):
        for param in item.get("inputs", []):
            struct = str(param.get("internalType", "")).split(" ")[-1].split(".")[-1]
            for component in param.get("components", []):
                if (struct, component["name"]) in NO_LIMIT_FIELDS:
                    found.add(str(component["type"]))
    if len(found) != 1 or not re.fullmatch(r"uint\d+", next(iter(found))):
        raise TypegenError(f"no-limit fields {NO_LIMIT_FIELDS} have types {sorted(found)}")
    return int(next(iter(found))[4:])


HEADER = '''"""The contracts as Python sees them: enums, constants and typed view records.

GENERATED by `make build-contracts` (python_client/typegen.py) from the compiler's AST and
ABIs: do not edit. tests/python_client/test_contract_types.py fails when it no longer matches
the compiled contracts. Every other module imports the contracts' enums and constants from
here; view calls are read through the records (`SessionView.from_abi(raw).money.award_count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from python_client.contract_enum import ContractEnum as ContractEnum
from python_client.contract_enum import labels as labels
'''


def _docstring(text: str) -> list[str]:
    """A class docstring, wrapped within the line length."""
    lines = textwrap.wrap(text, 88, initial_indent='    """', subsequent_indent="    ")
    if len(lines) == 1:
        return [lines[0] + '"""']
    return lines + ['    """']


def _q(text: str) -> str:
    """A Python string literal in double quotes."""
    return json.dumps(text)


def render(types: Mapping[str, Any], abis: Mapping[str, list[dict[str, Any]]]) -> str:
    """The text of python_client/contract_types.py."""
    lines = HEADER.rstrip("\n").split("\n")
    enum_names = [e["name"] for e in types["enums"]]
    if len(set(enum_names)) != len(enum_names):
        raise TypegenError(f"enum names are not unique: {enum_names}")
    for enum in types["enums"]:
        lines += ["", "", f"class {enum['name']}(ContractEnum):",
                  *_docstring(f"{enum['doc']} ({enum['source']})"), ""]  # fmt: skip
        members = enum["members"]
        names = ", ".join(_q(m) for m in members) + ("," if len(members) == 1 else "")
        lines += [f"    __solidity_names__ = ({names})", ""]
        lines += [f"    {upper_snake(m)} = {i}" for i, m in enumerate(enum["members"])]
    lines += [""]

    lines += ["", "# type(uint64).max in a price cap or a need's maximum price: no limit",
              f"NO_LIMIT: Final = 2**{_no_limit_bits(abis)} - 1"]  # fmt: skip
    roles = [c for c in types["constants"] if c["contract"] == ROLES_LIBRARY]
    lines += ["# The roles of FlexRoles.sol: name -> role id (keccak256 of `<NAME>_ROLE`)",
              "ROLE_IDS: Final[dict[str, bytes]] = {"]  # fmt: skip
    for c in roles:
        lines += [f"    {_q(c['name'])}: bytes.fromhex(", f"        {_q(c['value'][2:])}", "    ),"]
    lines += ["}", "ROLES: Final = tuple(ROLE_IDS)"]
    seen: set[str] = set()
    for c in types["constants"]:  # the integer constants (bytes32 slots and hashes are not)
        integer = re.fullmatch(r"u?int\d*", str(c["type"]).split(" ")[0])
        if c["contract"] == ROLES_LIBRARY or not isinstance(c["value"], int) or not integer:
            continue
        name = c["name"].lstrip("_")
        if name in seen:
            raise TypegenError(f"two integer constants are named {name}")
        seen.add(name)
        value = f"{c['value']:_}" if c["value"] < 2**64 else hex(c["value"])
        lines += [f"# {c['contract']} ({c['source']})", f"{name}: Final = {value}"]

    renderer = _Renderer(enum_names)
    for contract, item in _abi_items(abis):
        if item.get("type") != "function" or item.get("stateMutability") not in ("view", "pure"):
            continue
        outputs = item["outputs"]
        if len(outputs) == 1 and outputs[0]["type"] == "tuple":
            renderer.record(_struct_name(outputs[0]), f"``{outputs[0]['internalType']}``: "
                            f"what {contract}.{item['name']}() returns.", outputs[0]["components"])
        elif len(outputs) > 1:
            name = item["name"][0].upper() + item["name"][1:]
            name = name if name.endswith("View") else name + "View"
            renderer.record(name, f"What {contract}.{item['name']}() returns.", outputs)
    for name in renderer.records:
        lines += renderer.render_record(name)
    return "\n".join(lines) + "\n"


def load_abis(artifacts_dir: Path) -> dict[str, list[dict[str, Any]]]:
    abis = {}
    for contract in VIEW_CONTRACTS:
        data = json.loads((artifacts_dir / f"{contract}.json").read_text(encoding="utf-8"))
        abis[contract] = data["abi"]
    return abis


def render_from_artifacts(artifacts_dir: Path) -> str:
    """The mirror module's text from build/artifacts (as `make build-contracts` left it)."""
    path = artifacts_dir / TYPES_FILE
    if not path.is_file():
        raise TypegenError(f"{path} is missing: run `make build-contracts`")
    types = json.loads(path.read_text(encoding="utf-8"))
    if types.get("format") != TYPES_FORMAT:
        raise TypegenError(f"{path}: format {types.get('format')!r}, expected {TYPES_FORMAT}")
    return render(types, load_abis(artifacts_dir))


def write_mirror(root: Path, artifacts_dir: Path) -> Path:
    """Write python_client/contract_types.py (only if it changed)."""
    path = root / MIRROR_MODULE
    text = render_from_artifacts(artifacts_dir)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path
