"""`flexmarket clear FILE --plot OUT` (issue 17): the SVG carries the clearing's numbers as
text (merit order and needs vs awards per slot), the same bytes twice; a file it cannot
write is exit 2 naming --plot, before clearing, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flexmarket import cli
from flexmarket.plot import slot_table
from oracle import clear, load_scenario

ROOT = Path(__file__).resolve().parents[2]
FLECH = ROOT / "examples" / "flech_powermax.json"


def test_the_svg_shows_the_merit_order_and_the_awards_per_slot(tmp_path: Path) -> None:
    out = tmp_path / "flech.svg"
    proc = subprocess.run(
        [sys.executable, "-m", "flexmarket", "clear", str(FLECH), "--plot", str(out)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "total cost: 27,960 EUR" in proc.stdout  # the command prints as before
    svg = out.read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    # merit order: each bid, its price, its quantity and what was accepted
    for text in ("FO1B1", "500,000 EUR/MW", "12,300 W, 12,300 W accepted",
                 "FO2B1", "700,000 EUR/MW", "FO2B2", "1,000,000 EUR/MW",
                 "15,400 W, 13,200 W accepted"):  # fmt: skip
        assert text in svg, text
    # needs vs awards: the 14 slots each awarded the need, 37,800 W, and nothing unmet
    assert svg.count(">37,800 W<") == 14
    assert "unmet" not in svg
    assert "total cost 27,960 EUR" in svg
    assert "FO1 awarded" in svg and "FO2 awarded" in svg
    # deterministic: no date, the same bytes again
    again = tmp_path / "again.svg"
    assert cli.main(["clear", str(FLECH), "--plot", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_slot_table_counts_unmet_need(tmp_path: Path) -> None:
    scenario = load_scenario(FLECH)
    # one bid less: FO2B2 gone, 13,200 W unmet in every slot
    short = scenario.model_copy(update={"bids": [b for b in scenario.bids if b.id != "FO2B2"]})
    result = clear(short)
    need, awarded = slot_table(short, result)
    assert need == [37_800] * 14
    assert awarded == {"FO1": [12_300] * 14, "FO2": [12_300] * 14}
    from flexmarket.plot import plot_clearing

    out = tmp_path / "short.svg"
    plot_clearing(short, result, out)
    assert out.read_text().count("unmet 13,200 W") == 14


@pytest.mark.parametrize(
    ("name", "reason"), [("x.txt", "must end in one of"), ("missing/x.svg", "does not exist")]
)
def test_a_plot_file_it_cannot_write_is_exit_2_naming_plot(
    tmp_path: Path, name: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    assert cli.main(["clear", str(FLECH), "--plot", str(out)]) == 2
    err = capsys.readouterr()
    assert "--plot" in err.err and reason in err.err
    assert err.out == ""  # nothing cleared, nothing printed
    assert list(tmp_path.iterdir()) == []
