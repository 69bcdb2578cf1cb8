// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEscrow} from "./IEscrow.sol";
import {Direction} from "../types/FlexTypes.sol";

/// @notice Life of a reserve offer: submitted (versions 1, 2, ... by modification),
/// cancelled before gate closure, awarded (wholly or in part), or released (its collateral
/// returned: not awarded, or the award closed).
enum OfferStatus {
    None,
    Open,
    Cancelled,
    Awarded,
    Released
}

/// @notice Life of an activation: requested by the DSO, acknowledged by the aggregator,
/// inability signalled before the start (a failure once the award's earlier activations are
/// resolved), delivered or failed (from the metering operator's delivered energy). One
/// requested after the start of the activation that ended the contract stays unresolved.
enum ActivationStatus {
    None,
    Requested,
    Acknowledged,
    Inability,
    Delivered,
    Failed
}

/// @title IFlexReserve
/// @notice Reserve flexibility (PowerCut Urgent, Power Reserve, PowerCap; docs/reserve.md):
/// availability bought ahead from aggregators, activated by the DSO when needed, delivery
/// measured from meter data with baselines off chain (`oracle.reserve`, `oracle.metering`)
/// and committed with the meter data's hash, paid from the DSO's escrow, penalties from the
/// aggregator's collateral, the contract ended at the tender's `maxFailures`-th failure.
///
/// Lifecycle of a tender `t`:
/// 1. `createTender` (DSO role, the DSO of the zone): locks the most the tender can cost at
///    its price caps (`tenderBudgetUeur`).
/// 2. Until `gateClosure`: aggregators `submitOffer` (assets checked by the registry;
///    collateral `collateralEurPerMw x quantityW` locked), `modifyOffer` (version + 1),
///    `cancelOffer`.
/// 3. In `[gateClosure, periodStart)`: the oracle `commitAwards` once (the engine's result
///    and hashes); the DSO's budget beyond the awards' budgets and the collateral beyond each
///    awarded part are unlocked at once; unawarded offers are released by `releaseOffer`.
///    No award by `periodStart`: `lapseTender` returns the budget.
/// 4. During the period: the tender's DSO `requestActivation` within an award (power, whole
///    quarter hours within [min, max], at least `noticeS` ahead, inside one day's window,
///    after the award's previous activation, at most `maxActivations`); the aggregator
///    `acknowledgeActivation` or `signalInability` (before the start: a failure and the
///    inability penalty); after each day the metering operator `commitMeterData` (the hash of
///    that day's canonical meter data), and `recordDelivery` (energy, with the hash committed
///    for the activation's day as evidence): utilisation paid, shortfall penalised. Failures count in the order of
///    the award's activations (an inability signalled while an earlier activation waits for
///    its delivery counts right after it), so the contract ends at the same activation as
///    the off-chain settlement says. Anyone may `settleAvailability` for the days whose window
///    has ended (and ended before the contract's termination).
/// 5. From the period's end (every activation resolved) or `closeGraceS` after it: anyone
///    `closeAward` returns what is left of the budget and the collateral. Participants
///    `withdraw` (IEscrow: pull payments only).
///
/// Money: µEUR; prices EUR per MW per hour (= µEUR per W per hour), EUR per MWh (= µEUR per
/// Wh), EUR per MW (= µEUR per W). The formulas are those of `oracle/reserve/money.py`.
interface IFlexReserve is IEscrow {
    /// @notice A DSO's reserve tender, as in the reserve file's `tender` object.
    struct TenderParams {
        bytes32 tenderId; // the file's tender id (UTF-8, right-padded), unique on chain
        bytes32 product; // PowerCut_Urgent, Power_Reserve, PowerCap
        bytes32 zone;
        Direction direction;
        uint40 periodStart; // Unix seconds of the first day's local midnight
        uint16 dayCount;
        uint32 dailyStartS; // seconds after local midnight, whole quarter hours
        uint32 dailyEndS;
        uint40 gateClosure;
        uint64 quantityW;
        uint64 maxQuantityW;
        uint64 granularityW;
        uint32 noticeS;
        uint32 minDurationS;
        uint32 maxDurationS;
        uint16 maxActivations;
        uint8 maxFailures;
        uint8 tolerancePercent;
        uint32 availabilityCapEurPerMwH;
        uint32 utilisationCapEurPerMwh;
        uint32 shortfallPenaltyEurPerMwh;
        uint32 inabilityPenaltyEurPerMw;
        uint32 collateralEurPerMw;
    }

