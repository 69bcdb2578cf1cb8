// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {AssetType} from "../types/FlexTypes.sol";

/// @title IFlexRegistry
/// @notice Who is who and what is where: the participants' roles (AccessControl), the
/// congestion zones published by DSOs and the flexible assets registered by aggregators.
/// An asset id is a keyed hash of its meter code computed off chain by the SDK
/// (`keccak256(abi.encode(key, meterCode))`): the meter code itself never reaches the chain.
interface IFlexRegistry is IAccessControl {
    /// @notice A registered asset, as returned by {asset}.
    struct AssetView {
        address owner;
        address manager;
        AssetType assetType;
        uint32 pMaxW;
        uint32 pMinW;
        bytes32 zone;
        bool prequalified;
    }

    /// @notice A DSO published a congestion zone (transformer, feeder).
    /// @param zone Zone id (UTF-8 label, right-padded).
    /// @param zoneIndex Compact index used in storage (1-based; 0 means system-wide).
    /// @param dso The DSO that published it and pre-qualifies assets in it.
    /// @param limitW Published limit of the zone in W (0 = not published).
    event ZoneRegistered(bytes32 indexed zone, uint16 zoneIndex, address indexed dso, uint64 limitW);

    /// @notice An aggregator registered an asset it manages.
    /// @param assetId Keyed hash of the meter code.
    /// @param manager Managing aggregator (the caller).
    /// @param owner Owner of the asset (household, company).
    /// @param assetType Load, generation or storage.
    /// @param pMaxW Largest flexible power in W.
    /// @param pMinW Smallest power the asset can be activated at, in W.
    /// @param zone Zone the asset is connected in.
    event AssetRegistered(
        bytes32 indexed assetId,
        address indexed manager,
        address indexed owner,
        AssetType assetType,
        uint32 pMaxW,
        uint32 pMinW,
        bytes32 zone
    );

    /// @notice The management of an asset passed to another aggregator.
    /// @param assetId The asset.
    /// @param previousManager Aggregator that managed it until now.
    /// @param newManager Aggregator that manages it from now on.
    /// @param by The caller: the previous manager or the owner.
    event ManagementTransferred(
        bytes32 indexed assetId, address indexed previousManager, address indexed newManager, address by
    );

    /// @notice The DSO of the asset's zone set its pre-qualification.
    /// @param assetId The asset.
    /// @param prequalified Whether the asset may now back bids.
    /// @param dso The DSO that decided.
    event AssetPrequalified(bytes32 indexed assetId, bool prequalified, address indexed dso);

    /// @notice Zone ids must not be zero (zero means system-wide).
    error FlexRegistryZoneInvalid();
    /// @notice The zone was published already.
    /// @param zone The zone.
    error FlexRegistryZoneExists(bytes32 zone);
    /// @notice No DSO published this zone.
    /// @param zone The zone.
    error FlexRegistryZoneUnknown(bytes32 zone);
    /// @notice All 65,535 zone indices are used.
    error FlexRegistryTooManyZones();
    /// @notice Only the DSO that published the zone may do this.
    /// @param zone The zone.
    /// @param account The caller.
    error FlexRegistryNotZoneDso(bytes32 zone, address account);
    /// @notice The asset id is zero.
    error FlexRegistryAssetIdInvalid();
    /// @notice The asset is registered already.
    /// @param assetId The asset.
    error FlexRegistryAssetExists(bytes32 assetId);
    /// @notice No asset with this id.
    /// @param assetId The asset.
    error FlexRegistryAssetUnknown(bytes32 assetId);
    /// @notice p_max_w must be positive and at least p_min_w.
    /// @param pMaxW Given largest power.
    /// @param pMinW Given smallest power.
    error FlexRegistryPowerInvalid(uint32 pMaxW, uint32 pMinW);
    /// @notice The owner address is zero.
    error FlexRegistryOwnerInvalid();
    /// @notice The account does not hold the aggregator role.
    /// @param account The account.
    error FlexRegistryNotAggregator(address account);
    /// @notice Only the asset's manager or owner may transfer its management.
    /// @param assetId The asset.
    /// @param account The caller.
    error FlexRegistryNotManagerOrOwner(bytes32 assetId, address account);
    /// @notice A bid names an asset its seller does not manage.
    /// @param assetId The asset.
    /// @param seller The seller.
    error FlexRegistryAssetNotManaged(bytes32 assetId, address seller);
    /// @notice A bid names an asset that is not pre-qualified.
    /// @param assetId The asset.
    error FlexRegistryAssetNotPrequalified(bytes32 assetId);
    /// @notice A bid names an asset outside the bid's zone.
    /// @param assetId The asset.
    /// @param zone The bid's zone.
    error FlexRegistryAssetOutsideZone(bytes32 assetId, bytes32 zone);
    /// @notice A bid's assets must be listed in strictly ascending order (no duplicates).
    /// @param position Position of the first asset out of order.
    error FlexRegistryAssetsNotSorted(uint256 position);

