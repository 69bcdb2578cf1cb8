"""The OpenAPI document is complete (issue 20 item 8): every operation declares the error
codes it can answer (not one list for all; no 501), every request body has an example that
its model accepts, every property of every schema has a description, the event stream is
`text/event-stream`; and `GET /health` answers 200 on a running app, 503 once its chain
node is gone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from api import schemas
from api.config import Settings
from api.main import create_app
from python_client.chain import Wallet, connect, deploy
from python_client.localchain import start_chain
from tests.api.conftest import participant

DOC = create_app().openapi()  # the document only: no chain is started
OPERATIONS = [
    (method.upper(), path, op)
    for path, ops in DOC["paths"].items()
    for method, op in ops.items()
]  # fmt: skip


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    return DOC["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def _properties(schema: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of `schema` and of the schemas nested in it (inline ones included)."""
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            yield f"{where}.{name}", prop
        for key, value in schema.items():
            if key != "examples":
                yield from _properties(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            yield from _properties(item, f"{where}[{i}]")


def test_every_operation_declares_its_own_error_codes() -> None:
    assert len(OPERATIONS) >= 36
    seen = set()
    for method, path, op in OPERATIONS:
        codes = {int(c) for c in op["responses"]}
        errors = {c for c in codes if c >= 400}
        assert 501 not in codes and 500 not in codes and 400 not in codes, (method, path)
        assert 429 in errors, (method, path)  # the per-IP limit is everywhere
        if op.get("security"):
            assert 401 in errors, (method, path)
        if "requestBody" in op:
            assert {413, 422} <= errors, (method, path)
        for code, response in op["responses"].items():
            assert response.get("description"), (method, path, code)
            if int(code) >= 400:
                assert "application/problem+json" in response["content"], (method, path, code)
        seen.add(frozenset(errors))
    assert len(seen) >= 8  # routes differ: not the same list everywhere


def test_every_request_body_has_an_example_its_model_accepts() -> None:
    bodies = 0
    for method, path, op in OPERATIONS:
        if "requestBody" not in op:
            continue
        schema = _resolve(op["requestBody"]["content"]["application/json"]["schema"])
        assert schema.get("examples"), f"{method} {path}: no example"
        model = getattr(schemas, schema["title"])
        for example in schema["examples"]:
            model.model_validate(example)  # strict: the example is a valid body
        bodies += 1
    assert bodies >= 20


def test_every_schema_property_has_a_description_with_units() -> None:
    missing = [
        where
        for name, schema in DOC["components"]["schemas"].items()
        for where, prop in _properties(schema, name)
        if not prop.get("description")
    ]
    for method, path, op in OPERATIONS:
        for code, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                for where, prop in _properties(content.get("schema", {}), f"{path} {code}"):
                    if not prop.get("description"):
                        missing.append(f"{method} {where} ({media})")
    assert missing == []
    props = {
        name: prop["description"]
        for schema in DOC["components"]["schemas"].values()
        for name, prop in schema.get("properties", {}).items()
    }  # fmt: skip
    assert "W" in props["quantity_w"] and "watts" in props["quantity_w"].lower()
    assert "EUR per MW" in props["price_eur_per_mw"]
    for name, text in props.items():  # every amount says its unit
        if name.endswith("_ueur"):
            assert "µEUR" in text, name
        if name.endswith("_eur_per_mw"):
            assert "EUR per MW" in text, name


def test_the_event_stream_is_declared_as_text_event_stream() -> None:
    ok = DOC["paths"]["/events"]["get"]["responses"]["200"]
    assert list(ok["content"]) == ["text/event-stream"]


def test_health_is_declared_without_sign_in() -> None:
    op = DOC["paths"]["/health"]["get"]
    assert not op.get("security")
    assert {"200", "503"} <= set(op["responses"])


def test_health_answers_200_with_head_and_follower_lag(api: dict[str, Any]) -> None:
    reply = api["client"].get("/health")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "ok" and body["store"] == "ok"
    assert body["chain_id"] == api["w3"].eth.chain_id
    assert body["head_block"] >= body["followed_block"] >= 0
    assert body["follower_lag_blocks"] == body["head_block"] - body["followed_block"]


def test_health_answers_503_naming_the_chain_once_the_node_is_gone(tmp_path: Path) -> None:
    chain = start_chain("anvil")
    try:
        keys = chain.dev_private_keys
        w3 = connect(chain.url)
        dep_file = tmp_path / "deployment.json"
        dep_file.write_text(json.dumps(deploy(w3, Wallet(w3, keys[0])).to_json()))
        settings = Settings(
            rpc_url=chain.url, deployment_file=str(dep_file), relayer_key=SecretStr(keys[9]),
            db_url=f"sqlite:///{tmp_path}/api.sqlite3",
        )  # fmt: skip
        with TestClient(create_app(settings)) as client:
            assert client.get("/health").status_code == 200
            chain.stop()
            reply = client.get("/health")
            assert reply.status_code == 503, reply.text
            assert reply.headers["content-type"].startswith("application/problem+json")
            body = reply.json()
            assert body["status"] == 503 and body["type"].endswith("/unhealthy")
            assert body["checks"]["chain"] != "ok" and body["checks"]["store"] == "ok"
            assert "chain:" in body["detail"]
    finally:
        chain.stop()


def test_derived_deadlines_beyond_uint40_are_422_not_a_crash(api: dict[str, Any]) -> None:
    """Found by the schemathesis run from the SessionCreate example: a given
    attestation_deadline of 2^40 - 1 derived a delivery_deadline of 2^40 (a 500)."""
    admin = participant(api, 0)
    admin.sign_in()
    admin.grant_role(admin.address, "ORACLE")
    body = dict(schemas.SessionCreate.EXAMPLE or {}, attestation_deadline=2**40 - 1)
    reply = api["client"].post(
        "/sessions", json=body, headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"][0]["field"] == "delivery_deadline"
