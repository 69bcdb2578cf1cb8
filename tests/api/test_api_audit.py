"""`GET /sessions/{id}/audit` is the replica's report as `flexmarket verify --session ID
--json` prints it (the verifier builds it, the route only serialises it: integers beyond
2^53 as decimal strings), for a session the oracle service cleared and for one whose
committed result is wrong; a session that does not exist is 404.

The sessions are built on a real anvil with the participants' own clients
(tests/verifier/verify_helpers.py), then served by the API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.wire import jsonable
from nodes.service import OracleService
from python_client.http import HttpClient
from python_client.localchain import start_chain
from tests.api.conftest import app_settings
from tests.verifier.verify_helpers import Market, build_market

FLEXMARKET = Path(sys.executable).parent / "flexmarket"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with start_chain("anvil", accounts=12) as chain:
        tmp = tmp_path_factory.mktemp("audit")
        m = build_market(chain, tmp, {"good": {}, "bad": {}})
        m.commit("bad", [("B1", 6_000, 120), ("A2", 4_000, 150)])  # dearer than A1 + A2
        OracleService(chain.url, m.oracle_key, m.deployment_file).step()  # clears "good"
        settings = app_settings(chain.url, m.deployment_file, m.keys[11], tmp)
        with TestClient(create_app(settings)) as client:
            reader = HttpClient("http://testserver", m.keys[3], client=client)
            reader.sign_in()
            yield {"market": m, "client": client, "reader": reader, "url": chain.url}


def _without_timings(report: dict[str, Any]) -> dict[str, Any]:
    """Wall-clock timings differ run to run; everything else must not."""
    out = {k: v for k, v in report.items() if k != "timings_s"}
    out["sessions"] = [
        {k: v for k, v in s.items() if k != "timings_s"} for s in report["sessions"]
    ]
    return out


def _cli(s: dict[str, Any], session_id: int) -> tuple[int, dict[str, Any]]:
    m: Market = s["market"]
    run = subprocess.run(
        [str(FLEXMARKET), "verify", "--rpc", s["url"], "--deployment", str(m.deployment_file),
         "--session", str(session_id), "--json"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, json.loads(run.stdout)


@pytest.mark.parametrize("name", ["good", "bad"])
def test_the_audit_route_answers_the_report_the_cli_prints(
    setup: dict[str, Any], name: str
) -> None:
    m: Market = setup["market"]
    sid = m.sessions[name]
    code, cli = _cli(setup, sid)
    route = setup["reader"].request("GET", f"/sessions/{sid}/audit")
    assert _without_timings(route) == _without_timings(jsonable(cli))
    session = route["sessions"][0]
    assert session["session_id"] == sid and session["checked"]
    # what the replica read of the awards: who pays each, its own need first
    assert session["awards"] and all(
        sum(p["payment_ueur"] for p in a["parts"]) == int(a["payment_ueur"])
        for a in session["awards"]
    )
    if name == "good":
        assert code == 0 and route["ok"] and not session["violations"]
    else:
        assert code == 1 and not route["ok"] and session["violations"]


def test_the_audit_of_a_session_that_does_not_exist_is_404(setup: dict[str, Any]) -> None:
    r = setup["client"].get(
        "/sessions/999/audit", headers={"Authorization": f"Bearer {setup['reader'].token}"}
    )
    assert r.status_code == 404 and r.json()["type"].endswith("not-found"), r.text
