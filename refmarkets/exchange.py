"""The reference day-ahead exchange: its own process, its own HTTP API.

    python -m refmarkets.exchange --port 8701 --seed 1 --delivery-start 2026-05-26T00:00:00+02:00

It plays an energy exchange flexmarket does not own: members send step orders for one
auction until gate closure, the operator closes it, the exchange clears every MTU
(`refmarkets.clearing`) and publishes the prices and the aggregated curves of every order
(the background ones, `refmarkets.background`, and the members'); each member reads its
own trades. flexmarket reaches it only through `nodes.wholesale.adapter`, as it would a
real exchange's API.

The API (JSON; errors as every reference platform's, `refmarkets.web`):

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
`REFMARKETS_MEMBERS` = `name=key[,name=key...]`, `REFMARKETS_OPERATOR_KEY`
(`refmarkets.web`, shared by every reference platform).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import Field

from oracle.wholesale import payment_ueur
from refmarkets.background import BackgroundError, BackgroundOrder, generate, load
from refmarkets.clearing import MtuClearing, StepOrder, clear_mtu
from refmarkets.web import (
    PRICE_LIMIT_CT,
    PlatformProblem,
    Strict,
    check_operator,
    common_arguments,
    fail,
    install_errors,
    keys_from_env,
    member_of,
    platform_parser,
    serve,
)

MAX_ORDERS_PER_BATCH = 200_000
MAX_ORDERS_PER_MEMBER = 1_000_000


class OrderIn(Strict):
    client_order_id: Annotated[str, Field(min_length=1, max_length=200)]
    side: Literal["sell", "buy"]
    mtu: Annotated[int, Field(ge=0)]
    quantity_w: Annotated[int, Field(ge=1, le=10**15)]
    limit_ct_per_mwh: Annotated[int, Field(ge=-PRICE_LIMIT_CT, le=PRICE_LIMIT_CT)]


class OrderBatch(Strict):
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

    install_errors(app)

    def auction(auction_id: str) -> AuctionConfig:
        if auction_id != config.auction_id:
            raise PlatformProblem(404, f"no auction {auction_id!r}", "auction_id")
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
        member = member_of(state.members, authorization)
        with state.lock:
            if state.cleared is not None:
                raise PlatformProblem(409, f"auction {auction_id} is closed: no order is "
                                      "taken after gate closure")
            held = state.orders.setdefault(member, [])
            ids = {o.client_order_id for o in held}
            if len(held) + len(batch.orders) > MAX_ORDERS_PER_MEMBER:
                raise PlatformProblem(422, f"a member may hold {MAX_ORDERS_PER_MEMBER} orders",
                                      "orders")
            for k, o in enumerate(batch.orders):
                if o.mtu >= c.mtus:
                    raise PlatformProblem(422, f"{o.mtu} is not an MTU of the auction (0 to "
                                          f"{c.mtus - 1})", f"orders.{k}.mtu")
                if not c.floor_ct_per_mwh <= o.limit_ct_per_mwh <= c.cap_ct_per_mwh:
                    raise PlatformProblem(422, f"{o.limit_ct_per_mwh} is outside the floor "
                                          f"{c.floor_ct_per_mwh} and the cap "
                                          f"{c.cap_ct_per_mwh}", f"orders.{k}.limit_ct_per_mwh")
                if o.client_order_id in ids:
                    raise PlatformProblem(409, f"order {o.client_order_id!r} was already sent: "
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
        member = member_of(state.members, authorization)
        return {"orders": [o.model_dump() for o in state.orders.get(member, [])]}

    @app.post("/auctions/{auction_id}/close")
    def close(auction_id: str,
              authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        auction(auction_id)
        check_operator(state.operator_key, authorization)
        with state.lock:
            if state.cleared is not None:
                raise PlatformProblem(409, f"auction {auction_id} is already closed")
            state.cleared = _clear(state)
        return {"auction_id": auction_id, "status": "closed",
                "prices_ct_per_mwh": [m.price_ct_per_mwh for m in state.cleared]}

    def cleared(auction_id: str) -> list[MtuClearing]:
        auction(auction_id)
        if state.cleared is None:
            raise PlatformProblem(409, f"auction {auction_id} is not cleared yet")
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
        member = member_of(state.members, authorization)
        out = []
        for o in state.orders.get(member, []):
            m = mtus[o.mtu]
            accepted = m.accepted_w[f"{member}/{o.client_order_id}"]
            out.append({**o.model_dump(), "accepted_w": accepted,
                        "payment_ueur": payment_ueur(accepted, config.mtu_minutes,
                                                     m.price_ct_per_mwh)})
        return {"auction_id": auction_id, "member": member, "trades": out}

    return app


def main(argv: list[str] | None = None) -> int:
    p = platform_parser("python -m refmarkets.exchange", "Run the reference day-ahead exchange.",
                        delivery_start="2026-05-26T00:00:00+02:00", floor=-50_000, cap=400_000)
    p.add_argument("--exchange", default="Reference Exchange")
    p.add_argument("--auction-id", default="DA-1")
    p.add_argument("--mtus", type=int, default=24)
    p.add_argument("--mtu-minutes", type=int, default=60)
    p.add_argument("--background", help="a refmarkets.background/1 file (else from --seed)")
    args = p.parse_args(argv)
    try:
        start = common_arguments(args)
    except ValueError as exc:
        return fail(str(exc))
    if not 1 <= args.mtus <= 10_000 or not 1 <= args.mtu_minutes <= 1440:
        return fail("--mtus: 1..10000 and --mtu-minutes: 1..1440")
    try:
        members, operator_key = keys_from_env()
        background = (load(Path(args.background), args.mtus, args.floor, args.cap)
                      if args.background else
                      generate(args.seed, args.mtus, args.mtu_minutes, args.floor, args.cap))
    except (ValueError, BackgroundError) as exc:
        return fail(str(exc))
    config = AuctionConfig(args.auction_id, args.exchange, start, args.mtus, args.mtu_minutes,
                           args.floor, args.cap)
    return serve(lambda: create_app(config, background, members, operator_key), args.host,
                 args.port)


if __name__ == "__main__":
    raise SystemExit(main())
