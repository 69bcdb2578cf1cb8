"""Participants: who am I (roles from the registry), balances, money, role grants."""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from fastapi import APIRouter

from api import views
from api.deps import GatewayDep, TokenDep
from api.problems import PUBLIC, SIGNED_IN, Problem, errors
from api.roles import ROLE_IDS
from api.schemas import (
    Address,
    AmountCreate,
    DeploymentPublic,
    ParticipantPublic,
    PreparedPublic,
    RoleGrantCreate,
)

router = APIRouter(prefix="/participants", tags=["participants"], responses=SIGNED_IN)
public = APIRouter(tags=["participants"], responses=PUBLIC)


@public.get("/deployment", response_model=DeploymentPublic)
def deployment(gateway: GatewayDep) -> DeploymentPublic:
    """Chain id, contract addresses and the EIP-712 domain of the relay."""
    return views.deployment(gateway)


@router.get("/me", response_model=ParticipantPublic)
def me(token: TokenDep, gateway: GatewayDep) -> ParticipantPublic:
    """The signed-in address, its roles (read from the registry) and its balances."""
    return views.participant(gateway, token.address)


@router.get("/{address}", response_model=ParticipantPublic, responses=errors(403))
def participant(address: Address, token: TokenDep, gateway: GatewayDep) -> ParticipantPublic:
    """Another participant: only the admin, or the address itself."""
    address = to_checksum_address(address)
    if address != token.address:
        gateway.require_role(token.address, "ADMIN")
    return views.participant(gateway, address)


@router.post("/me/deposits", response_model=PreparedPublic, responses=errors(409, 413))
def deposit(body: AmountCreate, token: TokenDep, gateway: GatewayDep) -> PreparedPublic:
    """Two transactions to sign: approve the market, then deposit."""
    c = gateway.contracts
    fns = [
        c.token.functions.approve(c.market.address, body.amount_ueur),
        c.market.functions.deposit(body.amount_ueur),
    ]
    return PreparedPublic.model_validate(gateway.prepare(fns, token.address))


@router.post("/me/withdrawals", response_model=PreparedPublic, responses=errors(409, 413))
def withdraw(body: AmountCreate, token: TokenDep, gateway: GatewayDep) -> PreparedPublic:
    fn = gateway.contracts.market.functions.withdraw(body.amount_ueur)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.post("/{address}/roles", response_model=PreparedPublic, responses=errors(403, 409, 413))
def grant_role(
    address: Address, body: RoleGrantCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Admin only: grant a role."""
    gateway.require_role(token.address, "ADMIN")
    fn = gateway.contracts.registry.functions.grantRole(
        ROLE_IDS[body.role], to_checksum_address(address)
    )
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.post("/{address}/mints", response_model=PreparedPublic, responses=errors(403, 409, 413))
def mint(
    address: Address, body: AmountCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """The token owner only (demo money)."""
    owner = gateway.call(gateway.contracts.token.functions.owner())
    if owner != token.address:
        raise Problem(403, "role-required", "only the token owner mints")
    fn = gateway.contracts.token.functions.mint(to_checksum_address(address), body.amount_ueur)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
