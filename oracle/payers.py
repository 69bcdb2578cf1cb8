"""Who pays each award: the one payer rule of every session (issue 11 §3).

An award's payment is split among the buyers whose requests its watts served, in
proportion to the watts x slots each buyer's requests received from it, by integer
division, the remainder to the first of them in buyer order. Which request received which
watts is decided slot by slot by an integer max-flow that serves requests in buyer order
(`oracle.coordination.allocation.allocate_layers`), the awarded watts handed to bids in
their tie-break rank. Buyer order: role priority (`market.priority`, default DSO, TSO,
BRP), then the position of each buyer's first request in the scenario, which on chain is
its first need index, so that a scenario file and the session rebuilt from its events
give the same order. An award no request counted has one payer
(`counter_activation_payer`: the DSO whose zonal need it balances under `balance_dso`,
else the first buyer with a need in one of its slots).

So two DSOs with needs in one zone: the DSO that posted its need first is served first,
and each pays exactly for the watts its own requests received.

A coordinated result already carries these rows (`shares`, part of its `result_hash`); a
plain or grid result does not (its bytes stay the result format's), and `payer_shares`
computes them with the same code, one layer (a watt counts toward one request, as the
engine counts it). Rows: `{"bid", "buyer", "received_w_slots", "payment_ueur"}`, per award
in result order, buyers in buyer order.

Integers only, no wall clock, no set iteration: the oracle service, the demo, the benches
and every replica (`verifier.verify`) compute the same rows. On chain each buyer's share is
charged to its own needs (`python_client.shares.share_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oracle.coordination.allocation import allocate_layers, layer_of, share_payments
from oracle.engine import build_session
from oracle.result import Result
from oracle.scenario import Scenario


def payer_shares(scenario: Scenario, result: Result) -> list[dict[str, Any]]:
    """Each award's payment per buyer (the `shares` rows), by the payer rule.

    Awards of bids that cannot serve any need of the session (invalid bids, bids no request
    may use) have no payer and no row: the checker reports them."""
    if result.shares is not None:
        return [dict(row) for row in result.shares]
    session, _ = build_session(scenario)
    usable = {b.id for b in session.bids if b.id in session.eligible}
    awards = [a for a in result.awards if a.bid in usable]
    awards_w = {a.bid: a.quantity_w for a in awards}
    allocation = allocate_layers(
        scenario, session.bids, awards_w, session.needs, layer_of(scenario, "sequential")
    )
    return [dict(row) for row in share_payments(scenario, awards, allocation, session.bids)]


def payer_shares_json(
    scenario: Mapping[str, Any], result: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """`payer_shares` of a scenario and a result given as JSON objects (the demo's)."""
    from oracle.scenario import parse_scenario

    body = {k: v for k, v in result.items() if k not in ("input_hash", "result_hash")}
    return payer_shares(parse_scenario(dict(scenario)), Result.model_validate(body))
