"""The adapter between the spot intermediary and an exchange it does not own.

`ExchangeAdapter` is what the intermediary needs of any exchange: the auction's
parameters, sending orders (all or nothing, never changed afterwards) and, after the
exchange's clearing, its prices, its aggregated curves of every order, and our trades.
`HttpExchangeAdapter` speaks the reference exchange's API (`refmarkets.exchange`); a real
exchange's API gets an adapter of its own with the same methods. `MfrrAdapter` and
`HttpMfrrAdapter` are the same for a balancing platform (`refmarkets.mfrr`): its
parameters, our product bids in, our activations out. `import_results` turns an
exchange's answer into our `flexmarket.wholesale-results/1` file, putting back what only we
know (each order's participant and zone), so every node can verify it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from nodes.errors import NodeError
from oracle.wholesale import WholesaleResults, parse_results
from oracle.wholesale.mfrr import Activation, Product
from oracle.wholesale.orders import OrderBook
from oracle.wholesale.results import RESULTS_SCHEMA, OrderTerms

BATCH = 10_000  # orders per request


class ExchangeError(NodeError):
    """The exchange refused a request or cannot be reached (`status` 0 when unreachable)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AuctionInfo:
    exchange: str
    auction: str
    delivery_start: str  # ISO 8601 with offset, as the exchange gives it
    mtus: int
    mtu_minutes: int
    price_floor_ct_per_mwh: int
    price_cap_ct_per_mwh: int
    open: bool


@dataclass(frozen=True)
class Trade:
    """One of our orders as the exchange answered it."""

    id: str
    side: str
    mtu: int
    quantity_w: int
    limit_ct_per_mwh: int
    accepted_w: int
    payment_ueur: int


@dataclass(frozen=True)
class ExchangeResults:
    prices_ct_per_mwh: list[int]
    curves: list[dict[str, Any]]  # {"mtu", "supply": [[p, w]], "demand": [[p, w]]}
    trades: list[Trade]


class ExchangeAdapter(Protocol):
    def auction(self) -> AuctionInfo: ...

    def submit(self, orders: Sequence[OrderTerms]) -> None: ...

    def results(self) -> ExchangeResults: ...