    /// @notice Publishes a congestion zone. Only a DSO.
    /// @param zone Zone id, not zero.
    /// @param limitW Published limit in W (0 = not published).
    /// @return zoneIndex Its compact index.
    function registerZone(bytes32 zone, uint64 limitW) external returns (uint16 zoneIndex);

    /// @notice Registers an asset managed by the caller. Only an aggregator.
    /// @param assetId Keyed hash of the meter code (computed off chain).
    /// @param assetType Load, generation or storage.
    /// @param pMaxW Largest flexible power in W (> 0).
    /// @param pMinW Smallest activation power in W (<= pMaxW).
    /// @param zone A published zone.
    /// @param owner Owner of the asset.
    function registerAsset(
        bytes32 assetId,
        AssetType assetType,
        uint32 pMaxW,
        uint32 pMinW,
        bytes32 zone,
        address owner
    ) external;

    /// @notice Hands the management of an asset to another aggregator. Only the asset's
    /// current manager or its owner. Pre-qualification is kept: it is about the asset.
    /// @param assetId The asset.
    /// @param newManager An aggregator.
    function transferManagement(bytes32 assetId, address newManager) external;

    /// @notice Pre-qualifies (or disqualifies) an asset. Only the DSO of the asset's zone.
    /// @param assetId The asset.
    /// @param prequalified The decision.
    function setPrequalified(bytes32 assetId, bool prequalified) external;

    /// @notice Checks that `seller` is an aggregator managing every asset in `assetIds`,
    /// all pre-qualified and in `zone`, listed in strictly ascending order; reverts with the
    /// first problem found.
    /// @param seller The bid's seller.
    /// @param zone The bid's zone.
    /// @param assetIds The bid's assets.
    /// @return zoneIndex Compact index of `zone`.
    /// @return sumPMaxW Sum of the assets' p_max_w.
    /// @return maxPMinW Largest p_min_w of the assets.
    function checkBidAssets(address seller, bytes32 zone, bytes32[] calldata assetIds)
        external
        view
        returns (uint16 zoneIndex, uint64 sumPMaxW, uint32 maxPMinW);

    /// @notice Compact index of a published zone; 0 for bytes32(0) (system-wide).
    /// @param zone The zone.
    /// @return zoneIndex Its index; reverts if the zone is unknown.
    function zoneIndexOf(bytes32 zone) external view returns (uint16 zoneIndex);

    /// @notice Zone id of a compact index (bytes32(0) for 0).
    /// @param zoneIndex The index.
    /// @return zone The zone id.
    function zoneAt(uint16 zoneIndex) external view returns (bytes32 zone);

    /// @notice A published zone.
    /// @param zone The zone.
    /// @return dso The DSO that published it (zero if unknown).
    /// @return zoneIndex Its index.
    /// @return limitW Its published limit in W.
    function zoneInfo(bytes32 zone) external view returns (address dso, uint16 zoneIndex, uint64 limitW);

    /// @notice A registered asset (all fields zero if unknown).
    /// @param assetId The asset.
    /// @return The asset.
    function asset(bytes32 assetId) external view returns (AssetView memory);
}
