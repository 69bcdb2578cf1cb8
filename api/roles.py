"""Who holds which role: the registry's `hasRole`, cached.

An answer is reused for `role_cache_s`; the chain follower drops it as soon as it sees that
role granted to or revoked from that address (`drop`), so a long cache misses no change."""

from __future__ import annotations

import time
from collections.abc import Callable

from api.problems import Problem
from python_client import contract_types

ROLE_NAMES = contract_types.ROLES  # FlexRoles.sol's roles, in their order
# and OpenZeppelin's DEFAULT_ADMIN_ROLE (0x00...), which grants them
ROLE_IDS: dict[str, bytes] = {**contract_types.ROLE_IDS, "ADMIN": bytes(32)}
ROLE_BY_ID = {"0x" + v.hex(): k for k, v in ROLE_IDS.items()}  # a log topic -> its role


class RoleCache:
    def __init__(
        self,
        read_role: Callable[[str, str], bool],
        cache_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read_role  # (address, role name) -> hasRole, from the registry
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._answers: dict[tuple[str, str], tuple[bool, float]] = {}

    def has_role(self, address: str, role: str) -> bool:
        """The cached answer while fresh, else the registry's (then cached)."""
        hit = self.cached_role(address, role)
        if hit is not None:
            return hit
        value = bool(self._read(address, role))
        self._answers[(address, role)] = (value, self._monotonic())
        return value

    def cached_role(self, address: str, role: str) -> bool | None:
        """The cached answer while fresh (no chain read), else None."""
        hit = self._answers.get((address, role))
        if hit is not None and self._monotonic() - hit[1] < self._cache_s:
            return hit[0]
        return None

    def drop(self, address: str, role: str) -> None:
        """The role changed on chain (the follower saw `RoleGranted`/`RoleRevoked`)."""
        self._answers.pop((address, role), None)

    def roles_of(self, address: str) -> list[str]:
        return [r for r in (*ROLE_NAMES, "ADMIN") if self.has_role(address, r)]

    def require_role(self, address: str, *roles: str) -> None:
        """403 unless `address` holds one of `roles`."""
        if not any(self.has_role(address, r) for r in roles):
            raise Problem(
                403, "role-required", f"{address} holds none of the roles {', '.join(roles)}"
            )
