"""Errors of the chain-facing nodes: one root, specific subclasses."""

from __future__ import annotations


class NodeError(Exception):
    """Root of every error a node (oracle service, validator, session runner) raises."""


class RowsError(NodeError):
    """A result cannot be turned into rows on chain: a share no need of its buyer may pay,
    a budget too small (nodes.rows)."""


class OracleServiceError(NodeError):
    """The oracle service cannot commit a session's result (a partial result of other
    hashes or rows on chain)."""


class SessionRunError(NodeError):
    """A session cannot be run on chain as asked (nodes.session): too few accounts, a
    scenario that needs what was not given, an award of a bid the chain refused."""
