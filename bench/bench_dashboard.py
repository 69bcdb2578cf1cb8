"""The dashboard's first paint of a large session (`make bench-dashboard`): prints figures,
asserts nothing.

A synthetic session (`oracle.synthetic.random_session(--bids, n_zones=--zones, seed)`, 96
slots) is put on anvil up to its committed result (bench/verify_setup.put_on_chain: every
participant signs with its own key), then `flexmarket serve --rpc` runs on that chain.
Measured, each `--runs` times (the median and the slowest printed):

- `GET /dashboard/sessions/{id}` and `GET /sessions/{id}/settlements`, the two reads the
  session screen makes, from a Python client on loopback (httpx, signed in);
- in Debian's Chromium (Playwright, the test wallet of tests/api/browser.py, signed in as
  the session's DSO): from following the session's link to the session drawn (charts and
  tables filled), by the page's own clock (`performance.now`), and of it the drawing (the
  page's work once both reads have answered).

    python bench/bench_dashboard.py [--bids 2000] [--zones 20] [--runs 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from oracle.synthetic import random_session  # noqa: E402
from python_client.http import HttpClient  # noqa: E402
from python_client.localchain import free_port, start_chain  # noqa: E402


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def figures(name: str, values: list[float]) -> None:
    print(f"  {name:<44} median {statistics.median(values) * 1000:7.0f} ms, "
          f"slowest {max(values) * 1000:7.0f} ms ({len(values)} runs)", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the dashboard's first paint (prints figures)")
    parser.add_argument("--bids", type=int, default=2_000)
    parser.add_argument("--zones", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    from verify_setup import put_on_chain  # bench/, next to this file

    from tests.api.browser import Page, chromium

    data = random_session(args.bids, n_zones=args.zones, seed=args.seed)
    participants = [p["id"] for p in data["participants"]]
    dso_index = 2 + next(i for i, p in enumerate(data["participants"]) if p["role"] == "DSO")
    print(f"set-up on anvil: {args.bids:,} bids, {data['market']['slots']} slots "
          f"(load average {load()})", flush=True)  # fmt: skip
    logging.basicConfig(format="%(message)s")
    t = time.perf_counter()
    with start_chain(accounts=2 + len(participants)) as chain, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        setup = put_on_chain(data, chain)
        print(f"  set-up {time.perf_counter() - t:.0f} s, session {setup.session_id}, "
              f"{setup.award_rows} award rows", flush=True)  # fmt: skip
        dep_file = Path(tmp) / "deployment.json"
        dep_file.write_text(json.dumps(setup.deployment.to_json()))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        keys = chain.dev_private_keys
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_API_")}
        env["FLEXMARKET_API_RELAYER_KEY"] = keys[0]  # reads only: it pays no gas here
        log = (Path(tmp) / "serve.log").open("w")  # a file, not a pipe nobody reads
        server = subprocess.Popen(
            [sys.executable, "-m", "flexmarket", "serve", "--rpc", chain.url, "--deployment",
             str(dep_file), "--port", str(port), "--db", f"sqlite:///{tmp}/api.sqlite3"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    print((Path(tmp) / "serve.log").read_text(), file=sys.stderr)
                    return 1
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("serve did not answer within 120 s") from None
                    time.sleep(0.3)
            sid = setup.session_id
            dso = HttpClient(url, keys[dso_index])
            dso.sign_in()
            overview = dso.request("GET", f"/dashboard/sessions/{sid}")
            visible = sum(1 for b in overview["bids"] if b["price_eur_per_mw"] is not None)
            print(f"the DSO sees {visible:,} revealed bids, {len(overview['result']['awards']):,}"
                  f" awards, {len(overview['needs'])} needs (load average {load()})")  # fmt: skip
            reads: dict[str, list[float]] = {"overview": [], "settlements": []}
            for _ in range(args.runs):
                for name, path in (("overview", f"/dashboard/sessions/{sid}"),
                                   ("settlements", f"/sessions/{sid}/settlements")):  # fmt: skip
                    t = time.perf_counter()
                    dso.request("GET", path)
                    reads[name].append(time.perf_counter() - t)
            print("reads on loopback (a Python client):")
            figures(f"GET /dashboard/sessions/{sid}", reads["overview"])
            figures(f"GET /sessions/{sid}/settlements", reads["settlements"])

            paint: list[float] = []
            draw: list[float] = []
            with chromium() as browser:
                view = {"url": url, "keys": keys, "chain_id": int(setup.deployment.chain_id)}
                page = Page(browser, view, dso_index, timeout_ms=120_000)
                try:
                    page.sign_in()
                    for _ in range(args.runs):
                        page.page.evaluate("location.hash = '#'")
                        page.page.wait_for_function("document.querySelector('#session').hidden")
                        page.page.evaluate("window.flexDashboard.state.timing = null")
                        start = page.page.evaluate("performance.now()")
                        page.open_session(sid)
                        page.page.wait_for_function("window.flexDashboard.state.timing !== null")
                        page.page.wait_for_selector("#merit-table tbody tr[data-bid]")
                        end = page.page.evaluate("performance.now()")
                        paint.append((end - start) / 1000)
                        timing = page.page.evaluate("window.flexDashboard.state.timing")
                        draw.append(timing["draw_ms"] / 1000)
                    page.shot("bench")
                finally:
                    page.close()
            print("in Chromium, from following the session's link to the session drawn:")
            figures(f"session {sid} ({args.bids:,} bids)", paint)
            figures("of which drawing (charts and tables)", draw)
            print(f"load average after: {load()}")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
