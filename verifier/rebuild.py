"""Rebuild market sessions from the chain's events alone.

Shared by the oracle service (which clears what it rebuilds) and the replica nodes (which
re-check what was committed). Nothing but standard `eth_*` reads: `eth_getLogs` of the three
deployed contracts and the headers of the blocks whose times matter (a bid's commit time is
its `submitted_at`).

A session becomes a `flexmarket.scenario/1` scenario in chain identifiers:

| scenario | from the chain |
| --- | --- |
| `name` | `session <id> of <market address> on chain <chain id>` (binds `input_hash` to them) |
| `market` | `SessionOpened` params; `id`, `product`: UTF-8 labels; `start`: delivery start, UTC |
| participants | buyers (lowercase address, role of their `NeedPosted`), sellers (`aggregator`) |
| zones | the labels of every zone a bid, need or asset names; `limit_w` as published (0: none) |
| assets | `0x` asset ids named by revealed bids; manager as of the latest reveal naming them |
| requests | `need-<index>`, one per `NeedPosted` with quantities; zone `bytes32(0)` = system-wide |
| bids | revealed, in chain order: `0x` id, `BidRevealed` terms, `submitted_at`: commit time |
| coordination | `CoordinationPublished` JSON: `coupling`, `priority`, `balance_dso`, zone fields |
| grid | `GridPublished` parts, joined: the `grid` object with its published `inputs` (cuts) |

A *balancing need* (`NeedPosted` with no quantities: a DSO's budget for counter-activations,
`balance_dso`) asks for no watts: it is not a request of the scenario (a request would have
to be met, and the session cleared here would differ from the one the oracle cleared), but
its buyer is a participant and the record keeps it (`SessionRecord.balancing_needs`): the
verifier checks that exactly the counter-activations are charged to it.

Unrevealed (forfeited) bids never exist in the market. What the contract filled in stays
filled in (a divisible bid's minimum; an indivisible bid's `min_quantity_w` is left null).
The rebuilt session also carries the committed result, its award rows, status changes,
deliveries and settlements, so that a verifier needs nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from python_client.batches import batched_bid_id, revealed_bids
from python_client.contract_types import (
    NO_LIMIT,
    AssetType,
    BuyerRole,
    Direction,
    Pricing,
    ResultStatus,
    labels,
)
from python_client.paths import ARTIFACTS_DIR
from verifier.errors import RpcError, VerifierError
from verifier.events import CONTRACTS, DecodedLog, EventDecoder
from verifier.rpc import JsonRpc

ZERO32 = "0x" + "00" * 32
# The contracts' enums (python_client.contract_types) in the words of the scenario file,
# indexed by their values on chain; buyer roles and result statuses as the contracts name them.
ASSET_TYPES = labels(AssetType)
BUYER_ROLES = tuple(role.solidity_name for role in BuyerRole)
DIRECTIONS = labels(Direction)
PRICING = labels(Pricing)
STATUS = tuple(status.solidity_name for status in ResultStatus)
MAX_LOG_SPAN = 100_000
FETCH_PIECES = 8  # eth_getLogs requests read_chain splits its range into (pipelined)
COORD_MARKET = ("coupling", "priority", "balance_dso")
COORD_ZONE = ("forecast_w", "limit_w", "red_slots")


class RebuildError(VerifierError):
    """The chain's events do not make a session the scenario format can hold."""