    /// @notice An aggregator's offer (one version of it).
    struct OfferParams {
        uint64 quantityW;
        uint64 minQuantityW; // divisible: 0 or at least this is awarded
        bool divisible;
        uint32 availabilityPriceEurPerMwH;
        uint32 utilisationPriceEurPerMwh;
        bytes32[] assetIds; // sorted, managed by the aggregator, prequalified, in the zone
    }

    /// @notice An offer as stored.
    struct ReserveOfferView {
        address aggregator;
        uint32 version;
        OfferStatus status;
        bool divisible;
        uint64 quantityW;
        uint64 minQuantityW;
        uint32 availabilityPriceEurPerMwH;
        uint32 utilisationPriceEurPerMwh;
        bytes32 assetsHash;
    }

    /// @notice An award (the awarded part of an offer) as stored.
    struct ReserveAwardView {
        uint64 quantityW;
        uint16 activations; // requested
        uint16 resolved; // counted, in order (inability, delivered, failed)
        uint8 failures;
        uint16 daysPaid;
        uint40 lastEnd; // end of the award's latest activation
        uint40 terminatedAt; // 0, or the start of the activation that ended the contract
        bool closed;
        uint128 budgetLeftUeur; // still locked in the DSO's escrow for this award
        uint128 collateralLeftUeur; // still locked in the aggregator's escrow
    }

    /// @notice An activation as stored.
    struct ActivationView {
        uint64 tender;
        uint32 offerIndex;
        uint16 sequence; // its place among the award's activations
        ActivationStatus status;
        uint40 start;
        uint32 durationS;
        uint64 powerW;
        uint64 deliveredWh;
        bytes32 meterHash;
    }

    /// @notice A row of `commitAwards`: an offer (strictly increasing indices) and its watts.
    struct AwardRow {
        uint32 offerIndex;
        uint64 quantityW;
    }

    // ------------------------------------------------------------------ events

    /// @notice A tender was created and its budget at the price caps locked.
    /// @param tender The tender's number on chain. @param dso Its buyer.
    /// @param params Everything the tender says. @param budgetUeur Locked from the DSO.
    event TenderCreated(uint64 indexed tender, address indexed dso, TenderParams params, uint256 budgetUeur);
    /// @notice An offer was submitted (version 1) or modified (a higher version); its
    /// collateral is locked (or changed by the difference).
    event OfferSubmitted(
        uint64 indexed tender,
        uint32 indexed offerIndex,
        address indexed aggregator,
        uint32 version,
        OfferParams params,
        uint256 collateralUeur
    );
    /// @notice An offer was cancelled before gate closure; its collateral was unlocked.
    event OfferCancelled(uint64 indexed tender, uint32 indexed offerIndex, uint32 version, uint256 collateralUeur);
    /// @notice An offer's collateral was unlocked: not awarded, or its award closed.
    event OfferReleased(uint64 indexed tender, uint32 indexed offerIndex, uint256 collateralUeur);
    /// @notice The clearing's result: hashes of the reserve file and of the result.
    event AwardsCommitted(
        uint64 indexed tender, bytes32 inputHash, bytes32 resultHash, uint256 awardedW, uint256 budgetUnlockedUeur
    );
    /// @notice An offer's awarded part, its budget (still locked from the DSO) and collateral.
    event AwardCommitted(
        uint64 indexed tender,
        uint32 indexed offerIndex,
        address indexed aggregator,
        uint64 quantityW,
        uint256 budgetUeur,
        uint256 collateralUeur
    );
    /// @notice No award by the period's start: the DSO's budget was unlocked.
    event TenderLapsed(uint64 indexed tender, uint256 budgetUeur);
    /// @notice The DSO requested an activation.
    event ActivationRequested(
        uint256 indexed activationId,
        uint64 indexed tender,
        uint32 indexed offerIndex,
        uint16 sequence,
        uint40 start,
        uint32 durationS,
        uint64 powerW
    );
    /// @notice The aggregator acknowledged an activation.
    event ActivationAcknowledged(uint256 indexed activationId);
    /// @notice The aggregator signalled its inability before the start: a failure.
    /// @param penaltyUeur Paid from its collateral to the DSO.
    event InabilitySignalled(uint256 indexed activationId, uint8 failures, uint256 penaltyUeur);
    /// @notice The metering operator committed the hash of a settlement period's meter data
    /// (a day of the tender's period, local midnight to midnight: `oracle.reserve.settlement.
    /// period_meter_hash`), once, after the day.
    event MeterDataCommitted(uint64 indexed tender, uint16 indexed day, bytes32 meterHash);
    /// @notice The metering operator recorded the delivered energy of an activation.
    /// @param meterHash keccak256 of the canonical meter data it was computed from.
    /// @param utilisationUeur Paid from the DSO's budget to the aggregator.
    /// @param penaltyUeur Paid from the aggregator's collateral to the DSO (a shortfall).
    event DeliveryRecorded(
        uint256 indexed activationId,
        uint64 deliveredWh,
        uint64 requestedWh,
        bytes32 meterHash,
        ActivationStatus status,
        uint256 utilisationUeur,
        uint256 penaltyUeur
    );
    /// @notice The award's contract ended at its `maxFailures`-th failure.
    event ContractTerminated(uint64 indexed tender, uint32 indexed offerIndex, uint256 activationId, uint40 terminatedAt);
    /// @notice Availability paid for days up to `daysPaid` (from the DSO to the aggregator).
    event AvailabilitySettled(uint64 indexed tender, uint32 indexed offerIndex, uint16 daysPaid, uint256 amountUeur);
    /// @notice An award closed: what was left of its budget and collateral was unlocked.
    event AwardClosed(uint64 indexed tender, uint32 indexed offerIndex, uint256 budgetRefundUeur, uint256 collateralUeur);

