"""The participant API: `create_app(settings)`; `serve(argv)` runs it (`flexmarket serve`).

With no `rpc_url` it starts anvil and deploys the contracts (like `flexmarket demo`), and
its relayer is a development key of that chain; with an RPC URL it reads the deployment
file and needs `FLEXMARKET_API_RELAYER_KEY`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import Authenticator, StreamCaps, TokenBuckets
from api.config import Settings, default_db_url
from api.deps import PARSED_JSON, strict_json
from api.gateway import Gateway
from api.problems import Problem, problem_response
from api.routes import (
    assets,
    attestations,
    audit,
    auth,
    batches,
    bids,
    coordination,
    events,
    grid,
    health,
    metering,
    needs,
    participants,
    results,
    sessions,
    settlements,
    transactions,
)
from api.routes import uftp as uftp_routes
from api.store import Store
from verifier.errors import InputError

RELAYER_DEV_INDEX = 9  # the last development account pays relayed gas on a local chain


def _lean(w3: Any) -> Any:
    """Drop web3's per-call validation (an `eth_chainId` round trip before every call and
    transaction: the chain id is fixed and put in every transaction we build) and ENS
    name resolution (no ENS here). Half the RPC calls on a bid's path."""
    for name in ("validation", "ens_name_to_address"):
        with suppress(ValueError):
            w3.middleware_onion.remove(name)
    return w3


def _connect(settings: Settings) -> tuple[Any, Any, str, Callable[[], None]]:
    """(web3, deployment, relayer key, stop) for the settings."""
    from python_client.chain import Deployment, Wallet, connect, deploy

    if settings.rpc_url is None:
        from python_client.localchain import STEADY_CLOCK, start_chain

        # a steady clock: a block every second as well as one per transaction (deadlines
        # pass in real time, as on a real chain; the demo moves its chain with no-ops)
        chain = start_chain("anvil", extra_args=STEADY_CLOCK)
        w3 = connect(chain.url)
        keys = chain.dev_private_keys
        deployment = deploy(w3, Wallet(w3, keys[0]))
        return _lean(w3), deployment, keys[RELAYER_DEV_INDEX], chain.stop
    w3 = _lean(connect(settings.rpc_url))
    if settings.deployment_file is None:
        path = Path("deployments") / f"{int(w3.eth.chain_id)}.json"
    else:
        path = Path(settings.deployment_file)
    if settings.relayer_key is None:
        raise SystemExit("FLEXMARKET_API_RELAYER_KEY is required with --rpc")
    return w3, Deployment.load(path), settings.relayer_key.get_secret_value(), lambda: None


