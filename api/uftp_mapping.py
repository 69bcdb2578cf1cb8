"""The one mapping between UFTP (Shapeshifter 3) messages and the market's needs, bids and
awards (docs/uftp.md). Pure: no chain, no store; every refusal is a `Refusal` carrying the
UFTP rejection reason (the package's wording, `shapeshifter_uftp.exceptions`) and what was
wrong, which the gateway answers as a `...Response` with `Result="Rejected"`.

- congestion point <-> zone: the zone's label is the congestion point's entity address
  (`ean.871685900012345678`, `ea1.2007-11.net.example:cp-1`), which the DSO registered as a
  zone (`python_client.hashing.label`: at most 32 bytes of UTF-8);
- ISP <-> slot: ISP `n` (1-based) of `Period` starts `(n - 1) * ISP-Duration` after local
  midnight of `Period` in `TimeZone`; it is the session's slot `k` when it starts at
  `delivery_start + k * slot_minutes` (UTC seconds) and `ISP-Duration` is the session's
  `slot_minutes`;
- power: UFTP `Power`/`MinPower`/`MaxPower` are W of change at the congestion point, negative
  = less consumption or more production = the market's `up` (docs/files.md), positive =
  `down`; a need asks, per requested ISP, for the smallest change the DSO accepts
  (`-MaxPower` up when `MaxPower < 0`, `MinPower` down when `MinPower > 0`);
- price: an OfferOption's `Price` (EUR, at most 4 decimals) is what the whole option is paid;
  on the market a bid of `quantity_w` at `price_eur_per_mw` is paid
  `quantity_w * price_eur_per_mw` µEUR (`python_client.records.AwardRow`), so
  `price_eur_per_mw = Price * 10**6 / quantity_w`, which must be a whole number: no rounding
  of money;
- a FlexOffer's option is an indivisible rectangle bid (one power in every ISP, activation
  factor 1.00): the FlexOrder then copies its ISPs unchanged at its price, as UFTP requires;
- the outcome to the DSO is a FlexOffer from the market (as aggregator) answering its
  FlexRequest: per requested ISP the power awarded to serve its need, at what its need
  pays (`outcome_of`); the DSO may order it (a FlexOrder with the same ISPs and price is
  accepted: the clearing already ordered it on chain);
- a settled award is a FlexSettlement of its FlexOrder: `Price` what the seller was paid,
  `Penalty` its shortfall penalty, `NetSettlement` their difference (EUR, exact to 0.0001 EUR
  or no message: `eur_of`), per ISP the ordered and the metered delivered power (the market
  meters delivery per award, against its own baseline: `BaselinePower` 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shapeshifter_uftp import (
    ContractSettlement,
    ContractSettlementISP,
    ContractSettlementPeriod,
    FlexOffer,
    FlexOfferOption,
    FlexOfferOptionISP,
    FlexOrder,
    FlexOrderISP,
    FlexOrderSettlement,
    FlexOrderSettlementISP,
    FlexRequest,
    FlexSettlement,
)
from shapeshifter_uftp.uftp.enums import AvailableRequested

from python_client.contract_types import Direction
from python_client.hashing import label

UEUR_PER_EUR = 10**6
CURRENCY = "EUR"
MAX_W = 2**40 - 1  # a need's or bid's watts on chain (uint40)
MAX_PRICE_EUR_PER_MW = 2**64 - 2  # a bid's price on chain (uint64; 2^64 - 1 means no limit)
MAX_SESSION_ID = 2**48 - 1  # uint48

# UFTP rejection reasons (shapeshifter_uftp.exceptions' wording)
INVALID_SENDER = "Invalid Sender"
UNKNOWN_RECIPIENT = "Unknown Recipient"
DUPLICATE_IDENTIFIER = "Duplicate Identifier"
ISP_DURATION_REJECTED = "ISP Duration Rejected"
TIME_ZONE_REJECTED = "TimeZone Rejected"
INVALID_CONGESTION_POINT = "Invalid Congestion Point"
UNKNOWN_REFERENCE = "Unknown Reference"
REFERENCE_PERIOD_MISMATCH = "Reference Period Mismatch"
REFERENCE_MESSAGE_EXPIRED = "Reference Message Expired"
ISPS_OUT_OF_BOUNDS = "ISPs Out Of Bounds"
ISP_CONFLICT = "ISP Conflict"
PERIOD_OUT_OF_BOUNDS = "Period Out Of Bounds"
EXPIRATION_OUT_OF_BOUNDS = "Expiration DateTime Out Of Bounds"
UNAUTHORIZED = "Unauthorized"
INVALID_MESSAGE = "Invalid Message"
NOT_MAPPABLE = "Not Supported"  # the market has no counterpart for it (docs/uftp.md)


class Refusal(Exception):
    """A UFTP message the market refuses: `reason` one of the UFTP rejection reasons above,
    `detail` what was wrong (the rejection's text is `reason: detail`)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail

    @property
    def text(self) -> str:
        return f"{self.reason}: {self.detail}"


@dataclass(frozen=True)
class Slots:
    """A session's delivery slots (UTC seconds)."""

    delivery_start: int
    slot_minutes: int
    slot_count: int


@dataclass(frozen=True)
class NeedMapping:
    """A FlexRequest as a need: its zone, direction and watts per slot of the session."""

    session_id: int
    zone: str
    direction: Direction
    quantity_w: tuple[int, ...]


@dataclass(frozen=True)
class BidMapping:
    """A FlexOffer's option as a bid (assets and salt are chosen by the gateway)."""

    zone: str
    direction: Direction
    quantity_w: int
    price_eur_per_mw: int
    slot_mask: int
    option_reference: str


def session_of(contract_id: str | None) -> int:
    """A FlexRequest's `ContractID` names the market session (its decimal id)."""
    if (
        contract_id is None or not contract_id.isascii() or not contract_id.isdigit()
        or int(contract_id[:16]) > MAX_SESSION_ID
    ):  # fmt: skip
        raise Refusal(
            UNKNOWN_REFERENCE,
            f"ContractID {contract_id!r}: the market session's id (decimal) is required",
        )
    return int(contract_id)


def zone_of(congestion_point: str) -> str:
    """The zone label of a congestion point (its entity address, at most 32 bytes)."""
    try:
        label(congestion_point)
    except ValueError:
        raise Refusal(
            INVALID_CONGESTION_POINT,
            f"CongestionPoint {congestion_point!r}: longer than a zone label (32 bytes)",
        ) from None
    return congestion_point


def isp_seconds(duration: object) -> int:
    """`ISP-Duration` (`PT15M`) in seconds; minutes only, as UFTP says."""
    text = str(duration)
    if not (text.startswith("PT") and text.endswith("M") and text[2:-1].isdigit()):
        raise Refusal(ISP_DURATION_REJECTED, f"ISP-Duration {text!r}: minutes only (PT15M)")
    return int(text[2:-1]) * 60


def isp_slots(
    period: object, time_zone: str, isp_duration: object, starts: list[tuple[int, int]],
    slots: Slots,
) -> list[list[int]]:  # fmt: skip
    """For each (Start, Duration) of ISPs, the session slot of each of its ISPs, or -1 for
    an ISP outside the session. ISP-Duration must be the session's slot length."""
    step = isp_seconds(isp_duration)
    if step != slots.slot_minutes * 60:
        raise Refusal(
            ISP_DURATION_REJECTED,
            f"ISP-Duration {isp_duration}: the session's slots are PT{slots.slot_minutes}M",
        )
    try:
        tz = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refusal(TIME_ZONE_REJECTED, f"TimeZone {time_zone!r}: unknown") from None
    try:
        day = date.fromisoformat(str(period))
        local = datetime(day.year, day.month, day.day, tzinfo=tz)
        midnight = int(local.astimezone(UTC).timestamp())
    except (ValueError, OverflowError):
        raise Refusal(PERIOD_OUT_OF_BOUNDS, f"Period {period!s}: not a usable date") from None
    out = []
    for start, duration in starts:
        if start < 1 or duration < 1 or start + duration - 1 > 100:  # a day has at most 100
            raise Refusal(ISPS_OUT_OF_BOUNDS, f"ISP Start {start} Duration {duration}: "
                          "not within a day")  # fmt: skip
        row = []
        for n in range(start, start + duration):
            offset = midnight + (n - 1) * step - slots.delivery_start
            k = offset // step
            row.append(k if offset % step == 0 and 0 <= k < slots.slot_count else -1)
        out.append(row)
    return out


def need_of(request: FlexRequest, slots: Slots) -> NeedMapping:
    """A FlexRequest as a need of the session its ContractID names: one direction, the
    requested watts per slot (ISPs with Disposition Available ask for nothing)."""
    session_id = session_of(request.contract_id)
    zone = zone_of(request.congestion_point)
    requested = [i for i in request.isps if i.disposition != AvailableRequested.AVAILABLE]
    rows = isp_slots(
        request.period, request.time_zone, request.isp_duration,
        [(i.start, i.duration) for i in requested], slots,
    )  # fmt: skip
    quantity = [0] * slots.slot_count
    directions = set()
    for isp, row in zip(requested, rows, strict=True):
        if isp.min_power > isp.max_power:
            raise Refusal(ISP_CONFLICT, f"ISP {isp.start}: MinPower above MaxPower")
        if isp.max_power < 0:
            direction, watts = Direction.UP, -isp.max_power
        elif isp.min_power > 0:
            direction, watts = Direction.DOWN, isp.min_power
        else:
            continue  # the range holds no change: nothing asked
        if watts > MAX_W:
            raise Refusal(NOT_MAPPABLE, f"ISP {isp.start}: {watts} W, beyond {MAX_W} W")
        if -1 in row:
            raise Refusal(ISPS_OUT_OF_BOUNDS, f"ISP {isp.start}: outside session {session_id}'s "
                          "delivery slots")  # fmt: skip
        directions.add(direction)
        for k in row:
            quantity[k] = watts
    if not directions:
        raise Refusal(ISP_CONFLICT, "no ISP requests a change (MaxPower < 0 or MinPower > 0)")
    if len(directions) > 1:
        raise Refusal(ISP_CONFLICT, "ISPs request both directions: a need has one (send two "
                      "FlexRequests)")  # fmt: skip
    return NeedMapping(session_id, zone, directions.pop(), tuple(quantity))


def price_eur_per_mw(price: Decimal, quantity_w: int) -> int:
    """The market's price of an option paid `price` EUR for `quantity_w` W, exactly."""
    if not price.is_finite() or price < 0:
        raise Refusal(NOT_MAPPABLE, f"Price {price}: not a non-negative EUR amount")
    ueur = price * UEUR_PER_EUR
    if ueur != ueur.to_integral_value():
        raise Refusal(NOT_MAPPABLE, f"Price {price}: not a non-negative EUR amount in µEUR")
    if int(ueur) % quantity_w:
        raise Refusal(
            NOT_MAPPABLE,
            f"Price {price} EUR for {quantity_w} W is not a whole number of EUR per MW (the "
            f"market pays quantity_w * price_eur_per_mw µEUR): give a multiple of "
            f"{Decimal(quantity_w) / UEUR_PER_EUR} EUR",
        )
    if int(ueur) // quantity_w > MAX_PRICE_EUR_PER_MW:
        raise Refusal(NOT_MAPPABLE, f"Price {price} EUR: beyond what a bid's price holds")
    return int(ueur) // quantity_w


def bid_of(offer: FlexOffer, need: NeedMapping, slots: Slots) -> BidMapping:
    """A FlexOffer answering the request `need` came from, as one indivisible bid."""
    if len(offer.offer_options) != 1:
        raise Refusal(NOT_MAPPABLE, f"{len(offer.offer_options)} OfferOptions: the market takes "
                      "one per FlexOffer (options are alternatives; its bids are not)")  # fmt: skip
    option = offer.offer_options[0]
    if option.min_activation_factor != Decimal("1.00"):
        raise Refusal(NOT_MAPPABLE, f"MinActivationFactor {option.min_activation_factor}: the "
                      "market orders whole options only (1.00)")  # fmt: skip
    if zone_of(offer.congestion_point) != need.zone:
        raise Refusal(INVALID_CONGESTION_POINT, f"CongestionPoint {offer.congestion_point}: "
                      f"the FlexRequest is for {need.zone}")  # fmt: skip
    powers = {i.power for i in option.isps}
    if len(powers) != 1 or 0 in powers:
        raise Refusal(ISP_CONFLICT, "OfferOption: one non-zero Power in every ISP (the market's "
                      "bids are one quantity over their slots)")  # fmt: skip
    power = powers.pop()
    if abs(power) > MAX_W:
        raise Refusal(NOT_MAPPABLE, f"Power {power}: beyond {MAX_W} W")
    direction = Direction.UP if power < 0 else Direction.DOWN
    if direction != need.direction:
        raise Refusal(ISP_CONFLICT, f"Power {power}: the FlexRequest asks for the other "
                      "direction")  # fmt: skip
    rows = isp_slots(
        offer.period, offer.time_zone, offer.isp_duration,
        [(i.start, i.duration) for i in option.isps], slots,
    )  # fmt: skip
    mask = 0
    for isp, row in zip(option.isps, rows, strict=True):
        if -1 in row:
            raise Refusal(ISPS_OUT_OF_BOUNDS, f"ISP {isp.start}: outside the session's "
                          "delivery slots")  # fmt: skip
        for k in row:
            if mask >> k & 1:
                raise Refusal(ISP_CONFLICT, f"ISP {isp.start}: offered twice")
            mask |= 1 << k
    quantity_w = abs(power)
    return BidMapping(
        need.zone, direction, quantity_w, price_eur_per_mw(option.price, quantity_w), mask,
        option.option_reference,
    )  # fmt: skip


def order_of(offer: FlexOffer, order_reference: str) -> FlexOrder:
    """The FlexOrder of an offer awarded in full: its option's ISPs copied unchanged, at its
    price (UFTP: an AGR rejects a FlexOrder whose ISPs differ from the offer's)."""
    option = offer.offer_options[0]
    return FlexOrder(
        isp_duration=offer.isp_duration, time_zone=offer.time_zone, period=offer.period,
        congestion_point=offer.congestion_point,
        isps=[FlexOrderISP(power=i.power, start=i.start, duration=i.duration)
              for i in option.isps],
        flex_offer_message_id=offer.message_id, price=option.price, currency=CURRENCY,
        order_reference=order_reference, option_reference=option.option_reference,
        activation_factor=Decimal("1.00"), conversation_id=offer.conversation_id,
    )  # fmt: skip


def eur_of(ueur: int) -> Decimal:
    """µEUR as UFTP's EUR amount (4 decimals), exactly; Refusal when it has more."""
    if ueur % 100:
        raise Refusal(NOT_MAPPABLE, f"{ueur} µEUR: not a whole 0.0001 EUR (UFTP's amounts)")
    return Decimal(ueur) / UEUR_PER_EUR


def settlement_of(
    offer: FlexOffer, session_id: int, order_reference: str, delivered_w: int, paid_ueur: int,
    penalty_ueur: int,
) -> FlexSettlement:  # fmt: skip
    """The FlexSettlement of an order settled on chain (Refusal when an amount is not
    exactly UFTP's: no rounding of money). The package requires a ContractSettlement too:
    the session's (ContractID, as in the FlexRequest), the option's ISPs offered and
    ordered, nothing reserved."""
    option = offer.offer_options[0]
    sign = -1 if option.isps[0].power < 0 else 1
    delivered = sign * delivered_w
    price, penalty = eur_of(paid_ueur), eur_of(penalty_ueur)
    isps = [
        FlexOrderSettlementISP(
            start=i.start, duration=i.duration, baseline_power=0, ordered_flex_power=i.power,
            actual_power=delivered, delivered_flex_power=delivered,
            power_deficiency=abs(i.power) - delivered_w if delivered_w < abs(i.power) else 0,
        )
        for i in option.isps
    ]  # fmt: skip
    order = FlexOrderSettlement(
        isps=isps, order_reference=order_reference, period=offer.period,
        congestion_point=offer.congestion_point, price=price, penalty=penalty,
        net_settlement=price - penalty,
    )  # fmt: skip
    contract = ContractSettlement(
        contract_id=str(session_id),
        periods=[ContractSettlementPeriod(period=offer.period, isps=[
            ContractSettlementISP(start=i.start, duration=i.duration, reserved_power=0,
                                  offered_power=i.power, ordered_power=i.power)
            for i in option.isps
        ])],
    )  # fmt: skip
    return FlexSettlement(
        flex_order_settlements=[order], contract_settlements=[contract],
        period_start=offer.period, period_end=offer.period, currency=CURRENCY,
        conversation_id=offer.conversation_id,
    )  # fmt: skip


def outcome_of(
    request: FlexRequest, slots: Slots, awarded_w: list[int], direction: Direction,
    payment_ueur: int,
) -> FlexOffer:  # fmt: skip
    """The cleared outcome of a FlexRequest as a FlexOffer to its DSO: per requested ISP
    the watts awarded in its slot (`awarded_w`, per session slot) with the request's sign,
    one option at what the DSO's need pays (EUR, exact or Refusal)."""
    requested = [i for i in request.isps if i.disposition != AvailableRequested.AVAILABLE]
    rows = isp_slots(
        request.period, request.time_zone, request.isp_duration,
        [(i.start, i.duration) for i in requested], slots,
    )  # fmt: skip
    sign = -1 if direction == Direction.UP else 1
    isps = [
        FlexOfferOptionISP(power=sign * awarded_w[k] if k >= 0 else 0, start=isp.start + j)
        for isp, row in zip(requested, rows, strict=True)
        for j, k in enumerate(row)
    ]  # fmt: skip
    return FlexOffer(
        isp_duration=request.isp_duration, time_zone=request.time_zone, period=request.period,
        congestion_point=request.congestion_point,
        expiration_date_time=request.expiration_date_time,
        offer_options=[FlexOfferOption(isps=isps, option_reference="cleared",
                                       price=eur_of(payment_ueur))],
        flex_request_message_id=request.message_id, contract_id=request.contract_id,
        conversation_id=request.conversation_id,
    )  # fmt: skip
