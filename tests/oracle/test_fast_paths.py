"""The fast paths of validation, hashing, checking and the payer shares against plain
reference versions (the code as it was before issue 13's speed work), on random sessions
with planted faults: any divergence changes bytes that two nodes must agree on."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from oracle.canonical import _has_float, _reject_floats, canonical_json, keccak_hex
from oracle.checker import _arrival, _bid_problems
from oracle.coordination.eligibility import eligibility
from oracle.engine import build_session
from oracle.rules import bid_serves, bid_slots, submission_key, submission_order, validate_bids
from oracle.scenario import Scenario, _bound_problems
from oracle.synthetic import random_session


def _reference_rule3(scenario: Scenario) -> dict[str, str]:
    """Rule 3 as a slot -> bid dictionary per asset, over the bids valid by rules 1, 2, 4, 5
    (those `validate_bids` rejects for another reason are left out by the caller)."""
    valid, rejected = validate_bids(scenario)
    clashing = {r.bid: r.reason for r in rejected if "already backs" in r.reason}
    others = {r.bid for r in rejected} - set(clashing)
    used: dict[str, dict[int, str]] = {}
    out: dict[str, str] = {}
    order = sorted(range(len(scenario.bids)), key=lambda i: submission_key(scenario.bids[i]))
    for i in order:
        bid = scenario.bids[i]
        if bid.id in others:
            continue
        slots = bid_slots(bid, scenario.market.slots)
        clashes = []
        for asset_id in bid.assets:
            taken = used.get(asset_id, {})
            hit = sorted(s for s in slots if s in taken)
            if hit:
                clashes.append(f"asset {asset_id} already backs bid {taken[hit[0]]} "
                               f"in slot {hit[0]}")
        if clashes:
            out[bid.id] = "; ".join(clashes)
            continue
        for asset_id in bid.assets:
            used.setdefault(asset_id, {}).update(dict.fromkeys(slots, bid.id))
    assert {b.id for b in valid}.isdisjoint(out)
    return out


def _session(seed: int) -> dict[str, Any]:
    """A random session with clashing assets, mixed time zones, gaps in the slots and faults."""
    rng = random.Random(seed)
    data = random_session(120, n_zones=3, n_slots=rng.choice([4, 24, 96]), seed=seed)
    n = data["market"]["slots"]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for k, bid in enumerate(data["bids"]):
        roll = rng.random()
        if roll < 0.3:
            bid["slots"] = sorted(rng.sample(range(n), rng.randint(1, n)))
        elif roll < 0.35:
            bid["slots"] = [n + 1, 0]  # a slot that does not exist
        if rng.random() < 0.3:  # another bid's assets: clashes when the slots overlap
            same = [b for b in data["bids"][:k] if (b["seller"], b["zone"]) ==
                    (bid["seller"], bid["zone"]) and b.get("assets")]
            if same:
                bid["assets"] = list(rng.choice(same)["assets"])
        if rng.random() < 0.7:
            offset = timedelta(minutes=rng.choice([-720, -90, 0, 30, 60, 840]))
            when = start + timedelta(seconds=rng.randrange(0, 3600), microseconds=k % 3)
            bid["submitted_at"] = when.astimezone(timezone(offset)).isoformat()
        else:
            bid.pop("submitted_at", None)
    return data


SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_validation_and_order_equal_the_reference(seed: int) -> None:
    scenario = Scenario.model_validate_json(json.dumps(_session(seed)))
    bids = scenario.bids
    assert submission_order(bids) == sorted(range(len(bids)),
                                            key=lambda i: submission_key(bids[i]))
    assert sorted(bids, key=_arrival) == sorted(bids, key=submission_key)
    reference = _reference_rule3(scenario)
    _, rejected = validate_bids(scenario)
    got = {r.bid: r.reason for r in rejected if "already backs" in r.reason}
    assert got == reference
    assert len(reference) >= 3  # the planted clashes are there
    # the checker's own rule 3 rejects the same bids
    assert set(_bid_problems(scenario)) == {r.bid for r in rejected}


@pytest.mark.parametrize("seed", SEEDS)
def test_hashes_and_bounds_equal_the_reference(seed: int) -> None:
    data = _session(seed)
    rng = random.Random(seed)
    if seed % 3 == 0:  # a few integers beyond their bounds
        data["bids"][rng.randrange(len(data["bids"]))]["quantity_w"] = 2**41
        data["requests"][0]["quantity_w"] = [2**40] * data["market"]["slots"]
    scenario = Scenario.model_validate_json(json.dumps(data))
    reference = json.dumps(scenario.canonical(), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, allow_nan=False).encode()
    assert scenario.input_hash() == keccak_hex(reference)
    assert canonical_json(scenario.canonical()) == reference

    # the bounds' fast path finds exactly what the per-value loop finds
    import oracle.scenario as sc

    def all_within(values: list[Any], lowest: int, highest: int) -> bool:
        return False  # always take the per-value loop

    fast = _bound_problems(scenario)
    real = sc._all_within
    sc._all_within = all_within
    try:
        slow = _bound_problems(scenario)
    finally:
        sc._all_within = real
    assert fast == slow
    assert bool(fast) == (seed % 3 == 0)


@pytest.mark.parametrize("doc", [
    {"a": [1, 2, {"b": 1.5}]},
    [1, "x", None, True, [[[0.0]]]],
    {"k": (1, 2.0)},
    {"deep": {"er": {"x": [1, 2, 3], "y": float("inf")}}},
    {"fine": [1, "2", None, False, {"z": [[]]}]},
])
def test_float_check_finds_and_names_the_first_float(doc: Any) -> None:
    def reference(value: Any, path: str = "$") -> None:
        if isinstance(value, float):
            raise TypeError(f"{path}: float {value!r} in canonical JSON (integers only)")
        if isinstance(value, dict):
            for k, v in value.items():
                reference(v, f"{path}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                reference(v, f"{path}[{i}]")

    try:
        reference(doc)
        expected = None
    except TypeError as e:
        expected = str(e)
    assert _has_float(doc) == (expected is not None)
    if expected is None:
        _reject_floats(doc)
    else:
        with pytest.raises(TypeError) as err:
            _reject_floats(doc)
        assert str(err.value) == expected


@pytest.mark.parametrize("seed", SEEDS)
def test_eligibility_equals_every_request_asked(seed: int) -> None:
    scenario = Scenario.model_validate_json(json.dumps(_session(seed)))
    session, _ = build_session(scenario)
    needs = session.needs
    with_need = sorted({r for r, _ in needs})
    expected = {}
    for bid in session.bids:
        ok = tuple(r for r in with_need if bid_serves(bid, scenario.requests[r])
                   and any((r, t) in needs for t in bid.slots))
        if ok:
            expected[bid.id] = ok
    assert eligibility(scenario, session.bids, needs) == expected
    assert expected  # the sessions do have eligible bids


def _reference_split(scenario: Scenario, bids: list[Any], awards_w: dict[str, int],
                     needs: dict[tuple[int, int], int],
                     layers: dict[int, int]) -> dict[tuple[str, int, int], int]:
    """allocate_layers without stages, bid by bid (its code before the per-class pass)."""
    from oracle.coordination.allocation import buyer_order
    from oracle.coordination.flow import priority_max_flow

    by_id = {b.id: b for b in bids}
    awarded = [by_id[b] for b in sorted(awards_w, key=lambda b: by_id[b].rank)]
    eligible = eligibility(scenario, awarded, needs)
    buyers = buyer_order(scenario)
    level = {r: buyers.index(q.buyer) for r, q in enumerate(scenario.requests)}
    flows: dict[tuple[str, int, int], int] = {}
    for layer in sorted(set(layers.values())):
        for t in range(scenario.market.slots):
            reqs = [r for r, u in sorted(needs) if u == t and layers[r] == layer]
            if not reqs:
                continue
            groups: dict[tuple[int, ...], list[tuple[str, int]]] = {}
            for bid in awarded:
                if t in bid.slots:
                    serves = tuple(r for r in eligible.get(bid.id, ()) if r in reqs)
                    if serves:
                        groups.setdefault(serves, []).append((bid.id, awards_w[bid.id]))
            keys = sorted(groups)
            got = priority_max_flow([sum(w for _, w in groups[k]) for k in keys],
                                    [needs[(r, t)] for r in reqs], [level[r] for r in reqs],
                                    [(i, reqs.index(r)) for i, k in enumerate(keys) for r in k])
            for i, k in enumerate(keys):
                left = [w for _, w in groups[k]]
                for r in k:
                    f = got.get((i, reqs.index(r)), 0)
                    for n, (bid_id, _) in enumerate(groups[k]):
                        take = min(f, left[n])
                        if take:
                            flows[(bid_id, r, t)] = flows.get((bid_id, r, t), 0) + take
                            left[n] -= take
                            f -= take
    return flows


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("coupling", ["sequential", "common"])
def test_allocation_per_class_equals_per_bid(seed: int, coupling: str) -> None:
    from oracle import clear
    from oracle.coordination.allocation import allocate_layers, layer_of

    data = _session(seed)
    # a system-wide request over part of the slots: bids of several zones share it, so
    # classes of different requests meet in one group in some slots
    n = data["market"]["slots"]
    tso = next((p["id"] for p in data["participants"] if p["role"] == "TSO"), None)
    if tso is None:
        tso = "TSO-X"
        data["participants"].append({"id": tso, "role": "TSO"})
    data["requests"].append({"id": "SYS", "buyer": tso, "direction": "up",
                             "quantity_w": [5000 if t % 3 else 0 for t in range(n)]})
    scenario = Scenario.model_validate_json(json.dumps(data))
    session, _ = build_session(scenario)
    result = clear(scenario)
    awards_w = {a.bid: a.quantity_w for a in result.awards if a.bid in session.eligible}
    assert awards_w
    layers = layer_of(scenario, coupling)
    got = allocate_layers(scenario, session.bids, awards_w, session.needs, layers)
    assert got.flows == _reference_split(scenario, session.bids, awards_w,
                                         dict(session.needs), layers)
