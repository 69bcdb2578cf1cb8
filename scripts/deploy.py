"""Deploy FlexToken, FlexRegistry, FlexMarket and FlexReserve (the reserve market, on the same
token and registry: docs/reserve.md); write deployments/<chain_id>.json.

    brownie run scripts/deploy.py                     # throw-away anvil (make deploy-local)
    brownie run scripts/deploy.py --network <id>      # any network brownie knows

The deployer becomes the admin (DEFAULT_ADMIN_ROLE of the registry, owner of the token).
The runtime (SDK, oracle, demo) reads the addresses from the JSON file and the ABIs from
build/artifacts (python_client/artifacts.py): it never imports brownie.
"""

import json
from pathlib import Path

from brownie import FlexMarket, FlexRegistry, FlexReserve, FlexToken, accounts, chain, network

ROOT = Path(__file__).resolve().parent.parent


def deploy(admin):
    token = FlexToken.deploy(admin, {"from": admin})
    registry = FlexRegistry.deploy(admin, {"from": admin})
    market = FlexMarket.deploy(token, registry, {"from": admin})
    return token, registry, market


def main():
    admin = accounts[0]
    token, registry, market = deploy(admin)
    reserve = FlexReserve.deploy(token, registry, {"from": admin})
    record = {
        "chain_id": chain.id,
        "network": network.show_active(),
        "admin": admin.address,
        "block": market.tx.block_number,
        "contracts": {
            "FlexToken": token.address,
            "FlexRegistry": registry.address,
            "FlexMarket": market.address,
            "FlexReserve": reserve.address,
        },
        "tx": {
            "FlexToken": token.tx.txid,
            "FlexRegistry": registry.tx.txid,
            "FlexMarket": market.tx.txid,
            "FlexReserve": reserve.tx.txid,
        },
    }
    out = ROOT / "deployments" / f"{chain.id}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"deployed to chain {chain.id}: market {market.address}; wrote {out.relative_to(ROOT)}")
    return record