def create_app(settings: Settings | None = None, gateway: Gateway | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop: Callable[[], None] = lambda: None  # noqa: E731
        gw = gateway
        if gw is None:
            w3, deployment, relayer_key, stop = _connect(settings)
            local = settings.rpc_url is None
            url = settings.db_url or default_db_url(
                deployment.chain_id, deployment.market, local, settings.port
            )
            store = Store(url, fresh=local and settings.db_url is None)
            gw = Gateway(settings, w3, deployment, relayer_key, store)
        gw.start()
        app.state.settings = settings
        app.state.gateway = gw
        app.state.auth = Authenticator(settings, gw.store, gw.chain_id)
        app.state.token_buckets = TokenBuckets(
            settings.rate_per_token_per_s, settings.burst_per_token
        )
        app.state.ip_buckets = TokenBuckets(settings.rate_per_ip_per_s, settings.burst_per_ip)
        app.state.stream_caps = StreamCaps(
            settings.max_streams_per_token, settings.max_streams_per_ip
        )
        try:
            yield
        finally:
            gw.stop()
            stop()

    app = FastAPI(
        title="flexmarket participant API",
        version="0.1.0",
        description=(
            "Sign in with Ethereum, then act on the market. Bids are relayed from EIP-712 "
            "messages you sign; other writes are transactions the API prepares and you sign. "
            "Errors are RFC 9457 problem details."
        ),
        lifespan=lifespan,
    )
    problems.install(app)
    app.include_router(uftp_routes.router)  # UFTP, issue 18 (docs/uftp.md)

    app.add_middleware(BodyGuard)
    app.add_middleware(PerIpLimit)  # outermost: a request over its rate is not read
    for module in (
        auth, participants, assets, sessions, needs, coordination, bids, batches, results,
        attestations,
        metering, settlements, audit, transactions, events, grid,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(participants.public)
    app.include_router(health.router)
    # The hot route first: a request walks the route list until one matches.
    hot = [r for r in app.router.routes if getattr(r, "endpoint", None) is bids.commit_bid]
    app.router.routes[:] = hot + [r for r in app.router.routes if r not in hot]
    return app


class PerIpLimit:
    """Token bucket per client IP (429 beyond), as plain ASGI: starlette's
    `BaseHTTPMiddleware` costs a task and a body stream per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            buckets: TokenBuckets | None = getattr(scope["app"].state, "ip_buckets", None)
            client = scope.get("client")
            ip = client[0] if client else "unknown"
            wait = buckets.take(ip) if buckets is not None else 0.0
            if wait:
                problem = Problem(
                    429, "rate-limited", f"too many requests from {ip}",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )  # fmt: skip
                await problem_response(problem, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyGuard:
    """Every request body, before any route sees it: at most `max_body_bytes` (413; a
    Content-Length above it is refused before anything is read, a chunked body as soon as
    it passes it: never more than the limit in memory), and a JSON body must be strict
    JSON (`oracle.jsonio`: a key given twice is a 422 naming it, whichever route it is
    for). The parsed body is left in the scope for the hot route; the bytes are handed on
    unchanged (FastAPI parses them again for its own routes)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings: Settings | None = getattr(scope["app"].state, "settings", None)
        settings = settings if settings is not None else Settings()
        limit = settings.max_body_bytes
        if "/batches" in scope["path"]:  # batched bids: a request carries up to 1,000 bids
            limit = max(limit, settings.max_batch_body_bytes)
        length = None
        media = ""
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value.split(b";")[0].strip().lower().decode("latin-1")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._too_large(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                first = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._too_large(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and (not media or media == "application/json" or media.endswith("+json")):
            try:
                scope[PARSED_JSON] = strict_json(body)
            except Problem as problem:
                await problem_response(problem, scope["path"])(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if first is not None:
                    return first
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)

    @staticmethod
    async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        problem = Problem(
            413, "body-too-large", f"body: larger than {limit} bytes", field="body",
            reason=f"at most {limit} bytes", headers={"Connection": "close"},
        )  # fmt: skip
        await problem_response(problem, scope["path"])(scope, receive, send)


def _preflight(settings: Settings) -> None:
    """What keeps `serve` from starting with these settings, checked before it claims to
    listen: the relayer key, a node that answers at --rpc, the deployment file
    (InputError naming the argument)."""
    if settings.rpc_url is None:
        return
    from python_client.localchain import rpc_call

    url = settings.rpc_url
    if not url.startswith(("http://", "https://")):
        raise InputError("--rpc", f"{url!r} is not an http(s):// JSON-RPC URL")
    if settings.relayer_key is None:
        raise InputError("--rpc", "FLEXMARKET_API_RELAYER_KEY is required (the key that pays "
                         "the gas of relayed bids; without --rpc a development key of the "
                         "local chain is used)")  # fmt: skip
    try:
        chain_id = int(rpc_call(url, "eth_chainId", timeout_s=5.0), 16)
    except Exception as exc:  # noqa: BLE001 - any failure: the node is not usable
        raise InputError("--rpc", f"{url}: no JSON-RPC node answers ({type(exc).__name__}: "
                         f"{exc})") from exc  # fmt: skip
    path = Path(settings.deployment_file or Path("deployments") / f"{chain_id}.json")
    if not path.is_file():
        raise InputError("--deployment", f"{str(path)!r} does not exist (the deployment of "
                         f"chain {chain_id}: give --deployment FILE)")  # fmt: skip


def serve_settings(*, rpc: str | None = None, db: str | None = None, port: int = 8000,
                   host: str = "127.0.0.1", deployment: str | None = None) -> Settings:
    """The settings `flexmarket serve` runs with (the arguments over FLEXMARKET_API_*),
    checked: unusable settings (a FLEXMARKET_API_* variable, the node, the deployment, the
    key, a local store in use) are an InputError naming the argument or variable, raised
    before anything is served. A fresh local store is claimed here, held until exit."""
    from pydantic import ValidationError

    overrides: dict[str, Any] = {"port": port, "host": host}
    if rpc:
        overrides["rpc_url"] = rpc
    if db:
        overrides["db_url"] = db
    if deployment:
        overrides["deployment_file"] = deployment
    try:
        base = Settings()
    except ValidationError as exc:  # a FLEXMARKET_API_* variable that is not usable
        first = exc.errors()[0]
        name = "FLEXMARKET_API_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise InputError(name, first["msg"]) from None
    if "domain" not in base.model_fields_set:
        overrides["domain"] = f"{host}:{port}"
        overrides["uri"] = f"http://{host}:{port}"
    settings = base.model_copy(update=overrides)
    _preflight(settings)
    if settings.rpc_url is None and settings.db_url is None:
        # the fresh local store: claimed now (held until exit), before anything is emptied
        from api.store import StoreInUse, claim

        try:
            claim(default_db_url(0, "", True, settings.port).removeprefix("sqlite:///"))
        except StoreInUse as exc:
            raise InputError("--port", str(exc)) from exc
    return settings


def run(settings: Settings) -> None:
    """Serve the app on `settings.host:port` until stopped (uvicorn, its warnings only)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="warning")  # fmt: skip
