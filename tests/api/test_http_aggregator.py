"""examples/http_aggregator.py (the README's HTTP example) against a real `flexmarket serve`
on its own anvil: the chain's clock must move by itself (a block a second), or the reveal
after gate closure and the result after the reveal deadline would wait forever."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from python_client.localchain import free_port
from tests.api.conftest import serve, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]


def _deployment(url: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/deployment", timeout=5) as answer:
        return dict(json.loads(answer.read()))


def test_the_readme_http_example_runs_end_to_end_against_serve(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = serve(port, ROOT, "--db", f"sqlite:///{tmp_path}/api.sqlite3")
    try:
        wait_until_serving(server, url)
        first = _deployment(url)
        time.sleep(2.5)  # nothing sent: the chain's clock moves anyway
        later = _deployment(url)
        assert int(later["block_timestamp"]) >= int(first["block_timestamp"]) + 1
        out = subprocess.run(
            [sys.executable, "examples/http_aggregator.py", "--url", url, "--phase-s", "15"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        for step in ("admin: roles and money", "aggregators: reveal", "result final: 3 awards",
                     "FO1 paid 6,150,000,000 µEUR", "FO2 paid 21,810,000,000 µEUR",
                     "ok: the chain paid what `flexmarket clear` says"):  # fmt: skip
            assert step in out.stdout, out.stdout
    finally:
        stop(server)
