"""The reference day-ahead exchange: its own process, its own HTTP API.

    python -m refmarkets.exchange --port 8701 --seed 1 --delivery-start 2026-05-26T00:00:00+02:00

It plays an energy exchange flexmarket does not own: members send step orders for one
auction until gate closure, the operator closes it, the exchange clears every MTU
(`refmarkets.clearing`) and publishes the prices and the aggregated curves of every order
(the background ones, `refmarkets.background`, and the members'); each member reads its
own trades. flexmarket reaches it only through `nodes.wholesale.adapter`, as it would a
real exchange's API.

The API (JSON; errors `{"status", "title", "detail", "errors": [{"field", "reason"}]}`,
422 naming the field, 401/403 for a missing or wrong key, 404, 409 out of phase; never a
5xx for bad input):

- `GET /health`;
- `GET /auctions/{id}`: the auction's parameters and status (`open`, `closed`);
- `POST /auctions/{id}/orders` (member key): a batch of orders, all or nothing; an order
  id is the member's and never reused; nothing is changed or withdrawn once sent, and
  nothing is taken after gate closure;
- `GET /auctions/{id}/orders` (member key): the member's orders as the exchange holds them;
- `POST /auctions/{id}/close` (operator key): gate closure, then the clearing;
- `GET /auctions/{id}/results`: prices and curves per MTU (after the clearing);
- `GET /auctions/{id}/trades` (member key): the member's orders with `accepted_w` and
  `payment_ueur` (sells are paid it, buys pay it: `oracle.wholesale.payment_ueur`).

Keys come from the environment, never the command line (which `ps` shows):
`REFEXCHANGE_MEMBERS` = `name=key[,name=key...]`, `REFEXCHANGE_OPERATOR_KEY`.
"""

from __future__ import annotations

import argparse
import hmac
import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from oracle.wholesale import payment_ueur
from refmarkets.background import BackgroundError, BackgroundOrder, generate, load
from refmarkets.clearing import MtuClearing, StepOrder, clear_mtu

PRICE_LIMIT_CT = 10**9
MAX_ORDERS_PER_BATCH = 200_000
MAX_ORDERS_PER_MEMBER = 1_000_000


class ExchangeProblem(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field = status, detail, field


TITLES = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 422: "Unprocessable content"}


def _body(status: int, detail: str, errors: list[dict[str, str]] | None = None
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status, "title": TITLES.get(status, "Error"),
                           "detail": detail}
    if errors:
        out["errors"] = errors
    return out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OrderIn(_Strict):
    client_order_id: Annotated[str, Field(min_length=1, max_length=200)]
    side: Literal["sell", "buy"]
    mtu: Annotated[int, Field(ge=0)]
    quantity_w: Annotated[int, Field(ge=1, le=10**15)]
    limit_ct_per_mwh: Annotated[int, Field(ge=-PRICE_LIMIT_CT, le=PRICE_LIMIT_CT)]


class OrderBatch(_Strict):
    orders: Annotated[list[OrderIn], Field(min_length=1, max_length=MAX_ORDERS_PER_BATCH)]


@dataclass(frozen=True)
class AuctionConfig:
    auction_id: str
    exchange: str
    delivery_start: datetime
    mtus: int
    mtu_minutes: int
    floor_ct_per_mwh: int
    cap_ct_per_mwh: int


@dataclass
class _State:
    config: AuctionConfig
    background: list[BackgroundOrder]
    members: dict[str, str]  # name -> key
    operator_key: str
    orders: dict[str, list[OrderIn]] = field(default_factory=dict)  # member -> arrival order
    cleared: list[MtuClearing] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _member(state: _State, authorization: str | None) -> str:
    key = (authorization or "").removeprefix("Bearer ").strip()
    if not key:
        raise ExchangeProblem(401, "a member key is needed (Authorization: Bearer KEY)",
                              "Authorization")
    for name, expected in sorted(state.members.items()):
        if hmac.compare_digest(key.encode(), expected.encode()):
            return name
    raise ExchangeProblem(403, "no member holds this key", "Authorization")


def _operator(state: _State, authorization: str | None) -> None:
    key = (authorization or "").removeprefix("Bearer ").strip()
    if not key:
        raise ExchangeProblem(401, "the operator key is needed", "Authorization")
    if not hmac.compare_digest(key.encode(), state.operator_key.encode()):
        raise ExchangeProblem(403, "not the operator key", "Authorization")


