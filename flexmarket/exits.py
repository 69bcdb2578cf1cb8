"""Exit codes of every `flexmarket` command, and the one map from error classes to them.

    0  done (a check that ran and found everything in order included)
    1  a failure: of the job (a verification that found mismatches, validators that did
       not make a result final), of the chain or node, of the database, of this program
    2  unusable input: a malformed file, a bad argument (one line naming it), nothing done

The packages below the command raise typed errors under their own roots (`OracleError`,
`ClientError`, `VerifierError`, `NodeError`) and never choose an exit code: `exit_code_of`
maps them here, and nowhere else.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILURE, EXIT_INPUT = 0, 1, 2


def exit_code_of(exc: BaseException) -> int | None:
    """The exit code of an error a package raises on purpose; None for any other exception
    (a bug: its traceback is shown, and Python's exit code 1)."""
    from nodes.errors import NodeError
    from oracle.errors import OracleError, ScenarioError
    from oracle.grid.errors import GridError
    from python_client.errors import ClientError
    from verifier.errors import InputError, VerifierError

    if isinstance(exc, (ScenarioError, GridError, InputError)):  # the user can fix it
        return EXIT_INPUT
    if isinstance(exc, (OracleError, ClientError, VerifierError, NodeError, OSError)):
        return EXIT_FAILURE
    return None
