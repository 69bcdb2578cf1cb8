"""The reference mFRR platform (in the manner of MARI): its own process, its own HTTP API.

    python -m refmarkets.mfrr --port 8702 --seed 1 --quarters 4

Balancing service providers send standard product bids (up or down, one 15-minute
quarter, whole steps of 1 MW, a price, divisible or not) until gate closure; the operator
closes the gate and the platform activates, per quarter and direction, the seeded TSO need
in merit order (price, then arrival; the background bids of other providers, seeded, came
first): a divisible bid as far as the need still open, an indivisible one only whole and
only if it fits, skipped otherwise. The price is the highest activated bid's (pay as
cleared), 0 when nothing is activated; each activation is paid
`oracle.wholesale.payment_ueur(activated_w, 15, price)`.

API (errors as every reference platform's, `refmarkets.web`): `GET /health`,
`GET /platform`, member `POST /bids` (all or nothing, an id never reused, nothing after
gate closure), operator `POST /close`, public `GET /results` (need, activated and price
per quarter and direction), member `GET /activations`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header
from pydantic import Field

from oracle.wholesale import payment_ueur
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

MW = 1_000_000
QUARTER_MINUTES = 15
DIRECTIONS: tuple[Literal["up"], Literal["down"]] = ("up", "down")


class BidIn(Strict):
    client_bid_id: Annotated[str, Field(min_length=1, max_length=200)]
    direction: Literal["up", "down"]
    quarter: Annotated[int, Field(ge=0)]
    quantity_w: Annotated[int, Field(ge=1, le=10**13)]
    price_ct_per_mwh: Annotated[int, Field(ge=-PRICE_LIMIT_CT, le=PRICE_LIMIT_CT)]
    divisible: bool


class BidBatch(Strict):
    bids: Annotated[list[BidIn], Field(min_length=1, max_length=100_000)]


@dataclass(frozen=True)
class PlatformConfig:
    platform: str
    delivery_start: datetime
    quarters: int
    floor_ct_per_mwh: int
    cap_ct_per_mwh: int
    step_w: int = MW


@dataclass(frozen=True)
class Bid:
    key: str  # member/id, or BG-...
    direction: str
    quarter: int
    quantity_w: int
    price_ct_per_mwh: int
    divisible: bool


def background(seed: int, quarters: int) -> tuple[list[Bid], dict[tuple[int, str], int]]:
    """Other providers' bids and the TSO's need per (quarter, direction), from a seed."""
    rng = random.Random(seed)
    bids: list[Bid] = []
    need: dict[tuple[int, str], int] = {}
    for q in range(quarters):
        for d in DIRECTIONS:
            need[q, d] = rng.randrange(0, 60) * MW
            for n in range(rng.randrange(10, 20)):
                price = rng.randrange(2_000, 40_000, 10) * (1 if d == "up" else -1) + (
                    0 if d == "up" else 20_000)
                bids.append(Bid(f"BG-{q}-{d}-{n}", d, q, rng.randrange(1, 15) * MW, price,
                                rng.random() < 0.8))
    return bids, need


@dataclass(frozen=True)
class Cleared:
    need_w: int
    activated_w: int
    price_ct_per_mwh: int
    activated: dict[str, int]


def clear(bids: list[Bid], need_w: int, floor: int, cap: int) -> Cleared:
    """Merit order activation of one quarter and direction (see the module doc)."""
    left = need_w
    activated: dict[str, int] = {}
    price: int | None = None
    for b in sorted(bids, key=lambda b: b.price_ct_per_mwh):  # stable: ties by arrival
        take = min(b.quantity_w, left) if b.divisible else (
            b.quantity_w if b.quantity_w <= left else 0)
        activated[b.key] = take
        if take:
            left -= take
            price = b.price_ct_per_mwh if price is None else max(price, b.price_ct_per_mwh)
    return Cleared(need_w, need_w - left, max(floor, min(cap, 0)) if price is None else price,
                   activated)


@dataclass
class _State:
    config: PlatformConfig
    background: list[Bid]
    need: dict[tuple[int, str], int]
    members: dict[str, str]
    operator_key: str
    bids: dict[str, list[BidIn]] = field(default_factory=dict)
    cleared: dict[tuple[int, str], Cleared] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(config: PlatformConfig, seed: int, members: dict[str, str],
               operator_key: str) -> FastAPI:
    bg, need = background(seed, config.quarters)
    state = _State(config, bg, need, dict(members), operator_key)
    app = FastAPI(title=f"{config.platform} (reference mFRR platform)")
    install_errors(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "platform": config.platform}

    @app.get("/platform")
    def platform() -> dict[str, Any]:
        c = config
        return {"platform": c.platform, "delivery_start": c.delivery_start.isoformat(),
                "quarters": c.quarters, "price_floor_ct_per_mwh": c.floor_ct_per_mwh,
                "price_cap_ct_per_mwh": c.cap_ct_per_mwh, "product_step_w": c.step_w,
                "status": "open" if state.cleared is None else "closed"}

    @app.post("/bids", status_code=201)
    def post_bids(batch: BidBatch,
                  authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        member = member_of(state.members, authorization)
        c = config
        with state.lock:
            if state.cleared is not None:
                raise PlatformProblem(409, "the gate is closed: no bid is taken")
            held = state.bids.setdefault(member, [])
            ids = {b.client_bid_id for b in held}
            for k, b in enumerate(batch.bids):
                where = f"bids.{k}"
                if b.quarter >= c.quarters:
                    raise PlatformProblem(422, f"{b.quarter} is not a quarter of the platform "
                                          f"(0 to {c.quarters - 1})", f"{where}.quarter")
                if b.quantity_w % c.step_w:
                    raise PlatformProblem(422, f"{b.quantity_w} W is not whole steps of "
                                          f"{c.step_w} W", f"{where}.quantity_w")
                if not c.floor_ct_per_mwh <= b.price_ct_per_mwh <= c.cap_ct_per_mwh:
                    raise PlatformProblem(422, f"{b.price_ct_per_mwh} is outside the floor and "
                                          "the cap", f"{where}.price_ct_per_mwh")
                if b.client_bid_id in ids:
                    raise PlatformProblem(409, f"bid {b.client_bid_id!r} was already sent",
                                          f"{where}.client_bid_id")
                ids.add(b.client_bid_id)
            held.extend(batch.bids)
        return {"member": member, "received": len(batch.bids), "held": len(held)}

    @app.post("/close")
    def close(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        check_operator(state.operator_key, authorization)
        c = config
        with state.lock:
            if state.cleared is not None:
                raise PlatformProblem(409, "the gate is already closed")
            everyone = list(state.background) + [
                Bid(f"{m}/{b.client_bid_id}", b.direction, b.quarter, b.quantity_w,
                    b.price_ct_per_mwh, b.divisible)
                for m in sorted(state.bids) for b in state.bids[m]]
            state.cleared = {
                (q, d): clear([b for b in everyone if b.quarter == q and b.direction == d],
                              state.need[q, d], c.floor_ct_per_mwh, c.cap_ct_per_mwh)
                for q in range(c.quarters) for d in DIRECTIONS}
        return {"status": "closed"}

    def cleared() -> dict[tuple[int, str], Cleared]:
        if state.cleared is None:
            raise PlatformProblem(409, "the gate is not closed yet")
        return state.cleared

    @app.get("/results")
    def results() -> dict[str, Any]:
        return {"results": [{"quarter": q, "direction": d, "need_w": r.need_w,
                             "activated_w": r.activated_w,
                             "price_ct_per_mwh": r.price_ct_per_mwh}
                            for (q, d), r in sorted(cleared().items())]}

    @app.get("/activations")
    def activations(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        done = cleared()
        member = member_of(state.members, authorization)
        out = []
        for b in state.bids.get(member, []):
            r = done[b.quarter, b.direction]
            w = r.activated[f"{member}/{b.client_bid_id}"]
            out.append({"client_bid_id": b.client_bid_id, "activated_w": w,
                        "price_ct_per_mwh": r.price_ct_per_mwh,
                        "payment_ueur": payment_ueur(w, QUARTER_MINUTES, r.price_ct_per_mwh)})
        return {"member": member, "activations": out}

    return app


def main(argv: list[str] | None = None) -> int:
    p = platform_parser("python -m refmarkets.mfrr", "Run the reference mFRR platform.",
                        delivery_start="2026-05-26T17:00:00+02:00", floor=-999_999_900,
                        cap=999_999_900)
    p.add_argument("--platform", default="Reference mFRR")
    p.add_argument("--quarters", type=int, default=4)
    args = p.parse_args(argv)
    try:
        start = common_arguments(args)
    except ValueError as exc:
        return fail(str(exc))
    if not 1 <= args.quarters <= 96:
        return fail(f"--quarters: {args.quarters} is not in 1..96")
    try:
        members, operator_key = keys_from_env()
    except ValueError as exc:
        return fail(str(exc))
    config = PlatformConfig(args.platform, start, args.quarters, args.floor, args.cap)
    return serve(lambda: create_app(config, args.seed, members, operator_key), args.host,
                 args.port)


if __name__ == "__main__":
    raise SystemExit(main())
