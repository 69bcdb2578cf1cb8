"""A real anvil with the contracts deployed, and the API app on it (TestClient, httpx);
helpers the API tests share: participants, amounts as ints, the chain's clock, a scenario's
zones and assets over HTTP, a `flexmarket serve` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.config import Settings
from api.main import create_app
from python_client.chain import Wallet, connect, deploy
from python_client.hashing import asset_id
from python_client.http import HttpClient
from python_client.localchain import LocalChain, start_chain

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chain() -> Iterator[LocalChain]:
    with start_chain("anvil") as c:
        yield c


@pytest.fixture(scope="module")
def api(chain: LocalChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    keys = chain.dev_private_keys
    w3 = connect(chain.url)
    deployment = deploy(w3, Wallet(w3, keys[0]))
    tmp = tmp_path_factory.mktemp("api")
    dep_file = Path(tmp) / "deployment.json"
    dep_file.write_text(json.dumps(deployment.to_json()))
    settings = app_settings(chain.url, dep_file, keys[9], Path(tmp))
    app = create_app(settings)
    with TestClient(app) as client:
        yield {"client": client, "keys": keys, "chain": chain, "w3": w3, "settings": settings,
               "app": app}  # fmt: skip


def app_settings(rpc_url: str, deployment_file: Path, relayer_key: str, tmp: Path) -> Settings:
    """The app's settings in a test: this chain and deployment, a relayer key, a SQLite store
    in `tmp`, sign-in for `http://testserver` (TestClient's host), roles read every time."""
    return Settings(
        rpc_url=rpc_url, deployment_file=str(deployment_file), relayer_key=SecretStr(relayer_key),
        db_url=f"sqlite:///{tmp}/api.sqlite3", domain="testserver", uri="http://testserver",
        role_cache_s=0.0,
    )  # fmt: skip


def checked_request(
    client: TestClient, c: HttpClient, method: str, path: str, body: Any = None
) -> Any:
    """`method path` with `c`'s bearer token and `body`, as sent, no client-side checks: the
    answer is never a 5xx, and an error is problem+json."""
    headers = {"Authorization": f"Bearer {c.token}"}
    r = client.request(method, path, json=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    return r


def participant(api: dict[str, Any], index: int) -> HttpClient:
    return HttpClient("http://testserver", api["keys"][index], client=api["client"])


def numbers(value: Any) -> Any:
    """An API answer with its amounts and prices (`*_ueur`, `*_eur_per_mw`) as ints: the
    API sends every integer that can exceed 2^53 as a decimal string."""
    if isinstance(value, list):
        return [numbers(v) for v in value]
    if isinstance(value, dict):
        return {
            k: int(v) if isinstance(v, str) and k.endswith(("_ueur", "_eur_per_mw")) and v.isdigit()
            else numbers(v)
            for k, v in value.items()
        }  # fmt: skip
    return value


def warp(api: dict[str, Any], timestamp: int) -> None:
    """Move the local chain's clock (the test harness, not a participant), and make the app
    read it again."""
    api["chain"].warp_to(timestamp)
    api["app"].state.gateway.forget_clock()


def register_zones_and_assets(
    scenario: dict[str, Any], people: dict[str, HttpClient], key: bytes
) -> dict[str, bytes]:
    """Over HTTP: the DSO (`people["DSO1"]`) registers the scenario's zones, each asset's
    manager registers it (its id keyed by `key`), the DSO pre-qualifies it. The asset ids."""
    dso = people["DSO1"]
    for zone in scenario["zones"]:
        dso.register_zone(zone["id"], int(zone["limit_w"]))
    ids = {a["id"]: asset_id(a["id"], key) for a in scenario["assets"]}
    for a in scenario["assets"]:
        people[a["manager"]].register_asset(
            ids[a["id"]], a["type"], int(a["p_max_w"]), int(a["p_min_w"]), a["zone"]
        )
        dso.prequalify(ids[a["id"]])
    return ids


def serve(port: int, cwd: Path, *args: str) -> subprocess.Popen[str]:
    """`flexmarket serve --port PORT ARGS` in its own process, no FLEXMARKET_API_* variable
    of this one's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXMARKET_API_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        [sys.executable, "-m", "flexmarket", "serve", "--port", str(port), *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_until_serving(server: subprocess.Popen[str], url: str) -> dict[str, Any]:
    """`GET /health` once `serve` answers (anvil started, contracts deployed, uvicorn
    listening), within 180 s, the server still running."""
    deadline = time.monotonic() + 180
    while True:
        assert server.poll() is None, server.communicate()
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return dict(json.loads(answer.read()))
        except OSError:
            assert time.monotonic() < deadline, "serve did not answer within 180 s"
            time.sleep(0.5)


def stop(server: subprocess.Popen[str]) -> None:
    """SIGTERM, then kill after 30 s."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
