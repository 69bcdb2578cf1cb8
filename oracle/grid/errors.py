"""Errors of the grid package, under the oracle's root exception."""

from __future__ import annotations

from oracle.errors import OracleError


class GridError(OracleError):
    """The grid model, its profiles or an asset's place in it is unusable.

    The message names what was wrong and where, e.g.
    `grid.day: 2017-01-01 is not in the profiles (2016-01-01 .. 2016-12-31)`.
    """
