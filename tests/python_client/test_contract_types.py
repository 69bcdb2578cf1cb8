"""python_client/contract_types.py, the contracts' Python mirror, is what the compiled
contracts say: regenerated from build/artifacts it is the same file, and any drift (a new
or renamed enum member, a changed constant, a new view field) changes it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from python_client import contract_types, typegen
from python_client.artifacts import artifacts_fresh
from python_client.contract_types import (
    BidStatus,
    Direction,
    Pricing,
    ResultStatus,
    SessionView,
    labels,
)
from python_client.paths import ARTIFACTS_DIR, ROOT


@pytest.fixture(scope="module")
def compiled() -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    if not artifacts_fresh():
        pytest.fail("build/artifacts is stale or missing: run `make build-contracts`")
    types = json.loads((ARTIFACTS_DIR / typegen.TYPES_FILE).read_text(encoding="utf-8"))
    return types, typegen.load_abis(ARTIFACTS_DIR)


def test_regenerating_the_mirror_from_the_compiled_contracts_gives_the_committed_file(
    compiled: Any,
) -> None:
    committed = (ROOT / typegen.MIRROR_MODULE).read_text(encoding="utf-8")
    assert typegen.render_from_artifacts(ARTIFACTS_DIR) == committed, (
        "python_client/contract_types.py differs from the contracts: run `make build-contracts` "
        "and commit it"
    )


def _enum(types: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in types["enums"] if e["name"] == name)


def test_a_new_or_renamed_enum_member_changes_the_mirror(compiled: Any) -> None:
    types, abis = compiled
    base = typegen.render(types, abis)
    added = copy.deepcopy(types)
    _enum(added, "BidStatus")["members"].append("Slashed")
    assert "    SLASHED = 5\n" in typegen.render(added, abis)
    renamed = copy.deepcopy(types)
    _enum(renamed, "Direction")["members"][1] = "Downward"
    assert typegen.render(renamed, abis) != base


def test_a_changed_constant_or_view_field_changes_the_mirror(compiled: Any) -> None:
    types, abis = compiled
    base = typegen.render(types, abis)
    changed = copy.deepcopy(types)
    next(c for c in changed["constants"] if c["name"] == "_FAILURES_TO_SUSPEND")["value"] = 5
    assert "FAILURES_TO_SUSPEND: Final = 5" in typegen.render(changed, abis)
    widened = copy.deepcopy(abis)
    session = next(i for i in widened["FlexMarket"] if i.get("name") == "session")
    session["outputs"].append({"name": "auditHash", "type": "bytes32", "internalType": "bytes32"})
    text = typegen.render(types, widened)
    assert text != base and "    audit_hash: bytes\n" in text


def test_the_mirror_carries_what_the_contracts_say() -> None:
    assert list(BidStatus)[-1] is BidStatus.RELEASED  # the hand-written copy lacked it
    assert labels(Pricing) == ("pay_as_bid", "uniform")
    assert ResultStatus.FINAL.solidity_name == "Final"
    assert contract_types.NO_LIMIT == 2**64 - 1
    assert contract_types.ROLES == (
        "DSO", "TSO", "BRP", "AGGREGATOR", "ORACLE", "VALIDATOR", "METERING",
    )  # fmt: skip
    from eth_utils.crypto import keccak

    assert all(contract_types.ROLE_IDS[r] == keccak(text=f"{r}_ROLE") for r in contract_types.ROLES)


def test_a_session_view_is_read_by_field_names() -> None:
    raw = (
        "0x" + "11" * 20,
        (100, 200, 300, 400, 4, 15, 1, 2, 0, 500),
        (0, 1, 0, 2**64 - 1, 0),
        (3, 0, 0, 2, 7, 0, 0, 60),
        b"\1" * 32,
        b"\2" * 32,
    )
    view = SessionView.from_abi(raw)
    assert view.money.award_count == 7
    assert view.money.result_status is ResultStatus.FINAL
    assert view.timing.pricing is Pricing.UNIFORM
    assert view.rules.price_cap_eur_per_mw == contract_types.NO_LIMIT
    assert view.result_hash == b"\2" * 32
    assert view[3][4] == 7  # still a tuple for code not yet converted


def test_extract_reads_enums_and_constants_from_an_ast() -> None:
    ast = {"nodes": [
        {"nodeType": "EnumDefinition", "name": "Side", "members": [{"name": "Buy"},
         {"name": "Sell"}], "documentation": {"text": "@notice A side."}},
        {"nodeType": "ContractDefinition", "name": "Lib", "nodes": [
            {"nodeType": "VariableDeclaration", "constant": True, "id": 1, "name": "X",
             "typeDescriptions": {"typeString": "bytes32"},
             "value": {"nodeType": "FunctionCall", "expression": {"name": "keccak256"},
                       "arguments": [{"nodeType": "Literal", "kind": "string", "value": "X"}]}},
            {"nodeType": "VariableDeclaration", "constant": True, "id": 2, "name": "Y",
             "typeDescriptions": {"typeString": "bytes32"},
             "value": {"nodeType": "Identifier", "referencedDeclaration": 1}},
            {"nodeType": "VariableDeclaration", "constant": True, "id": 3, "name": "_N",
             "typeDescriptions": {"typeString": "uint8"},
             "value": {"nodeType": "Literal", "kind": "number", "value": "1_000"}},
        ]},
    ]}  # fmt: skip
    out = typegen.extract({"sources": {"contracts/A.sol": {"ast": ast},
                                       "node_modules/B.sol": {}}})  # fmt: skip
    assert out["enums"] == [{"name": "Side", "source": "contracts/A.sol", "doc": "A side.",
                             "members": ["Buy", "Sell"]}]  # fmt: skip
    values = {c["name"]: c["value"] for c in out["constants"]}
    assert values["X"] == values["Y"] and values["X"].startswith("0x")
    assert values["_N"] == 1_000


def test_a_view_the_mirror_cannot_express_stops_the_build(compiled: Any) -> None:
    types, abis = compiled
    broken = copy.deepcopy(abis)
    bid = next(i for i in broken["FlexMarket"] if i.get("name") == "bid")
    bid["outputs"][0]["components"][0]["name"] = "count"  # would shadow tuple.count
    with pytest.raises(typegen.TypegenError, match="count"):
        typegen.render(types, broken)
    unknown = copy.deepcopy(types)
    unknown["enums"] = [e for e in unknown["enums"] if e["name"] != "Direction"]
    with pytest.raises(typegen.TypegenError, match="enum Direction"):
        typegen.render(unknown, abis)


def test_direction_labels_are_the_scenario_words() -> None:
    assert [d.label for d in Direction] == ["up", "down"]


def _abi_input(abis: dict[str, list[dict[str, Any]]], function: str) -> list[str]:
    item = next(i for i in abis["FlexMarket"] if i.get("name") == function)
    params = item["inputs"]
    components = params[0]["components"] if params[0]["type"] == "tuple" else params
    return [typegen.snake_case(c["name"]) for c in components]


def _distinct(cls: type, **fixed: Any) -> Any:
    """An instance whose integer fields all differ, so a swapped pair shows."""
    import dataclasses

    values: dict[str, Any] = {}
    for n, f in enumerate(dataclasses.fields(cls), start=10):
        values[f.name] = fixed.get(f.name, n)
    return cls(**values)


def test_sdk_records_write_the_structs_in_abi_order(compiled: Any) -> None:
    """The hand-written calldata tuples of python_client.records follow the ABI's component
    names (snake_case), field by field."""
    from python_client.records import AwardRow, BidFields, NeedParams, SessionParams

    _, abis = compiled
    session = _distinct(SessionParams, market_id=b"m", product=b"p", pricing=Pricing.UNIFORM)
    need = _distinct(NeedParams, zone=b"z", direction=Direction.DOWN, buyer_role=2,
                     quantity_w=(5, 6))  # fmt: skip
    bid = _distinct(BidFields, zone=b"z", direction=Direction.DOWN, divisible=True,
                    asset_ids=(b"a",), salt=b"s")  # fmt: skip
    award = _distinct(AwardRow, bid_id=b"b", charged_ueur=99)
    cases = [
        (_abi_input(abis, "openSession"), session, session.as_tuple()),
        (_abi_input(abis, "postNeed"), need, need.as_tuple()),
        (_abi_input(abis, "revealBid"), bid, bid.reveal_tuple(7)),
    ]
    for names, record, written in cases:
        assert len(names) == len(written), type(record).__name__
        for name, value in zip(names, written, strict=True):
            expected = 7 if name == "session_id" and record is bid else getattr(record, name)
            expected = list(expected) if isinstance(expected, tuple) else expected
            assert value == expected, f"{type(record).__name__}.{name}"
    commit = next(i for i in abis["FlexMarket"] if i.get("name") == "commitResult")
    rows = next(p for p in commit["inputs"] if p["type"] == "tuple[]")
    names = [typegen.snake_case(c["name"]) for c in rows["components"]]
    assert [getattr(award, n) for n in names] == list(award.as_tuple())


def test_file_and_api_words_are_the_mirrors_labels() -> None:
    """The scenario file (oracle, which imports nothing above it) and the API schemas spell
    the contracts' enums as words; they are the mirror's labels, value for value, so a member
    added on chain fails here until the files and the API can say it."""
    from typing import get_args

    from api import schemas
    from oracle import scenario
    from python_client.contract_types import AssetType, BuyerRole

    def words(model: Any, field: str) -> tuple[str, ...]:
        return tuple(get_args(model.model_fields[field].annotation))

    assert get_args(scenario.Direction) == labels(Direction)
    assert words(scenario.Market, "pricing") == labels(Pricing)
    assert words(scenario.Asset, "type") == labels(AssetType)
    assert words(schemas.NeedCreate, "direction") == labels(Direction)
    assert words(schemas.BidRevealCreate, "direction") == labels(Direction)
    assert words(schemas.SessionCreate, "pricing") == labels(Pricing)
    assert words(schemas.AssetCreate, "asset_type") == labels(AssetType)
    assert words(schemas.NeedCreate, "buyer_role") == tuple(r.name for r in BuyerRole)
    assert schemas.SessionCreate.model_fields["price_cap_eur_per_mw"].default == (
        contract_types.NO_LIMIT
    )


def test_only_integer_constants_are_mirrored_and_wide_ones_in_hex(compiled: Any) -> None:
    types, abis = compiled
    extra = copy.deepcopy(types)
    extra["constants"] += [
        {"name": "_SLOT", "contract": "X", "source": "contracts/X.sol", "type": "bytes32",
         "value": 2**255},
        {"name": "_WIDE", "contract": "X", "source": "contracts/X.sol", "type": "uint256",
         "value": 2**200},
    ]  # fmt: skip
    text = typegen.render(extra, abis)
    assert "SLOT" not in text
    assert f"WIDE: Final = {hex(2**200)}\n" in text
    assert max(len(line) for line in text.splitlines()) <= 100
