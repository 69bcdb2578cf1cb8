"""A real anvil with the contracts deployed, and the API app on it (TestClient, httpx)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.config import Settings
from api.main import create_app
from python_client.chain import Wallet, connect, deploy
from python_client.http import HttpClient
from python_client.localchain import LocalChain, start_chain


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
    settings = Settings(
        rpc_url=chain.url, deployment_file=str(dep_file), relayer_key=SecretStr(keys[9]),
        db_url=f"sqlite:///{tmp}/api.sqlite3", domain="testserver", uri="http://testserver",
        role_cache_s=0.0,
    )  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        yield {"client": client, "keys": keys, "chain": chain, "w3": w3, "settings": settings,
               "app": app}  # fmt: skip


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