    // ------------------------------------------------------------------ errors

    /// @notice The caller lacks `role`.
    error FlexReserveUnauthorized(address account, bytes32 role);
    /// @notice The caller is not the DSO of the tender (or of its zone).
    error FlexReserveNotTenderDso(uint64 tender, address account);
    /// @notice The caller is not the offer's aggregator.
    error FlexReserveNotAggregator(uint64 tender, uint32 offerIndex, address account);
    /// @notice A tender parameter is invalid; `field` names it.
    error FlexReserveParamInvalid(bytes32 field);
    /// @notice A tender id is used already.
    error FlexReserveTenderExists(bytes32 tenderId);
    /// @notice No such tender.
    error FlexReserveTenderUnknown(uint64 tender);
    /// @notice No such offer.
    error FlexReserveOfferUnknown(uint64 tender, uint32 offerIndex);
    /// @notice An offer parameter is invalid; `field` names it.
    error FlexReserveOfferInvalid(bytes32 field);
    /// @notice The step is not open at this time: `opensAt` to `closesAt` (Unix seconds).
    error FlexReserveNotOpen(uint64 tender, uint256 opensAt, uint256 closesAt);
    /// @notice The offer is not in the state the step needs.
    error FlexReserveOfferStatus(uint64 tender, uint32 offerIndex, OfferStatus status);
    /// @notice The tender's awards are committed already.
    error FlexReserveAwardsCommitted(uint64 tender);
    /// @notice An award row is not an allowed award of its offer.
    error FlexReserveAwardInvalid(uint64 tender, uint32 offerIndex, uint64 quantityW);
    /// @notice Award rows must name offers in strictly increasing order.
    error FlexReserveAwardsNotSorted(uint256 position);
    /// @notice The awards exceed the tender's `maxQuantityW`.
    error FlexReserveAwardsTooLarge(uint256 awardedW, uint64 maxQuantityW);
    /// @notice The offer has no (open) award.
    error FlexReserveNoAward(uint64 tender, uint32 offerIndex);
    /// @notice The award's contract ended.
    error FlexReserveAwardTerminated(uint64 tender, uint32 offerIndex);
    /// @notice An activation breaks the contract; `field` names the rule.
    error FlexReserveActivationInvalid(bytes32 field);
    /// @notice No such activation.
    error FlexReserveActivationUnknown(uint256 activationId);
    /// @notice The activation is not in the state the step needs.
    error FlexReserveActivationStatus(uint256 activationId, ActivationStatus status);
    /// @notice Activations of an award are resolved in order: `expected` is next.
    error FlexReserveActivationOutOfOrder(uint256 activationId, uint16 expected);
    /// @notice The delivered energy exceeds the activation's energy.
    error FlexReserveDeliveryTooLarge(uint256 activationId, uint64 deliveredWh, uint64 requestedWh);
    /// @notice The meter data hash is missing, or the activation's day has none committed.
    error FlexReserveEvidenceMissing(uint256 activationId);
    /// @notice The hash given is not the one committed for the activation's day.
    error FlexReserveEvidenceMismatch(uint256 activationId, bytes32 committed, bytes32 given);
    /// @notice The day's meter data hash is committed already.
    error FlexReserveMeterDataCommitted(uint64 tender, uint16 day);
    /// @notice The award is closed.
    error FlexReserveAwardClosed(uint64 tender, uint32 offerIndex);
    /// @notice An amount does not fit its balance type.
    error FlexReserveAmountTooLarge(uint256 amountUeur);

