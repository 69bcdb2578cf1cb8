"""Errors of the verifier package: one root, specific subclasses."""

from __future__ import annotations


class VerifierError(Exception):
    """Root of every error the verifier package raises."""


class DecodeError(VerifierError):
    """A log does not match the ABI of the event its first topic names."""


class RpcError(VerifierError):
    """The JSON-RPC node failed or answered with an error."""

    def __init__(self, method: str, message: str, code: int | None = None) -> None:
        self.method = method
        self.code = code
        super().__init__(f"{method}: {message}")


class IndexerError(VerifierError):
    """The indexer cannot go on (a database that belongs to another chain, a schema of
    another version, an inconsistent chain)."""


class DatabaseError(IndexerError):
    """The database failed (cannot connect, refused a statement): the message names `--db`."""


class InputError(IndexerError):
    """An argument the user can fix: `argument` names it (`--db`, `--rpc`, ...)."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"argument {argument}: {message}")
