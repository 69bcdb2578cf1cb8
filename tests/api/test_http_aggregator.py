"""examples/http_aggregator.py (the README's HTTP example) against a real `flexmarket serve`
on its own anvil: the chain's clock must move by itself (a block a second), or the reveal
after gate closure and the result after the reveal deadline would wait forever."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_readme_http_example_runs_end_to_end_against_serve(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_API_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "flexmarket", "serve", "--port", str(port),
         "--db", f"sqlite:///{tmp_path}/api.sqlite3"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:  # anvil started, contracts deployed, uvicorn listening
            assert server.poll() is None, server.communicate()
            try:
                with urllib.request.urlopen(f"{url}/deployment", timeout=2) as answer:
                    first = json.loads(answer.read())
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 180 s"
                time.sleep(0.5)
        time.sleep(2.5)  # nothing sent: the chain's clock moves anyway
        with urllib.request.urlopen(f"{url}/deployment", timeout=5) as answer:
            later = json.loads(answer.read())
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
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
