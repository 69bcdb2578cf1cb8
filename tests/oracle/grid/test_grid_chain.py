"""Grid sessions on chain (issue 19): the operator publishes the grid inputs before gate
closure, the session is cleared with them, and every validator node rebuilds the same
session from the chain alone, re-clears it with the published cuts, re-derives the cuts from
the model and runs the AC check: an honest result becomes final and is settled; an award
that overloads a line, a changed cut or an unpublished one is disputed by every node.

The small feeder (tests/oracle/grid/small_grid.py) keeps these fast: its cheapest bid, a battery
behind a thin cable, would overload that cable (115 %); the grid picks the shop's load cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from flexmarket.cli import demo_exit_code as exit_code
from nodes.demo import run_session
from nodes.validator import validate_session
from oracle import load_scenario
from oracle.clearing import clear_scenario
from oracle.grid.published import grid_inputs_json
from python_client.records import AwardRow
from tests.oracle.grid.conftest import EXAMPLE
from tests.oracle.grid.small_grid import small_scenario
from verifier.verify import verify_chain

DEPOSIT = 10**15


def _clear(base: Path | None = None) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    def clear(data: Mapping[str, Any]) -> dict[str, Any]:
        return clear_scenario(load_scenario(dict(data)), base).to_json_dict()

    return clear


def _grid(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return grid_inputs_json(data)


class Nodes:
    """Validator nodes that also keep each node's own replica report (every node judges
    from its own read of the chain, before the first dispute freezes the session)."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def __call__(self, url: str, deployment: Mapping[str, Any], session_id: int,
                 keys: list[str]) -> Mapping[str, Any]:
        for _ in keys:
            report = verify_chain(url, deployment, sessions=[session_id])
            self.reports.append(report.sessions[0].to_json())
        return validate_session(url, deployment, session_id, keys)


def _run(data: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], Nodes]:
    nodes = Nodes()
    out = run_session(data, _clear(), "anvil", validate=nodes, grid=_grid, **kwargs)
    return out, nodes


def test_a_grid_session_is_final_and_settled_when_every_node_verifies_it(
    small_grid_file: Path,
) -> None:
    out, nodes = _run(small_scenario(small_grid_file))
    # the shop's load cut, whole (indivisible): the battery would overload the thin cable
    assert [(a["bid"], a["quantity_w"]) for a in out["awards"]] == [("B-SHOP", 50_000)]
    v = out["verification"]
    assert v["ok"] is True and v["status"] == "Final" and v["attestations"] == v["quorum"] == 3
    assert v["grid"]["rederived"] is True and v["grid"]["ac"]["ok"] is True  # the summary
    assert exit_code(out) == 0
    chain = out["chain"]
    assert len(chain["tx"]["publish_grid"]) == 1
    assert len(chain["tx"]["settle"]) == 1
    payment = out["awards"][0]["payment_ueur"]
    assert chain["balances_ueur"]["AGG2"] == DEPOSIT + payment  # the shop's aggregator paid
    assert chain["payments_ueur"]["DSO1"] == payment
    for report in nodes.reports:  # each node: the published cuts re-derived, AC checked
        assert report["ok"] is True, report["violations"]
        grid = report["grid"]
        assert grid["rederived"] is True and grid["published_cuts"] >= 1
        assert grid["ac"]["ok"] is True
        assert grid["ac"]["before"]["element"] == "line 0"
        assert float(grid["ac"]["after"]["max_loading_percent"]) <= 100


def _overload(rows: list[AwardRow], needs: dict[str, int]) -> list[AwardRow]:
    """A dishonest operator: the battery behind the thin cable instead of the shop (cheaper,
    meets the need, and overloads line 1); its chain id is taken from its commit."""
    assert len(rows) == 1
    return [AwardRow(_BIDS["B-BAT"], needs["R1"], 80_000, 100_000)]


_BIDS: dict[str, bytes] = {}


