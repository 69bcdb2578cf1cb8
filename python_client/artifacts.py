"""Compile contracts/ through py-solc-x into build/artifacts/, and load those artifacts.

The runtime (SDK, oracle, verifier, API) never imports brownie: it deploys and calls the
contracts with web3.py from the JSON files written here. The compiler input is the one
brownie builds from brownie-config.yaml (same source names, remappings and settings), so
both give the same bytecode; tests/python_client/test_artifacts.py checks it.

Where no native solc 0.8.30 can be installed (no network beyond the package registries),
the compiler is solc-js from the npm package ``solc@0.8.30`` behind ``tools/solc/solc``, a
command-line stand-in that answers ``--version`` and ``--standard-json`` like native solc.
:func:`ensure_solc` installs it where py-solc-x (and so brownie) looks for installed
compilers, with a copy of the npm packages it needs, so it keeps working whichever
checkout installed it.

Command line::

    python -m python_client.artifacts install-solc   # native solc, else the solc-js stand-in
    python -m python_client.artifacts compile        # build/artifacts/*.json (if stale), then
                                                     # python_client/contract_types.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx

from python_client import typegen
from python_client.errors import ArtifactError
from python_client.paths import ARTIFACTS_DIR, ROOT

logger = logging.getLogger(__name__)

SOLC_VERSION = "0.8.30"
# shanghai: the newest EVM version ganache 7.9 runs; anvil runs osaka, a superset.
EVM_VERSION = "shanghai"
OPTIMIZER: dict[str, Any] = {"enabled": True, "runs": 200}
VIA_IR = True
REMAPPINGS = ["@openzeppelin=node_modules/@openzeppelin"]
ARTIFACT_FORMAT = "flexmarket.artifact/1"

CONTRACTS_DIR = "contracts"
SOLCJS_CLI = ROOT / "tools" / "solc" / "solc"
# npm packages the solc-js stand-in loads (solc and its runtime dependencies).
SOLCJS_PACKAGES = (
    "solc",
    "command-exists",
    "commander",
    "follow-redirects",
    "js-sha3",
    "memorystream",
    "semver",
    "tmp",
)
# Outputs asked of the compiler; bytecode does not depend on them. The AST ("") feeds the
# contracts' Python mirror (python_client/typegen.py).
OUTPUT_SELECTION = {
    "*": {
        "": ["ast"],
        "*": ["abi", "devdoc", "userdoc", "metadata", "evm.bytecode", "evm.deployedBytecode"],
    }
}


@dataclass(frozen=True)
class Artifact:
    """A compiled contract as the runtime needs it."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str  # creation code, 0x-prefixed
    deployed_bytecode: str  # runtime code, 0x-prefixed


# ---------------------------------------------------------------------- compiler


def _installed_solc() -> Path | None:
    if any(str(v) == SOLC_VERSION for v in solcx.get_installed_solc_versions()):
        return Path(solcx.install.get_executable(SOLC_VERSION))
    return None


def install_solcjs_standin(node_modules: Path | None = None) -> Path:
    """Install tools/solc/solc as solc-v0.8.30 where py-solc-x looks, with its npm packages.

    The stand-in finds solc-js in ``solcjs/node_modules`` beside itself, so the installed
    copy does not depend on this checkout staying where it is.
    """
    node_modules = node_modules or ROOT / "node_modules"
    if not (node_modules / "solc" / "soljson.js").is_file():
        raise ArtifactError(f"{node_modules / 'solc'} is missing: run `npm ci` first")
    folder = solcx.get_solcx_install_folder()
    folder.mkdir(parents=True, exist_ok=True)
    bundle = folder / "solcjs" / "node_modules"
    for package in SOLCJS_PACKAGES:
        src = node_modules / package
        if not src.is_dir():
            raise ArtifactError(f"npm package {package} is missing from {node_modules}")
        dst = bundle / package
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst)
    target = folder / f"solc-v{SOLC_VERSION}"
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(SOLCJS_CLI, tmp)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    tmp.replace(target)
    version = solcx.wrapper.get_solc_version(target)
    if str(version) != SOLC_VERSION:
        raise ArtifactError(f"{target} reports version {version}, expected {SOLC_VERSION}")
    return target


def ensure_solc(*, try_native: bool = True) -> Path:
    """Return a solc 0.8.30 that py-solc-x knows, installing one if needed.

    Order: an installed one; a native build through ``solcx.install_solc`` (needs the
    Solidity download site); the solc-js stand-in (needs only node_modules).
    """
    found = _installed_solc()
    if found is not None:
        return found
    if try_native:
        try:
            solcx.install_solc(SOLC_VERSION, show_progress=False)
            found = _installed_solc()
            if found is not None:
                return found
        except Exception as exc:  # noqa: BLE001 - any failure means "no native build here"
            logger.warning(
                "native solc %s unavailable (%s); installing the solc-js stand-in",
                SOLC_VERSION, type(exc).__name__,
            )  # fmt: skip
    return install_solcjs_standin()


# ---------------------------------------------------------------------- compilation


def contract_sources(root: Path = ROOT) -> dict[str, str]:
    """Every .sol file under contracts/, keyed by its path relative to the project root
    (the source unit names brownie uses)."""
    files = sorted((root / CONTRACTS_DIR).rglob("*.sol"))
    return {f.relative_to(root).as_posix(): f.read_text(encoding="utf-8") for f in files}


