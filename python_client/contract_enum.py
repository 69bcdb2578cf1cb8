"""The base of the contracts' enums in python_client/contract_types.py (generated)."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ContractEnum(IntEnum):
    """An enum of the contracts; members in UPPER_SNAKE_CASE of their Solidity names."""

    # the members as the contracts spell them, in value order (set by the generated enum)
    __solidity_names__: ClassVar[tuple[str, ...]] = ()

    @property
    def label(self) -> str:
        """The member in lower case: the word scenario files, replicas and the API use
        (`pay_as_bid`, `up`, `final`)."""
        return self.name.lower()

    @property
    def solidity_name(self) -> str:
        """The member as the contracts spell it (`PayAsBid`, `Final`)."""
        return type(self).__solidity_names__[int(self)]


def labels(enum: type[ContractEnum]) -> tuple[str, ...]:
    """Every member's label, in value order (index = the value on chain)."""
    return tuple(member.label for member in enum)
