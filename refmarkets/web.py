"""What every reference platform's HTTP API shares: its error body, the members' and the
operator's keys (from the environment, never the command line), and its command's frame.

Errors are `{"status", "title", "detail", "errors": [{"field", "reason"}]}`: 422 naming the
field, 401 without a key, 403 with a wrong one, 404, 409 out of phase; never a 5xx for bad
input.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

MEMBERS_ENV = "REFMARKETS_MEMBERS"  # name=key[,name=key...]
OPERATOR_ENV = "REFMARKETS_OPERATOR_KEY"
PRICE_LIMIT_CT = 10**9

TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 422: "Unprocessable content"}


class PlatformProblem(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _body(status: int, detail: str, errors: list[dict[str, str]] | None = None
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "title": TITLES.get(status, "Error"),
                           "detail": detail}
    if errors:
        out["errors"] = errors
    return out


def install_errors(app: FastAPI) -> None:
    """Answer every error with the platform's error body."""

    @app.exception_handler(PlatformProblem)
    async def _problem(request: Request, exc: PlatformProblem) -> JSONResponse:
        errors = [{"field": exc.field, "reason": exc.detail}] if exc.field else None
        return JSONResponse(_body(exc.status, exc.detail, errors), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                   "reason": str(e["msg"])} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return JSONResponse(_body(422, f"{first['field']}: {first['reason']}", errors),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body(exc.status_code, str(exc.detail)),
                            status_code=exc.status_code)


def _key(authorization: str | None) -> str:
    return (authorization or "").removeprefix("Bearer ").strip()


def member_of(members: dict[str, str], authorization: str | None) -> str:
    """The member holding the bearer key (401 without one, 403 for a key nobody holds)."""
    key = _key(authorization)
    if not key:
        raise PlatformProblem(401, "a member key is needed (Authorization: Bearer KEY)",
                              "Authorization")
    for name, expected in sorted(members.items()):
        if hmac.compare_digest(key.encode(), expected.encode()):
            return name
    raise PlatformProblem(403, "no member holds this key", "Authorization")


def check_operator(operator_key: str, authorization: str | None) -> None:
    key = _key(authorization)
    if not key:
        raise PlatformProblem(401, "the operator key is needed", "Authorization")
    if not hmac.compare_digest(key.encode(), operator_key.encode()):
        raise PlatformProblem(403, "not the operator key", "Authorization")


def parse_members(text: str) -> dict[str, str]:
    """`name=key,name=key` as a dict; ValueError naming the entry."""
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, key = entry.partition("=")
        if not sep or not name or not key:
            raise ValueError(f"{MEMBERS_ENV}: {name or entry!r} needs name=key")
        out[name] = key
    return out


def platform_parser(prog: str, description: str, *, delivery_start: str, floor: int,
                    cap: int) -> argparse.ArgumentParser:
    """The arguments every platform's command takes: where it listens, its delivery start,
    its price floor and cap, the seed of its background."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delivery-start", default=delivery_start)
    p.add_argument("--floor", type=int, default=floor)
    p.add_argument("--cap", type=int, default=cap)
    p.add_argument("--seed", type=int, default=1)
    return p


def common_arguments(args: argparse.Namespace) -> datetime:
    """The delivery start of a platform's arguments, floor and cap checked; ValueError
    naming the argument."""
    try:
        start = datetime.fromisoformat(args.delivery_start)
    except ValueError:
        raise ValueError(f"--delivery-start: {args.delivery_start!r} is not an ISO "
                         "date-time") from None
    if start.tzinfo is None:
        raise ValueError("--delivery-start: give the offset (e.g. +02:00)")
    if not -PRICE_LIMIT_CT <= args.floor <= args.cap <= PRICE_LIMIT_CT:
        raise ValueError(f"--floor/--cap: need -10^9 <= floor <= cap <= 10^9, got "
                         f"{args.floor}, {args.cap}")
    return start


def fail(message: str) -> int:
    """A bad argument: one line naming it, exit 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def keys_from_env() -> tuple[dict[str, str], str]:
    """(members, operator key) from the environment; ValueError naming the variable."""
    members = parse_members(os.environ.get(MEMBERS_ENV, ""))
    operator_key = os.environ.get(OPERATOR_ENV, "")
    if not operator_key:
        raise ValueError(f"{OPERATOR_ENV}: the operator's key is needed")
    return members, operator_key


def serve(make_app: Callable[[], FastAPI], host: str, port: int) -> int:
    import uvicorn

    uvicorn.run(make_app(), host=host, port=port, log_level="warning")
    return 0
