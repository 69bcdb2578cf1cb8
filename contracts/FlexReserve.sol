// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Escrow} from "./Escrow.sol";
import {IFlexRegistry} from "./interfaces/IFlexRegistry.sol";
import {ActivationStatus, IFlexReserve, OfferStatus} from "./interfaces/IFlexReserve.sol";
import {FlexRoles} from "./libraries/FlexRoles.sol";

/// @title FlexReserve
/// @notice Reserve flexibility on chain: tenders, versioned offers, the clearing's awards,
/// the DSO's activations, delivery from meter data, settlement from escrow with pull
/// payments (see IFlexReserve for the lifecycle). A contract of its own beside FlexMarket
/// (which is at the code size limit), with its own escrow (Escrow: free and locked balances,
/// `deposit` / `withdraw`) and the same registry of roles, zones and assets.
contract FlexReserve is Escrow, IFlexReserve {
    uint256 private constant QUARTER_S = 900;
    uint256 private constant DAY_S = 86_400;
    uint256 private constant WATTS_LIMIT = 1_000_000_000_000; // as oracle/reserve/files.py
    uint256 private constant MAX_DAYS = 366;
    uint256 private constant CLOSE_GRACE_S = 604_800; // 7 days

    struct TenderRecord {
        TenderParams params;
        address dso;
        bool awarded;
        uint32 offerCount;
        uint128 budgetLockedUeur; // until the awards: the budget at the caps
    }

    struct OfferRecord {
        ReserveOfferView offer;
        uint128 collateralUeur; // locked while Open
    }

    IFlexRegistry private immutable _registry;
    uint64 private _tenderCount;
    uint256 private _activationCount;
    mapping(uint64 tender => TenderRecord) private _tenders;
    mapping(bytes32 tenderId => uint64 tender) private _tenderNumbers;
    mapping(uint64 tender => mapping(uint32 offerIndex => OfferRecord)) private _offers;
    mapping(uint64 tender => mapping(uint32 offerIndex => ReserveAwardView)) private _awards;
    mapping(uint256 activationId => ActivationView) private _activations;
    mapping(uint64 tender => mapping(uint32 offerIndex => mapping(uint16 sequence => uint256 activationId))) private
        _sequence;
    mapping(uint64 tender => mapping(uint16 day => bytes32 meterHash)) private _meterData;

    /// @param settlementToken The µEUR token. @param flexRegistry Roles, zones and assets.
    constructor(IERC20 settlementToken, IFlexRegistry flexRegistry) Escrow(settlementToken) {
        _registry = flexRegistry;
    }

    // ------------------------------------------------------------------ tenders

    /// @inheritdoc IFlexReserve
    function createTender(TenderParams calldata p) external returns (uint64 tender) {
        _requireRole(FlexRoles.DSO);
        (address zoneDso,,) = _registry.zoneInfo(p.zone);
        if (zoneDso != msg.sender) revert FlexReserveNotTenderDso(0, msg.sender);
        if (p.tenderId == bytes32(0)) revert FlexReserveParamInvalid("tenderId");
        if (_tenderNumbers[p.tenderId] != 0) revert FlexReserveTenderExists(p.tenderId);
        _checkTender(p);
        uint256 budget = tenderBudgetUeur(p);
        tender = ++_tenderCount;
        TenderRecord storage t = _tenders[tender];
        t.params = p;
        t.dso = msg.sender;
        t.budgetLockedUeur = uint128(budget);
        _tenderNumbers[p.tenderId] = tender;
        _lock(msg.sender, budget);
        emit TenderCreated(tender, msg.sender, p, budget);
    }

    function _checkTender(TenderParams calldata p) private view {
        if (p.dayCount == 0 || p.dayCount > MAX_DAYS) revert FlexReserveParamInvalid("dayCount");
        if (p.periodStart % QUARTER_S != 0) revert FlexReserveParamInvalid("periodStart");
        if (
            p.dailyStartS % QUARTER_S != 0 || p.dailyEndS % QUARTER_S != 0 || p.dailyEndS > DAY_S
                || p.dailyEndS <= p.dailyStartS
        ) revert FlexReserveParamInvalid("dailyWindow");
        if (
            p.minDurationS == 0 || p.minDurationS % QUARTER_S != 0 || p.maxDurationS % QUARTER_S != 0
                || p.minDurationS > p.maxDurationS || p.maxDurationS > p.dailyEndS - p.dailyStartS
        ) revert FlexReserveParamInvalid("duration");
        if (p.noticeS % QUARTER_S != 0) revert FlexReserveParamInvalid("noticeS");
        if (p.gateClosure <= block.timestamp || p.gateClosure > p.periodStart) {
            revert FlexReserveParamInvalid("gateClosure");
        }
        if (p.quantityW == 0 || p.maxQuantityW < p.quantityW || p.maxQuantityW > WATTS_LIMIT) {
            revert FlexReserveParamInvalid("quantityW");
        }
        if (p.granularityW == 0) revert FlexReserveParamInvalid("granularityW");
        if (p.maxActivations == 0) revert FlexReserveParamInvalid("maxActivations");
        if (p.maxFailures == 0) revert FlexReserveParamInvalid("maxFailures");
        if (p.tolerancePercent > 100) revert FlexReserveParamInvalid("tolerancePercent");
    }

    /// @inheritdoc IFlexReserve
    function tenderBudgetUeur(TenderParams calldata p) public pure returns (uint256 budget) {
        budget = _budget(
            p.availabilityCapEurPerMwH, p.utilisationCapEurPerMwh, p.maxQuantityW, p.dailyEndS - p.dailyStartS,
            p.dayCount, p.maxActivations, p.maxDurationS
        );
        if (budget > type(uint112).max) revert FlexReserveAmountTooLarge(budget);
    }

    /// @inheritdoc IFlexReserve
    function lapseTender(uint64 tender) external {
        TenderRecord storage t = _tender(tender);
        if (t.awarded || block.timestamp < t.params.periodStart || t.budgetLockedUeur == 0) {
            revert FlexReserveNotOpen(tender, t.params.periodStart, type(uint256).max);
        }
        uint256 budget = t.budgetLockedUeur;
        t.budgetLockedUeur = 0;
        _unlock(t.dso, budget);
        emit TenderLapsed(tender, budget);
    }

    // ------------------------------------------------------------------ offers

    /// @inheritdoc IFlexReserve
    function submitOffer(uint64 tender, OfferParams calldata p) external returns (uint32 offerIndex) {
        _requireRole(FlexRoles.AGGREGATOR);
        TenderRecord storage t = _tender(tender);
        _beforeGateClosure(tender, t);
        uint256 collateral = _checkOffer(t, p);
        offerIndex = t.offerCount++;
        OfferRecord storage o = _offers[tender][offerIndex];
        _storeOffer(o, p, 1);
        o.offer.aggregator = msg.sender;
        o.collateralUeur = uint128(collateral);
        _lock(msg.sender, collateral);
        emit OfferSubmitted(tender, offerIndex, msg.sender, 1, p, collateral);
    }

    /// @inheritdoc IFlexReserve
    function modifyOffer(uint64 tender, uint32 offerIndex, OfferParams calldata p) external {
        TenderRecord storage t = _tender(tender);
        OfferRecord storage o = _ownOpenOffer(tender, offerIndex);
        _beforeGateClosure(tender, t);
        uint256 collateral = _checkOffer(t, p);
        uint256 held = o.collateralUeur;
        uint32 version = o.offer.version + 1;
        _storeOffer(o, p, version);
        o.collateralUeur = uint128(collateral);
        if (collateral > held) _lock(msg.sender, collateral - held);
        else if (held > collateral) _unlock(msg.sender, held - collateral);
        emit OfferSubmitted(tender, offerIndex, msg.sender, version, p, collateral);
    }

    /// @inheritdoc IFlexReserve
    function cancelOffer(uint64 tender, uint32 offerIndex) external {
        TenderRecord storage t = _tender(tender);
        OfferRecord storage o = _ownOpenOffer(tender, offerIndex);
        _beforeGateClosure(tender, t);
        uint256 held = o.collateralUeur;
        o.offer.status = OfferStatus.Cancelled;
        o.collateralUeur = 0;
        _unlock(msg.sender, held);
        emit OfferCancelled(tender, offerIndex, o.offer.version, held);
    }

    /// @inheritdoc IFlexReserve
    function releaseOffer(uint64 tender, uint32 offerIndex) external {
        TenderRecord storage t = _tender(tender);
        OfferRecord storage o = _offers[tender][offerIndex];
        if (o.offer.status != OfferStatus.Open) revert FlexReserveOfferStatus(tender, offerIndex, o.offer.status);
        if (!t.awarded && block.timestamp < t.params.periodStart) {
            revert FlexReserveNotOpen(tender, t.params.periodStart, type(uint256).max);
        }
        uint256 held = o.collateralUeur;
        o.offer.status = OfferStatus.Released;
        o.collateralUeur = 0;
        _unlock(o.offer.aggregator, held);
        emit OfferReleased(tender, offerIndex, held);
    }

    function _checkOffer(TenderRecord storage t, OfferParams calldata p) private view returns (uint256 collateral) {
        TenderParams storage tp = t.params;
        if (p.quantityW == 0 || p.quantityW % tp.granularityW != 0 || p.quantityW > WATTS_LIMIT) {
            revert FlexReserveOfferInvalid("quantityW");
        }
        if (p.minQuantityW > p.quantityW) revert FlexReserveOfferInvalid("minQuantityW");
        if (p.availabilityPriceEurPerMwH > tp.availabilityCapEurPerMwH) {
            revert FlexReserveOfferInvalid("availabilityPrice");
        }
        if (p.utilisationPriceEurPerMwh > tp.utilisationCapEurPerMwh) revert FlexReserveOfferInvalid("utilisationPrice");
        if (p.assetIds.length == 0) revert FlexReserveOfferInvalid("assetIds");
        _registry.checkBidAssets(msg.sender, tp.zone, p.assetIds);
        collateral = uint256(tp.collateralEurPerMw) * p.quantityW;
    }

    function _storeOffer(OfferRecord storage o, OfferParams calldata p, uint32 version) private {
        o.offer.version = version;
        o.offer.status = OfferStatus.Open;
        o.offer.divisible = p.divisible;
        o.offer.quantityW = p.quantityW;
        o.offer.minQuantityW = p.minQuantityW;
        o.offer.availabilityPriceEurPerMwH = p.availabilityPriceEurPerMwH;
        o.offer.utilisationPriceEurPerMwh = p.utilisationPriceEurPerMwh;
        o.offer.assetsHash = keccak256(abi.encode(p.assetIds));
    }

    function _ownOpenOffer(uint64 tender, uint32 offerIndex) private view returns (OfferRecord storage o) {
        o = _offers[tender][offerIndex];
        if (o.offer.status == OfferStatus.None) revert FlexReserveOfferUnknown(tender, offerIndex);
        if (o.offer.aggregator != msg.sender) revert FlexReserveNotAggregator(tender, offerIndex, msg.sender);
        if (o.offer.status != OfferStatus.Open) revert FlexReserveOfferStatus(tender, offerIndex, o.offer.status);
    }

    function _beforeGateClosure(uint64 tender, TenderRecord storage t) private view {
        if (block.timestamp >= t.params.gateClosure) revert FlexReserveNotOpen(tender, 0, t.params.gateClosure);
    }

    // ------------------------------------------------------------------ awards

    /// @inheritdoc IFlexReserve
    function commitAwards(uint64 tender, bytes32 inputHash, bytes32 resultHash, AwardRow[] calldata awards) external {
        _requireRole(FlexRoles.ORACLE);
        TenderRecord storage t = _tender(tender);
        TenderParams storage tp = t.params;
        if (block.timestamp < tp.gateClosure || block.timestamp >= tp.periodStart) {
            revert FlexReserveNotOpen(tender, tp.gateClosure, tp.periodStart);
        }
        if (t.awarded) revert FlexReserveAwardsCommitted(tender);
        if (inputHash == bytes32(0) || resultHash == bytes32(0)) revert FlexReserveParamInvalid("hashes");
        t.awarded = true;
        uint256 awardedW;
        uint256 budgets;
        for (uint256 i; i < awards.length; ++i) {
            AwardRow calldata row = awards[i];
            if (i > 0 && row.offerIndex <= awards[i - 1].offerIndex) revert FlexReserveAwardsNotSorted(i);
            awardedW += row.quantityW;
            budgets += _award(tender, tp, row);
        }
        if (awardedW > tp.maxQuantityW) revert FlexReserveAwardsTooLarge(awardedW, tp.maxQuantityW);
        uint256 locked = t.budgetLockedUeur;
        if (budgets > locked) revert FlexReserveAmountTooLarge(budgets); // not reached: prices within the caps
        t.budgetLockedUeur = 0;
        _unlock(t.dso, locked - budgets);
        emit AwardsCommitted(tender, inputHash, resultHash, awardedW, locked - budgets);
    }

    function _award(uint64 tender, TenderParams storage tp, AwardRow calldata row) private returns (uint256 budget) {
        OfferRecord storage o = _offers[tender][row.offerIndex];
        ReserveOfferView storage offer = o.offer;
        if (offer.status != OfferStatus.Open) revert FlexReserveOfferStatus(tender, row.offerIndex, offer.status);
        uint64 q = row.quantityW;
        bool allowed = q > 0 && q % tp.granularityW == 0 && q <= offer.quantityW
            && (offer.divisible ? q >= offer.minQuantityW : q == offer.quantityW);
        if (!allowed) revert FlexReserveAwardInvalid(tender, row.offerIndex, q);
        budget = _budget(
            offer.availabilityPriceEurPerMwH, offer.utilisationPriceEurPerMwh, q, tp.dailyEndS - tp.dailyStartS,
            tp.dayCount, tp.maxActivations, tp.maxDurationS
        );
        uint256 collateral = uint256(tp.collateralEurPerMw) * q;
        uint256 held = o.collateralUeur;
        offer.status = OfferStatus.Awarded;
        o.collateralUeur = 0;
        ReserveAwardView storage a = _awards[tender][row.offerIndex];
        a.quantityW = q;
        a.budgetLeftUeur = uint128(budget);
        a.collateralLeftUeur = uint128(collateral);
        _unlock(offer.aggregator, held - collateral); // collateral of q <= that of the offer
        emit AwardCommitted(tender, row.offerIndex, offer.aggregator, q, budget, collateral);
    }

    // ------------------------------------------------------------------ activations

    /// @inheritdoc IFlexReserve
    function requestActivation(uint64 tender, uint32 offerIndex, uint40 start, uint32 durationS, uint64 powerW)
        external
        returns (uint256 activationId)
    {
        TenderRecord storage t = _tender(tender);
        if (msg.sender != t.dso || !_registry.hasRole(FlexRoles.DSO, msg.sender)) {
            revert FlexReserveNotTenderDso(tender, msg.sender);
        }
        ReserveAwardView storage a = _openAward(tender, offerIndex);
        if (a.terminatedAt != 0) revert FlexReserveAwardTerminated(tender, offerIndex);
        TenderParams storage tp = t.params;
        if (powerW == 0 || powerW > a.quantityW) revert FlexReserveActivationInvalid("powerW");
        if (durationS % QUARTER_S != 0 || durationS < tp.minDurationS || durationS > tp.maxDurationS) {
            revert FlexReserveActivationInvalid("durationS");
        }
        if (start % QUARTER_S != 0) revert FlexReserveActivationInvalid("start");
        if (uint256(start) < block.timestamp + tp.noticeS) revert FlexReserveActivationInvalid("notice");
        if (start < tp.periodStart) revert FlexReserveActivationInvalid("window");
        uint256 day = (uint256(start) - tp.periodStart) / DAY_S;
        uint256 dayStart = uint256(tp.periodStart) + day * DAY_S;
        if (
            day >= tp.dayCount || start < dayStart + tp.dailyStartS
                || uint256(start) + durationS > dayStart + tp.dailyEndS
        ) revert FlexReserveActivationInvalid("window");
        if (start < a.lastEnd) revert FlexReserveActivationInvalid("overlap");
        if (a.activations >= tp.maxActivations) revert FlexReserveActivationInvalid("maxActivations");
        uint16 sequence = a.activations++;
        a.lastEnd = start + durationS;
        activationId = ++_activationCount;
        _activations[activationId] = ActivationView({
            tender: tender,
            offerIndex: offerIndex,
            sequence: sequence,
            status: ActivationStatus.Requested,
            start: start,
            durationS: durationS,
            powerW: powerW,
            deliveredWh: 0,
            meterHash: bytes32(0)
        });
        _sequence[tender][offerIndex][sequence] = activationId;
        emit ActivationRequested(activationId, tender, offerIndex, sequence, start, durationS, powerW);
    }

    /// @inheritdoc IFlexReserve
    function acknowledgeActivation(uint256 activationId) external {
        ActivationView storage act = _ownPendingActivation(activationId);
        if (act.status != ActivationStatus.Requested) revert FlexReserveActivationStatus(activationId, act.status);
        act.status = ActivationStatus.Acknowledged;
        emit ActivationAcknowledged(activationId);
    }

    /// @inheritdoc IFlexReserve
    function signalInability(uint256 activationId) external {
        ActivationView storage act = _ownPendingActivation(activationId);
        act.status = ActivationStatus.Inability;
        ReserveAwardView storage a = _awards[act.tender][act.offerIndex];
        if (act.sequence == a.resolved) {
            _count(activationId, act, a);
            _drain(act.tender, act.offerIndex, a);
        } else {
            emit InabilitySignalled(activationId, a.failures, 0); // counted after the earlier ones
        }
    }

    /// @inheritdoc IFlexReserve
    function commitMeterData(uint64 tender, uint16 day, bytes32 meterHash) external {
        _requireRole(FlexRoles.METERING);
        TenderParams storage tp = _tender(tender).params;
        if (day >= tp.dayCount) revert FlexReserveParamInvalid("day");
        uint256 dayEnd = uint256(tp.periodStart) + (uint256(day) + 1) * DAY_S;
        if (block.timestamp < dayEnd) revert FlexReserveNotOpen(tender, dayEnd, type(uint256).max);
        if (meterHash == bytes32(0)) revert FlexReserveParamInvalid("meterHash");
        if (_meterData[tender][day] != bytes32(0)) revert FlexReserveMeterDataCommitted(tender, day);
        _meterData[tender][day] = meterHash;
        emit MeterDataCommitted(tender, day, meterHash);
    }

    /// @inheritdoc IFlexReserve
    function recordDelivery(uint256 activationId, uint64 deliveredWh, bytes32 meterHash) external {
        _requireRole(FlexRoles.METERING);
        ActivationView storage act = _knownActivation(activationId);
        if (act.status != ActivationStatus.Requested && act.status != ActivationStatus.Acknowledged) {
            revert FlexReserveActivationStatus(activationId, act.status);
        }
        if (block.timestamp < uint256(act.start) + act.durationS) {
            revert FlexReserveNotOpen(act.tender, uint256(act.start) + act.durationS, type(uint256).max);
        }
        ReserveAwardView storage a = _awards[act.tender][act.offerIndex];
        if (a.closed) revert FlexReserveAwardClosed(act.tender, act.offerIndex);
        if (a.terminatedAt != 0) revert FlexReserveAwardTerminated(act.tender, act.offerIndex);
        if (act.sequence != a.resolved) revert FlexReserveActivationOutOfOrder(activationId, a.resolved);
        uint64 requestedWh = uint64(_energyWh(act.powerW, act.durationS));
        if (deliveredWh > requestedWh) revert FlexReserveDeliveryTooLarge(activationId, deliveredWh, requestedWh);
        {
            uint16 day = uint16((uint256(act.start) - _tenders[act.tender].params.periodStart) / DAY_S);
            bytes32 committed = _meterData[act.tender][day];
            if (meterHash == bytes32(0) || committed == bytes32(0)) revert FlexReserveEvidenceMissing(activationId);
            if (meterHash != committed) revert FlexReserveEvidenceMismatch(activationId, committed, meterHash);
        }
        act.deliveredWh = deliveredWh;
        act.meterHash = meterHash;
        TenderRecord storage t = _tenders[act.tender];
        ReserveOfferView storage offer = _offers[act.tender][act.offerIndex].offer;
        uint256 utilisation = uint256(offer.utilisationPriceEurPerMwh) * deliveredWh;
        a.budgetLeftUeur -= uint128(utilisation); // within the budget: <= maxActivations full activations
        _payLocked(t.dso, offer.aggregator, utilisation);
        uint256 penalty;
        if (uint256(deliveredWh) * 100 >= uint256(requestedWh) * (100 - t.params.tolerancePercent)) {
            act.status = ActivationStatus.Delivered;
        } else {
            act.status = ActivationStatus.Failed;
            penalty = _penalise(
                a, offer.aggregator, t.dso, uint256(t.params.shortfallPenaltyEurPerMwh) * (requestedWh - deliveredWh)
            );
            a.failures++;
        }
        a.resolved++;
        emit DeliveryRecorded(activationId, deliveredWh, requestedWh, meterHash, act.status, utilisation, penalty);
        if (act.status == ActivationStatus.Failed) _maybeTerminate(activationId, act, a, t.params.maxFailures);
        _drain(act.tender, act.offerIndex, a);
    }

    /// @dev Counts an inability whose turn has come: a failure and its penalty.
    function _count(uint256 activationId, ActivationView storage act, ReserveAwardView storage a) private {
        TenderRecord storage t = _tenders[act.tender];
        address aggregator = _offers[act.tender][act.offerIndex].offer.aggregator;
        uint256 penalty = _penalise(a, aggregator, t.dso, uint256(t.params.inabilityPenaltyEurPerMw) * act.powerW);
        a.failures++;
        a.resolved++;
        emit InabilitySignalled(activationId, a.failures, penalty);
        _maybeTerminate(activationId, act, a, t.params.maxFailures);
    }

    /// @dev Counts the inabilities signalled meanwhile that follow the award's last resolved
    /// activation (each was the aggregator's own call: bounded by its own transactions).
    function _drain(uint64 tender, uint32 offerIndex, ReserveAwardView storage a) private {
        while (a.terminatedAt == 0 && a.resolved < a.activations) {
            uint256 next = _sequence[tender][offerIndex][a.resolved];
            ActivationView storage act = _activations[next];
            if (act.status != ActivationStatus.Inability) return;
            _count(next, act, a);
        }
    }

    function _penalise(ReserveAwardView storage a, address aggregator, address dso, uint256 penalty)
        private
        returns (uint256)
    {
        uint256 left = a.collateralLeftUeur;
        if (penalty > left) penalty = left;
        a.collateralLeftUeur = uint128(left - penalty);
        _payLocked(aggregator, dso, penalty);
        return penalty;
    }

    function _maybeTerminate(uint256 activationId, ActivationView storage act, ReserveAwardView storage a, uint8 maxFailures)
        private
    {
        if (a.failures >= maxFailures && a.terminatedAt == 0) {
            a.terminatedAt = act.start;
            emit ContractTerminated(act.tender, act.offerIndex, activationId, act.start);
        }
    }

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc IFlexReserve
    function settleAvailability(uint64 tender, uint32 offerIndex) external {
        TenderRecord storage t = _tender(tender);
        _settleAvailability(tender, offerIndex, t, _openAward(tender, offerIndex));
    }

    /// @inheritdoc IFlexReserve
    function closeAward(uint64 tender, uint32 offerIndex) external {
        TenderRecord storage t = _tender(tender);
        ReserveAwardView storage a = _openAward(tender, offerIndex);
        TenderParams storage tp = t.params;
        uint256 periodEnd = uint256(tp.periodStart) + (uint256(tp.dayCount) - 1) * DAY_S + tp.dailyEndS;
        bool settled = a.resolved == a.activations || a.terminatedAt != 0;
        if (block.timestamp < periodEnd || (!settled && block.timestamp < periodEnd + CLOSE_GRACE_S)) {
            revert FlexReserveNotOpen(tender, settled ? periodEnd : periodEnd + CLOSE_GRACE_S, type(uint256).max);
        }
        _settleAvailability(tender, offerIndex, t, a);
        uint256 budget = a.budgetLeftUeur;
        uint256 collateral = a.collateralLeftUeur;
        a.closed = true;
        a.budgetLeftUeur = 0;
        a.collateralLeftUeur = 0;
        ReserveOfferView storage offer = _offers[tender][offerIndex].offer;
        offer.status = OfferStatus.Released;
        _unlock(t.dso, budget);
        _unlock(offer.aggregator, collateral);
        emit AwardClosed(tender, offerIndex, budget, collateral);
    }

    function _settleAvailability(uint64 tender, uint32 offerIndex, TenderRecord storage t, ReserveAwardView storage a)
        private
    {
        TenderParams storage tp = t.params;
        uint256 cutoff = a.terminatedAt != 0 && a.terminatedAt < block.timestamp ? a.terminatedAt : block.timestamp;
        uint256 firstEnd = uint256(tp.periodStart) + tp.dailyEndS;
        uint256 ended = cutoff < firstEnd ? 0 : (cutoff - firstEnd) / DAY_S + 1;
        if (ended > tp.dayCount) ended = tp.dayCount;
        if (ended <= a.daysPaid) return;
        ReserveOfferView storage offer = _offers[tender][offerIndex].offer;
        uint256 amount = (ended - a.daysPaid)
            * _availabilityPerDay(offer.availabilityPriceEurPerMwH, a.quantityW, tp.dailyEndS - tp.dailyStartS);
        a.daysPaid = uint16(ended);
        a.budgetLeftUeur -= uint128(amount); // within the budget: every day at most once
        _payLocked(t.dso, offer.aggregator, amount);
        emit AvailabilitySettled(tender, offerIndex, uint16(ended), amount);
    }

    // ------------------------------------------------------------------ money rules

    /// @dev oracle/reserve/money.py availability_per_day_ueur: price x W x quarters / 4.
    function _availabilityPerDay(uint256 price, uint256 quantityW, uint256 windowS) private pure returns (uint256) {
        return price * quantityW * (windowS / QUARTER_S) / 4;
    }

    /// @dev oracle/reserve/money.py energy_wh: W x quarters / 4.
    function _energyWh(uint256 powerW, uint256 durationS) private pure returns (uint256) {
        return powerW * (durationS / QUARTER_S) / 4;
    }

    /// @dev oracle/reserve/money.py budget_ueur.
    function _budget(
        uint256 availabilityPrice,
        uint256 utilisationPrice,
        uint256 quantityW,
        uint256 windowS,
        uint256 dayCount,
        uint256 maxActivations,
        uint256 maxDurationS
    ) private pure returns (uint256) {
        return dayCount * _availabilityPerDay(availabilityPrice, quantityW, windowS)
            + maxActivations * utilisationPrice * _energyWh(quantityW, maxDurationS);
    }

    // ------------------------------------------------------------------ helpers

    function _requireRole(bytes32 role) private view {
        if (!_registry.hasRole(role, msg.sender)) revert FlexReserveUnauthorized(msg.sender, role);
    }

    function _tender(uint64 tender) private view returns (TenderRecord storage t) {
        t = _tenders[tender];
        if (t.dso == address(0)) revert FlexReserveTenderUnknown(tender);
    }

    function _openAward(uint64 tender, uint32 offerIndex) private view returns (ReserveAwardView storage a) {
        a = _awards[tender][offerIndex];
        if (a.quantityW == 0) revert FlexReserveNoAward(tender, offerIndex);
        if (a.closed) revert FlexReserveAwardClosed(tender, offerIndex);
    }

    function _knownActivation(uint256 activationId) private view returns (ActivationView storage act) {
        act = _activations[activationId];
        if (act.status == ActivationStatus.None) revert FlexReserveActivationUnknown(activationId);
    }

    /// @dev An activation of the caller's award, not started, not yet ended, award not over.
    function _ownPendingActivation(uint256 activationId) private view returns (ActivationView storage act) {
        act = _knownActivation(activationId);
        if (_offers[act.tender][act.offerIndex].offer.aggregator != msg.sender) {
            revert FlexReserveNotAggregator(act.tender, act.offerIndex, msg.sender);
        }
        if (act.status != ActivationStatus.Requested && act.status != ActivationStatus.Acknowledged) {
            revert FlexReserveActivationStatus(activationId, act.status);
        }
        if (block.timestamp >= act.start) revert FlexReserveNotOpen(act.tender, 0, act.start);
        ReserveAwardView storage a = _awards[act.tender][act.offerIndex];
        if (a.closed) revert FlexReserveAwardClosed(act.tender, act.offerIndex);
        if (a.terminatedAt != 0) revert FlexReserveAwardTerminated(act.tender, act.offerIndex);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IFlexReserve
    function tenderOf(uint64 tender)
        external
        view
        returns (TenderParams memory params, address dso, uint256 budgetLockedUeur, bool awarded, uint32 offers)
    {
        TenderRecord storage t = _tender(tender);
        return (t.params, t.dso, t.budgetLockedUeur, t.awarded, t.offerCount);
    }

    /// @inheritdoc IFlexReserve
    function meterDataOf(uint64 tender, uint16 day) external view returns (bytes32) {
        return _meterData[tender][day];
    }

    /// @inheritdoc IFlexReserve
    function tenderNumber(bytes32 tenderId) external view returns (uint64) {
        return _tenderNumbers[tenderId];
    }

    /// @inheritdoc IFlexReserve
    function offerOf(uint64 tender, uint32 offerIndex) external view returns (ReserveOfferView memory) {
        return _offers[tender][offerIndex].offer;
    }

    /// @inheritdoc IFlexReserve
    function awardOf(uint64 tender, uint32 offerIndex) external view returns (ReserveAwardView memory) {
        return _awards[tender][offerIndex];
    }

    /// @inheritdoc IFlexReserve
    function activationOf(uint256 activationId) external view returns (ActivationView memory) {
        return _activations[activationId];
    }

    /// @inheritdoc IFlexReserve
    function closeGraceS() external pure returns (uint256) {
        return CLOSE_GRACE_S;
    }

    /// @inheritdoc IFlexReserve
    function registry() external view returns (address) {
        return address(_registry);
    }
}
