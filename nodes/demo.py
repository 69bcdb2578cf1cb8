"""`flexmarket demo`: a whole market session of a scenario file on a chain.

`run_session(scenario, clear)` starts a local chain (or uses a URL), then runs every step of
`nodes.session.SessionRun`: deploy, roles, deposits, zones, assets and pre-qualification,
the session and its needs, sealed bids (commit, reveal), clearing, the result commit (rows
by `nodes.rows`), the validator nodes, full metered delivery, settlement, releases and
withdrawals. It returns the clearing result plus a `chain` object (chain id, addresses, tx
hashes per step, final token balances, what each buyer paid, gas) and, with validator
nodes, their `verification` summary.

The clearing engine is passed in (`clear`: scenario JSON -> result JSON, e.g. the oracle's
`clear(...).to_json_dict()`). Who pays each award is the payer rule (`oracle.payers`, the
one the oracle service and every replica apply). Asset ids on chain are keyed hashes of the
scenario's asset ids (standing in for meter codes), which never reach the chain.

A bid the contracts refuse (unknown zone or asset, asset not managed by the seller, rule of
the session) cannot be revealed: its reveal is skipped and its bond forfeited, as the
engine lists it under `rejected`.

TSO-DSO sessions (issue 7): each buyer posts its needs from its own account in its role
(DSO, TSO, BRP); the session operator publishes the scenario's coordination inputs
(coupling, priority, zone forecasts, limits, red slots) before gate closure, so that the
validators rebuild the same session; bids are committed in the scenario's tie-break order
(`submitted_at`, id), one block each, so that the chain's order is the file's; a result
with `shares` is committed the same way, and `chain.payments_ueur` reports what each buyer
paid. With `market.balance_dso`, each DSO with a zonal need also posts a balancing need per
direction (no quantities: a system-wide budget for counter-activations), and each
counter-activation of the result (an award no request counted) is charged to its payer's
balancing need; every budget, the balancing needs' included, is released after settlement.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_account import Account

from nodes.errors import SessionRunError
from nodes.session import (
    DEPOSIT_UEUR,
    Checks,
    Clear,
    GridInputs,
    SessionRun,
    TamperGrid,
    TamperRows,
    Validate,
)
from python_client.artifacts import ensure_artifacts
from python_client.chain import connect
from python_client.localchain import DEV_MNEMONIC, LocalChain, start_chain

__all__ = ["DEPOSIT_UEUR", "run_session"]


def run_session(
    scenario: Mapping[str, Any],
    clear: Clear,
    chain: str | LocalChain = "anvil",
    validate: Validate | None = None,
    validators: int = 4,
    quorum: int = 3,
    tamper_rows: TamperRows | None = None,
    grid: GridInputs | None = None,
    tamper_grid: TamperGrid | None = None,
) -> dict[str, Any]:
    """Run `scenario` on a chain: "anvil" or "ganache" (started and stopped here), a running
    LocalChain (left running), or a JSON-RPC URL whose first accounts of the development
    mnemonic are funded (an anvil or hardhat node, say).

    With `validate` (e.g. nodes.validator.validate_session), `validators` accounts get
    the validator role, the session needs `quorum` attestations, and the validator nodes
    run after the result commit, before settlement; the result then carries their
    `verification` summary. A result they do not make final is not settled.

    `tamper_rows(rows, need indices)` (tests: a dishonest market operator) rewrites the award
    rows before they are committed; need indices as in `chain.needs`.

    A scenario with a `grid` needs `grid` (its grid inputs, built by the DSO's model): the
    operator publishes them (`publishGrid`, asset ids the chain's) before gate closure and
    the session is cleared with them, so that every node clears it with the same cuts
    (issue 19); `tamper_grid` (tests) changes what is published."""
    ensure_artifacts()
    # every session needs at least one attestation (the market's minimum quorum): without
    # validator nodes, one validator account attests the result the demo committed
    checks = Checks(validate, validators if validate is not None else 1,
                    quorum if validate is not None else 1, tamper_rows)  # fmt: skip
    needed = 3 + len(scenario.get("participants", [])) + checks.validators
    if scenario.get("grid") is not None and grid is None:
        raise SessionRunError("grid: a scenario with a grid needs its grid inputs "
                              "(run_session's grid, e.g. from oracle.grid.published"
                              ".build_inputs)")  # fmt: skip

    def on(local: LocalChain | None, url: str) -> dict[str, Any]:
        run = SessionRun(scenario, clear, connect(url), local, _keys(local, needed), checks,
                         grid, tamper_grid).run()  # fmt: skip
        out = {**run.result, "chain": run.report()}
        if run.verification is not None:
            out["verification"] = run.verification
        return out

    if isinstance(chain, LocalChain):
        if chain.accounts < needed:
            raise SessionRunError(f"the chain has {chain.accounts} accounts, {needed} needed")
        return on(chain, chain.url)
    if chain in ("anvil", "ganache"):
        with start_chain(chain, accounts=max(10, needed)) as local:  # type: ignore[arg-type]
            return on(local, local.url)
    return on(None, chain)


def _keys(chain: LocalChain | None, count: int) -> list[str]:
    """The first `count` development keys: the local chain's, or the development
    mnemonic's (a URL chain)."""
    if chain is not None:
        return chain.dev_private_keys[:count]
    Account.enable_unaudited_hdwallet_features()
    return [
        Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").key.to_0x_hex()
        for i in range(count)
    ]
