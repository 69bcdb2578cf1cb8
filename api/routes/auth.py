"""Sign-in with Ethereum: a nonce, then a signed EIP-4361 message for a bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AuthDep, GatewayDep, SettingsDep
from api.problems import PUBLIC, errors
from api.schemas import NoncePublic, SignInCreate, TokenPublic

router = APIRouter(prefix="/auth", tags=["auth"], responses=PUBLIC)

STATEMENT = "Sign in to the flexmarket participant API."


@router.post("/nonce", response_model=NoncePublic)
def new_nonce(settings: SettingsDep, auth: AuthDep) -> NoncePublic:
    """A single-use nonce for the next sign-in message (valid `nonce_ttl_s`)."""
    nonce, expires_at = auth.issue_nonce()
    return NoncePublic(
        nonce=nonce, domain=settings.domain, uri=settings.uri, chain_id=auth.chain_id,
        expires_at=expires_at, statement=STATEMENT,
    )  # fmt: skip


@router.post("/token", response_model=TokenPublic, responses=errors(401, 413, 422))
def sign_in(body: SignInCreate, auth: AuthDep, gateway: GatewayDep) -> TokenPublic:
    """Exchange a signed EIP-4361 message for a short-lived bearer token (401 otherwise)."""
    token = auth.sign_in(body.message, body.signature)
    return TokenPublic(
        access_token=token.raw, expires_at=token.expires_at, address=token.address,
        roles=gateway.roles_of(token.address),
    )  # fmt: skip