def compiler_settings() -> dict[str, Any]:
    """The solc settings, as in brownie-config.yaml."""
    return {
        "evmVersion": EVM_VERSION,
        "optimizer": dict(OPTIMIZER),
        "viaIR": VIA_IR,
        "remappings": list(REMAPPINGS),
        "outputSelection": OUTPUT_SELECTION,
    }


def standard_input(root: Path = ROOT) -> dict[str, Any]:
    """The standard-JSON compiler input for contracts/."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in contract_sources(root).items()},
        "settings": compiler_settings(),
    }


def _dependency_digest(root: Path) -> str:
    """Hash of everything the bytecode depends on: our sources, the imported OpenZeppelin
    version and the settings."""
    digest = hashlib.sha256()
    digest.update(json.dumps(standard_input(root), sort_keys=True).encode())
    oz = root / "node_modules" / "@openzeppelin" / "contracts" / "package.json"
    if oz.is_file():
        digest.update(oz.read_bytes())
    digest.update(SOLC_VERSION.encode())
    return digest.hexdigest()


def compile_contracts(
    root: Path = ROOT, out_dir: Path | None = None, solc_binary: Path | None = None
) -> dict[str, Artifact]:
    """Compile contracts/ and write one JSON artifact per deployable contract."""
    out_dir = out_dir or root / "build" / "artifacts"
    solc_binary = solc_binary or ensure_solc()
    input_json = standard_input(root)
    try:
        output = solcx.compile_standard(
            input_json,
            solc_binary=solc_binary,
            base_path=str(root),
            allow_paths=[str(root / "node_modules" / "@openzeppelin")],
        )
    except solcx.exceptions.SolcError as exc:
        raise ArtifactError(f"compilation failed:\n{exc}") from exc
    version = str(solcx.wrapper.get_solc_version(solc_binary, with_commit_hash=True))
    digest = _dependency_digest(root)
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Artifact] = {}
    for source, contracts in sorted(output["contracts"].items()):
        if not source.startswith(f"{CONTRACTS_DIR}/"):
            continue  # OpenZeppelin's own contracts
        for name, data in sorted(contracts.items()):
            bytecode = data["evm"]["bytecode"]["object"]
            artifact = Artifact(
                name=name,
                source=source,
                abi=data["abi"],
                bytecode="0x" + bytecode,
                deployed_bytecode="0x" + data["evm"]["deployedBytecode"]["object"],
            )
            artifacts[name] = artifact
            document = {
                "format": ARTIFACT_FORMAT,
                "contractName": name,
                "sourceName": source,
                "abi": artifact.abi,
                "bytecode": artifact.bytecode,
                "deployedBytecode": artifact.deployed_bytecode,
                "devdoc": data.get("devdoc", {}),
                "userdoc": data.get("userdoc", {}),
                "compiler": {
                    "version": version,
                    "settings": {
                        k: v for k, v in input_json["settings"].items() if k != "outputSelection"
                    },
                },
                "inputDigest": digest,
            }
            tmp = out_dir / f"{name}.json.tmp"
            tmp.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            tmp.replace(out_dir / f"{name}.json")
    typegen.write_types(typegen.extract(output, CONTRACTS_DIR), out_dir, digest)
    return artifacts


def artifacts_fresh(root: Path = ROOT, out_dir: Path | None = None) -> bool:
    """Whether build/artifacts matches the current sources and settings."""
    out_dir = out_dir or root / "build" / "artifacts"
    probe = out_dir / "FlexMarket.json"
    if not probe.is_file():
        return False
    types = out_dir / typegen.TYPES_FILE
    if not types.is_file():
        return False
    digest = _dependency_digest(root)
    stored = json.loads(probe.read_text(encoding="utf-8")).get("inputDigest")
    stored_types = json.loads(types.read_text(encoding="utf-8")).get("inputDigest")
    return bool(stored == digest and stored_types == digest)


def ensure_artifacts(root: Path = ROOT, out_dir: Path | None = None) -> Path:
    """Compile if build/artifacts is missing or stale; return the folder."""
    out_dir = out_dir or root / "build" / "artifacts"
    if not artifacts_fresh(root, out_dir):
        compile_contracts(root, out_dir)
    return out_dir


def load_artifact(name: str, out_dir: Path | None = None) -> Artifact:
    """Load one compiled contract (FlexMarket, FlexRegistry, FlexToken, ...)."""
    path = (out_dir or ARTIFACTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise ArtifactError(f"{path} is missing: run `make build-contracts`")
    data = json.loads(path.read_text(encoding="utf-8"))
    return Artifact(
        name=data["contractName"],
        source=data["sourceName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m python_client.artifacts")
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install-solc", help="install solc 0.8.30 for py-solc-x")
    install.add_argument("--no-native", action="store_true", help="skip the native download")
    compile_ = sub.add_parser("compile", help="compile contracts/ into build/artifacts")
    compile_.add_argument("--force", action="store_true", help="compile even if fresh")
    args = parser.parse_args(argv)
    try:
        if args.command == "install-solc":
            print(ensure_solc(try_native=not args.no_native))
        elif args.force or not artifacts_fresh():
            built = compile_contracts()
            print(f"compiled {len(built)} contracts into {ARTIFACTS_DIR.relative_to(ROOT)}")
        else:
            print(f"{ARTIFACTS_DIR.relative_to(ROOT)} is up to date")
        if args.command == "compile":
            mirror = typegen.write_mirror(ROOT, ARTIFACTS_DIR)
            print(f"{mirror.relative_to(ROOT)} mirrors them")
    except (ArtifactError, typegen.TypegenError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
