"""Validator node: attest the results that verify, dispute the ones that do not.

    flexmarket validate --rpc URL --key-env VAR [--deployment FILE] [--session ID]
                        [--once] [--poll S]

A validator holds `VALIDATOR_ROLE` and its own key (read from the environment variable
named by `--key-env`, never from the command line). For each session whose result is
`Pending` (or `Final` and not yet paid) and that it has not acted on, it runs the replica
checks of verifier.verify on its own read of the chain, then calls
`attestResult(sessionId, resultHash)` when they pass, or `disputeResult(sessionId,
keccak256(report))` when they do not (a dispute freezes every payment of the session).

Why on-chain calls need no signature scheme of their own to be bound to a chain and a
session: the transaction is signed with the chain id (EIP-155), sent to one contract, and
names the session; the contract counts an attestation only for that session
(`_attested[sessionId][validator]`) and only with the hash committed for it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from oracle.canonical import canonical_json, keccak256
from python_client.chain import Contracts, Deployment, connect
from python_client.clients import ValidatorClient
from python_client.errors import TransactionReverted
from python_client.retry import PASS
from verifier.errors import InputError
from verifier.rpc import JsonRpc, check_rpc_url, is_transient
from verifier.verify import load_state, verify_session

DEFAULT_KEY_ENV = "FLEXMARKET_VALIDATOR_KEY"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Action:
    session_id: int
    action: str  # attested | disputed | skipped
    ok: bool
    detail: str = ""
    grid: dict[str, Any] | None = None  # a grid session: what this node's grid checks found


def _contracts(rpc_url: str, addresses: Mapping[str, str], chain_id: int) -> Contracts:
    deployment = Deployment(
        chain_id, addresses["FlexToken"], addresses["FlexRegistry"], addresses["FlexMarket"]
    )
    return Contracts(connect(rpc_url), deployment)


def key_from_env(var: str) -> str:
    key = os.environ.get(var, "").strip()
    if not key:
        raise InputError("--key-env", f"the environment variable {var} holds no private key")
    return key


def validate_once(
    rpc_url: str,
    deployment: Any,
    private_key: str,
    *,
    sessions: Sequence[int] | None = None,
    strict_hash: bool = True,
) -> list[Action]:
    """One pass: judge and act on every session waiting for this validator."""
    with JsonRpc(rpc_url) as rpc:
        state, addresses = load_state(rpc, deployment)
    client = ValidatorClient(_contracts(rpc_url, addresses, state.chain.chain_id), private_key)
    for event in state.unplaced_elsewhere():  # a session's own ones are its violations
        log.info("event of no session, skipped: %s", event)
    me = client.address.lower()
    actions: list[Action] = []
    for sid in sorted(state.sessions) if sessions is None else sessions:
        rec = state.sessions.get(sid)
        if rec is None or rec.status not in ("Pending", "Final") or rec.settle_order:
            continue
        if me in rec.attestations or any(v == me for v, _ in rec.disputes):
            continue
        try:
            report, _ = verify_session(state, sid, strict_hash=strict_hash)
        except Exception as exc:  # noqa: BLE001 - this node's failure is no evidence
            actions.append(Action(sid, "skipped", False, f"could not judge: {exc!r}"))
            log.warning("session %d: skipped (%s)", sid, actions[-1].detail[:200])
            continue
        try:
            if report.ok and rec.status == "Pending" and rec.result_hash is not None:
                client.attest(sid, bytes.fromhex(rec.result_hash[2:]))
                actions.append(Action(sid, "attested", True, rec.result_hash))
            elif not report.ok:
                body = {k: v for k, v in report.to_json().items() if k != "timings_s"}
                reason = keccak256(canonical_json(body))  # the report, kept off chain
                client.dispute(sid, reason)
                actions.append(Action(sid, "disputed", False, "; ".join(report.violations)))
            else:
                actions.append(Action(sid, "skipped", True, "final already"))
        except TransactionReverted as exc:  # another validator was faster (a dispute)
            client.wallet.reset_nonce()
            actions.append(Action(sid, "skipped", report.ok, f"{exc.error}"))
        if report.grid:
            actions[-1] = replace(actions[-1], grid=report.grid)
        log.info("session %d: %s (%s)", sid, actions[-1].action, actions[-1].detail[:200])
    return actions


def validate_session(
    rpc_url: str,
    deployment: Any,
    session_id: int,
    keys: Sequence[str],
) -> dict[str, Any]:
    """Run `len(keys)` validator nodes on one session, one after the other (the demo);
    the verdict and the on-chain count of attestations."""
    actions = [validate_once(rpc_url, deployment, k, sessions=[session_id]) for k in keys]
    with JsonRpc(rpc_url) as rpc:
        state, addresses = load_state(rpc, deployment)
    rec = state.sessions[session_id]
    verdicts = [a.ok for node in actions for a in node]
    return {
        "ok": bool(verdicts) and all(verdicts) and rec.status == "Final",
        "result_hash": rec.result_hash,
        "attestations": len(rec.attestations),
        "validators": len(keys),
        "quorum": int(rec.params["attestationQuorum"]),
        "status": rec.status,
        "disputes": len(rec.disputes),
        # a grid session: the first node's grid checks (published cuts, re-derivation, AC)
        **next(({"grid": a.grid} for node in actions for a in node if a.grid), {}),
    }


def run_validator(
    rpc_url: str,
    *,
    deployment: Path | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    session: int | None = None,
    once: bool = False,
    poll_s: float = 2.0,
    strict_hash: bool = True,
) -> list[Action]:
    """`flexmarket validate`: passes of `validate_once` with the key read from the
    environment variable `key_env`, until interrupted (or one pass with `once`, whose
    actions are returned). A pass the node did not answer (`verifier.rpc.is_transient`) is
    tried again by the one retry policy (`python_client.retry.PASS`). Raises InputError
    (exit 2), VerifierError or OSError (exit 1)."""
    check_rpc_url(rpc_url)
    key = key_from_env(key_env)
    while True:
        actions = PASS.call(
            lambda: validate_once(
                rpc_url, deployment, key, sessions=None if session is None else [session],
                strict_hash=strict_hash,
            ),
            is_transient, what="validator pass",
        )  # fmt: skip
        if once:
            return actions
        time.sleep(poll_s)