def test_an_award_that_overloads_a_line_is_disputed_by_every_node(
    small_grid_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import python_client.clients as clients

    real_commit = clients.AggregatorClient.commit_bid

    def commit_bid(self: Any, session_id: int, bid: Any) -> bytes:  # the battery's id
        out = real_commit(self, session_id, bid)
        if bid.quantity_w == 80_000:
            _BIDS["B-BAT"] = out
        return out

    monkeypatch.setattr(clients.AggregatorClient, "commit_bid", commit_bid)
    out, nodes = _run(small_scenario(small_grid_file), tamper_rows=_overload)
    v = out["verification"]
    assert v["ok"] is False and v["status"] == "Disputed" and v["attestations"] == 0
    assert exit_code(out) == 1
    assert "settle" not in out["chain"]["tx"]  # nothing paid
    assert len(nodes.reports) == 4
    for report in nodes.reports:
        assert report["ok"] is False
        text = "\n".join(report["violations"])
        assert "grid: line 1 slot 0 loading" in text  # the published cut it breaks
        assert "grid: AC check: line 1 slot 0 loading" in text  # and the power flow
        assert "not optimal" not in text  # cheaper than the honest result: the grid decides


def _cut_index(grid: dict[str, Any], element: str) -> int:
    return next(i for i, c in enumerate(grid["inputs"]["cuts"]) if c["element"] == element)


def _relax_thin_line(grid: dict[str, Any]) -> dict[str, Any]:
    cut = grid["inputs"]["cuts"][_cut_index(grid, "line 1")]
    cut["rhs"] = cut["rhs"] * 10  # 10 x the headroom: the battery fits
    return grid


def _drop_thin_line(grid: dict[str, Any]) -> dict[str, Any]:
    del grid["inputs"]["cuts"][_cut_index(grid, "line 1")]
    return grid


@pytest.mark.parametrize(
    ("tamper", "finding"),
    [
        (_relax_thin_line, "grid.inputs.cuts[{i}].rhs: line 1 slot 0 loading"),
        (_drop_thin_line, "grid.inputs.cuts: line 1 slot 0 loading is not published"),
    ],
    ids=["changed-cut", "unpublished-cut"],
)
def test_a_changed_or_unpublished_cut_is_disputed_by_every_node(
    small_grid_file: Path, tamper: Callable[[dict[str, Any]], dict[str, Any]], finding: str,
) -> None:
    published: list[dict[str, Any]] = []

    def keep(grid: dict[str, Any]) -> dict[str, Any]:
        published.append(json.loads(json.dumps(grid)))
        return tamper(grid)

    # the operator clears with the model's cuts and publishes others
    out, nodes = _run(small_scenario(small_grid_file), tamper_grid=keep)
    v = out["verification"]
    assert v["ok"] is False and v["status"] == "Disputed" and v["attestations"] == 0
    i = _cut_index(published[0], "line 1")
    for report in nodes.reports:
        text = "\n".join(report["violations"])
        assert finding.format(i=i) in text
        # with the published cuts the battery is allowed: the committed shop cut is dearer
        assert "not optimal" in text


@pytest.mark.slow
def test_the_simbench_session_is_final_and_settled_on_chain() -> None:
    raw = json.loads(EXAMPLE.read_text())
    out, nodes = _run(raw)
    v = out["verification"]
    assert v["ok"] is True and v["status"] == "Final" and v["attestations"] == 3
    assert out["unmet"] == [] and out["awards"]
    chain = out["chain"]
    assert len(chain["tx"]["settle"]) == len(out["awards"])
    paid: dict[str, int] = {}
    for a in out["awards"]:
        paid[a["seller"]] = paid.get(a["seller"], 0) + a["payment_ueur"]
    for seller, amount in paid.items():
        assert chain["balances_ueur"][seller] == DEPOSIT + amount
    for report in nodes.reports:
        assert report["ok"] is True, report["violations"]
        assert report["grid"]["ac"]["before"]["max_loading_percent"] == "129.01"
        assert report["grid"]["ac"]["after"]["max_loading_percent"] == "99.41"
