"""The README as a newcomer walks it (issue 20): every command and snippet it shows works
as written, and what it says a command prints is what the command prints. The slow walks
(`make demo`, the HTTP example against `flexmarket serve`) have their own tests:
tests/nodes/test_demo_cli.py and tests/api/test_http_aggregator.py."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from terminal import flexmarket

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(language: str = "") -> list[str]:
    """The README's fenced code blocks of `language` ("" for unmarked ones)."""
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.M | re.S)




def test_the_clear_example_prints_what_the_readme_shows() -> None:
    (block,) = [b for b in blocks() if b.startswith("$ .venv/bin/flexmarket clear")]
    command, *shown = block.rstrip("\n").split("\n")
    args = command.removeprefix("$ .venv/bin/flexmarket ").split()
    out = flexmarket(*args)
    assert out.returncode == 0, out.stderr
    printed = out.stdout.rstrip("\n").split("\n")
    assert len(printed) == len(shown), out.stdout
    for want, got in zip(shown, printed, strict=True):
        if "…" in want:  # an abbreviated hash: its first and last digits
            head, tail = want.split("…")
            assert got.startswith(head) and got.endswith(tail), (want, got)
        else:
            assert got == want


def test_the_python_snippet_runs() -> None:
    (snippet,) = [b for b in blocks("python") if "from oracle import" in b]
    out = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == re.search(r"# (\d+)", snippet).group(1)  # type: ignore[union-attr]


def test_the_http_snippet_is_the_examples_and_its_calls_exist() -> None:
    from python_client.http import HttpClient

    (snippet,) = [b for b in blocks("python") if "HttpClient(" in b]
    script = (ROOT / "examples" / "http_aggregator.py").read_text()
    calls = re.findall(r"api\.(\w+)\(([^()]*(?:\([^()]*\)[^()]*)*)\)", snippet)
    assert len(calls) >= 9
    for name, _ in calls:
        method = getattr(HttpClient, name, None)
        assert callable(method), f"README calls api.{name}, HttpClient has no such method"
        assert f".{name}(" in script, f"api.{name} is in the README, not in the example"
    # keyword arguments the README passes exist
    for name, args in calls:
        for keyword in re.findall(r"(\w+)=", args):
            assert keyword in inspect.signature(getattr(HttpClient, name)).parameters
    for line in blocks():
        if "examples/http_aggregator.py" in line:
            break
    else:
        pytest.fail("the README does not show how to run examples/http_aggregator.py")
    out = subprocess.run([sys.executable, "examples/http_aggregator.py", "-h"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert out.returncode == 0 and "--url" in out.stdout


def test_every_path_the_readme_names_exists() -> None:
    paths = set(re.findall(r"`((?:examples|docs|tests|oracle|python_client|verifier|api|"
                           r"contracts|scripts|bench|flexmarket)/[\w./-]*)`", README))  # fmt: skip
    paths |= set(re.findall(r"\b(examples/[\w.-]+\.(?:json|py))", README))
    assert len(paths) > 15
    missing = sorted(p for p in paths if not (ROOT / p.split(" ")[0]).exists())
    assert not missing, missing


def test_every_make_target_the_readme_names_exists() -> None:
    makefiles = "\n".join(p.read_text() for p in [ROOT / "Makefile", *ROOT.glob("mk/*.mk")])
    targets = set(re.findall(r"`make ([\w-]+)", README)) | set(
        re.findall(r"^make ([\w-]+)", README, flags=re.M)
    )
    assert {"demo", "test", "lint", "bench-api"} <= targets
    for target in sorted(targets):
        assert re.search(rf"^(?:[\w .$()-]* )?{re.escape(target)}( [\w .$()-]*)?:", makefiles,
                         flags=re.M), f"make {target}: no such target"  # fmt: skip


def test_every_command_the_readme_names_has_help() -> None:
    named = re.findall(r"flexmarket ([a-z]+(?:\|[a-z]+)*)", README)
    commands = {c for n in named for c in n.split("|")} - {"command"}
    assert {"clear", "demo", "needs", "serve", "oracle", "verify", "replay", "validate",
            "index"} <= commands  # fmt: skip
    for command in sorted(commands):
        out = flexmarket(command, "-h", timeout=120)
        assert out.returncode == 0 and "usage: flexmarket" in out.stdout, (command, out.stderr)
    assert flexmarket("--version").stdout.startswith("flexmarket ")


def test_the_demo_lines_parse_and_name_existing_files() -> None:
    from flexmarket.cli import build_parser

    lines = [ln.split("#")[0].split() for b in blocks() for ln in b.splitlines()
             if ln.startswith(".venv/bin/flexmarket demo")]  # fmt: skip
    assert len(lines) >= 4
    for words in lines:
        args = build_parser().parse_args(words[1:])
        assert (ROOT / args.scenario).is_file()


def test_the_needs_example_of_the_readme_is_valid_input() -> None:
    from oracle.grid.needs import _argument_problem

    grid, day = re.search(r"flexmarket needs --grid (\S+)\s+--day (\S+)`", README).groups()  # type: ignore[union-attr]
    assert _argument_problem(grid, day) is None


def test_make_says_it_is_compiling_the_contracts() -> None:
    """`make demo` on a fresh clone compiles the contracts first (~45 s): a line says so."""
    out = subprocess.run(["make", "-n", "-W", "contracts/FlexMarket.sol",
                          "build/artifacts/FlexMarket.json"], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)  # fmt: skip
    assert "compiling the contracts" in out.stdout, out.stdout + out.stderr
