"""Replica node: re-check every committed result, payment and contract from the chain alone.

For each session whose result is committed, the verifier rebuilds the session
(verifier.rebuild), clears it itself (`oracle.clear`) and judges the committed award rows:

1. **rows**: every row of a bid has the same price and the bid's seller;
2. **feasible**: the awards, summed per bid, form a result (unmet rows by an exact max-flow,
   the rejected list of the rules) that the independent checker `oracle.check` accepts:
   valid bids only, all-or-nothing and minimum quantities, the pricing rule, payments;
3. **cost**: its objective (payments at bid prices + unmet x penalty) is at most this node's
   optimum times 1 + the gap the engine declares for the session (0 when exact);
4. **hashes**: when the committed `input_hash` is the hash of the rebuilt session (an oracle
   that cleared the chain's session, as the oracle service does), the committed
   `result_hash` must be this node's own: both run the same deterministic engine. When the
   oracle hashed another representation (the demo clears the scenario file, whose ids are
   not on chain), the hashes cannot be reproduced: noted, and the content checks decide;
5. **settlements**: every `AwardSettled` is recomputed from the award, its `DeliveryRecorded`
   (or the last `DeliveryCorrected`; a `DeliveryLapsed` award pays nothing and refunds all)
   and the session's tolerance, penalty rate and the seller's collateral left in the session,
   and only a `Final` result may have been paid; a shared award's `ShareSettled` parts are
   recomputed by the contract's split (cumulative floors in share-row order, its own need
   last);
6. **payers**: what each buyer pays of each award on chain (its rows: the award's own
   need, its share rows) must equal the payer rule's share exactly (`oracle.payers`: the
   watts each buyer's requests received from it, by a max-flow in buyer order, the payment
   split in proportion), recomputed from the committed awards, in every session.

Events the replay cannot place (verifier.rebuild: a session's event before its
SessionOpened, an award index never committed ...) are reported, never fatal: one of a
session is that session's violation (its rebuild may not be the chain's session), one of no
session is listed in the report (`unplaced`) and changes no verdict. A failure of this node
on one session is that session's violation; the other sessions are judged.

A session with TSO-DSO coordination (several buyer roles, zone safety, red slots, or
published coordination inputs: `oracle.coordination.needs_coordination`) is cleared here with
`clear_coordinated`; the committed award set becomes a whole coordinated result
(`coordinated_result`: unmet per layer, shares, conflicts, traffic light) that
`check_coordinated` must accept, and what each buyer pays per award on chain (its rows: the
award's own need, its share rows) must equal that result's `shares` exactly. Under
sequential coupling the shares depend on which stage bought which watts: exact when the
committed awards are this node's own, otherwise only their sums are checked (noted).

Balancing needs (`balance_dso`: a DSO's need posted with no quantities, its budget for
counter-activations) are not requests of the rebuilt session; exactly the counter-activations
(awards of that coordinated result no request counted: their `shares` row received 0 W) must
be charged to balancing needs, every row of theirs, and no row of any other award may charge
one. A session without coordination has no counter-activations: no row may charge a
balancing need.

The deployed runtime bytecode (`eth_getCode`) of each contract (and of the FlexRelay and
FlexResults that FlexMarket creates) must equal the compiled artifact's, except in the
all-zero PUSH32 immediates where solc leaves room for immutables; an immutable holding an
address must be one of the deployment's contracts (the token, registry, market, the relay
and results contracts it created).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from oracle.display import progress
from oracle.rules import bid_serves
from python_client.paths import ARTIFACTS_DIR
from verifier.errors import InputError
from verifier.rebuild import (
    ChainState,
    RebuildError,
    SessionRecord,
    Unplaced,
    read_chain,
    replay,
)
from verifier.report import session_read
from verifier.rpc import JsonRpc


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"flexmarket {version('flexmarket')}"
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "flexmarket (not installed)"


# ------------------------------------------------------------------ one session


@dataclass
class SessionReport:
    session_id: int
    status: str
    bids: int
    awards: int
    ok: bool = True
    checked: bool = False
    input_hash: dict[str, Any] = field(default_factory=dict)
    result_hash: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    settlements: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    grid: dict[str, Any] = field(default_factory=dict)  # verifier.grid (grid sessions only)
    # the awards as read and the coordination inputs (verifier.report.session_read); in
    # the JSON, `awards` is that list (the count is its length)
    read: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.ok = False
        self.violations.append(what)

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "status": self.status,
            "ok": self.ok,
            "checked": self.checked,
            "bids": self.bids,
            "awards": self.read.get("awards", []),
            "coordination": self.read.get("coordination"),
            "input_hash": self.input_hash,
            "result_hash": self.result_hash,
            "cost": self.cost,
            "settlements": self.settlements,
            "violations": self.violations,
            "notes": self.notes,
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            **({"grid": self.grid} if self.grid else {}),
        }


def chain_result(scenario: Any, rec: SessionRecord, own: Any, report: SessionReport) -> Any:
    """The committed award rows as a sealed `Result` of the rebuilt scenario."""
    from oracle.flow import bipartite_max_flow
    from oracle.result import Award, Result, Unmet

    bids = {b.id: b for b in scenario.bids}
    per_bid: dict[str, list[Any]] = defaultdict(list)
    for row in rec.awards:
        per_bid[row.bid].append(row)
    awards = []
    for bid_id in sorted(per_bid):
        rows = per_bid[bid_id]
        prices = {r.price_eur_per_mw for r in rows}
        if len(prices) > 1:
            report.fail(f"awards of bid {bid_id}: rows at different prices {sorted(prices)}")
        b = bids.get(bid_id)
        if b is not None and any(r.seller != b.seller for r in rows):
            report.fail(f"awards of bid {bid_id}: a row names another seller")
        awards.append(
            Award(
                bid=bid_id,
                seller=rows[0].seller,
                quantity_w=sum(r.quantity_w for r in rows),
                price_eur_per_mw=rows[0].price_eur_per_mw,
                payment_ueur=sum(r.payment_ueur for r in rows),
            )
        )
    # unmet: what an exact max-flow of the awarded watts leaves, slot by slot
    m = scenario.market
    requests = scenario.requests

    def need(r: int, t: int) -> int:
        q = requests[r].quantity_w
        return q if isinstance(q, int) else q[t]

    active: dict[int, list[Any]] = defaultdict(list)
    for a in awards:
        b = bids.get(a.bid)
        if b is None:
            continue
        for t in range(m.slots) if b.slots is None else b.slots:
            active[t].append((b, a.quantity_w))
    unmet: list[Any] = []
    rows_by_request: dict[tuple[int, int], int] = {}
    may_serve: dict[str, tuple[int, ...]] = {}  # per awarded bid, whatever the slot
    for t in range(m.slots):
        reqs = [r for r in range(len(requests)) if need(r, t) > 0]
        if not reqs:
            continue
        needed = set(reqs)
        supply: dict[tuple[int, ...], int] = defaultdict(int)
        for b, q in active[t]:
            if b.id not in may_serve:
                may_serve[b.id] = tuple(
                    r for r in range(len(requests)) if bid_serves(b, requests[r])
                )
            group = tuple(r for r in may_serve[b.id] if r in needed)
            if group:
                supply[group] += q
        groups = sorted(supply)
        pos = {r: j for j, r in enumerate(reqs)}
        edges = [(i, pos[r]) for i, g in enumerate(groups) for r in g]
        flows = bipartite_max_flow([supply[g] for g in groups], [need(r, t) for r in reqs], edges)
        received: dict[int, int] = defaultdict(int)
        for (_, j), w in flows.items():
            received[j] += w
        for j, r in enumerate(reqs):
            left = need(r, t) - received[j]
            if left > 0:
                rows_by_request[(r, t)] = left
    for (r, t), w in sorted(rows_by_request.items()):
        unmet.append(Unmet(request=requests[r].id, slot=t, quantity_w=w))
    result = Result(
        market=m.id,
        pricing=m.pricing,
        awards=awards,
        rejected=list(own.rejected),
        unmet=unmet,
        total_cost_ueur=sum(a.payment_ueur for a in awards),
        mip_gap=own.mip_gap,
    )
    return result.sealed(scenario.input_hash())


def _rows_per_bid(rec: SessionRecord, scenario: Any, report: SessionReport) -> dict[str, list[Any]]:
    bids = {b.id: b for b in scenario.bids}
    per_bid: dict[str, list[Any]] = defaultdict(list)
    for row in rec.awards:
        per_bid[row.bid].append(row)
    for bid_id, rows in per_bid.items():
        prices = {r.price_eur_per_mw for r in rows}
        if len(prices) > 1:
            report.fail(f"awards of bid {bid_id}: rows at different prices {sorted(prices)}")
        b = bids.get(bid_id)
        if b is None:
            report.fail(f"awards of bid {bid_id}: not a revealed bid of the session")
        elif any(r.seller != b.seller for r in rows):
            report.fail(f"awards of bid {bid_id}: a row names another seller")
    return per_bid


def coordinated_chain_result(
    scenario: Any, rec: SessionRecord, own: Any, report: SessionReport
) -> Any:
    """The committed awards as a whole coordinated result (None if they cannot be one), and
    the shares on chain checked against it: per award and buyer, µEUR paid = its share."""
    from oracle.coordination import coordinated_result

    per_bid = _rows_per_bid(rec, scenario, report)
    awards_w = {b: sum(r.quantity_w for r in rows) for b, rows in per_bid.items()}
    own_w = {a.bid: a.quantity_w for a in own.awards}
    coupling = scenario.market.coupling
    try:
        if awards_w == own_w:
            result = own  # the same award set: this node's shares are the reference
        else:
            result = coordinated_result(scenario, awards_w, coupling=coupling)
    except ValueError as exc:
        report.fail(f"infeasible: {exc}")
        return None
    paid = {a.bid: a.payment_ueur for a in result.awards}
    for bid_id, rows in sorted(per_bid.items()):
        on_chain = sum(r.payment_ueur for r in rows)
        if on_chain != paid.get(bid_id):
            report.fail(f"awards of bid {bid_id}: payment {on_chain} µEUR, the pricing rule "
                        f"gives {paid.get(bid_id)} µEUR")  # fmt: skip
    exact = coupling == "common" or result is own
    mismatches = _balancing_mismatches(rec, per_bid, result.shares or [])
    mismatches += payer_mismatches(result.shares or [], per_bid)
    if exact:
        for m in mismatches:
            report.fail(m if m.startswith("balancing: ") else f"shares: {m}")
    elif mismatches:
        report.notes.append(
            "sequential coupling with another award set than this node's: which stage bought "
            "which watts is not on chain, shares checked for their sums only"
        )
    return result


def payer_mismatches(
    shares: Sequence[Mapping[str, Any]], per_bid: Mapping[str, Sequence[Any]]
) -> list[str]:
    """Where what each buyer pays of each award on chain (its rows: the award's own need,
    its share rows) differs from the payer rule's `shares` (`oracle.payers`)."""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for row in shares:
        expected[(str(row["bid"]), str(row["buyer"]))] += int(row["payment_ueur"])
    committed: dict[tuple[str, str], int] = defaultdict(int)
    for bid_id, rows in per_bid.items():
        for r in rows:
            for _, buyer, amount in r.parts():
                committed[(bid_id, buyer)] += amount
    out = []
    for key in sorted(set(expected) | set(committed)):
        if expected.get(key, 0) != committed.get(key, 0):
            out.append(f"bid {key[0]}: {key[1]} pays {committed.get(key, 0)} µEUR on "
                       f"chain, its share is {expected.get(key, 0)} µEUR")  # fmt: skip
    return out


