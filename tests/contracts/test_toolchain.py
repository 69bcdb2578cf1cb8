"""Toolchain: py-solc-x (runtime artifacts) and brownie build the same bytecode; the
contracts run on ganache (shanghai) as on anvil (osaka); the local chain launcher starts
and stops both."""

import json
from pathlib import Path

import pytest
from conftest import BID_REVEALED, COMMITMENT_TYPES
from eth_abi import encode
from eth_utils import keccak
from web3 import Web3

from python_client import artifacts, localchain

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = ("FlexToken", "FlexRegistry", "FlexMarket", "FlexReserve")


@pytest.fixture(scope="module")
def solcx_artifacts(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts")
    return artifacts.compile_contracts(ROOT, out), out


def test_py_solc_x_and_brownie_build_identical_bytecode(solcx_artifacts):
    """brownie's compiler pipeline, fed from brownie-config.yaml with every source of
    contracts/ (as `brownie compile --all` does: with viaIR the bytecode depends on the set
    of sources compiled together, so brownie's incremental builds are not comparable)."""
    from brownie._config import CONFIG
    from brownie.project import compiler

    built, _ = solcx_artifacts
    cfg = CONFIG.settings["compiler"]
    solc = cfg["solc"]
    brownie_build = compiler.compile_and_format(
        artifacts.contract_sources(ROOT),
        solc_version=str(solc["version"]),
        optimizer=dict(solc["optimizer"]),
        evm_version=cfg["evm_version"],
        viaIR=solc.get("viaIR"),
        remappings=list(solc["remappings"]),
        allow_paths=str(ROOT),
    )
    for name in DEPLOYED:
        assert built[name].bytecode[2:] == brownie_build[name]["bytecode"], name
        assert built[name].deployed_bytecode[2:] == brownie_build[name]["deployedBytecode"], name
        assert len(brownie_build[name]["deployedBytecode"]) // 2 <= 24_576, (
            f"{name} exceeds EIP-170"
        )


def test_artifacts_record_abi_and_compiler_settings(solcx_artifacts):
    _, out = solcx_artifacts
    doc = json.loads((out / "FlexMarket.json").read_text())
    assert doc["compiler"]["version"].startswith("0.8.30+commit.73712a01")
    assert doc["compiler"]["settings"]["evmVersion"] == "shanghai"
    assert doc["compiler"]["settings"]["viaIR"] is True
    assert any(e.get("name") == "commitBid" for e in doc["abi"])
    loaded = artifacts.load_artifact("FlexMarket", out)
    assert loaded.bytecode == doc["bytecode"]


def test_local_chain_launcher_starts_anvil_on_osaka_and_stops_it():
    with localchain.start_chain("anvil") as chain:
        assert chain.rpc("eth_chainId") == hex(31337)
        assert chain.rpc("anvil_nodeInfo")["hardFork"].lower() == "osaka"
        process = chain.process
    assert process.poll() is not None


def _transact(w3, fn, sender):
    tx_hash = fn.transact({"from": sender})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def test_contracts_run_a_commit_and_reveal_on_ganache(solcx_artifacts):
    _, out = solcx_artifacts
    with localchain.start_chain("ganache") as chain:
        w3 = Web3(Web3.HTTPProvider(chain.url))
        admin, dso, agg, owner = w3.eth.accounts[:4]

        def deploy(name, *args):
            art = artifacts.load_artifact(name, out)
            factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
            receipt = w3.eth.wait_for_transaction_receipt(
                factory.constructor(*args).transact({"from": admin})
            )
            return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

        token = deploy("FlexToken", admin)
        registry = deploy("FlexRegistry", admin)
        market = deploy("FlexMarket", token.address, registry.address)
        _transact(
            w3, registry.functions.grantRole(registry.functions.DSO_ROLE().call(), dso), admin
        )
        _transact(
            w3,
            registry.functions.grantRole(registry.functions.AGGREGATOR_ROLE().call(), agg),
            admin,
        )
        zone = b"T1".ljust(32, b"\0")
        _transact(w3, registry.functions.registerZone(zone, 0), dso)
        assets = sorted(keccak(encode(["string"], [f"meter-{i}"])) for i in range(4))
        for a in assets:
            _transact(w3, registry.functions.registerAsset(a, 0, 3700, 0, zone, owner), agg)
            _transact(w3, registry.functions.setPrequalified(a, True), dso)
        _transact(w3, token.functions.mint(agg, 10**12), admin)
        _transact(w3, token.functions.approve(market.address, 10**12), agg)
        _transact(w3, market.functions.deposit(10**12), agg)
        now = w3.eth.get_block("latest")["timestamp"]
        params = (
            b"m".ljust(32, b"\0"),
            b"p".ljust(32, b"\0"),
            0,
            4,
            15,
            now + 4000,
            now + 1000,
            now + 2000,
            now + 3000,
            1000,
            100,
            0,
            2**64 - 1,
            0,
            10**6,
            10,
            10**5,
            1000,
            1,  # attestation quorum: at least the market's minimum (issue 11)
            now + 4000,  # attestation deadline
            now + 5000,  # delivery deadline
            0,  # correction window
        )
        _transact(w3, market.functions.openSession(params), dso)
        _transact(w3, market.functions.joinSession(1, 1), agg)
        bid = (1, zone, 0, False, 12_300, 0, 500_000, 0b1111, assets, b"\x01" * 32)
        c = keccak(encode(COMMITMENT_TYPES, [1, agg, *bid[1:]]))
        commit = _transact(w3, market.functions.commitBid(1, c), agg)
        chain.rpc("evm_increaseTime", [1000])
        chain.rpc("evm_mine", [])
        reveal = _transact(w3, market.functions.revealBid(bid), agg)
        bid_id = keccak(encode(["address", "bytes32"], [agg, c]))
        core, terms = market.functions.bid(bid_id).call()
        assert core[2] == BID_REVEALED and terms[0] == 12_300
        print(f"\nganache gas: commitBid {commit['gasUsed']}, revealBid {reveal['gasUsed']}")


def test_deploy_script_writes_the_deployment_record():
    from scripts import deploy

    record = deploy.main()
    written = json.loads((ROOT / "deployments" / f"{record['chain_id']}.json").read_text())
    assert written == record
    assert set(written["contracts"]) == set(DEPLOYED)
