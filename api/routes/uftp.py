"""UFTP (Shapeshifter 3): the message endpoint at the path the protocol's DNS discovery names
(`/shapeshifter/api/v3/message`), and the JSON routes a UFTP participant's wallet uses:
register its UFTP identity, read what its accepted messages ask it to sign and what the
market sends it; the admin's delivery to participants' own endpoints (docs/uftp.md).

These routes are not in the OpenAPI document: the message endpoint speaks UFTP's XML and
HTTP codes (400, 401, 419; functional answers are UFTP responses), not the JSON API's."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import TokenDep, request_json
from api.problems import Problem
from api.schemas import Strict
from api.uftp import uftp_of

router = APIRouter(tags=["uftp"], include_in_schema=False)
XML = "text/xml; charset=utf-8"


class UftpParticipantCreate(Strict):
    """A UFTP identity bound to the signed-in wallet."""

    domain: Annotated[str, Field(max_length=253)]
    role: Annotated[str, Field(max_length=3)]  # DSO or AGR
    public_key: Annotated[str, Field(max_length=100)]  # base64, 32-byte Ed25519 key
    proof: Annotated[str, Field(max_length=200)]  # base64 Ed25519 signature
    budget_ueur: Annotated[int, Field(ge=0, lt=2**96)] = 0  # a DSO's budget per need
    endpoint: Annotated[str, Field(max_length=500)] | None = None  # its own UFTP endpoint


@router.post("/shapeshifter/api/v3/message")
async def receive_message(request: Request) -> Response:
    """A SignedMessage (text/xml). 200 with the signed UFTP response (accepted or rejected
    with its reason); 400 not UFTP, 401 a signature that does not verify, 419 an unknown
    sender; nothing reaches the chain on any of them."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("text/xml", "application/xml"):
        return Response(status_code=400, content=b"Content-Type: text/xml required")
    body = await request.body()
    uftp = uftp_of(request.app.state)
    answer = await run_in_threadpool(uftp.receive, body)
    return Response(status_code=answer.status, content=answer.body,
                    media_type=XML if answer.body else None,
                    headers={"X-UFTP-Result": answer.result})  # fmt: skip


@router.get("/uftp/identity")
async def identity(request: Request) -> dict[str, str]:
    """The market's UFTP domain and public signing key (base64): what participants configure
    instead of a DNS lookup."""
    uftp = uftp_of(request.app.state)
    return {"domain": uftp.domain, "public_key": uftp.public_key, "path":
            "/shapeshifter/api/v3/message"}  # fmt: skip


@router.post("/uftp/participants", status_code=201)
async def register(request: Request, token: TokenDep) -> dict[str, Any]:
    """Bind a UFTP domain, role and key to the signed-in wallet (`proof`: the key's
    signature of `api.uftp.registration_text`)."""
    raw = request_json(request, await request.body())
    try:
        body = UftpParticipantCreate.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise Problem(422, "invalid-input", f"{field}: {first['msg']}", field=field,
                      reason=first["msg"]) from None  # fmt: skip
    uftp = uftp_of(request.app.state)
    await run_in_threadpool(
        uftp.register, token.address, body.domain, body.role, body.public_key, body.proof,
        body.budget_ueur, body.endpoint,
    )  # fmt: skip
    return {"domain": body.domain, "role": body.role, "wallet": token.address}


@router.get("/uftp/actions")
async def actions(request: Request, token: TokenDep) -> list[dict[str, Any]]:
    """What the caller's accepted UFTP messages ask its wallet to sign: a FlexRequest's
    prepared `postNeed` (sign, POST /transactions), a FlexOffer's bid fields (commit with
    POST /sessions/{id}/bids, reveal after gate closure)."""
    uftp = uftp_of(request.app.state)
    return await run_in_threadpool(uftp.actions, token.address)


@router.get("/uftp/messages")
async def messages(request: Request, token: TokenDep) -> list[str]:
    """The market's messages to the caller's UFTP identities (signed SignedMessage XML):
    its responses, oldest first, then a FlexOrder per UFTP bid awarded in a committed
    result."""
    uftp = uftp_of(request.app.state)
    return await run_in_threadpool(uftp.messages, token.address)


@router.post("/uftp/deliveries")
async def deliver(request: Request, token: TokenDep) -> dict[str, int]:
    """The admin: post every message not yet delivered to its recipient's own endpoint (a
    cron's call; failures are tried again on the next)."""
    uftp = uftp_of(request.app.state)
    await run_in_threadpool(uftp.gateway.require_role, token.address, "ADMIN")
    return await run_in_threadpool(uftp.deliver)
