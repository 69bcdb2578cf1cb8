// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IFlexRegistry} from "./interfaces/IFlexRegistry.sol";
import {FlexRoles} from "./libraries/FlexRoles.sol";
import {AssetType} from "./types/FlexTypes.sol";

/// @title FlexRegistry
/// @notice Roles, congestion zones and flexible assets (MARKETFLEX's registry). The market
/// asks it whether a seller manages the assets of a bid.
contract FlexRegistry is AccessControl, IFlexRegistry {
    /// @dev One slot: everything a reveal checks about an asset is read with one SLOAD.
    struct AssetRecord {
        address manager; // 160
        uint32 pMaxW; // 32
        uint32 pMinW; // 32
        uint16 zoneIndex; // 16
        AssetType assetType; // 8
        bool prequalified; // 8
    }

    /// @dev One slot per zone.
    struct ZoneRecord {
        address dso; // 160
        uint16 zoneIndex; // 16
        uint64 limitW; // 64
    }

    bytes32 public constant DSO_ROLE = FlexRoles.DSO;
    bytes32 public constant TSO_ROLE = FlexRoles.TSO;
    bytes32 public constant BRP_ROLE = FlexRoles.BRP;
    bytes32 public constant AGGREGATOR_ROLE = FlexRoles.AGGREGATOR;
    bytes32 public constant ORACLE_ROLE = FlexRoles.ORACLE;
    bytes32 public constant VALIDATOR_ROLE = FlexRoles.VALIDATOR;
    bytes32 public constant METERING_ROLE = FlexRoles.METERING;

    mapping(bytes32 assetId => AssetRecord) private _assets;
    mapping(bytes32 assetId => address owner) private _assetOwners;
    mapping(bytes32 zone => ZoneRecord) private _zones;
    mapping(uint16 zoneIndex => bytes32 zone) private _zoneIds;
    uint16 private _zoneCount;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE, who grants every other role.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IFlexRegistry
    function registerZone(bytes32 zone, uint64 limitW) external onlyRole(FlexRoles.DSO) returns (uint16 zoneIndex) {
        if (zone == bytes32(0)) revert FlexRegistryZoneInvalid();
        if (_zones[zone].zoneIndex != 0) revert FlexRegistryZoneExists(zone);
        if (_zoneCount == type(uint16).max) revert FlexRegistryTooManyZones();
        zoneIndex = ++_zoneCount;
        _zones[zone] = ZoneRecord({dso: msg.sender, zoneIndex: zoneIndex, limitW: limitW});
        _zoneIds[zoneIndex] = zone;
        emit ZoneRegistered(zone, zoneIndex, msg.sender, limitW);
    }

    /// @inheritdoc IFlexRegistry
    function registerAsset(
        bytes32 assetId,
        AssetType assetType,
        uint32 pMaxW,
        uint32 pMinW,
        bytes32 zone,
        address owner
    ) external onlyRole(FlexRoles.AGGREGATOR) {
        if (assetId == bytes32(0)) revert FlexRegistryAssetIdInvalid();
        if (_assets[assetId].manager != address(0)) revert FlexRegistryAssetExists(assetId);
        if (pMaxW == 0 || pMinW > pMaxW) revert FlexRegistryPowerInvalid(pMaxW, pMinW);
        if (owner == address(0)) revert FlexRegistryOwnerInvalid();
        uint16 zoneIndex = _zones[zone].zoneIndex;
        if (zoneIndex == 0) revert FlexRegistryZoneUnknown(zone);
        _assets[assetId] = AssetRecord({
            manager: msg.sender,
            pMaxW: pMaxW,
            pMinW: pMinW,
            zoneIndex: zoneIndex,
            assetType: assetType,
            prequalified: false
        });
        _assetOwners[assetId] = owner;
        emit AssetRegistered(assetId, msg.sender, owner, assetType, pMaxW, pMinW, zone);
    }

    /// @inheritdoc IFlexRegistry
    function transferManagement(bytes32 assetId, address newManager) external {
        AssetRecord storage record = _assets[assetId];
        address previousManager = record.manager;
        if (previousManager == address(0)) revert FlexRegistryAssetUnknown(assetId);
        if (msg.sender != previousManager && msg.sender != _assetOwners[assetId]) {
            revert FlexRegistryNotManagerOrOwner(assetId, msg.sender);
        }
        if (!hasRole(FlexRoles.AGGREGATOR, newManager)) revert FlexRegistryNotAggregator(newManager);
        record.manager = newManager;
        emit ManagementTransferred(assetId, previousManager, newManager, msg.sender);
    }

    /// @inheritdoc IFlexRegistry
    function setPrequalified(bytes32 assetId, bool prequalified) external {
        AssetRecord storage record = _assets[assetId];
        if (record.manager == address(0)) revert FlexRegistryAssetUnknown(assetId);
        bytes32 zone = _zoneIds[record.zoneIndex];
        if (_zones[zone].dso != msg.sender || !hasRole(FlexRoles.DSO, msg.sender)) {
            revert FlexRegistryNotZoneDso(zone, msg.sender);
        }
        record.prequalified = prequalified;
        emit AssetPrequalified(assetId, prequalified, msg.sender);
    }

    /// @inheritdoc IFlexRegistry
    function checkBidAssets(address seller, bytes32 zone, bytes32[] calldata assetIds)
        external
        view
        returns (uint16 zoneIndex, uint64 sumPMaxW, uint32 maxPMinW)
    {
        if (!hasRole(FlexRoles.AGGREGATOR, seller)) revert FlexRegistryNotAggregator(seller);
        zoneIndex = _zones[zone].zoneIndex;
        if (zoneIndex == 0) revert FlexRegistryZoneUnknown(zone);
        bytes32 previous;
        uint256 count = assetIds.length;
        for (uint256 i; i < count; ++i) {
            bytes32 assetId = assetIds[i];
            if (assetId <= previous) revert FlexRegistryAssetsNotSorted(i);
            previous = assetId;
            AssetRecord memory record = _assets[assetId];
            if (record.manager != seller) {
                if (record.manager == address(0)) revert FlexRegistryAssetUnknown(assetId);
                revert FlexRegistryAssetNotManaged(assetId, seller);
            }
            if (!record.prequalified) revert FlexRegistryAssetNotPrequalified(assetId);
            if (record.zoneIndex != zoneIndex) revert FlexRegistryAssetOutsideZone(assetId, zone);
            sumPMaxW += record.pMaxW;
            if (record.pMinW > maxPMinW) maxPMinW = record.pMinW;
        }
    }

    /// @inheritdoc IFlexRegistry
    function zoneIndexOf(bytes32 zone) external view returns (uint16 zoneIndex) {
        if (zone == bytes32(0)) return 0;
        zoneIndex = _zones[zone].zoneIndex;
        if (zoneIndex == 0) revert FlexRegistryZoneUnknown(zone);
    }

    /// @inheritdoc IFlexRegistry
    function zoneAt(uint16 zoneIndex) external view returns (bytes32 zone) {
        return _zoneIds[zoneIndex];
    }

    /// @inheritdoc IFlexRegistry
    function zoneInfo(bytes32 zone) external view returns (address dso, uint16 zoneIndex, uint64 limitW) {
        ZoneRecord memory record = _zones[zone];
        return (record.dso, record.zoneIndex, record.limitW);
    }

    /// @inheritdoc IFlexRegistry
    function asset(bytes32 assetId) external view returns (AssetView memory) {
        AssetRecord memory record = _assets[assetId];
        return AssetView({
            owner: _assetOwners[assetId],
            manager: record.manager,
            assetType: record.assetType,
            pMaxW: record.pMaxW,
            pMinW: record.pMinW,
            zone: _zoneIds[record.zoneIndex],
            prequalified: record.prequalified
        });
    }
}
