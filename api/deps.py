"""Dependencies: settings, chain gateway, store, and the signed-in caller.

All `async`: none of them blocks (app state, an HMAC, a token bucket), and FastAPI runs a
sync dependency in its thread pool, one hop per dependency per request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Authenticator, Token, TokenBuckets
from api.config import Settings
from api.gateway import Gateway
from api.problems import Problem
from oracle import jsonio

bearer = HTTPBearer(auto_error=False)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def get_auth(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


SettingsDep = Annotated[Settings, Depends(get_settings)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
AuthDep = Annotated[Authenticator, Depends(get_auth)]


async def current_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Token:
    """The caller's verified token; 401 without one, 429 beyond its rate."""
    return authenticate(request, credentials.credentials if credentials else None)


def authenticate(request: Request, raw: str | None) -> Token:
    """Verify a bearer token (`raw`: the credentials after `Bearer `; None when the header
    is missing or not a bearer one) and take one from its bucket: 401, 429."""
    if not raw:
        raise Problem(
            401, "token-missing", "Authorization: Bearer token required",
            headers={"WWW-Authenticate": 'Bearer realm="flexmarket"'},
        )  # fmt: skip
    auth: Authenticator = request.app.state.auth
    token = auth.verify_token(raw)
    buckets: TokenBuckets = request.app.state.token_buckets
    wait = buckets.take(token.address)
    if wait:
        raise Problem(
            429, "rate-limited", f"too many requests for {token.address}",
            headers={"Retry-After": str(max(1, round(wait)))},
        )  # fmt: skip
    return token


def bearer_of(request: Request) -> str | None:
    """The credentials of an `Authorization: Bearer ...` header, as HTTPBearer reads them."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials if scheme.lower() == "bearer" and credentials else None


TokenDep = Annotated[Token, Depends(current_token)]


PARSED_JSON = "flexmarket.json"  # scope key: the body as BodyGuard parsed it


def strict_json(body: bytes) -> Any:
    """A JSON body read strictly (`oracle.jsonio`): a key given twice is a 422 naming it,
    text that is not JSON a 422 naming `body`."""
    try:
        return jsonio.loads(body)
    except jsonio.DuplicateKeyError as exc:
        raise Problem(
            422, "duplicate-key", f"{exc.field}: key given twice", field=exc.field,
            reason="key given twice (JSON readers disagree on which one counts)",
        ) from exc  # fmt: skip
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise Problem(
            422, "invalid-json", f"body: not JSON ({str(exc)[:100]})", field="body",
            reason="JSON decode error",
        ) from exc  # fmt: skip


def request_json(request: Request, body: bytes) -> Any:
    """The request's JSON body: as BodyGuard already parsed it, else parsed here."""
    parsed = request.scope.get(PARSED_JSON, PARSED_JSON)
    return strict_json(body) if parsed is PARSED_JSON else parsed
