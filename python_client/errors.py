"""Errors of the participant SDK: one root, specific subclasses."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Root of every error the SDK raises."""


class TransactionReverted(ClientError):
    """A call or transaction reverted; `error` is the contract's custom error name."""

    def __init__(self, function: str, error: str, args: tuple[Any, ...] = ()) -> None:
        self.function = function
        self.error = error
        self.args_ = args
        shown = ", ".join(repr(a) for a in args)
        super().__init__(f"{function} reverted with {error}({shown})")


class DeploymentError(ClientError):
    """Contracts could not be deployed or found."""


class ArtifactError(ClientError):
    """A compiled contract cannot be had: compiler missing, compilation failed, artifact
    missing (python_client.artifacts)."""


class LocalChainError(ClientError):
    """The local chain could not be started or did not answer (python_client.localchain)."""
