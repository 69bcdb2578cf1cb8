"""The dashboard (issue 17) in a real browser: Debian's Chromium driven by Playwright,
against a real `flexmarket serve` on anvil. Each page signs in with an injected test
wallet: `window.ethereum` (EIP-1193) defined by an init script, whose requests go to a
Python binding that signs with a development key (eth-account), as a browser wallet would.

- short: keyboard sign-in, the page loads nothing from outside the app, the sessions
  list with its gate-closure countdown, and a session opened meanwhile arrives live
  through the event stream;
- slow (`make test-dashboard-slow`): the FLECH session (examples/flech_powermax.json)
  walked through the API while the page watches: an aggregator sees its own sealed bid
  and never the other's, the charts and tables show `flexmarket clear`'s numbers (needs
  vs awards per slot and seller, merit order, payments), attestations 1 of 1, and a
  settlement arrives live; the three-area TSO-DSO session (the API test's own walk,
  tests/api/test_api_tso_dso.py) watched by the DSO's page: traffic light, conflicts,
  unmet need, awards per slot and seller and each buyer's shares as the engine's;
- without a browser: the page's files, the reads' refusals.

The browser and the wallet: tests/api/browser.py. Screenshots in build/test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from python_client.chain import Wallet, connect, deploy
from python_client.hashing import asset_id, label, new_salt
from python_client.http import HttpClient
from python_client.localchain import LocalChain, free_port
from python_client.records import BidFields, Direction
from tests.api import test_api_tso_dso as tso_dso
from tests.api.browser import CHROMIUM, Page, chromium

ROOT = Path(__file__).resolve().parents[2]
FLECH = json.loads((ROOT / "examples" / "flech_powermax.json").read_text())
ASSET_KEY = b"flexmarket-dashboard-test-asset-key"
DEPOSIT_UEUR = 10**15
PHASE_S = 120
TIMEOUT_MS = 20_000

needs_browser = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"needs Chromium at {CHROMIUM} (make install-chromium)"
)

# the TSO-DSO test's fixtures: its anvil with 20 accounts (for every test here) and its
# world of participants on the `api` fixture's app
chain = tso_dso.chain
w = tso_dso.w


@pytest.fixture(scope="module")
def served(chain: LocalChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`flexmarket serve --rpc` on the module's anvil, on a free port."""
    keys = chain.dev_private_keys
    w3 = connect(chain.url)
    deployment = deploy(w3, Wallet(w3, keys[0]))
    tmp = tmp_path_factory.mktemp("dashboard")
    dep_file = tmp / "deployment.json"
    dep_file.write_text(json.dumps(deployment.to_json()))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_API_")}
    env.update(FLEXMARKET_API_RELAYER_KEY=keys[9], FLEXMARKET_API_ROLE_CACHE_S="0")
    log = (tmp / "serve.log").open("w")  # a file, not a pipe nobody reads (it would fill)
    server = subprocess.Popen(
        [sys.executable, "-m", "flexmarket", "serve", "--rpc", chain.url, "--deployment",
         str(dep_file), "--port", str(port), "--db", f"sqlite:///{tmp}/api.sqlite3"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp / "serve.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "serve did not answer within 120 s"
                time.sleep(0.3)
        yield {"url": url, "keys": keys, "chain": chain, "chain_id": int(w3.eth.chain_id)}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def client(served: dict[str, Any], index: int) -> HttpClient:
    c = HttpClient(served["url"], served["keys"][index])
    c.sign_in()
    return c


def _session_params(now: int, **over: Any) -> dict[str, Any]:
    market = FLECH["market"]
    params = {
        "market_id": market["id"], "product": market["product"], "pricing": market["pricing"],
        "slot_count": market["slots"], "slot_minutes": market["slot_minutes"],
        "delivery_start": now + 4 * PHASE_S, "bidding_end": now + PHASE_S,
        "reveal_deadline": now + 2 * PHASE_S, "clearing_deadline": now + 3 * PHASE_S,
        "min_bid_w": market["min_bid_w"], "granularity_w": market["granularity_w"],
        "bid_bond_ueur": 1_000_000, "collateral_ueur_per_w": 10_000, "tolerance_bps": 1_000,
        "unmet_penalty_eur_per_mw": 10**12,
    }  # fmt: skip
    params.update(over)
    return params


def _seconds(countdown: str) -> int:
    """`1 min 55 s` -> 115."""
    return sum(
        int(n) * (60 if unit == "min" else 1) for n, unit in re.findall(r"(\d+) (min|s)", countdown)
    )


@needs_browser
def test_keyboard_sign_in_sessions_list_and_a_live_update(
    served: dict[str, Any], browser: Any
) -> None:
    admin, oracle = client(served, 0), client(served, 1)
    admin.grant_role(oracle.address, "ORACLE")
    now = int(admin.deployment()["block_timestamp"])
    first = oracle.open_session(_session_params(now))

    page = Page(browser, served, 5)
    try:
        p = page.page
        html = urllib.request.urlopen(served["url"] + "/").read().decode()
        assert not re.search(r"(src|href)=\"(https?:)?//", html), "the page loads from outside"
        # keyboard only: skip link, then the sign-in button, Enter
        p.keyboard.press("Tab")
        assert p.evaluate("document.activeElement.className") == "skip"
        p.keyboard.press("Tab")
        assert p.evaluate("document.activeElement.id") == "signin"
        p.keyboard.press("Enter")
        p.wait_for_selector("#sessions:not([hidden])")
        assert len(page.signed) == 1
        message = page.signed[0]
        # EIP-4361 with the EIP-55 address the page computed from the wallet's lower case
        assert message.startswith(served["url"].removeprefix("http://") + " wants you to sign")
        assert message.splitlines()[1] == page.address
        assert page.address in p.inner_text("#who")

        row = p.locator(f"#session-table tr[data-session='{first}']")
        assert "bidding" in row.inner_text()
        closes = row.locator("td.countdown").inner_text()
        assert re.fullmatch(r"(\d+ min )?\d+ s", closes), closes
        assert PHASE_S - 60 <= _seconds(closes) <= PHASE_S  # less what sign-in took
        # the countdown runs without asking the API
        p.wait_for_function(
            f"document.querySelector(\"tr[data-session='{first}'] td.countdown\").textContent"
            f" !== {json.dumps(closes)}", timeout=5_000,
        )  # fmt: skip

        # live: a session opened now appears without a reload, with its event
        second = oracle.open_session(_session_params(now + 10))
        p.wait_for_selector(f"#session-table tr[data-session='{second}']")
        p.wait_for_selector("#events li[data-event='SessionOpened']")
        assert f"session {second}" in p.inner_text("#events")
        # keyboard navigation to a session: its link takes focus and Enter opens it
        p.focus(f"#session-table a[href='#/sessions/{second}']")
        p.keyboard.press("Enter")
        p.wait_for_function(
            f"document.querySelector('#session-h').textContent === 'Session {second}'"
        )
        assert p.evaluate("document.activeElement.id") == "session-h"
        page.shot("sessions")
        assert page.outside == []
    finally:
        page.close()


# --- the FLECH session, walked through the API while the browser watches -----------------


def _warp(served: dict[str, Any], reader: HttpClient, timestamp: int) -> None:
    """Move the local chain's clock (the harness) and wait until the API's clock has."""
    served["chain"].warp_to(timestamp)
    deadline = time.monotonic() + 10
    while reader.request("GET", "/dashboard/sessions?limit=1")["now"] < timestamp:
        assert time.monotonic() < deadline, "the API's clock did not follow the chain"
        time.sleep(0.2)


@needs_browser
@pytest.mark.slow
def test_flech_session_in_the_browser(served: dict[str, Any], browser: Any) -> None:
    from oracle import clear, load_scenario

    expected = clear(load_scenario(FLECH)).to_json_dict()
    admin, oracle, metering, validator = (client(served, i) for i in (0, 1, 2, 3))
    people = {"DSO1": client(served, 4), "FO1": client(served, 6), "FO2": client(served, 7)}
    roles = {"DSO1": "DSO", "FO1": "AGGREGATOR", "FO2": "AGGREGATOR"}
    for who, role in (("ORACLE", oracle), ("METERING", metering), ("VALIDATOR", validator)):
        admin.grant_role(role.address, who)
    for pid, c in people.items():
        admin.grant_role(c.address, roles[pid])
        admin.mint(c.address, DEPOSIT_UEUR)
        c.deposit(DEPOSIT_UEUR)
    dso = people["DSO1"]
    dso.register_zone("T1", 175_000)
    ids = {a["id"]: asset_id(a["id"], ASSET_KEY) for a in FLECH["assets"]}
    for a in FLECH["assets"]:
        people[a["manager"]].register_asset(
            ids[a["id"]], a["type"], int(a["p_max_w"]), int(a["p_min_w"]), a["zone"]
        )
        dso.prequalify(ids[a["id"]])
    now = int(admin.deployment()["block_timestamp"])
    sid = oracle.open_session(_session_params(now))
    session = oracle.session(sid)
    top = max(int(b["price_eur_per_mw"]) for b in FLECH["bids"])
    budget = sum(int(b["quantity_w"]) for b in FLECH["bids"]) * top
    need = dso.post_need(sid, {"zone": "T1", "direction": "up", "buyer_role": "DSO",
                               "budget_ueur": budget, "quantity_w": [37_800]})  # fmt: skip
    slots = FLECH["market"]["slots"]
    fields = {
        b["id"]: BidFields(
            label(b["zone"]), Direction.UP, bool(b["divisible"]), int(b["quantity_w"]),
            int(b["price_eur_per_mw"]), (1 << slots) - 1,
            BidFields.sorted_assets([ids[a] for a in b["assets"]]), new_salt(),
        )
        for b in FLECH["bids"]
    }  # fmt: skip
    seller = {b["id"]: people[b["seller"]] for b in FLECH["bids"]}
    people["FO1"].join(sid, 1)
    people["FO2"].join(sid, 2)
    chain_id = {}
    for name, f in fields.items():
        out = seller[name].commit_bid(sid, f, wait=True)
        assert out["status"] == "committed", out
        chain_id[name] = out["bid_id"]

    # --- an aggregator during bidding: its own sealed bid, never the other's
    fo1 = Page(browser, served, 6)
    try:
        fo1.sign_in()
        fo1.open_session(sid)
        assert fo1.texts("#my-bids tbody tr") == [
            f"{chain_id['FO1B1'][:6]}…{chain_id['FO1B1'][-4:]}\tcommitted\tsealed\tsealed\t–"
        ]
        content = fo1.page.content().lower()
        assert chain_id["FO1B1"] in content
        for other in ("FO2B1", "FO2B2"):
            assert chain_id[other] not in content and chain_id[other][2:10] not in content
        assert "No revealed bid you may see yet" in fo1.page.inner_text("#merit-table")
        fo1.shot("aggregator-sealed")

        # reveal phase: revealed, but before the reveal deadline still only its own
        _warp(served, dso, session["bidding_end"])
        for name, f in fields.items():
            seller[name].reveal_bid(sid, f)
        fo1.page.reload()
        fo1.sign_in()
        fo1.open_session(sid)
        content = fo1.page.content().lower()
        assert chain_id["FO1B1"] in content
        assert chain_id["FO2B1"] not in content and chain_id["FO2B2"] not in content
        assert fo1.page.locator("#merit-table tbody tr[data-bid]").count() == 1
    finally:
        fo1.close()

    # --- after the reveal deadline: the result, attested
    _warp(served, dso, session["reveal_deadline"])
    awards = [
        {"bid_id": chain_id[a["bid"]], "need_index": need, "quantity_w": a["quantity_w"],
         "price_eur_per_mw": a["price_eur_per_mw"]}
        for a in expected["awards"]
    ]  # fmt: skip
    oracle.commit_result(sid, expected["input_hash"], expected["result_hash"], awards)
    validator.attest(sid, expected["result_hash"])

    page = Page(browser, served, 4)  # the DSO
    try:
        p = page.page
        page.sign_in()
        page.open_session(sid)
        # needs vs awards per slot, stacked per seller: the bars carry the clearing's watts
        fo1_addr, fo2_addr = people["FO1"].address, people["FO2"].address
        for s in (0, slots - 1):
            bars = {
                r.get_attribute("data-seller"): int(r.get_attribute("data-w") or 0)
                for r in p.locator(f"#needs-chart rect.award[data-slot='{s}']").all()
            }
            assert bars == {fo1_addr: 12_300, fo2_addr: 25_500}
            line = p.locator(f"#needs-chart line.need[data-slot='{s}']")
            assert line.get_attribute("data-w") == "37800"
        assert p.locator("#needs-chart rect.award").count() == 2 * slots
        header = page.texts("#slot-table thead th, #slot-table thead td")
        assert header[:2] == ["Slot", "Need"] and header[-2:] == ["Awarded", "Unmet"]
        first_row = p.locator("#slot-table tbody tr[data-slot='0'] td").all_inner_texts()
        assert first_row[0] == "0" and first_row[1] == "37,800"
        assert sorted(first_row[2:4]) == ["12,300", "25,500"]
        assert first_row[4:] == ["37,800", "0"]
        assert page.texts("#unmet-table tbody tr") == ["Every need is met."]

        # merit order: by price, every bid accepted (FO2B2 for 13,200 of its 15,400 W)
        merit = [r.split("\t") for r in page.texts("#merit-table tbody tr")]
        assert [(m[3], m[4], m[5], m[6]) for m in merit] == [
            ("500,000", "12,300", "12,300", "✓ accepted"),
            ("700,000", "12,300", "12,300", "✓ accepted"),
            ("1,000,000", "15,400", "13,200", "✓ accepted"),
        ]
        prices = [int(r.get_attribute("data-price") or 0)
                  for r in p.locator("#merit-chart rect.bid").all()]  # fmt: skip
        assert prices == [500_000, 700_000, 1_000_000]
        bars = p.locator("#merit-chart rect.bid").all()
        awarded = [r.get_attribute("data-awarded") for r in bars]
        assert awarded == ["12300", "12300", "13200"]
        assert p.locator("#merit-chart rect.bid-fill").count() == 3
        assert "Pay as bid" in p.inner_text("#clearing-price")
        # a long merit order shows its first rows, the rest on asking (here: 2 of 3)
        p.evaluate("window.flexDashboard.state.meritRows = 2")
        p.evaluate("location.hash = '#'")
        page.open_session(sid)
        assert p.locator("#merit-table tbody tr[data-bid]").count() == 2
        assert p.inner_text("#merit-more") == "Show all 3 bids (1 more)"
        p.click("#merit-more")
        assert p.locator("#merit-table tbody tr[data-bid]").count() == 3
        assert p.locator("#merit-more").count() == 0

        # money: payments per award, not settled yet
        pay = sorted(r.split("\t")[4] for r in page.texts("#money-table tbody tr"))
        assert pay == ["13,200.00", "6,150.00", "8,610.00"]
        assert "0 of 3 awards settled" in p.inner_text("#settlement-status")
        assert "Total payments: 27,960.00 EUR" in p.inner_text("#settlement-status")

        # trust: the hashes and 1 of 1 attestation
        trust = p.inner_text("#trust")
        assert expected["result_hash"] in trust and expected["input_hash"] in trust
        assert re.search(r"Attestations\s+1 of 1", trust), trust
        assert "ResultAttested by" in p.inner_text("#trust-events")
        page.shot("flech-result")

        # live: delivery and settlement arrive without a reload
        result = dso.result(sid)
        metering.record_deliveries(
            sid, {a["award_index"]: a["quantity_w"] for a in result["awards"]},
            "0x" + label("dashboard-test-metering").hex(),
        )  # fmt: skip
        people["FO1"].settle(sid)
        p.wait_for_function(
            "document.querySelector('#settlement-status').textContent.includes('3 of 3 awards')",
            timeout=TIMEOUT_MS,
        )  # fmt: skip
        assert all(r.split("\t")[5] == "yes" for r in page.texts("#money-table tbody tr"))
        paid = sorted(r.split("\t")[6] for r in page.texts("#money-table tbody tr"))
        assert paid == ["13,200.00", "6,150.00", "8,610.00"]
        p.wait_for_selector("#events li[data-event='AwardSettled']")
        # the replica's audit, from the page
        p.click("#audit")
        p.wait_for_function(
            "document.querySelector('#audit-out').textContent.includes('replica agrees')",
            timeout=60_000,
        )  # fmt: skip
        page.shot("flech-settled")
        assert page.outside == []
    finally:
        page.close()


# --- the three-area TSO-DSO session: the API test's walk, watched by the DSO's page ----


@contextmanager
def over_http(app: Any) -> Iterator[str]:
    """The `api` fixture's app (started by its TestClient) served on a loopback port too,
    so a browser can watch what a test does through the TestClient."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@needs_browser
@pytest.mark.slow
def test_three_area_session_in_the_browser(w: Any, browser: Any) -> None:
    from oracle.coordination import clear_coordinated
    from oracle.scenario import load_scenario

    walk = tso_dso.test_three_area_session_over_http_shares_each_award_between_dso_and_tso

    expected = clear_coordinated(load_scenario(tso_dso.SCENARIO)).to_json_dict()
    api = w.api
    address = {pid: c.address for pid, c in w.people.items()}
    with over_http(api["app"]) as url:
        view = {"url": url, "keys": api["keys"], "chain_id": int(api["w3"].eth.chain_id)}
        page = Page(browser, view, 3)  # DSO1 (the API test's key 3)
        try:
            p = page.page
            page.sign_in()
            before = p.locator("#session-table tbody tr[data-session]").count()
            walk(w)  # the whole session over HTTP, the page open meanwhile
            sid = int(w.operator.request("GET", "/dashboard/sessions?limit=1")["session_count"])
            p.wait_for_selector(f"#session-table tr[data-session='{sid}']")  # arrived live
            assert p.locator("#session-table tbody tr[data-session]").count() == before + 1
            page.open_session(sid)
            p.wait_for_selector("#coordination:not([hidden]) #light-table tbody tr")

            # traffic light: the engine's, zone by zone
            light = {
                z: page.texts(f"#light-table tr[data-zone='{z}'] td")
                for z in expected["coordination"]["traffic_light"]
            }
            assert light == expected["coordination"]["traffic_light"]
            assert "common" in p.inner_text("#coordination-facts")
            # conflicts: the engine's, by slot, type and zones
            rows = [r.split("\t") for r in page.texts("#conflict-table tbody tr")]
            assert sorted((int(r[0]), r[1], r[2]) for r in rows) == sorted(
                (k["slot"], k["type"], ", ".join(k["zones"])) for k in expected["conflicts"]
            )
            # unmet need: the engine's (a shared activation serves the DSO and the TSO)
            need_of = {r["id"]: i for i, r in enumerate(tso_dso.SCENARIO["requests"])}
            unmet = [r.split("\t") for r in page.texts("#unmet-table tbody tr")]
            assert sorted((int(r[0]), int(r[4]), r[7]) for r in unmet) == sorted(
                (need_of[u["request"]], u["slot"], f"{u['quantity_w']:,}")
                for u in expected["unmet"]
            )
            slot_unmet = {t: p.locator(f"#slot-table tr[data-slot='{t}'] td").last.inner_text()
                          for t in range(5)}  # fmt: skip
            assert slot_unmet == {0: "0", 1: "0", 2: "0", 3: "0", 4: "2,000"}
            # awards per slot and seller, as the engine awarded them
            # (up above the axis, down below it)
            bid_of = {b["id"]: b for b in tso_dso.SCENARIO["bids"]}
            want: dict[tuple[int, str, str], int] = {}
            for a in expected["awards"]:
                b = bid_of[a["bid"]]
                for t in b["slots"]:
                    key = (t, address[a["seller"]], b["direction"])
                    want[key] = want.get(key, 0) + a["quantity_w"]
            bars = {
                (int(r.get_attribute("data-slot") or -1), r.get_attribute("data-seller") or "",
                 r.get_attribute("data-direction") or ""): int(r.get_attribute("data-w") or 0)
                for r in p.locator("#needs-chart rect.award").all()
            }  # fmt: skip
            assert bars == want
            need_lines = {
                (int(r.get_attribute("data-slot") or -1), r.get_attribute("data-direction") or ""):
                int(r.get_attribute("data-w") or 0)
                for r in p.locator("#needs-chart line.need").all()
            }  # fmt: skip
            for t in range(5):
                for d in ("up", "down"):
                    total = sum(
                        q[t] if isinstance(q := r["quantity_w"], list) else q
                        for r in tso_dso.SCENARIO["requests"] if r["direction"] == d
                    )  # fmt: skip
                    assert need_lines.get((t, d), 0) == total, (t, d)
            header = page.texts("#slot-table thead td")
            assert header[:3] == ["Slot", "Need up", "Need down"]
            # each buyer's shares of the awards, as the engine split them
            committed: dict[str, int] = {}
            for sh in expected["shares"]:
                committed[address[sh["buyer"]]] = committed.get(address[sh["buyer"]], 0) + int(
                    sh["payment_ueur"]
                )
            shown = {
                r.get_attribute("data-buyer"): r.locator("td").nth(1).inner_text()
                for r in p.locator("#buyer-table tbody tr[data-buyer]").all()
            }
            assert shown == {
                a: f"{v // 1_000_000:,}.{v % 1_000_000 // 10_000:02d}" for a, v in committed.items()
            }
            assert "Total payments: 10,150.00 EUR" in p.inner_text("#settlement-status")
            assert "TSO1" not in p.inner_text("#money-table")  # addresses, never file ids
            page.shot("three-areas")
            assert page.outside == []
        finally:
            page.close()


# --- the page and the dashboard's reads, without a browser --------------------------------


def test_the_page_and_its_reads_over_http(api: dict[str, Any]) -> None:
    from tests.api.conftest import participant

    http = api["client"]
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for src in re.findall(r'(?:src|href)="([^"#]+)"', page.text):
        if src.startswith("data:"):
            continue
        assert src.startswith("/dashboard/static/"), src  # everything from the app itself
        assert http.get(src).status_code == 200, src
    # no way out of the static folder
    for path in ("/dashboard/static/../dashboard.py", "/dashboard/static/%2e%2e/dashboard.py"):
        assert http.get(path).status_code == 404, path
    # the reads are signed in, their query checked, an unknown session 404
    assert http.get("/dashboard/sessions").status_code == 401
    assert http.get("/dashboard/sessions/1").status_code == 401
    me = participant(api, 5)
    me.sign_in()
    auth = {"Authorization": f"Bearer {me.token}"}
    for bad in ("0", "201", "x", "1e3"):
        answer = http.get(f"/dashboard/sessions?limit={bad}", headers=auth)
        assert answer.status_code == 422, (bad, answer.text)
        assert "limit" in answer.text
    listed = http.get("/dashboard/sessions?limit=1", headers=auth).json()
    assert set(listed) == {"now", "session_count", "sessions"}
    assert len(listed["sessions"]) == min(1, listed["session_count"])
    unknown = listed["session_count"] + 1
    answer = http.get(f"/dashboard/sessions/{unknown}", headers=auth)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert http.get("/dashboard/sessions/0", headers=auth).status_code in (404, 422)
    # the OpenAPI document lists the reads, not the page
    paths = http.get("/openapi.json").json()["paths"]
    assert "/dashboard/sessions" in paths and "/dashboard/sessions/{session_id}" in paths
    assert "/" not in paths
