"""FlexRegistry: roles, zones, assets, management transfer, pre-qualification."""

from conftest import LOAD, STORAGE, asset_id, label, reverts


def test_roles_are_granted_by_the_admin(env):
    r = env.registry
    assert r.hasRole(r.DSO_ROLE(), env.dso)
    assert r.hasRole(r.AGGREGATOR_ROLE(), env.agg1)
    assert r.hasRole(r.DEFAULT_ADMIN_ROLE(), env.admin)
    assert not r.hasRole(r.ORACLE_ROLE(), env.agg1)


def test_grant_role_reverts_when_caller_is_not_the_admin(env):
    with reverts("AccessControlUnauthorizedAccount"):
        env.registry.grantRole(env.registry.ORACLE_ROLE(), env.agg1, {"from": env.dso})


def test_register_zone_records_dso_index_and_limit(env):
    tx = env.registry.registerZone(label("F7"), 50_000, {"from": env.dso})
    dso, index, limit = env.registry.zoneInfo(label("F7"))
    assert (dso, limit) == (env.dso, 50_000)
    assert index == tx.return_value == 3  # T1, T2 registered in setup
    assert env.registry.zoneAt(index) == label("F7")
    assert tx.events["ZoneRegistered"]["zone"] == label("F7")


def test_register_zone_reverts_when_zone_is_zero(env):
    with reverts("FlexRegistryZoneInvalid"):
        env.registry.registerZone("0x" + "00" * 32, 0, {"from": env.dso})


def test_register_zone_reverts_when_zone_exists(env):
    with reverts("FlexRegistryZoneExists"):
        env.registry.registerZone(env.zone, 0, {"from": env.dso})


def test_register_zone_reverts_when_caller_is_not_a_dso(env):
    with reverts("AccessControlUnauthorizedAccount"):
        env.registry.registerZone(label("X"), 0, {"from": env.agg1})


def test_zone_index_of_is_zero_for_system_wide_and_reverts_when_unknown(env):
    assert env.registry.zoneIndexOf("0x" + "00" * 32) == 0
    assert env.registry.zoneIndexOf(env.zone) == 1
    with reverts("FlexRegistryZoneUnknown"):
        env.registry.zoneIndexOf(label("nowhere"))


def test_register_asset_stores_the_asset_without_its_meter_code(env):
    aid = asset_id("EAN-871685900000000001")
    tx = env.registry.registerAsset(
        aid, STORAGE, 5000, 200, env.zone, env.owner, {"from": env.agg1}
    )
    a = env.registry.asset(aid)
    assert (a[0], a[1], a[2], a[3], a[4], a[5], a[6]) == (
        env.owner,
        env.agg1,
        STORAGE,
        5000,
        200,
        env.zone,
        False,
    )
    event = tx.events["AssetRegistered"]
    assert event["assetId"] == aid and event["manager"] == env.agg1
    assert b"EAN-871685900000000001" not in bytes.fromhex(tx.input[2:])


def test_register_asset_reverts_when_id_is_zero(env):
    with reverts("FlexRegistryAssetIdInvalid"):
        env.registry.registerAsset(
            "0x" + "00" * 32, LOAD, 1, 0, env.zone, env.owner, {"from": env.agg1}
        )


def test_register_asset_reverts_when_asset_exists(env):
    aid = env.register_assets(env.agg1, 1)[0]
    with reverts("FlexRegistryAssetExists"):
        env.registry.registerAsset(aid, LOAD, 1, 0, env.zone, env.owner, {"from": env.agg2})


def test_register_asset_reverts_when_power_is_invalid(env):
    with reverts("FlexRegistryPowerInvalid"):
        env.registry.registerAsset(
            asset_id("p0"), LOAD, 0, 0, env.zone, env.owner, {"from": env.agg1}
        )
    with reverts("FlexRegistryPowerInvalid"):
        env.registry.registerAsset(
            asset_id("p1"), LOAD, 100, 101, env.zone, env.owner, {"from": env.agg1}
        )


def test_register_asset_reverts_when_owner_is_zero(env):
    with reverts("FlexRegistryOwnerInvalid"):
        env.registry.registerAsset(
            asset_id("o"), LOAD, 1, 0, env.zone, "0x" + "00" * 20, {"from": env.agg1}
        )


def test_register_asset_reverts_when_zone_is_unknown(env):
    with reverts("FlexRegistryZoneUnknown"):
        env.registry.registerAsset(
            asset_id("z"), LOAD, 1, 0, label("nowhere"), env.owner, {"from": env.agg1}
        )


def test_register_asset_reverts_when_caller_is_not_an_aggregator(env):
    with reverts("AccessControlUnauthorizedAccount"):
        env.registry.registerAsset(
            asset_id("r"), LOAD, 1, 0, env.zone, env.owner, {"from": env.dso}
        )


