"""flexmarket/cli.py owns every command's arguments, `--json` and exit code (issue 12 item 6).

Every command that prints a result takes `--json`: one JSON document on one line of
stdout, keys sorted, no spaces (`cli.print_json`); bad input is exit 2 with one line naming
the argument, nothing done; the error classes of the packages map to exit codes in one
place (`flexmarket.exits.exit_code_of`).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
from pathlib import Path

import pytest
from terminal import flexmarket

from flexmarket import cli, exits
from tests.flexmarket.conftest import Deployed

ROOT = Path(__file__).resolve().parents[2]




def one_json_line(stdout: str) -> object:
    """The --json style: exactly one line, and it is compact, key-sorted JSON."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    value = json.loads(lines[0])
    assert lines[0] == json.dumps(value, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False)  # fmt: skip
    return value


# ------------------------------------------------------------------ one parser, one --json


def _subparsers() -> dict[str, object]:
    import argparse

    top = cli.build_parser()
    action = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["clear", "demo", "needs", "baseline", "index", "oracle",
                                     "verify", "replay", "validate"])  # fmt: skip
def test_every_command_that_prints_a_result_takes_json(command: str) -> None:
    parser = _subparsers()[command]
    assert "--json" in parser._option_string_actions  # type: ignore[attr-defined]