def _balancing_mismatches(
    rec: SessionRecord, per_bid: Mapping[str, Sequence[Any]], shares: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Rows that charge a balancing need for an award some request counted, or another need
    for a counter-activation (an award no request counted, by the result's `shares`)."""
    balancing = rec.balancing_needs
    received: dict[str, int] = defaultdict(int)
    for row in shares:
        received[str(row["bid"])] += int(row["received_w_slots"])
    out = []
    for bid_id, rows in sorted(per_bid.items()):
        counter = received.get(bid_id) == 0
        for r in rows:
            for need, _, amount in r.parts():
                if counter and need not in balancing:
                    out.append(f"balancing: bid {bid_id} is a counter-activation (no request "
                               f"counted its watts), {amount} µEUR of it charged to need-{need}, "
                               "not a balancing need")  # fmt: skip
                elif not counter and need in balancing:
                    out.append(f"balancing: bid {bid_id} served requests, {amount} µEUR of it "
                               f"charged to the balancing need need-{need}")  # fmt: skip
    return out


def objective_ueur(scenario: Any, result: Any) -> int:
    """Payments at bid prices plus unmet watts at the penalty: what clearing minimises."""
    price = {b.id: b.price_eur_per_mw for b in scenario.bids}
    paid = sum(a.quantity_w * price.get(a.bid, a.price_eur_per_mw) for a in result.awards)
    return int(paid + sum(u.quantity_w for u in result.unmet) * scenario.unmet_penalty_eur_per_mw)


def check_settlements(state: ChainState, rec: SessionRecord, report: SessionReport) -> None:
    """Recompute every settlement of the session from its award, delivery and rules."""
    p = rec.params
    tolerance = int(p["toleranceBps"])
    rate = int(p["shortfallPenaltyEurPerMw"])
    collateral: dict[str, int] = defaultdict(int)
    for r in rec.reveals:
        collateral[r["seller"]] += int(r["collateralUeur"])
    by_index = {a.index: a for a in rec.awards}
    mismatches: list[str] = []
    checked = 0
    for index, status in zip(rec.settle_order, rec.statuses_at_settlement, strict=True):
        a = by_index[index]
        if status != "Final":
            mismatches.append(f"award {index} was paid while the result was {status}")
        if a.lapsed and a.delivered_w is None and a.settlement is not None:
            # no delivery recorded by the delivery deadline: the buyers get their payment
            # back, the seller neither payment nor penalty
            delivered, shortfall = 0, 0
        elif a.delivered_w is None or a.settlement is None or a.lapsed:
            mismatches.append(f"award {index} was settled without a recorded delivery")
            continue
        else:
            delivered = min(a.delivered_w, a.quantity_w)
            shortfall = a.quantity_w - delivered
        payment, refund, penalty = a.payment_ueur, 0, 0
        if a.lapsed:
            payment, refund = 0, a.payment_ueur
        elif shortfall * 10_000 > a.quantity_w * tolerance:
            payment = a.payment_ueur // a.quantity_w * delivered
            refund = a.payment_ueur - payment
            penalty = min(shortfall * rate, collateral[a.seller])
            collateral[a.seller] -= penalty
        expected = (payment, refund, penalty)
        checked += 1
        if a.settlement != expected:
            mismatches.append(
                f"award {index}: settled (payment, refund, penalty) {a.settlement}, "
                f"recomputed {expected}"
            )
        parts = share_parts(a.parts(), a.payment_ueur, refund, penalty) if a.shares else []
        if a.share_settlements != parts:
            mismatches.append(
                f"award {index}: buyers' parts (need, buyer, payment, refund, penalty) "
                f"{a.share_settlements}, recomputed {parts}"
            )
    report.settlements = {"checked": checked, "mismatches": mismatches}
    for m in mismatches:
        report.fail(f"settlement: {m}")


def share_parts(
    parts: Sequence[tuple[int, str, int]], total: int, refund: int, penalty: int
) -> list[tuple[int, str, int, int, int]]:
    """FlexMarket's split of a shared award's settlement: share rows in order, the award's
    own need (`parts[0]`) last, each taking floor(x * cumulative / total) - floor(x *
    cumulative before / total) of the refund and the penalty (all to the own need when the
    payment is 0). Returns (need, buyer, paid to the seller, refund, penalty) per part."""
    out: list[tuple[int, str, int, int, int]] = []
    cumulative = refund_done = penalty_done = 0
    for need, buyer, share in [*parts[1:], parts[0]]:
        cumulative += share
        last = len(out) == len(parts) - 1
        if last:
            r, p = refund - refund_done, penalty - penalty_done
        elif total:
            r = refund * cumulative // total - refund_done
            p = penalty * cumulative // total - penalty_done
        else:
            r = p = 0
        refund_done += r
        penalty_done += p
        out.append((need, buyer, share - r, r, p))
    return out


def verify_session(
    state: ChainState, session_id: int, *, strict_hash: bool = True
) -> tuple[SessionReport, Any]:
    """Judge one session; returns the report and this node's own result (None if not
    cleared: no committed result yet)."""
    from oracle import OracleError, check, clear, parse_scenario
    from oracle.coordination import check_coordinated, clear_coordinated, needs_coordination
    from oracle.payers import payer_shares

    rec = state.sessions[session_id]
    report = SessionReport(
        session_id, rec.status, len(rec.reveals), len(rec.awards), read=session_read(rec)
    )
    for u in rec.unplaced:  # the rebuild may differ from the session on chain
        report.fail(f"event not placed: {u}")
    if not rec.result_committed:
        report.notes.append(f"no complete result on chain (status {rec.status})")
        check_settlements(state, rec, report)
        return report, None
    t0 = time.perf_counter()
    try:
        scenario = parse_scenario(state.scenario(session_id))
    except (RebuildError, OracleError) as exc:
        report.fail(f"the session cannot be rebuilt from chain: {exc}")
        check_settlements(state, rec, report)
        return report, None
    t1 = time.perf_counter()
    grid_cuts = None
    if scenario.grid is not None:  # a grid session: cleared with its published cuts
        from oracle.grid.published import clear_published

        coordinated = False
        own, grid_cuts = clear_published(scenario)
    else:
        coordinated = needs_coordination(scenario)
        own = clear_coordinated(scenario) if coordinated else clear(scenario)
    t2 = time.perf_counter()
    if coordinated:
        committed = coordinated_chain_result(scenario, rec, own, report)
        if committed is None:
            check_settlements(state, rec, report)
            return report, own
        violations = check_coordinated(scenario, committed)
    else:
        committed = chain_result(scenario, rec, own, report)
        violations = check(scenario, committed)
        for a in rec.awards:  # no counter-activations without coordination
            for need, _, amount in a.parts():
                if need in rec.balancing_needs:
                    report.fail(f"balancing: bid {a.bid}: {amount} µEUR charged to the balancing "
                                f"need need-{need} in a session without coordination")  # fmt: skip
        # who pays: the payer rule, recomputed from the committed awards (rows of a bid that
        # cannot serve the session have no payer: `check` reports them)
        revealed = {b.id for b in scenario.bids}
        per_bid: dict[str, list[Any]] = defaultdict(list)
        for row in rec.awards:
            if row.bid in revealed:
                per_bid[row.bid].append(row)
        for m in payer_mismatches(payer_shares(scenario, committed), per_bid):
            report.fail(f"shares: {m}")
    for v in violations:
        report.fail(f"infeasible: {v}")
    if grid_cuts is not None:  # the published cuts; the model's own checks on a DSO node
        from verifier.grid import check_grid

        check_grid(scenario, {a.bid: a.quantity_w for a in committed.awards}, grid_cuts, report)
    gap = Decimal(own.mip_gap or 0)
    obj_chain, obj_own = objective_ueur(scenario, committed), objective_ueur(scenario, own)
    allowed = obj_own * (1 + gap)
    report.cost = {
        "committed_objective_ueur": obj_chain,
        "own_objective_ueur": obj_own,
        "gap": str(gap),
        "committed_total_cost_ueur": committed.total_cost_ueur,
        "own_total_cost_ueur": own.total_cost_ueur,
    }
    if obj_chain > allowed:
        report.fail(
            f"not optimal: objective {obj_chain} µEUR > this node's optimum {obj_own} "
            f"within gap {gap}"
        )
    rebuilt_input = scenario.input_hash()
    report.input_hash = {
        "committed": rec.input_hash,
        "rebuilt": rebuilt_input,
        "match": rec.input_hash == rebuilt_input,
    }
    report.result_hash = {
        "committed": rec.result_hash,
        "own": own.result_hash,
        "match": rec.result_hash == own.result_hash,
        "engine": engine_version(),
        # False: the committed input_hash is of another representation of the session (the
        # demo's: the scenario file), so no result_hash computed here can equal it
        "comparable": rec.input_hash == rebuilt_input,
    }
    if rec.input_hash == rebuilt_input:
        if rec.result_hash != own.result_hash:
            msg = "result_hash differs from this node's clear of the same session"
            if strict_hash:
                report.fail(msg)
            else:
                report.notes.append(msg + " (another engine version?)")
    else:
        report.notes.append(
            "input_hash not reproducible: the committer hashed another representation of the "
            "session (`flexmarket demo` commits the hashes of the scenario file, whose bid and "
            "participant ids are not on chain), so neither hash can be recomputed here; the "
            "awards, payments and costs were checked on their content instead"
        )
    t3 = time.perf_counter()
    check_settlements(state, rec, report)
    report.checked = True
    report.timings_s = {"scenario": t1 - t0, "clear": t2 - t1, "check": t3 - t2,
                        **report.timings_s}  # (grid sessions: the grid checks' own, in check)
    return report, own


# ------------------------------------------------------------------ bytecode


def check_bytecode(
    rpc: JsonRpc, addresses: Mapping[str, str], artifacts_dir: Path = ARTIFACTS_DIR
) -> dict[str, Any]:
    """Runtime code on chain == compiled runtime code (immutables aside): name -> verdict."""
    addresses = dict(addresses)
    market_abi = artifacts_dir / "FlexMarket.json"
    if "FlexMarket" in addresses and market_abi.is_file():
        abi = json.loads(market_abi.read_text())["abi"]
        # the contracts FlexMarket creates (its relay, the FlexResults it delegates
        # commitResult to): their code and addresses are checked too
        for view, name in (("relay", "FlexRelay"), ("results", "FlexResults")):
            if any(i.get("name") == view and i.get("type") == "function" for i in abi):
                selector = "0x" + keccak(text=f"{view}()")[:4].hex()
                word = rpc.call(
                    "eth_call", [{"to": addresses["FlexMarket"], "data": selector}, "latest"]
                )
                addresses[name] = "0x" + str(word)[-40:]
    allowed = {bytes(12) + bytes.fromhex(a[2:]) for a in addresses.values()}
    out: dict[str, Any] = {}
    names = sorted(addresses)
    codes = rpc.batch([("eth_getCode", [addresses[n], "latest"]) for n in names])
    for name, code in zip(names, codes, strict=True):
        path = artifacts_dir / f"{name}.json"
        if not path.is_file():
            out[name] = {"ok": False, "detail": f"{path} is missing: run `make build-contracts`"}
            continue
        compiled = bytes.fromhex(
            json.loads(path.read_text())["deployedBytecode"].removeprefix("0x")
        )
        deployed = bytes.fromhex(str(code)[2:])
        out[name] = _compare_code(compiled, deployed, allowed)
    return out


def _zero_push32(code: bytes) -> list[int]:
    """Starts of the all-zero PUSH32 immediates of `code`: where solc leaves room for an
    immutable in the runtime code it outputs (the constructor writes the value there)."""
    starts, i = [], 0
    while i < len(code):
        op = code[i]
        if op == 0x7F and code[i + 1 : i + 33] == bytes(32):
            starts.append(i + 1)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return starts


def _compare_code(compiled: bytes, deployed: bytes, allowed: set[bytes]) -> dict[str, Any]:
    """Equal, but in immutable slots; an immutable that holds an address (12 zero bytes
    first) must be one of the deployment's contracts."""
    if len(compiled) != len(deployed):
        return {"ok": False, "detail": f"{len(deployed)} bytes on chain, {len(compiled)} compiled"}
    slots = _zero_push32(compiled)
    masked = bytearray(deployed)
    immutables = 0
    for start in slots:
        word = deployed[start : start + 32]
        if word == bytes(32):
            continue
        if word[:12] == bytes(12) and word not in allowed and int.from_bytes(word) >= 2**64:
            return {"ok": False, "detail": f"immutable at byte {start} is a foreign address"}
        masked[start : start + 32] = bytes(32)
        immutables += 1
    if bytes(masked) != compiled:
        pos = next(i for i in range(len(compiled)) if compiled[i] != masked[i])
        return {"ok": False, "detail": f"code differs at byte {pos}"}
    return {"ok": True, "bytes": len(deployed), "immutables": immutables}


# ------------------------------------------------------------------ whole chain


@dataclass
class Report:
    chain_id: int
    head: int
    engine: str
    bytecode: dict[str, Any]
    sessions: list[SessionReport]
    timings_s: dict[str, float]
    events: int
    # events of no session (before its SessionOpened, ...): reported, skipped; they change
    # no session, so they fail none (an event of a session is that session's violation)
    unplaced: list[Unplaced] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(v.get("ok") for v in self.bytecode.values()) and all(s.ok for s in self.sessions)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain_id": self.chain_id,
            "head": self.head,
            "engine": self.engine,
            "events": self.events,
            "bytecode": self.bytecode,
            "sessions": [s.to_json() for s in self.sessions],
            "unplaced": [u.to_json() for u in self.unplaced],
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
        }

    def render(self) -> str:
        lines = [
            f"chain {self.chain_id} at block {self.head}: {self.events} events, "
            f"engine {self.engine}"
        ]
        for name, v in sorted(self.bytecode.items()):
            detail = "runtime code = compiled" if v.get("ok") else f"MISMATCH: {v.get('detail')}"
            lines.append(f"  {name:<13} {detail}")
        for s in self.sessions:
            verdict = "ok" if s.ok else "MISMATCH"
            lines.append(
                f"session {s.session_id}: {verdict} (status {s.status}, {s.bids} bids, "
                f"{s.awards} award rows, {s.settlements.get('checked', 0)} settlements checked)"
            )
            if s.cost:
                lines.append(
                    f"  objective {s.cost['committed_objective_ueur']:,} µEUR, this node's "
                    f"{s.cost['own_objective_ueur']:,} (gap {s.cost['gap']})"
                )
            if s.result_hash:
                if s.result_hash["match"]:
                    same = "same here"
                elif not s.result_hash.get("comparable", True):
                    same = "differs here, as expected: see the input_hash note"
                else:
                    same = "differs here"
                lines.append(f"  result_hash {s.result_hash['committed']} ({same})")
            lines += [f"  ! {v}" for v in s.violations]
            lines += [f"  - {n}" for n in s.notes]
        if self.unplaced:
            lines.append(f"{len(self.unplaced)} events of no session, skipped:")
            lines += [f"  - {u}" for u in self.unplaced]
        lines.append("all checks passed" if self.ok else "MISMATCHES FOUND")
        return "\n".join(lines)


def load_state(
    rpc: JsonRpc, deployment: Any = None, artifacts_dir: Path = ARTIFACTS_DIR
) -> tuple[ChainState, dict[str, str]]:
    """Read and replay the chain for a deployment (file, mapping, Deployment or None:
    deployments/<chain id>.json)."""
    from verifier.indexer import DeploymentInfo

    chain_id = rpc.chain_id()
    if deployment is None:
        deployment = Path("deployments") / f"{chain_id}.json"
    info = DeploymentInfo.of(deployment)
    if info.chain_id != chain_id:
        raise InputError(
            "--deployment", f"deployment is for chain {info.chain_id}, the node is {chain_id}"
        )
    chain = read_chain(rpc, info.addresses, start_block=info.start_block)
    return replay(chain), info.addresses


_progress_log = logging.getLogger(__name__)  # phases and a bar on a terminal


def verify_chain(
    rpc_url: str,
    deployment: Any = None,
    *,
    sessions: Sequence[int] | None = None,
    strict_hash: bool = True,
    artifacts_dir: Path = ARTIFACTS_DIR,
) -> Report:
    """Read the chain at `rpc_url`, judge every committed result (or `sessions`)."""
    t0 = time.perf_counter()
    with JsonRpc(rpc_url) as rpc:
        _progress_log.info("reading the chain's events and replaying them")
        state, addresses = load_state(rpc, deployment, artifacts_dir)
        t1 = time.perf_counter()
        _progress_log.info("comparing the deployed bytecode with the compiled contracts")
        bytecode = check_bytecode(rpc, addresses, artifacts_dir)
    ids = sorted(state.sessions) if sessions is None else list(sessions)
    reports = []
    for sid in ids:
        if sid not in state.sessions:
            raise InputError("--session", f"no session {sid} on chain")
        reports.append(judge_session(state, sid, strict_hash=strict_hash))
        progress(_progress_log, "sessions re-cleared and checked", len(reports), len(ids))
    t2 = time.perf_counter()
    timings = {
        "fetch": state.chain.fetch_s,
        "decode": state.chain.decode_s,
        "read": t1 - t0,
        "verify": t2 - t1,
        "total": t2 - t0,
    }
    return Report(
        state.chain.chain_id,
        state.chain.head,
        engine_version(),
        bytecode,
        reports,
        timings,
        len(state.chain.logs),
        state.unplaced_elsewhere(),
    )


def judge_session(state: ChainState, session_id: int, *, strict_hash: bool = True) -> SessionReport:
    """`verify_session`'s report; a failure of this node's own code on one session is that
    session's violation, never the end of the other sessions' checks."""
    try:
        return verify_session(state, session_id, strict_hash=strict_hash)[0]
    except Exception as exc:  # noqa: BLE001 - reported, the other sessions go on
        rec = state.sessions[session_id]
        report = SessionReport(
            session_id, rec.status, len(rec.reveals), len(rec.awards), read=session_read(rec)
        )
        report.fail(f"this node could not judge the session: {type(exc).__name__}: {exc}")
        return report
