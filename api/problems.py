"""RFC 9457 problem details: every error the API answers is `application/problem+json`
with `type`, `title`, `status`, `detail` and, for input errors, the `errors` list naming
each field and its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

if TYPE_CHECKING:
    from python_client.errors import TransactionReverted

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://flexmarket.example/problems/"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    501: "Not implemented",
    502: "Bad gateway",
    503: "Service unavailable",
}


class Problem(Exception):
    """An error answered as problem details. `kind` becomes the `type` URI's last part."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        field: str | None = None,
        reason: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.field = field
        self.reason = reason
        self.headers = headers
        self.extra = extra or {}

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.kind,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.field is not None:
            body["errors"] = [{"field": self.field, "reason": self.reason or self.detail}]
        body.update(self.extra)
        return body


def reverted_problem(exc: TransactionReverted) -> Problem:
    """A contract's refusal: 409 `chain-refused` naming its custom error and arguments."""
    args = [a.hex() if isinstance(a, bytes) else a for a in exc.args_]
    return Problem(
        409,
        "chain-refused",
        f"the contract refused the call: {exc.error}",
        extra={"error": exc.error, "error_args": [str(a) for a in args]},
    )


def problem_response(problem: Problem, instance: str) -> JSONResponse:
    return JSONResponse(
        problem.body(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Answer every error as problem details (validation, HTTP errors, our Problems)."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _loc(e["loc"]), "reason": str(e["msg"])} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        problem = Problem(
            422,
            "invalid-input",
            f"{first['field']}: {first['reason']}",
            extra={"errors": errors},
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
        problem = Problem(
            exc.status_code, kind, str(exc.detail), headers=dict(exc.headers or {}) or None
        )
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        problem = Problem(500, "internal", f"internal error: {type(exc).__name__}")
        return problem_response(problem, request.url.path)


# OpenAPI: the problem body every error response carries.
PROBLEM_CONTENT: dict[str, Any] = {
    PROBLEM_JSON: {
        "schema": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": f"URI naming the kind of problem ({TYPE_BASE}<kind>)",
                },
                "title": {"type": "string", "description": "the status code's name"},
                "status": {"type": "integer", "description": "the HTTP status code"},
                "detail": {"type": "string", "description": "what went wrong, for a person"},
                "instance": {"type": "string", "description": "the request's path"},
                "errors": {
                    "type": "array",
                    "description": "input errors: one per field, with its reason",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {
                                "type": "string",
                                "description": "the field, dotted "
                                "(`awards.0.quantity_w`; `body` for the whole body)",
                            },
                            "reason": {"type": "string", "description": "why it is refused"},
                        },
                    },
                },
            },
        }
    }
}
# What each status means in this API (its OpenAPI description): a route declares the ones
# it can answer with `errors(...)`; no route answers 400, 405 is FastAPI's own, 500 a bug.
MEANINGS = {
    401: "no bearer token, or one that is invalid or expired (sign in: POST /auth/token)",
    403: "signed in without the role this needs, or acting on what is someone else's",
    404: "the session, need, bid, asset or transaction does not exist",
    409: "the chain refuses it now (contract error named in `error`), or a nonce or "
    "intent already used",
    413: "request body larger than max_body_bytes",
    415: "the body is not application/json",
    422: "invalid input: every field refused is named in `errors`",
    429: "rate limited (per IP, per token) or too many event streams: see Retry-After",
    502: "the chain node or the relayer failed",
    503: "not ready: the chain node or the store does not answer",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of these error codes (problem details, each described)."""
    return {c: {"description": MEANINGS[c], "content": PROBLEM_CONTENT} for c in codes}


# Every route: the per-IP rate limit. A route for a signed-in caller: its token too, and
# its path and query parameters (422). A route with a body adds 413 and its own codes.
PUBLIC = errors(429)
SIGNED_IN = errors(401, 422, 429)
