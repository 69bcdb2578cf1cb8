"""The README's HTTP example, whole: the FLECH session (examples/flech_powermax.json) run
against `flexmarket serve` by HTTP clients only, each with its own key.

    .venv/bin/flexmarket serve &                       # starts anvil, deploys, listens
    .venv/bin/python examples/http_aggregator.py       # ~1-2 minutes: deadlines pass in real time

First what an admin and a DSO do before any aggregator can bid (roles, money, the zone,
the session and its need: `setup`), then each aggregator's side (`aggregator_*`: sign in,
deposit, register its assets, join, commit sealed bids, reveal after gate closure, read the
result, release its funds, withdraw), with the oracle clearing by the engine and a
validator attesting in between. It prints each step and, at the end, what each aggregator
was paid; exit 0 when everything matched `flexmarket clear`, 1 otherwise.

The keys are the development keys of the chain `flexmarket serve` starts (public, for a
local chain only): 0 is the deployer and admin, 9 pays the relayed bids' gas.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: `python examples/http_aggregator.py`

from oracle import clear, load_scenario  # noqa: E402
from python_client.hashing import asset_id, label, new_salt  # noqa: E402
from python_client.http import HttpClient  # noqa: E402
from python_client.localchain import DEV_MNEMONIC  # noqa: E402
from python_client.records import BidFields, Direction  # noqa: E402

SCENARIO = ROOT / "examples" / "flech_powermax.json"
ASSET_KEY = b"flexmarket-example-asset-key"  # the aggregators' key for asset ids (meter codes)
DEPOSIT_UEUR = 10**15
BOND_UEUR = 1_000_000
COLLATERAL_UEUR_PER_W = 10_000
ROLE_OF = {"DSO": "DSO", "aggregator": "AGGREGATOR"}


def say(text: str) -> None:
    print(text, flush=True)


def dev_key(index: int) -> str:
    """A development key of the local chain (the mnemonic every local chain here uses)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return str(
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key.to_0x_hex()
    )


def chain_time(api: HttpClient) -> int:
    return int(api.deployment()["block_timestamp"])


def wait_for(api: HttpClient, timestamp: int, what: str) -> None:
    """Until the chain's clock (its latest block) reaches `timestamp`: `flexmarket serve`'s
    chain makes a block every second."""
    say(f"  waiting for {what} ({max(0, timestamp - chain_time(api))} s)")
    while chain_time(api) < timestamp:
        time.sleep(0.5)


# ------------------------------------------------------------- the aggregator's side


def aggregator_join(api: HttpClient, session_id: int, bids: list[BidFields]) -> None:
    """Join the session for this many bids (relayed: locks one bid bond each)."""
    api.join(session_id, bids=len(bids))


def aggregator_commit(api: HttpClient, session_id: int, bids: list[BidFields]) -> list[str]:
    """Sealed bids: only the commitment leaves this process (EIP-712, relayed, no gas)."""
    ids = []
    for bid in bids:
        out = api.commit_bid(session_id, bid, wait=True)
        if out["status"] != "committed":
            raise RuntimeError(f"commit not relayed: {out}")
        ids.append(out["bid_id"])
    return ids


def aggregator_reveal(api: HttpClient, session_id: int, bids: list[BidFields]) -> None:
    """After gate closure: the fields, which must hash to the commitment (relayed)."""
    for bid in bids:
        api.reveal_bid(session_id, bid)
        status = api.bid(session_id, api.bid_id_of(session_id, bid))["status"]
        if status != "revealed":
            raise RuntimeError(f"reveal answered, yet the bid is {status}")


def aggregator_finish(api: HttpClient, session_id: int) -> int:
    """After clearing, metering and settlement: release what the session held, withdraw all
    free funds; the token balance."""
    api.release_seller_funds(session_id, api.address)
    api.withdraw_all()
    return int(api.me()["token_ueur"])


# ------------------------------------------------------------------------ the session


