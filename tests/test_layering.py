"""No package imports one above it (issue 12 item 1).

The layers, lowest first; a module may import from its own layer and the ones below:

    oracle < python_client, refmarkets < verifier < nodes < api, flexmarket

`oracle/` is the pure engine; `python_client/` the participant SDK; `refmarkets/` the
reference external platforms (an exchange played by our own process: it may use the engine,
never the nodes or the API that talk to it); `verifier/` the replica
checks; `nodes/` the chain-facing nodes (oracle service, validators, the session runner);
`api/` and the CLI (`flexmarket/`) at the top. bench/, tools/, tests/ and scripts/ may import
anything. Every import is read, those inside functions included (a deferred import is an
import all the same), by parsing the sources with `ast`: nothing is imported to check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (("oracle",), ("python_client", "refmarkets"), ("verifier",), ("nodes",),
          ("api", "flexmarket"))
RANK = {package: rank for rank, names in enumerate(LAYERS) for package in names}


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `tree`, at any depth."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def upward_imports(package: str, root: Path = ROOT) -> list[str]:
    """`path:line: imports X` for every import in `package` of a layer above it."""
    rank = RANK[package]
    found = []
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, imported in imported_packages(tree):
            if RANK.get(imported, -1) > rank:
                found.append(f"{path.relative_to(root)}:{line}: imports {imported}")
    return found


@pytest.mark.parametrize("package", list(RANK))
def test_no_package_imports_a_layer_above_it(package: str) -> None:
    assert upward_imports(package) == []


# Issue 12 item 1, word for word: these hold whatever LAYERS says.
FORBIDDEN = {
    "oracle": {"verifier", "python_client", "api", "nodes", "flexmarket"},
    "verifier": {"api", "flexmarket", "nodes"},
}


def imports_of(package: str, names: set[str], root: Path = ROOT) -> list[str]:
    """`path:line: imports X` for every import in `package` of one of `names`."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(root)}:{line}: imports {imported}"
                  for line, imported in imported_packages(tree) if imported in names]  # fmt: skip
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_the_engine_and_the_verifier_import_nothing_they_must_not(package: str) -> None:
    assert imports_of(package, FORBIDDEN[package]) == []
    assert all(RANK[name] > RANK[package] for name in FORBIDDEN[package])


def test_a_forbidden_import_is_found_at_any_depth(tmp_path: Path) -> None:
    (tmp_path / "verifier" / "sub").mkdir(parents=True)
    (tmp_path / "verifier" / "sub" / "late.py").write_text(
        "import oracle\n\nclass C:\n    def f(self):\n        import api.gateway\n"
        "        from flexmarket import cli\n        from nodes.rows import Row\n"
    )
    assert imports_of("verifier", FORBIDDEN["verifier"], tmp_path) == [
        "verifier/sub/late.py:5: imports api",
        "verifier/sub/late.py:6: imports flexmarket",
        "verifier/sub/late.py:7: imports nodes",
    ]


def test_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "oracle").mkdir()
    (tmp_path / "oracle" / "late.py").write_text(
        "import json\n\ndef f():\n    from verifier.rebuild import replay\n"
        "    import nodes.service\n    from . import engine\n"
    )
    assert upward_imports("oracle", tmp_path) == [
        "oracle/late.py:4: imports verifier",
        "oracle/late.py:5: imports nodes",
    ]


def test_refmarkets_and_python_client_do_not_import_each_other() -> None:
    found = []
    for package, other in (("refmarkets", "python_client"), ("python_client", "refmarkets")):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(ROOT)}:{line}" for line, name in imported_packages(tree)
                      if name == other]
    assert found == []


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench", "tools", "scripts"} <= set(RANK)
