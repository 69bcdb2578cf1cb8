"""What the chain says, as the API answers it: one function per resource view, each reading
the contracts through the gateway's parts and returning the route's `*Public` model. The
routes call one of these and add nothing but HTTP."""

from __future__ import annotations

from api.gateway import Gateway
from api.schemas import DeploymentPublic, ParticipantPublic
from python_client.contract_types import BalancesOfView, StandingOfView


def deployment(gateway: Gateway) -> DeploymentPublic:
    """Chain id, contract addresses (the relay's too), the head block and its time, and
    the relay's EIP-712 domain."""
    d = gateway.deployment.to_json()
    relay = gateway.relay.address
    head = gateway.w3.eth.get_block("latest")
    return DeploymentPublic(
        chain_id=d["chain_id"], contracts={**d["contracts"], "FlexRelay": relay},
        block_number=int(head["number"]), block_timestamp=int(head["timestamp"]),
        relay_domain={"name": "FlexRelay", "version": "1", "chainId": gateway.chain_id,
                      "verifyingContract": relay},
    )  # fmt: skip


def participant(gateway: Gateway, address: str) -> ParticipantPublic:
    """An address's roles (the registry's), balances in the escrow and the token, and its
    standing (failures, suspended)."""
    m, t = gateway.contracts.market.functions, gateway.contracts.token.functions
    balances = BalancesOfView.from_abi(gateway.call(m.balancesOf(address)))
    standing = StandingOfView.from_abi(gateway.call(m.standingOf(address)))
    return ParticipantPublic(
        address=address, roles=gateway.roles_of(address), free_ueur=balances.free_ueur,
        locked_ueur=balances.locked_ueur, token_ueur=int(gateway.call(t.balanceOf(address))),
        failures=standing.failures, suspended=standing.suspended,
    )  # fmt: skip