def run(url: str, phase_s: int) -> int:
    scenario = json.loads(SCENARIO.read_text())
    expected = clear(load_scenario(scenario)).to_json_dict()  # what the oracle will commit
    market = scenario["market"]
    admin, oracle, metering, validator = (HttpClient(url, dev_key(i)) for i in range(4))
    people = {p["id"]: HttpClient(url, dev_key(4 + i))
              for i, p in enumerate(scenario["participants"])}  # fmt: skip
    roles = {p["id"]: p["role"] for p in scenario["participants"]}
    dso = next(people[p] for p, r in roles.items() if r == "DSO")
    aggregators = [p for p, r in roles.items() if r == "aggregator"]
    for client in (admin, oracle, metering, validator, *people.values()):
        client.sign_in()  # EIP-4361; roles come from the chain

    say("admin: roles and money")
    for client, role in ((oracle, "ORACLE"), (metering, "METERING"), (validator, "VALIDATOR")):
        admin.grant_role(client.address, role)
    for pid, client in people.items():
        admin.grant_role(client.address, ROLE_OF[roles[pid]])
        admin.mint(client.address, DEPOSIT_UEUR)
        client.deposit(DEPOSIT_UEUR)  # approve + deposit, signed by the participant

    say("DSO: zone; aggregators: assets (pre-qualified by the DSO)")
    for zone in scenario["zones"]:
        dso.register_zone(zone["id"], int(zone["limit_w"]))
    ids = {a["id"]: asset_id(a["id"], ASSET_KEY) for a in scenario["assets"]}
    for a in scenario["assets"]:
        people[a["manager"]].register_asset(
            ids[a["id"]], a["type"], int(a["p_max_w"]), int(a["p_min_w"]), a["zone"]
        )
        dso.prequalify(ids[a["id"]])

    say("operator: session; DSO: its need")
    now = chain_time(admin)
    session_id = oracle.open_session({
        "market_id": market["id"], "product": market["product"], "pricing": market["pricing"],
        "slot_count": market["slots"], "slot_minutes": market["slot_minutes"],
        "bidding_end": now + phase_s, "reveal_deadline": now + 2 * phase_s,
        "clearing_deadline": now + 4 * phase_s, "delivery_start": now + 5 * phase_s,
        "min_bid_w": market["min_bid_w"], "granularity_w": market["granularity_w"],
        "bid_bond_ueur": BOND_UEUR, "collateral_ueur_per_w": COLLATERAL_UEUR_PER_W,
        "tolerance_bps": 1_000, "unmet_penalty_eur_per_mw": 10**12,
    })  # fmt: skip
    session = oracle.session(session_id)
    top = max(int(b["price_eur_per_mw"]) for b in scenario["bids"])
    budget = sum(int(b["quantity_w"]) for b in scenario["bids"]) * top
    need_index = {
        r["id"]: people[r["buyer"]].post_need(session_id, {
            "zone": r["zone"], "direction": r["direction"], "buyer_role": roles[r["buyer"]],
            "budget_ueur": budget, "quantity_w": [int(r["quantity_w"])],
        })  # fmt: skip
        for r in scenario["requests"]
    }

    say(f"aggregators: join session {session_id} and commit sealed bids")
    bids: dict[str, list[tuple[str, BidFields]]] = {p: [] for p in aggregators}
    for b in scenario["bids"]:
        fields = BidFields(
            label(b["zone"]), Direction.UP if b["direction"] == "up" else Direction.DOWN,
            bool(b["divisible"]), int(b["quantity_w"]), int(b["price_eur_per_mw"]),
            (1 << market["slots"]) - 1, BidFields.sorted_assets([ids[a] for a in b["assets"]]),
            new_salt(), int(b.get("min_quantity_w") or 0),
        )  # fmt: skip
        bids[b["seller"]].append((b["id"], fields))
    chain_id: dict[str, str] = {}
    for pid in aggregators:
        mine = [f for _, f in bids[pid]]
        aggregator_join(people[pid], session_id, mine)
        committed = aggregator_commit(people[pid], session_id, mine)
        for (name, _), bid_id in zip(bids[pid], committed, strict=True):
            chain_id[name] = bid_id

    wait_for(admin, int(session["bidding_end"]), "gate closure")
    say("aggregators: reveal")
    for pid in aggregators:
        aggregator_reveal(people[pid], session_id, [f for _, f in bids[pid]])

    wait_for(admin, int(session["reveal_deadline"]), "the reveal deadline")
    say("oracle: result (the engine's clearing); validator: attests")
    (need,) = need_index.values()  # FLECH: one need; several buyers split by `shares`
    awards = [
        {"bid_id": chain_id[a["bid"]], "need_index": need,
         "quantity_w": a["quantity_w"], "price_eur_per_mw": a["price_eur_per_mw"]}
        for a in expected["awards"]
    ]  # fmt: skip
    oracle.commit_result(session_id, expected["input_hash"], expected["result_hash"], awards)
    validator.attest(session_id, expected["result_hash"])
    result = dso.result(session_id)
    say(f"  result {result['status']}: {len(result['awards'])} awards")

    say("metering: deliveries; settlement; releases and withdrawals")
    metering.record_deliveries(
        session_id, {a["award_index"]: a["quantity_w"] for a in result["awards"]},
        "0x" + label("example-metering-report").hex(),
    )  # fmt: skip
    dso.settle(session_id)
    for index in sorted(set(need_index.values())):
        dso.release_budget(session_id, index)
    paid = {p: aggregator_finish(people[p], session_id) - DEPOSIT_UEUR for p in aggregators}
    dso.withdraw_all()
    expected_paid: dict[str, int] = {p: 0 for p in aggregators}
    for a in expected["awards"]:
        expected_paid[a["seller"]] += int(a["payment_ueur"])
    for pid in aggregators:
        say(f"  {pid} paid {paid[pid]:,} µEUR")
    ok = result["status"] == "final" and paid == expected_paid
    say("ok: the chain paid what `flexmarket clear` says" if ok
        else f"MISMATCH: paid {paid}, expected {expected_paid}")  # fmt: skip
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000",
                        help="the API (default: %(default)s)")  # fmt: skip
    parser.add_argument("--phase-s", type=int, default=20,
                        help="seconds of bidding, then of revealing (default: %(default)s)")
    args = parser.parse_args(argv)
    return run(args.url.rstrip("/"), args.phase_s)


if __name__ == "__main__":
    raise SystemExit(main())