class HttpClient:
    """A member's JSON calls to a reference platform: its key as a bearer token, a refusal
    or an unreachable platform as ExchangeError with the platform's own words."""

    def __init__(self, base_url: str, member_key: str, *, timeout_s: float = 30.0,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = member_key
        self._client = client or httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            r = self._client.request(method, url, json=body,
                                     headers={"Authorization": f"Bearer {self._key}"})
        except httpx.HTTPError as exc:
            raise ExchangeError(0, f"{method} {url}: {exc}") from exc
        if r.status_code >= 300:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ExchangeError(r.status_code, f"{method} {url}: {r.status_code} {detail}")
        try:
            return r.json()
        except ValueError as exc:
            raise ExchangeError(r.status_code, f"{method} {url}: not JSON") from exc


class HttpExchangeAdapter(HttpClient):
    """The reference exchange's HTTP API (`refmarkets.exchange`) for one auction."""

    def __init__(self, base_url: str, auction_id: str, member_key: str, *,
                 timeout_s: float = 30.0, client: httpx.Client | None = None) -> None:
        super().__init__(f"{base_url.rstrip('/')}/auctions/{auction_id}", member_key,
                         timeout_s=timeout_s, client=client)
        self.auction_id = auction_id

    def auction(self) -> AuctionInfo:
        a = self._call("GET", "")
        try:
            return AuctionInfo(a["exchange"], a["auction"], a["delivery_start"], a["mtus"],
                               a["mtu_minutes"], a["price_floor_ct_per_mwh"],
                               a["price_cap_ct_per_mwh"], a["status"] == "open")
        except (KeyError, TypeError) as exc:
            raise ExchangeError(200, f"the auction's parameters lack {exc}") from None

    def submit(self, orders: Sequence[OrderTerms]) -> None:
        for i in range(0, len(orders), BATCH):
            self._call("POST", "/orders", {"orders": [
                {"client_order_id": o.id, "side": o.side, "mtu": o.mtu,
                 "quantity_w": o.quantity_w, "limit_ct_per_mwh": o.limit_ct_per_mwh}
                for o in orders[i:i + BATCH]]})

    def results(self) -> ExchangeResults:
        public = self._call("GET", "/results")
        mine = self._call("GET", "/trades")
        try:
            trades = [Trade(t["client_order_id"], t["side"], t["mtu"], t["quantity_w"],
                            t["limit_ct_per_mwh"], t["accepted_w"], t["payment_ueur"])
                      for t in mine["trades"]]
            curves = [{"mtu": c["mtu"], "supply": c["supply"], "demand": c["demand"]}
                      for c in public["curves"]]
            return ExchangeResults(list(public["prices_ct_per_mwh"]), curves, trades)
        except (KeyError, TypeError) as exc:
            raise ExchangeError(200, f"the exchange's results lack {exc}") from None


UNKNOWN = "?"  # participant and zone of a trade we never forwarded (check 5 names it)


def import_results(book: OrderBook, forwarded: Sequence[OrderTerms], info: AuctionInfo,
                   answer: ExchangeResults) -> WholesaleResults:
    """The exchange's answer as our results file (parsed strictly: a malformed answer is a
    `WholesaleFileError` naming the field). Header fields come from the exchange, the
    participant and zone of each trade from the forwarded order of that id."""
    sent = {o.id: o for o in forwarded}
    orders = []
    for t in answer.trades:
        o = sent.get(t.id)
        orders.append({"id": t.id, "participant": o.participant if o else UNKNOWN,
                       "zone": o.zone if o else UNKNOWN, "side": t.side, "mtu": t.mtu,
                       "quantity_w": t.quantity_w, "limit_ct_per_mwh": t.limit_ct_per_mwh,
                       "accepted_w": t.accepted_w, "payment_ueur": t.payment_ueur})
    return parse_results({
        "schema": RESULTS_SCHEMA, "exchange": info.exchange, "auction": info.auction,
        "delivery_start": info.delivery_start, "mtu_minutes": info.mtu_minutes,
        "mtus": info.mtus, "price_floor_ct_per_mwh": info.price_floor_ct_per_mwh,
        "price_cap_ct_per_mwh": info.price_cap_ct_per_mwh, "curves": answer.curves,
        "prices_ct_per_mwh": answer.prices_ct_per_mwh, "orders": orders})


# --------------------------------------------------------------------------- mFRR


@dataclass(frozen=True)
class PlatformInfo:
    platform: str
    delivery_start: str
    quarters: int
    price_floor_ct_per_mwh: int
    price_cap_ct_per_mwh: int
    product_step_w: int
    open: bool


class MfrrAdapter(Protocol):
    """What the mFRR intermediary needs of a balancing platform (MARI, a reference one)."""

    def platform(self) -> PlatformInfo: ...

    def submit(self, products: Sequence[Product]) -> None: ...

    def activations(self) -> list[Activation]: ...


class HttpMfrrAdapter(HttpClient):
    """The reference mFRR platform's HTTP API (`refmarkets.mfrr`)."""

    def __init__(self, base_url: str, member_key: str, *, timeout_s: float = 30.0,
                 client: httpx.Client | None = None) -> None:
        super().__init__(base_url, member_key, timeout_s=timeout_s, client=client)

    def platform(self) -> PlatformInfo:
        a = self._call("GET", "/platform")
        try:
            return PlatformInfo(a["platform"], a["delivery_start"], a["quarters"],
                                a["price_floor_ct_per_mwh"], a["price_cap_ct_per_mwh"],
                                a["product_step_w"], a["status"] == "open")
        except (KeyError, TypeError) as exc:
            raise ExchangeError(200, f"the platform's parameters lack {exc}") from None

    def submit(self, products: Sequence[Product]) -> None:
        for i in range(0, len(products), BATCH):
            self._call("POST", "/bids", {"bids": [
                {"client_bid_id": p.id, "direction": p.direction, "quarter": p.quarter,
                 "quantity_w": p.quantity_w, "price_ct_per_mwh": p.price_ct_per_mwh,
                 "divisible": p.divisible} for p in products[i:i + BATCH]]})

    def activations(self) -> list[Activation]:
        answer = self._call("GET", "/activations")
        try:
            return [Activation(a["client_bid_id"], a["activated_w"], a["price_ct_per_mwh"],
                               a["payment_ueur"]) for a in answer["activations"]]
        except (KeyError, TypeError) as exc:
            raise ExchangeError(200, f"the platform's activations lack {exc}") from None