def test_no_module_below_the_cli_parses_arguments_or_defines_exit_codes() -> None:
    """argparse and EXIT_* live in flexmarket/ only (`serve` included: api.main.serve_settings
    takes its settings as arguments and raises InputError; the CLI prints and runs)."""
    found = []
    for package in ("oracle", "verifier", "python_client", "nodes", "api"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            if path.name in ("artifacts.py", "generate.py", "typegen.py"):
                continue  # `python -m` build tools of make, no flexmarket command
            if "argparse.ArgumentParser(" in text or "EXIT_OK" in text:
                found.append(str(path.relative_to(ROOT)))
    assert found == []


# ------------------------------------------------------------------ the error map


def _package_errors(package: str) -> list[type[BaseException]]:
    module = importlib.import_module(package)
    classes = []
    for info in pkgutil.walk_packages(module.__path__, f"{package}."):
        if info.name.endswith(("__main__", ".parallel_worker")):
            continue
        mod = importlib.import_module(info.name)
        classes += [c for _, c in inspect.getmembers(mod, inspect.isclass)
                    if issubclass(c, Exception) and c.__module__ == info.name
                    and not c.__name__.startswith("_")]  # fmt: skip
    return classes


@pytest.mark.parametrize(("package", "root"), [
    ("oracle", "oracle.errors.OracleError"), ("python_client", "python_client.errors.ClientError"),
    ("verifier", "verifier.errors.VerifierError"), ("nodes", "nodes.errors.NodeError"),
])  # fmt: skip
def test_every_error_of_a_package_derives_from_its_root(package: str, root: str) -> None:
    """So the CLI maps classes to exit codes in one place (OracleServiceError(Exception),
    ArtifactError(Exception), LocalChainError(Exception) each escaped it)."""
    module, name = root.rsplit(".", 1)
    base = getattr(importlib.import_module(module), name)
    strays = [f"{c.__module__}.{c.__name__}" for c in _package_errors(package)
              if not issubclass(c, base)]  # fmt: skip
    assert strays == []


def test_errors_map_to_exit_codes_in_one_place() -> None:
    from nodes.errors import OracleServiceError
    from oracle.errors import ScenarioError, SolverError
    from oracle.grid.errors import GridError
    from python_client.errors import ArtifactError, LocalChainError, TransactionReverted
    from verifier.errors import DatabaseError, InputError, RpcError

    assert exits.exit_code_of(ScenarioError([("bids[0].quantity_w", "x")])) == exits.EXIT_INPUT
    assert exits.exit_code_of(GridError("--day: x")) == exits.EXIT_INPUT
    assert exits.exit_code_of(InputError("--rpc", "x")) == exits.EXIT_INPUT
    for failure in (SolverError("x"), RpcError("eth_call", "x"), DatabaseError("x"),
                    TransactionReverted("f", "E"), ArtifactError("x"), LocalChainError("x"),
                    OracleServiceError("x"), OSError("x")):  # fmt: skip
        assert exits.exit_code_of(failure) == exits.EXIT_FAILURE, failure
    assert exits.exit_code_of(KeyError("a bug")) is None  # a traceback, as Python shows it


# ------------------------------------------------------------------ bad input: exit 2, named


@pytest.mark.parametrize(("argv", "named"), [
    (["clear", "no-such-file.json"], "no-such-file.json"),
    (["demo", "--chain", "nowhere"], "--chain: 'nowhere' is not anvil, ganache"),
    (["needs", "--grid", "no-such-grid", "--day", "2016-05-26"], "--grid: 'no-such-grid'"),
    (["needs", "--grid", "1-LV-semiurb4--2-sw", "--day", "2016-13-01"], "--day: '2016-13-01'"),
    (["index", "--rpc", "localhost:8545"], "argument --rpc"),
    (["index", "--rpc", "http://127.0.0.1:1", "--max-span", "0"],
     "argument --max-span: must be at least 1"),
    (["index", "--rpc", "http://127.0.0.1:1", "--db", "mysql://u@h/db"], "argument --db"),
    (["index", "--rpc", "http://127.0.0.1:1", "--deployment", "NO_FILE"],
     "argument --deployment"),
    (["oracle", "--rpc", "http://127.0.0.1:1", "--key-env", "FLEXMARKET_NO_SUCH_VAR", "--json"],
     "argument --key-env"),
    (["oracle", "--rpc", "ftp://x", "--once"], "argument --rpc"),
    (["verify", "--rpc", "ftp://x", "--json"], "argument --rpc"),
    (["verify", "--rpc", "http://127.0.0.1:1", "--session", "one"], "argument --session"),
    (["replay", "--json"], "the following arguments are required: --rpc"),
    (["validate", "--rpc", "http://127.0.0.1:1", "--key-env", "FLEXMARKET_NO_SUCH_VAR",
      "--once", "--json"], "argument --key-env"),
    (["validate", "--rpc", "http://127.0.0.1:1", "--poll", "soon"], "argument --poll"),
])  # fmt: skip
def test_bad_input_exits_2_naming_the_argument(argv: list[str], named: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert named in err, err
    assert out == "" and "Traceback" not in err


# ------------------------------------------------------------------ --json of each command


def test_clear_json_is_the_result_file_in_the_one_style() -> None:
    out = flexmarket("clear", "examples/flech_powermax.json", "--json")
    assert out.returncode == 0 and out.stderr == ""
    assert one_json_line(out.stdout)["total_cost_ueur"] == 27_960_000_000  # type: ignore[index]


def test_needs_json_is_zones_and_requests_in_the_one_style(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from oracle.grid import needs

    grid = tmp_path / "grid.json"
    grid.write_text("{}")
    seen = {}

    def fake(path: str, day: str | None, *, storage: str, buyer: str) -> object:
        seen.update(path=path, day=day, storage=storage, buyer=buyer)
        return "needs"

    monkeypatch.setattr(needs, "needs_for_grid", fake)
    monkeypatch.setattr(needs, "needs_json", lambda n: {"zones": [{"id": "T0"}], "requests": []})
    assert cli.main(["needs", "--grid", str(grid), "--buyer", "DSO2", "--json"]) == 0
    assert one_json_line(capsys.readouterr().out) == {"requests": [], "zones": [{"id": "T0"}]}
    assert seen == {"path": str(grid), "day": None, "storage": "setpoint", "buyer": "DSO2"}


def test_validate_json_lists_the_actions_and_exits_1_on_a_dispute(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nodes import validator
    from nodes.validator import Action

    actions = [Action(1, "attested", True, "0xab"), Action(2, "disputed", False, "cost")]
    monkeypatch.setattr(validator, "validate_once", lambda *a, **k: actions)
    monkeypatch.setenv("FLEXMARKET_VALIDATOR_KEY", "0x" + "11" * 32)
    argv = ["validate", "--rpc", "http://127.0.0.1:1", "--once"]
    assert cli.main([*argv, "--json"]) == 1
    out = one_json_line(capsys.readouterr().out)
    assert out == {"actions": [
        {"session_id": 1, "action": "attested", "ok": True, "detail": "0xab", "grid": None},
        {"session_id": 2, "action": "disputed", "ok": False, "detail": "cost", "grid": None},
    ]}  # fmt: skip
    assert cli.main(argv) == 1  # the same, for a person: a line per session
    text = capsys.readouterr().out
    assert "session 1: attested (ok) 0xab" in text and "session 2: disputed (FAILED)" in text
    monkeypatch.setattr(validator, "validate_once", lambda *a, **k: [])
    assert cli.main([*argv, "--json"]) == 0
    assert one_json_line(capsys.readouterr().out) == {"actions": []}


def test_oracle_json_says_what_the_pass_did(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from nodes import service

    done = service.Pass(committed={3: "0x5d12"}, resumed={3: 200}, skipped={4: "no budget"})
    monkeypatch.setattr(service.OracleService, "run", lambda self, **k: done)
    monkeypatch.setenv("FLEXMARKET_ORACLE_KEY", "0x" + "11" * 32)
    argv = ["oracle", "--rpc", "http://127.0.0.1:1", "--once"]
    assert cli.main([*argv, "--json"]) == 0
    assert one_json_line(capsys.readouterr().out) == {
        "committed": {"3": "0x5d12"}, "resumed": {"3": 200}, "forfeited": {},
        "skipped": {"4": "no budget"},
    }  # fmt: skip
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == "committed 1 results, resumed 1\n"


def test_index_oracle_validate_verify_replay_json_on_a_chain(
    tmp_path: Path, deployed: Deployed
) -> None:
    """The chain commands' --json on a fresh deployment (anvil): one line each, exit 0."""
    chain, w3, dep = deployed.chain, deployed.w3, deployed.file
    on = ["--rpc", chain.url, "--deployment", str(dep), "--json"]
    env = dict(os.environ, FLEXMARKET_ORACLE_KEY=chain.dev_private_keys[1],
               FLEXMARKET_VALIDATOR_KEY=chain.dev_private_keys[2])  # fmt: skip
    out = flexmarket("index", *on, "--db", f"sqlite:///{tmp_path}/i.sqlite")
    assert out.returncode == 0 and out.stderr == "", out.stderr
    index = one_json_line(out.stdout)
    assert index["events"] > 0 and index["checkpoint"]["block"] == w3.eth.block_number  # type: ignore[index]
    out = flexmarket("oracle", *on, "--once", env=env)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert one_json_line(out.stdout) == {"committed": {}, "resumed": {}, "forfeited": {},
                                         "skipped": {}}  # fmt: skip
    out = flexmarket("validate", *on, "--once", env=env)
    assert out.returncode == 0 and one_json_line(out.stdout) == {"actions": []}
    for command in ("verify", "replay"):
        out = flexmarket(command, *on)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        assert one_json_line(out.stdout)["ok"] is True  # type: ignore[index]


def test_progress_is_routed_for_every_package() -> None:
    """A package missing here logs nothing on a terminal (nodes/ did, once the demo moved)."""
    import tomllib

    from oracle.display import PACKAGES

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]
    assert set(PACKAGES) == set(packages)


def test_exit_codes_are_numbers_in_flexmarket_exits_only() -> None:
    """`EXIT_X = 2` anywhere else is a second home (it was in six modules)."""
    import re

    found = []
    for package in ("oracle", "verifier", "python_client", "nodes", "api", "flexmarket"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == "flexmarket/exits.py":
                continue
            if re.search(r"^EXIT_\w+(, EXIT_\w+)* = \d", path.read_text(), flags=re.M):
                found.append(str(path.relative_to(ROOT)))
    assert found == []
