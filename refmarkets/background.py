"""The public background orders of a reference auction: every other member's orders,
generated from a seed, so that the same seed gives the same auction on every machine.

    python -m refmarkets.background --seed 1 --mtus 24 > background.json

A file (`refmarkets.background/1`) is what the exchange loads (`--background FILE`); with
`--seed` alone it generates the same orders itself. Per MTU, a day-shaped market of a few
hundred MW: must-run supply at the floor, a merit order of sell steps up to a peaker bid
well below the cap that covers any demand, and buy steps with a price-taking block at the
cap. Integers only; `random.Random(seed)` is the one source of randomness (Python's
Mersenne Twister: the same sequence on every platform).
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from refmarkets.clearing import Side

BACKGROUND_SCHEMA = "refmarkets.background/1"
MW = 1_000_000


@dataclass(frozen=True)
class BackgroundOrder:
    id: str
    side: Side
    mtu: int
    quantity_w: int
    limit_ct_per_mwh: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "side": self.side, "mtu": self.mtu,
                "quantity_w": self.quantity_w, "limit_ct_per_mwh": self.limit_ct_per_mwh}


def generate(seed: int, mtus: int, mtu_minutes: int, floor: int, cap: int
             ) -> list[BackgroundOrder]:
    """The background orders of an auction of `mtus` MTUs (ids `BG-<mtu>-<n>`)."""
    rng = random.Random(seed)
    out: list[BackgroundOrder] = []
    per_day = max(1, 1440 // mtu_minutes)
    for t in range(mtus):
        hour = (t % per_day) * 24 // per_day
        shape = 60 + (35 if 7 <= hour <= 21 else 0) + (20 if 17 <= hour <= 20 else 0)  # %
        steps: list[tuple[Side, int, int]] = [("sell", rng.randrange(80, 120) * MW, floor)]
        for _ in range(rng.randrange(25, 40)):
            steps.append(("sell", rng.randrange(1, 40) * MW // 2,
                          rng.randrange(-1_000, 25_000, 10)))
        steps.append(("sell", 2_000 * MW, min(cap, 300_000)))  # peakers: never short below
        steps.append(("buy", rng.randrange(150, 250) * MW * shape // 100, cap))  # price-taking
        for _ in range(rng.randrange(20, 35)):
            steps.append(("buy", rng.randrange(1, 30) * MW // 2, rng.randrange(0, 30_000, 10)))
        out += [BackgroundOrder(f"BG-{t}-{n}", side, t, q, min(cap, max(floor, limit)))
                for n, (side, q, limit) in enumerate(steps)]
    return out


def to_document(seed: int, orders: list[BackgroundOrder]) -> dict[str, Any]:
    return {"schema": BACKGROUND_SCHEMA, "seed": seed, "orders": [o.to_json() for o in orders]}


class BackgroundError(ValueError):
    """A background file is not well formed (the message names the field)."""


def load(path: str | Path, mtus: int, floor: int, cap: int) -> list[BackgroundOrder]:
    """A background file's orders, each checked (the message names the field)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackgroundError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != BACKGROUND_SCHEMA:
        raise BackgroundError(f"{path}: schema: not {BACKGROUND_SCHEMA!r}")
    items = data.get("orders")
    if not isinstance(items, list):
        raise BackgroundError(f"{path}: orders: a list is needed")
    out: list[BackgroundOrder] = []
    seen: set[str] = set()
    for k, o in enumerate(items):
        where = f"{path}: orders[{k}]"
        if not isinstance(o, dict) or set(o) != {"id", "side", "mtu", "quantity_w",
                                                 "limit_ct_per_mwh"}:
            raise BackgroundError(f"{where}: needs exactly id, side, mtu, quantity_w, "
                                  "limit_ct_per_mwh")
        ints = ("mtu", "quantity_w", "limit_ct_per_mwh")
        if not all(type(o[f]) is int for f in ints) or not isinstance(o["id"], str):
            raise BackgroundError(f"{where}: id is a string, mtu, quantity_w and "
                                  "limit_ct_per_mwh integers")
        if o["side"] not in ("sell", "buy"):
            raise BackgroundError(f"{where}.side: sell or buy, not {o['side']!r}")
        if not 0 <= o["mtu"] < mtus:
            raise BackgroundError(f"{where}.mtu: {o['mtu']} is not an MTU of the auction "
                                  f"(0 to {mtus - 1})")
        if not 0 < o["quantity_w"] <= 10**15:
            raise BackgroundError(f"{where}.quantity_w: {o['quantity_w']} is not in 1..10^15")
        if not floor <= o["limit_ct_per_mwh"] <= cap:
            raise BackgroundError(f"{where}.limit_ct_per_mwh: {o['limit_ct_per_mwh']} is "
                                  f"outside the floor {floor} and the cap {cap}")
        if o["id"] in seen:
            raise BackgroundError(f"{where}.id: {o['id']!r} again")
        seen.add(o["id"])
        out.append(BackgroundOrder(o["id"], o["side"], o["mtu"], o["quantity_w"],
                                   o["limit_ct_per_mwh"]))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m refmarkets.background",
                                description="Print the seeded background orders of an auction.")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--mtus", type=int, default=24)
    p.add_argument("--mtu-minutes", type=int, default=60)
    p.add_argument("--floor", type=int, default=-50_000)
    p.add_argument("--cap", type=int, default=400_000)
    args = p.parse_args(argv)
    orders = generate(args.seed, args.mtus, args.mtu_minutes, args.floor, args.cap)
    print(json.dumps(to_document(args.seed, orders), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