    // ------------------------------------------------------------------ calls

    /// @notice Creates a tender and locks its budget at the price caps (DSO of the zone).
    /// @return tender The tender's number.
    function createTender(TenderParams calldata params) external returns (uint64 tender);

    /// @notice Submits an offer before gate closure (aggregator role); locks its collateral.
    /// @return offerIndex The offer's number within the tender.
    function submitOffer(uint64 tender, OfferParams calldata params) external returns (uint32 offerIndex);

    /// @notice Replaces an open offer by its next version before gate closure.
    function modifyOffer(uint64 tender, uint32 offerIndex, OfferParams calldata params) external;

    /// @notice Cancels an open offer before gate closure; unlocks its collateral.
    function cancelOffer(uint64 tender, uint32 offerIndex) external;

    /// @notice Commits the clearing's awards (oracle role), once, in [gateClosure, periodStart).
    function commitAwards(uint64 tender, bytes32 inputHash, bytes32 resultHash, AwardRow[] calldata awards)
        external;

    /// @notice Unlocks the collateral of an offer without award (after the awards, or once
    /// the tender lapsed).
    function releaseOffer(uint64 tender, uint32 offerIndex) external;

    /// @notice Unlocks the budget of a tender without awards from its period's start.
    function lapseTender(uint64 tender) external;

    /// @notice Requests an activation within an award (the tender's DSO).
    /// @return activationId The activation's number.
    function requestActivation(uint64 tender, uint32 offerIndex, uint40 start, uint32 durationS, uint64 powerW)
        external
        returns (uint256 activationId);

    /// @notice The aggregator acknowledges an activation before its start.
    function acknowledgeActivation(uint256 activationId) external;

    /// @notice The aggregator signals its inability before the start: a failure, and the
    /// inability penalty from its collateral.
    function signalInability(uint256 activationId) external;

    /// @notice Commits the hash of a day's meter data (metering role), once, after the day.
    function commitMeterData(uint64 tender, uint16 day, bytes32 meterHash) external;

    /// @notice Records an activation's delivered energy after its end (metering role), its
    /// day's meter data committed.
    /// @param deliveredWh floor(sum of the per-interval delivered watts, capped) / 4.
    /// @param meterHash The hash committed for the activation's day (the evidence).
    function recordDelivery(uint256 activationId, uint64 deliveredWh, bytes32 meterHash) external;

    /// @notice Pays the availability of the days whose window has ended (anyone).
    function settleAvailability(uint64 tender, uint32 offerIndex) external;

    /// @notice Closes an award after the period (anyone): settles its availability and
    /// unlocks what is left of its budget and collateral.
    function closeAward(uint64 tender, uint32 offerIndex) external;

    /// @notice A tender's parameters, DSO, budget still locked and whether it is awarded.
    function tenderOf(uint64 tender)
        external
        view
        returns (TenderParams memory params, address dso, uint256 budgetLockedUeur, bool awarded, uint32 offers);

    /// @notice The meter data hash committed for a day of a tender (0: none yet).
    function meterDataOf(uint64 tender, uint16 day) external view returns (bytes32);

    /// @notice Number of a tender by its id (0: none).
    function tenderNumber(bytes32 tenderId) external view returns (uint64);

    /// @notice An offer.
    function offerOf(uint64 tender, uint32 offerIndex) external view returns (ReserveOfferView memory);

    /// @notice An award (zero when the offer has none).
    function awardOf(uint64 tender, uint32 offerIndex) external view returns (ReserveAwardView memory);

    /// @notice An activation.
    function activationOf(uint256 activationId) external view returns (ActivationView memory);

    /// @notice The most a tender can cost at its caps: what `createTender` locks.
    function tenderBudgetUeur(TenderParams calldata params) external pure returns (uint256);

    /// @notice Seconds after the period's end from which anyone may close an award with
    /// activations still unresolved (they are then neither paid nor penalised).
    function closeGraceS() external pure returns (uint256);

    /// @notice The role registry.
    function registry() external view returns (address);
}
