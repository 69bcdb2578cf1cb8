"""Participants: who am I (roles from the registry), balances, money, role grants."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PUBLIC, SIGNED_IN, errors
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
    d = gateway.deployment.to_json()
    d["contracts"]["FlexRelay"] = gateway.relay.address
    head = gateway.w3.eth.get_block("latest")
    return DeploymentPublic(
        chain_id=d["chain_id"], contracts=d["contracts"], block_number=int(head["number"]),
        block_timestamp=int(head["timestamp"]),
        relay_domain={"name": "FlexRelay", "version": "1", "chainId": gateway.chain_id,
                      "verifyingContract": gateway.relay.address},
    )  # fmt: skip


def _participant(gateway: GatewayDep, address: str) -> ParticipantPublic:
    m, t = gateway.contracts.market.functions, gateway.contracts.token.functions
    free, locked = gateway.call(m.balancesOf(address))
    failures, suspended = gateway.call(m.standingOf(address))
    return ParticipantPublic(
        address=address, roles=gateway.roles_of(address), free_ueur=int(free),
        locked_ueur=int(locked), token_ueur=int(gateway.call(t.balanceOf(address))),
        failures=int(failures), suspended=bool(suspended),
    )  # fmt: skip


@router.get("/me", response_model=ParticipantPublic)
def me(token: TokenDep, gateway: GatewayDep) -> ParticipantPublic:
    """The signed-in address, its roles (read from the registry) and its balances."""
    return _participant(gateway, token.address)


@router.get("/{address}", response_model=ParticipantPublic, responses=errors(403))
def participant(address: Address, token: TokenDep, gateway: GatewayDep) -> ParticipantPublic:
    """Another participant: only the admin, or the address itself."""
    from eth_utils.address import to_checksum_address

    address = to_checksum_address(address)
    if address != token.address:
        gateway.require_role(token.address, "ADMIN")
    return _participant(gateway, address)


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
    from eth_utils.address import to_checksum_address

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
    from eth_utils.address import to_checksum_address

    owner = gateway.call(gateway.contracts.token.functions.owner())
    if owner != token.address:
        from api.problems import Problem

        raise Problem(403, "role-required", "only the token owner mints")
    fn = gateway.contracts.token.functions.mint(to_checksum_address(address), body.amount_ueur)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
