"""Assets and zones: aggregators register the assets they manage, DSOs publish zones and
pre-qualify assets of their zones."""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from fastapi import APIRouter

from api import views
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import (
    AssetCreate,
    AssetPublic,
    Hex32,
    PreparedPublic,
    PrequalificationCreate,
    ZoneCreate,
)
from python_client.contract_types import AssetType, labels
from python_client.hashing import label

router = APIRouter(tags=["assets"], responses=SIGNED_IN)
TYPES = labels(AssetType)


@router.post("/zones", response_model=PreparedPublic, responses=errors(403, 409, 413))
def register_zone(body: ZoneCreate, token: TokenDep, gateway: GatewayDep) -> PreparedPublic:
    """DSO only."""
    gateway.require_role(token.address, "DSO")
    fn = gateway.contracts.registry.functions.registerZone(label(body.zone), body.limit_w)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.post("/assets", response_model=PreparedPublic, responses=errors(403, 409, 413))
def register_asset(body: AssetCreate, token: TokenDep, gateway: GatewayDep) -> PreparedPublic:
    """Aggregator only; the caller becomes the manager."""
    gateway.require_role(token.address, "AGGREGATOR")
    if body.p_min_w > body.p_max_w:
        raise Problem(422, "invalid-input", "p_min_w: above p_max_w", field="p_min_w",
                      reason="above p_max_w")  # fmt: skip
    owner = to_checksum_address(body.owner) if body.owner else token.address
    fn = gateway.contracts.registry.functions.registerAsset(
        bytes.fromhex(body.asset_id[2:]), TYPES.index(body.asset_type), body.p_max_w,
        body.p_min_w, label(body.zone), owner,
    )  # fmt: skip
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("/assets/{asset_id}", response_model=AssetPublic, responses=errors(404))
def get_asset(asset_id: Hex32, token: TokenDep, gateway: GatewayDep) -> AssetPublic:
    """Its manager, its owner, the DSO of its zone or the admin; 404 for anyone else."""
    return views.asset_seen_by(gateway, token.address, asset_id)


@router.post(
    "/assets/{asset_id}/prequalification",
    response_model=PreparedPublic,
    responses=errors(403, 404, 409, 413),
)
def prequalify(
    asset_id: Hex32, body: PrequalificationCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """The DSO of the asset's zone only."""
    gateway.require_role(token.address, "DSO")
    asset = views.asset(gateway, asset_id)
    if views.zone_dso(gateway, asset.zone) != token.address:
        raise Problem(403, "not-zone-dso", f"you are not the DSO of zone {asset.zone!r}")
    fn = gateway.contracts.registry.functions.setPrequalified(
        bytes.fromhex(asset_id[2:]), body.prequalified
    )
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