def _clear(state: _State) -> list[MtuClearing]:
    c = state.config
    per_mtu: list[list[StepOrder]] = [[] for _ in range(c.mtus)]
    for b in state.background:
        per_mtu[b.mtu].append(StepOrder(b.id, b.side, b.quantity_w, b.limit_ct_per_mwh))
    for member in sorted(state.orders):
        for o in state.orders[member]:
            per_mtu[o.mtu].append(StepOrder(f"{member}/{o.client_order_id}", o.side,
                                            o.quantity_w, o.limit_ct_per_mwh))
    return [clear_mtu(orders, c.floor_ct_per_mwh, c.cap_ct_per_mwh) for orders in per_mtu]


def create_app(config: AuctionConfig, background: list[BackgroundOrder],
               members: dict[str, str], operator_key: str) -> FastAPI:
    """The exchange of one auction (its state in memory, as long as the process runs)."""
    state = _State(config, background, dict(members), operator_key)
    app = FastAPI(title=f"{config.exchange} (reference day-ahead exchange)")

    @app.exception_handler(ExchangeProblem)
    async def _problem(request: Request, exc: ExchangeProblem) -> JSONResponse:
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

    def auction(auction_id: str) -> AuctionConfig:
        if auction_id != config.auction_id:
            raise ExchangeProblem(404, f"no auction {auction_id!r}", "auction_id")
        return config

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "exchange": config.exchange}

    @app.get("/auctions/{auction_id}")
    def get_auction(auction_id: str) -> dict[str, Any]:
        c = auction(auction_id)
        return {"auction_id": c.auction_id, "exchange": c.exchange, "auction": "day-ahead",
                "delivery_start": c.delivery_start.isoformat(), "mtus": c.mtus,
                "mtu_minutes": c.mtu_minutes, "price_floor_ct_per_mwh": c.floor_ct_per_mwh,
                "price_cap_ct_per_mwh": c.cap_ct_per_mwh,
                "status": "open" if state.cleared is None else "closed"}

    @app.post("/auctions/{auction_id}/orders", status_code=201)
    def post_orders(auction_id: str, batch: OrderBatch,
                    authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        c = auction(auction_id)
        member = _member(state, authorization)
        with state.lock:
            if state.cleared is not None:
                raise ExchangeProblem(409, f"auction {auction_id} is closed: no order is "
                                      "taken after gate closure")
            held = state.orders.setdefault(member, [])
            ids = {o.client_order_id for o in held}
            if len(held) + len(batch.orders) > MAX_ORDERS_PER_MEMBER:
                raise ExchangeProblem(422, f"a member may hold {MAX_ORDERS_PER_MEMBER} orders",
                                      "orders")
            for k, o in enumerate(batch.orders):
                if o.mtu >= c.mtus:
                    raise ExchangeProblem(422, f"{o.mtu} is not an MTU of the auction (0 to "
                                          f"{c.mtus - 1})", f"orders.{k}.mtu")
                if not c.floor_ct_per_mwh <= o.limit_ct_per_mwh <= c.cap_ct_per_mwh:
                    raise ExchangeProblem(422, f"{o.limit_ct_per_mwh} is outside the floor "
                                          f"{c.floor_ct_per_mwh} and the cap "
                                          f"{c.cap_ct_per_mwh}", f"orders.{k}.limit_ct_per_mwh")
                if o.client_order_id in ids:
                    raise ExchangeProblem(409, f"order {o.client_order_id!r} was already sent: "
                                          "an order is never changed",
                                          f"orders.{k}.client_order_id")
                ids.add(o.client_order_id)
            held.extend(batch.orders)
        return {"auction_id": auction_id, "member": member, "received": len(batch.orders),
                "held": len(held)}

    @app.get("/auctions/{auction_id}/orders")
    def get_orders(auction_id: str,
                   authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        auction(auction_id)
        member = _member(state, authorization)
        return {"orders": [o.model_dump() for o in state.orders.get(member, [])]}

    @app.post("/auctions/{auction_id}/close")
    def close(auction_id: str,
              authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        auction(auction_id)
        _operator(state, authorization)
        with state.lock:
            if state.cleared is not None:
                raise ExchangeProblem(409, f"auction {auction_id} is already closed")
            state.cleared = _clear(state)
        return {"auction_id": auction_id, "status": "closed",
                "prices_ct_per_mwh": [m.price_ct_per_mwh for m in state.cleared]}

    def cleared(auction_id: str) -> list[MtuClearing]:
        auction(auction_id)
        if state.cleared is None:
            raise ExchangeProblem(409, f"auction {auction_id} is not cleared yet")
        return state.cleared

    @app.get("/auctions/{auction_id}/results")
    def results(auction_id: str) -> dict[str, Any]:
        mtus = cleared(auction_id)
        return {"auction_id": auction_id,
                "prices_ct_per_mwh": [m.price_ct_per_mwh for m in mtus],
                "curves": [{"mtu": t, "supply": [list(x) for x in m.supply],
                            "demand": [list(x) for x in m.demand], "volume_w": m.volume_w,
                            "imbalance_w": m.imbalance_w} for t, m in enumerate(mtus)]}

    @app.get("/auctions/{auction_id}/trades")
    def trades(auction_id: str,
               authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        mtus = cleared(auction_id)
        member = _member(state, authorization)
        out = []
        for o in state.orders.get(member, []):
            m = mtus[o.mtu]
            accepted = m.accepted_w[f"{member}/{o.client_order_id}"]
            out.append({**o.model_dump(), "accepted_w": accepted,
                        "payment_ueur": payment_ueur(accepted, config.mtu_minutes,
                                                     m.price_ct_per_mwh)})
        return {"auction_id": auction_id, "member": member, "trades": out}

    return app


def parse_members(text: str) -> dict[str, str]:
    """`name=key,name=key` (REFEXCHANGE_MEMBERS) as a dict; ValueError naming the entry."""
    out: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, key = entry.partition("=")
        if not sep or not name or not key:
            raise ValueError(f"REFEXCHANGE_MEMBERS: {name or entry!r} needs name=key")
        out[name] = key
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m refmarkets.exchange",
                                description="Run the reference day-ahead exchange.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--exchange", default="Reference Exchange")
    p.add_argument("--auction-id", default="DA-1")
    p.add_argument("--delivery-start", default="2026-05-26T00:00:00+02:00")
    p.add_argument("--mtus", type=int, default=24)
    p.add_argument("--mtu-minutes", type=int, default=60)
    p.add_argument("--floor", type=int, default=-50_000)
    p.add_argument("--cap", type=int, default=400_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--background", help="a refmarkets.background/1 file (else from --seed)")
    args = p.parse_args(argv)

    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    try:
        start = datetime.fromisoformat(args.delivery_start)
    except ValueError:
        return fail(f"--delivery-start: {args.delivery_start!r} is not an ISO date-time")
    if start.tzinfo is None:
        return fail("--delivery-start: give the offset (e.g. +02:00)")
    if not 1 <= args.mtus <= 10_000 or not 1 <= args.mtu_minutes <= 1440:
        return fail("--mtus: 1..10000 and --mtu-minutes: 1..1440")
    if not -PRICE_LIMIT_CT <= args.floor <= args.cap <= PRICE_LIMIT_CT:
        return fail(f"--floor/--cap: need -10^9 <= floor <= cap <= 10^9, got {args.floor}, "
                    f"{args.cap}")
    try:
        members = parse_members(os.environ.get("REFEXCHANGE_MEMBERS", ""))
        background = (load(Path(args.background), args.mtus, args.floor, args.cap)
                      if args.background else
                      generate(args.seed, args.mtus, args.mtu_minutes, args.floor, args.cap))
    except (ValueError, BackgroundError) as exc:
        return fail(str(exc))
    operator_key = os.environ.get("REFEXCHANGE_OPERATOR_KEY", "")
    if not operator_key:
        return fail("REFEXCHANGE_OPERATOR_KEY: the operator's key is needed")
    config = AuctionConfig(args.auction_id, args.exchange, start, args.mtus, args.mtu_minutes,
                           args.floor, args.cap)
    import uvicorn

    uvicorn.run(create_app(config, background, members, operator_key), host=args.host,
                port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