def test_transfer_management_by_the_manager_moves_the_asset(env):
    aid = env.register_assets(env.agg1, 1)[0]
    tx = env.registry.transferManagement(aid, env.agg2, {"from": env.agg1})
    assert env.registry.asset(aid)[1] == env.agg2
    assert env.registry.asset(aid)[6]  # pre-qualification kept
    assert tx.events["ManagementTransferred"]["previousManager"] == env.agg1


def test_transfer_management_by_the_owner_moves_the_asset(env):
    aid = env.register_assets(env.agg1, 1)[0]
    env.registry.transferManagement(aid, env.agg2, {"from": env.owner})
    assert env.registry.asset(aid)[1] == env.agg2


def test_transfer_management_reverts_when_asset_unknown(env):
    with reverts("FlexRegistryAssetUnknown"):
        env.registry.transferManagement(asset_id("none"), env.agg2, {"from": env.agg1})


def test_transfer_management_reverts_when_caller_is_neither_manager_nor_owner(env):
    aid = env.register_assets(env.agg1, 1)[0]
    with reverts("FlexRegistryNotManagerOrOwner"):
        env.registry.transferManagement(aid, env.agg2, {"from": env.agg2})


def test_transfer_management_reverts_when_new_manager_is_not_an_aggregator(env):
    aid = env.register_assets(env.agg1, 1)[0]
    with reverts("FlexRegistryNotAggregator"):
        env.registry.transferManagement(aid, env.dso, {"from": env.agg1})


def test_set_prequalified_by_the_zone_dso_records_the_decision(env):
    aid = env.register_assets(env.agg1, 1, prequalify=False)[0]
    tx = env.registry.setPrequalified(aid, True, {"from": env.dso})
    assert env.registry.asset(aid)[6]
    assert tx.events["AssetPrequalified"]["prequalified"]


def test_set_prequalified_reverts_when_asset_unknown(env):
    with reverts("FlexRegistryAssetUnknown"):
        env.registry.setPrequalified(asset_id("none"), True, {"from": env.dso})


def test_set_prequalified_reverts_when_caller_is_not_the_zone_dso(env):
    aid = env.register_assets(env.agg1, 1, prequalify=False)[0]
    env.registry.grantRole(env.registry.DSO_ROLE(), env.tso, {"from": env.admin})
    with reverts("FlexRegistryNotZoneDso"):
        env.registry.setPrequalified(aid, True, {"from": env.tso})


def test_check_bid_assets_sums_power_and_returns_zone(env):
    ids = env.register_assets(env.agg1, 4, p_max_w=3700, p_min_w=500)
    zone_index, sum_p_max, max_p_min = env.registry.checkBidAssets(env.agg1, env.zone, ids)
    assert (zone_index, sum_p_max, max_p_min) == (1, 14_800, 500)


def test_check_bid_assets_reverts_when_seller_is_not_an_aggregator(env):
    with reverts("FlexRegistryNotAggregator"):
        env.registry.checkBidAssets(env.dso, env.zone, [])


def test_check_bid_assets_reverts_when_zone_unknown(env):
    with reverts("FlexRegistryZoneUnknown"):
        env.registry.checkBidAssets(env.agg1, label("nowhere"), [])


def test_check_bid_assets_reverts_when_assets_not_sorted(env):
    ids = env.register_assets(env.agg1, 2)
    with reverts("FlexRegistryAssetsNotSorted"):
        env.registry.checkBidAssets(env.agg1, env.zone, [ids[1], ids[0]])
    with reverts("FlexRegistryAssetsNotSorted"):
        env.registry.checkBidAssets(env.agg1, env.zone, [ids[0], ids[0]])


def test_check_bid_assets_reverts_when_asset_unknown(env):
    with reverts("FlexRegistryAssetUnknown"):
        env.registry.checkBidAssets(env.agg1, env.zone, [asset_id("none")])


def test_check_bid_assets_reverts_when_asset_not_managed(env):
    ids = env.register_assets(env.agg2, 1)
    with reverts("FlexRegistryAssetNotManaged"):
        env.registry.checkBidAssets(env.agg1, env.zone, ids)


def test_check_bid_assets_reverts_when_asset_not_prequalified(env):
    ids = env.register_assets(env.agg1, 1, prequalify=False)
    with reverts("FlexRegistryAssetNotPrequalified"):
        env.registry.checkBidAssets(env.agg1, env.zone, ids)


def test_check_bid_assets_reverts_when_asset_outside_zone(env):
    ids = env.register_assets(env.agg1, 1, zone=env.zone2)
    with reverts("FlexRegistryAssetOutsideZone"):
        env.registry.checkBidAssets(env.agg1, env.zone, ids)