def label_text(value: str) -> str:
    """A bytes32 label as text (right-padded UTF-8); its `0x` hex when it is not text."""
    raw = bytes.fromhex(value[2:]).rstrip(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return value
    return text if text and text.isprintable() else value


def iso_utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


# ------------------------------------------------------------------ reading the chain


@dataclass
class ChainLog:
    """Every decoded event of one deployment, in chain order, with the block times read."""

    chain_id: int
    addresses: dict[str, str]  # contract name -> lowercase address
    head: int  # block number read up to
    head_timestamp: int
    logs: list[DecodedLog]
    timestamps: dict[int, int]  # block number -> time, for the blocks of BidCommitted logs
    fetch_s: float = 0.0
    decode_s: float = 0.0


def fetch_logs(rpc: JsonRpc, addresses: Sequence[str], start: int, end: int) -> list[Any]:
    """Raw logs of `addresses` in [start, end]; halves the span when the node refuses."""
    out: list[Any] = []
    span = MAX_LOG_SPAN
    block = start
    while block <= end:
        last = min(end, block + span - 1)
        try:
            out += rpc.logs(addresses, block, last)
        except RpcError:
            if span == 1:
                raise
            span = max(1, span // 2)
            continue
        block = last + 1
    return out


def read_chain(
    rpc: JsonRpc,
    addresses: Mapping[str, str],
    *,
    start_block: int = 0,
    decoder: EventDecoder | None = None,
    artifacts_dir: Path = ARTIFACTS_DIR,
) -> ChainLog:
    """Fetch and decode every event of the deployment up to the current head."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    names = {n: a.lower() for n, a in addresses.items() if n in CONTRACTS}
    decoder = decoder or EventDecoder.from_artifacts(names, artifacts_dir)
    chain_id = rpc.chain_id()
    head = rpc.block_number()
    # The range in a few pieces, fetched one after the other by a reader thread while this
    # one decodes the pieces already in, in order: the node's time to serve eth_getLogs
    # overlaps the decoding (same logs, same order as one request). A second reader was
    # measured no faster: parsing and decoding hold the GIL.
    step = max(1, -(-(head - start_block + 1) // FETCH_PIECES))
    pieces = [(a, min(head, a + step - 1)) for a in range(start_block, head + 1, step)]
    addrs = sorted(names.values())
    t0 = time.perf_counter()
    logs: list[Any] = []
    decode_s = 0.0
    with ThreadPoolExecutor(1) as reader:
        futures = [reader.submit(fetch_logs, rpc, addrs, a, b) for a, b in pieces]
        try:
            for future in futures:
                raw = future.result()
                t = time.perf_counter()
                logs += decoder.decode_all(raw)
                decode_s += time.perf_counter() - t
        except BaseException:
            for future in futures:
                future.cancel()  # the pieces not yet asked for
            raise
    t2 = time.perf_counter()
    committing = ("BidCommitted", "BatchCommitted")
    wanted = sorted({log.block_number for log in logs if log.event in committing} | {head})
    headers = rpc.headers(wanted)
    timestamps = {n: int(h["timestamp"], 16) for n, h in zip(wanted, headers, strict=True) if h}
    chain = ChainLog(
        chain_id, names, head, timestamps.get(head, 0), logs, timestamps, t2 - t0 - decode_s,
        decode_s,
    )
    chain.fetch_s += time.perf_counter() - t2
    return chain


# ------------------------------------------------------------------ events not placed


@dataclass(frozen=True)
class Unplaced:
    """An event the chain accepted that the replay cannot place (a session's event before
    its `SessionOpened`, an award index never committed, a reveal naming an asset never
    registered ...): reported and skipped, never fatal for the other sessions."""

    event: str
    contract: str
    block: int
    tx: str
    log_index: int
    session_id: int | None  # the session it names, if any
    reason: str

    def key(self) -> tuple[int, int]:
        return (self.block, self.log_index)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "contract": self.contract,
            "block": self.block,
            "tx": self.tx,
            "log_index": self.log_index,
            "session_id": self.session_id,
            "reason": self.reason,
        }

    def __str__(self) -> str:
        return (f"{self.contract}.{self.event} at block {self.block} (tx {self.tx}, log "
                f"{self.log_index}): {self.reason}")  # fmt: skip


# ------------------------------------------------------------------ a session's record


def payment_parts(
    need: int, buyer: str, payment_ueur: int, shares: list[tuple[int, str, int]]
) -> list[tuple[int, str, int]]:
    """Who pays an award, `(need, buyer, µEUR)`: its own need first, paying the payment less
    the share rows (`AwardShared`), then each share row's need its share. The one reading of
    shared payments, for replicas and the API."""
    own = payment_ueur - sum(p for _, _, p in shares)
    return [(need, buyer, own), *shares]


@dataclass
class AwardRecord:
    index: int
    bid: str
    need: int
    seller: str
    buyer: str
    quantity_w: int
    price_eur_per_mw: int
    payment_ueur: int
    delivered_w: int | None = None  # as recorded, or as last corrected (DeliveryCorrected)
    lapsed: bool = False  # no delivery recorded by the delivery deadline (DeliveryLapsed)
    settlement: tuple[int, int, int] | None = None  # payment, refund, penalty as emitted
    # share rows (issue 7): (need, buyer, µEUR) charged to other needs, in row order; the
    # award's own need pays payment_ueur less their sum
    shares: list[tuple[int, str, int]] = field(default_factory=list)
    # ShareSettled, in order: (need, buyer, payment, refund, penalty)
    share_settlements: list[tuple[int, str, int, int, int]] = field(default_factory=list)

    def parts(self) -> list[tuple[int, str, int]]:
        """Who pays the award: (need, buyer, µEUR), the award's own need first."""
        return payment_parts(self.need, self.buyer, self.payment_ueur, self.shares)


@dataclass
class SessionRecord:
    """One session as the chain tells it."""

    session_id: int
    operator: str
    params: dict[str, Any]
    opened_block: int
    needs: list[dict[str, Any]] = field(default_factory=list)
    committed: dict[str, tuple[str, int]] = field(default_factory=dict)  # bid -> seller, time
    reveals: list[dict[str, Any]] = field(default_factory=list)
    # BatchRevealed args as the chain gave them: the oracle proves awarded batched bids'
    # terms from them (`OracleClient.load_batched_bids`) before it commits their awards
    batch_reveals: list[dict[str, Any]] = field(default_factory=list)
    forfeited: set[str] = field(default_factory=set)
    asset_snapshot: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    zone_limits: dict[str, int] = field(default_factory=dict)
    awards: list[AwardRecord] = field(default_factory=list)
    input_hash: str | None = None
    result_hash: str | None = None
    status: str = "None"
    attestations: list[str] = field(default_factory=list)  # validators, in order
    disputes: list[tuple[str, str]] = field(default_factory=list)  # validator, reason hash
    status_events: list[tuple[str, str]] = field(default_factory=list)  # event, status
    settle_order: list[int] = field(default_factory=list)  # award indices as settled
    statuses_at_settlement: list[str] = field(default_factory=list)
    coordination: str | None = None  # CoordinationPublished, 0x hex of the JSON bytes
    grid: str | None = None  # GridPublished, 0x hex of the JSON bytes (all parts, joined)
    grid_parts: list[str] = field(default_factory=list)  # GridPublished parts so far, 0x hex
    grid_part_count: int = 0  # the count part 0 fixed (0: none published)
    # events of this session the replay could not place: the rebuild may differ from the
    # session the chain holds, so no node may vouch for it (verifier.verify reports them)
    unplaced: list[Unplaced] = field(default_factory=list)

    @property
    def result_committed(self) -> bool:
        return self.status not in ("None", "Committing")

    @property
    def balancing_needs(self) -> set[int]:
        """Indices of the balancing needs (posted with no quantities)."""
        return {int(n["needIndex"]) for n in self.needs if is_balancing(n)}

    def scenario(self, chain_id: int, market_address: str) -> dict[str, Any]:
        """The session as a `flexmarket.scenario/1` dict (see the module docstring);
        RebuildError when the events do not make one."""
        try:
            return self._scenario(chain_id, market_address)
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise RebuildError(
                f"session {self.session_id}: its events do not make a scenario "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def _scenario(self, chain_id: int, market_address: str) -> dict[str, Any]:
        p = self.params
        participants: dict[str, str] = {}
        for n in self.needs:
            participants.setdefault(n["buyer"], BUYER_ROLES[n["buyerRole"]])
        for r in self.reveals:
            if participants.setdefault(r["seller"], "aggregator") != "aggregator":
                raise RebuildError(f"session {self.session_id}: {r['seller']} both buys and sells")
        zones: dict[str, None] = {}
        assets: dict[str, dict[str, Any]] = {}
        for r in self.reveals:
            zones[r["zone"]] = None
            for a in r["assetIds"]:
                info = self.asset_snapshot[(r["bidId"], a)]
                zones[info["zone"]] = None
                assets[a] = info
        for n in self.needs:
            if n["zone"] != ZERO32:
                zones[n["zone"]] = None
        slots = int(p["slotCount"])
        cap = int(p["priceCapEurPerMw"])
        market_extra, zone_extra = self._coordination()
        grid = self._grid()
        return {
            "schema": "flexmarket.scenario/1",
            "name": f"session {self.session_id} of {market_address} on chain {chain_id}",
            "market": {
                "id": label_text(p["marketId"]),
                "product": label_text(p["product"]),
                "pricing": PRICING[int(p["pricing"])],
                "start": iso_utc(int(p["deliveryStart"])),
                "slot_minutes": int(p["slotMinutes"]),
                "slots": slots,
                "min_bid_w": int(p["minBidW"]),
                "granularity_w": int(p["granularityW"]),
                "price_floor_eur_per_mw": int(p["priceFloorEurPerMw"]),
                "price_cap_eur_per_mw": None if cap == NO_LIMIT else cap,
                **market_extra,
            },
            "participants": [{"id": a, "role": role} for a, role in participants.items()],
            "zones": [
                {
                    "id": label_text(z),
                    "limit_w": self.zone_limits.get(z) or None,
                    **zone_extra.get(label_text(z), {}),
                }
                for z in zones
            ],
            "assets": [
                {
                    "id": a,
                    "manager": info["manager"],
                    "type": ASSET_TYPES[int(info["assetType"])],
                    "p_max_w": int(info["pMaxW"]),
                    "p_min_w": int(info["pMinW"]),
                    "zone": label_text(info["zone"]),
                }
                for a, info in assets.items()
            ],
            "requests": [
                {
                    "id": need_id(n["needIndex"]),
                    "buyer": n["buyer"],
                    "zone": None if n["zone"] == ZERO32 else label_text(n["zone"]),
                    "direction": DIRECTIONS[int(n["direction"])],
                    "quantity_w": (
                        int(n["quantityW"][0])
                        if len(n["quantityW"]) == 1
                        else [int(q) for q in n["quantityW"]]
                    ),  # fmt: skip
                    "max_price_eur_per_mw": (
                        None
                        if int(n["maxPriceEurPerMw"]) == NO_LIMIT
                        else int(n["maxPriceEurPerMw"])
                    ),  # fmt: skip
                }
                for n in self.needs
                if not is_balancing(n)
            ],
            "bids": [self._bid(r, slots) for r in self.reveals],
            "unmet_penalty_eur_per_mw": int(p["unmetPenaltyEurPerMw"]),
            **({} if grid is None else {"grid": grid}),
        }

    def _grid(self) -> dict[str, Any] | None:
        """The published grid object (issue 19), or None. Its content is checked where the
        scenario is parsed (`oracle.grid_spec.GridSpec`, every problem with its field)."""
        if self.grid is None:
            if self.grid_parts:  # a result over inputs nobody can rebuild
                raise RebuildError(
                    f"session {self.session_id}: grid inputs incomplete at gate closure: "
                    f"{len(self.grid_parts)} of {self.grid_part_count} parts published"
                )
            return None
        body = self._published_json("grid", self.grid)
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
            raise RebuildError(
                f"session {self.session_id}: published grid: an object with inputs expected"
            )
        return body

    def _published_json(self, what: str, data: str) -> Any:
        """A document the operator published on chain (`0x` hex of UTF-8 JSON), parsed; a
        RebuildError naming the session and `what` if it is not JSON."""
        try:
            return json.loads(bytes.fromhex(data[2:]).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise RebuildError(
                f"session {self.session_id}: published {what} is not JSON: {exc}"
            ) from exc

    def _coordination(self) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The published coordination inputs: market fields, and zone fields per zone id."""
        if self.coordination is None:
            return {}, {}
        body = self._published_json("coordination", self.coordination)
        if not isinstance(body, dict) or set(body) - {*COORD_MARKET, "zones"}:
            raise RebuildError(
                f"session {self.session_id}: published coordination: an object with "
                f"{', '.join(COORD_MARKET)} and zones expected"
            )
        market = {k: body[k] for k in COORD_MARKET if k in body}
        zones: dict[str, dict[str, Any]] = {}
        for z in body.get("zones", []):
            if (
                not isinstance(z, dict)
                or not isinstance(z.get("id"), str)
                or (set(z) - {"id", *COORD_ZONE})
            ):
                raise RebuildError(
                    f"session {self.session_id}: published coordination: zones[] must be "
                    f"objects with id and {', '.join(COORD_ZONE)}"
                )
            zones[z["id"]] = {k: z[k] for k in COORD_ZONE if k in z}
        return market, zones

    def _bid(self, r: Mapping[str, Any], slots: int) -> dict[str, Any]:
        mask = int(r["slotMask"])
        listed = [t for t in range(slots) if mask >> t & 1]
        divisible = bool(r["divisible"])
        _, committed_at = self.committed[r["bidId"]]
        return {
            "id": r["bidId"],
            "seller": r["seller"],
            "zone": label_text(r["zone"]),
            "direction": DIRECTIONS[int(r["direction"])],
            "quantity_w": int(r["quantityW"]),
            "min_quantity_w": int(r["minQuantityW"]) if divisible else None,
            "divisible": divisible,
            "price_eur_per_mw": int(r["priceEurPerMw"]),
            "slots": None if len(listed) == slots else listed,
            "assets": list(r["assetIds"]),
            "submitted_at": iso_utc(committed_at),
        }


def is_balancing(need: Mapping[str, Any]) -> bool:
    """A `NeedPosted` with no quantities: a balancing need (not a request to be met)."""
    return len(need["quantityW"]) == 0


def need_id(index: int) -> str:
    return f"need-{int(index)}"


def need_index(request_id: str) -> int:
    return int(request_id.removeprefix("need-"))


# ------------------------------------------------------------------ the replay


@dataclass
class ChainState:
    """Every session of a deployment, replayed from its events."""

    chain: ChainLog
    sessions: dict[int, SessionRecord]
    unplaced: list[Unplaced] = field(default_factory=list)  # every one, in chain order

    @property
    def market_address(self) -> str:
        return self.chain.addresses["FlexMarket"]

    def scenario(self, session_id: int) -> dict[str, Any]:
        return self.sessions[session_id].scenario(self.chain.chain_id, self.market_address)

    def unplaced_elsewhere(self) -> list[Unplaced]:
        """The events not placed that belong to no session's record (a session's event
        before its SessionOpened, a registry event): they change no session."""
        held = {u.key() for s in self.sessions.values() for u in s.unplaced}
        return [u for u in self.unplaced if u.key() not in held]


def replay(chain: ChainLog) -> ChainState:
    """Replay the decoded events into sessions (registry state tracked along the way).

    Whatever the chain accepted, the replay goes on: an event it cannot place is recorded
    (`ChainState.unplaced`, and the session's `unplaced` when it names a known session),
    skipped, and nothing of it is applied. A session's event before its `SessionOpened`
    belongs to no session; a bid committed so is remembered, should a reveal in the
    session it named follow."""
    sessions: dict[int, SessionRecord] = {}
    registry = _Registry()
    award_of: dict[tuple[int, int], AwardRecord] = {}
    early: dict[str, tuple[int, str, int]] = {}  # bid -> session, seller, time (not open)
    unplaced: list[Unplaced] = []

    def skip(log: DecodedLog, sid: int | None, reason: str) -> None:
        u = Unplaced(log.event or "(unknown event)", log.contract, log.block_number,
                     log.tx_hash, log.log_index, sid, reason)  # fmt: skip
        unplaced.append(u)
        if sid is not None and sid in sessions:
            sessions[sid].unplaced.append(u)

    for log in _ordered(chain.logs):
        a = log.args
        name = log.event
        if log.contract == "FlexRegistry":
            try:
                registry.apply(name, a)
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                skip(log, None, _why(exc))
            continue
        if not name:  # a log of the deployment that no event of its ABI names
            topic = (log.args.get("topics") or ["(none)"])[0]
            skip(log, None, f"its topic {topic} is no event of the {log.contract} ABI")
            continue
        if log.contract != "FlexMarket" or "sessionId" not in a:
            continue
        try:
            sid = int(a["sessionId"])
        except (TypeError, ValueError) as exc:
            skip(log, None, _why(exc))
            continue
        if name == "SessionOpened":
            if sid in sessions:
                skip(log, sid, f"session {sid} is open already")
                continue
            try:
                sessions[sid] = SessionRecord(sid, a["operator"], dict(a["params"]),
                                              log.block_number)  # fmt: skip
            except (KeyError, TypeError, ValueError) as exc:
                skip(log, None, _why(exc))
            continue
        s = sessions.get(sid)
        if s is None:
            if name == "BidCommitted" and log.block_number in chain.timestamps and {
                    "bidId", "seller"} <= set(a):  # fmt: skip
                early[a["bidId"]] = (sid, a["seller"], chain.timestamps[log.block_number])
            skip(log, sid, f"{name} of session {sid} before its SessionOpened")
            continue
        try:
            _apply(s, log, chain, registry, award_of, early)
        except (KeyError, IndexError, ValueError, TypeError, RebuildError) as exc:
            skip(log, sid, _why(exc))
    for s in sessions.values():
        s.zone_limits = dict(registry.zone_limits)
    return ChainState(chain, sessions, unplaced)


def _why(exc: BaseException) -> str:
    if isinstance(exc, RebuildError):
        return str(exc)
    if isinstance(exc, KeyError):
        return f"refers to {exc.args[0]!r}, which the replay does not know"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class _Registry:
    """Registry state as the replay goes: zone limits, assets (with their manager)."""

    zone_limits: dict[str, int] = field(default_factory=dict)
    assets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, name: str, a: Mapping[str, Any]) -> None:
        if name == "ZoneRegistered":
            self.zone_limits[a["zone"]] = int(a["limitW"])
        elif name == "AssetRegistered":
            self.assets[a["assetId"]] = dict(a)
        elif name == "ManagementTransferred" and a["assetId"] in self.assets:
            self.assets[a["assetId"]] = {**self.assets[a["assetId"]], "manager": a["newManager"]}


def _apply(
    s: SessionRecord,
    log: DecodedLog,
    chain: ChainLog,
    registry: _Registry,
    award_of: dict[tuple[int, int], AwardRecord],
    early: Mapping[str, tuple[int, str, int]],
) -> None:
    """Apply one event of an open session; raises (changing nothing) when it cannot."""
    a = log.args
    name = log.event
    sid = s.session_id

    def award(index: Any) -> AwardRecord:
        rec = award_of.get((sid, int(index)))
        if rec is None:
            raise RebuildError(f"{name} of award {int(index)} of session {sid}, never committed")
        return rec

    if name == "NeedPosted":
        s.needs.append(dict(a))
    elif name == "BidCommitted":
        s.committed[a["bidId"]] = (a["seller"], chain.timestamps[log.block_number])
    elif name == "BatchCommitted":  # bids keccak256(abi.encode(batchId, i)), i < count
        batch, at = bytes.fromhex(a["batchId"][2:]), chain.timestamps[log.block_number]
        for i in range(int(a["count"])):
            s.committed["0x" + batched_bid_id(batch, i).hex()] = (a["seller"], at)
    elif name in ("BidRevealed", "BatchRevealed"):
        # a batch's bids as BidRevealed args; all of them checked before any is applied
        rate = int(s.params["collateralUeurPerW"])
        shown = [a] if name == "BidRevealed" else revealed_bids(a, rate)
        placed: list[tuple[str, tuple[str, int], Mapping[str, Any]]] = []
        for r in shown:
            bid = r["bidId"]
            committed = s.committed.get(bid)
            if committed is None and early.get(bid, (None,))[0] == sid:
                committed = early[bid][1:]  # committed before the session opened
            if committed is None:
                raise RebuildError(f"{name} of bid {bid}, never committed in session {sid}")
            missing = [x for x in r["assetIds"] if x not in registry.assets]
            if missing:
                raise RebuildError(f"{name} of bid {bid} names assets never registered: "
                                   f"{', '.join(missing)}")  # fmt: skip
            placed.append((bid, committed, r))
        if name == "BatchRevealed":
            s.batch_reveals.append(dict(a))
        for bid, committed, terms in placed:
            s.committed[bid] = committed
            s.reveals.append(dict(terms))
            for asset in terms["assetIds"]:
                s.asset_snapshot[(bid, asset)] = dict(registry.assets[asset])
    elif name == "BondForfeited":
        s.forfeited.add(a["bidId"])
    elif name == "BondsForfeited":  # every unrevealed bid of the seller at once
        revealed = {r["bidId"] for r in s.reveals}
        s.forfeited |= {b for b, (seller, _) in s.committed.items()
                        if seller == a["seller"] and b not in revealed}  # fmt: skip
    elif name == "AwardCommitted":
        rec = AwardRecord(
            int(a["awardIndex"]), a["bidId"], int(a["needIndex"]), a["seller"], a["buyer"],
            int(a["quantityW"]), int(a["priceEurPerMw"]), int(a["paymentUeur"]),
        )  # fmt: skip
        if (sid, rec.index) in award_of:
            raise RebuildError(f"AwardCommitted of award {rec.index} of session {sid} again")
        s.awards.append(rec)
        award_of[(sid, rec.index)] = rec
        s.status = "Committing"
    elif name == "AwardShared":
        award(a["awardIndex"]).shares.append(
            (int(a["needIndex"]), a["buyer"], int(a["paymentUeur"]))
        )
    elif name == "CoordinationPublished":
        s.coordination = a["coordination"]
    elif name == "GridPublished":  # parts in order from 0 (the contract accepts no other)
        index, count = int(a["partIndex"]), int(a["partCount"])
        if s.grid is not None or index != len(s.grid_parts) or count < 1 or (
                s.grid_parts and count != s.grid_part_count):  # fmt: skip
            raise RebuildError(f"GridPublished part {index} of {count} of session {sid} after "
                               f"{len(s.grid_parts)} of {s.grid_part_count} parts"
                               f"{' (complete)' if s.grid is not None else ''}")  # fmt: skip
        s.grid_parts.append(a["part"])
        s.grid_part_count = count
        if len(s.grid_parts) == count:
            s.grid = "0x" + "".join(p[2:] for p in s.grid_parts)
    elif name == "ShareSettled":
        award(a["awardIndex"]).share_settlements.append(
            (int(a["needIndex"]), a["buyer"], int(a["paymentUeur"]), int(a["refundUeur"]),
             int(a["penaltyUeur"]))
        )  # fmt: skip
    elif name == "ResultCommitted":
        status = STATUS[int(a["status"])]
        s.input_hash, s.result_hash = a["inputHash"], a["resultHash"]
        s.status = status
        s.status_events.append((name, status))
    elif name == "ResultAttested":
        status = STATUS[int(a["status"])]
        s.attestations.append(a["validator"])
        s.status = status
        s.status_events.append((name, status))
    elif name == "ResultDisputed":
        s.disputes.append((a["validator"], a["reasonHash"]))
        s.status = "Disputed"
        s.status_events.append((name, s.status))
    elif name == "DisputeResolved":
        s.status = STATUS[int(a["status"])]
        s.status_events.append((name, s.status))
    elif name in ("DeliveryRecorded", "DeliveryCorrected"):
        award(a["awardIndex"]).delivered_w = int(a["deliveredW"])
    elif name == "DeliveryLapsed":
        award(a["awardIndex"]).lapsed = True
    elif name == "AwardSettled":
        rec = award(a["awardIndex"])
        settled = (int(a["paymentUeur"]), int(a["refundUeur"]), int(a["penaltyUeur"]))
        rec.settlement = settled
        s.settle_order.append(rec.index)
        s.statuses_at_settlement.append(s.status)


def _ordered(logs: Iterable[DecodedLog]) -> list[DecodedLog]:
    return sorted(logs, key=lambda log: (log.block_number, log.log_index))


def rebuild(
    rpc_url: str,
    addresses: Mapping[str, str],
    *,
    start_block: int = 0,
    decoder: EventDecoder | None = None,
) -> ChainState:
    """Read the chain at `rpc_url` and replay it: every session of the deployment."""
    with JsonRpc(rpc_url) as rpc:
        return replay(read_chain(rpc, addresses, start_block=start_block, decoder=decoder))
