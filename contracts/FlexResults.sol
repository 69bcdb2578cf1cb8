// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FlexBatches} from "./FlexBatches.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IFlexRegistry} from "./interfaces/IFlexRegistry.sol";
import {Award, BidStatus, Pricing, ResultStatus} from "./types/FlexTypes.sol";

/// @title FlexResults
/// @notice The clearing-result checks of FlexMarket (award and share rows), in a contract of
/// their own so that FlexMarket stays within the 24,576-byte code limit (EIP-170).
/// FlexMarket creates it in its constructor and runs `commitResult` here by delegatecall,
/// after checking the caller's ORACLE role: the code runs on FlexMarket's storage (same
/// layout: FlexMarketStorage) and its events are FlexMarket's. Called directly, it has no
/// session and reverts (FlexMarketSessionUnknown). It carries the batched sealed bids
/// (FlexBatches), which FlexMarket runs here through its fallback.
contract FlexResults is FlexMarketStorage, FlexBatches {
    /// @param relay The market's relay; @param flexRegistry its registry (FlexBatches).
    constructor(address relay, IFlexRegistry flexRegistry)
        FlexMarketStorage(IERC20(address(0)))
        FlexBatches(relay, flexRegistry)
    {}

    /// @notice See IFlexMarket.commitResult: FlexMarket checks the caller's role, then runs this
    /// by delegatecall.
    function commitResult(
        uint64 sessionId,
        bytes32 inputHash,
        bytes32 resultHash,
        Award[] calldata awards,
        bool lastPage
    ) external {
        SessionRecord storage s = _existingSession(sessionId);
        {
            IFlexMarket.SessionTiming memory timing = s.timing;
            ResultStatus status = s.money.resultStatus;
            if (block.timestamp < timing.revealDeadline) revert IFlexMarket.FlexMarketClearingNotOpen(sessionId, timing.revealDeadline);
            if (block.timestamp >= timing.clearingDeadline) {
                revert IFlexMarket.FlexMarketClearingClosed(sessionId, timing.clearingDeadline);
            }
            if (inputHash == bytes32(0) || resultHash == bytes32(0)) revert IFlexMarket.FlexMarketResultHashMismatch(sessionId);
            if (status == ResultStatus.None) {
                s.inputHash = inputHash;
                s.resultHash = resultHash;
                s.money.resultStatus = ResultStatus.Committing;
            } else if (status == ResultStatus.Committing) {
                if (s.inputHash != inputHash || s.resultHash != resultHash) revert IFlexMarket.FlexMarketResultHashMismatch(sessionId);
            } else {
                revert IFlexMarket.FlexMarketResultStatusInvalid(sessionId, status);
            }
        }
        _commitAwards(sessionId, s, awards);
        if (lastPage) {
            if (s.hasLastAward) {
                uint256 leftUeur = s.lastAwardLeftUeur;
                if (leftUeur != 0) revert IFlexMarket.FlexMarketAwardSharesIncomplete(sessionId, s.money.awardCount - 1, leftUeur);
                _closeBidAward(s.lastAwardBid, s.rules.granularityW);
            }
            ResultStatus status = s.timing.attestationQuorum == 0 ? ResultStatus.Final : ResultStatus.Pending;
            s.money.resultStatus = status;
            emit IFlexMarket.ResultCommitted(sessionId, msg.sender, inputHash, resultHash, s.money.awardCount, status);
        }
    }

    /// @notice See IFlexMarket.recordDeliveries: FlexMarket checks the caller's role, then runs
    /// this by delegatecall.
    function recordDeliveries(
        uint64 sessionId,
        uint32[] calldata awardIndices,
        uint40[] calldata deliveredW,
        bytes32 evidenceHash
    ) external {
                uint256 count = awardIndices.length;
        if (count != deliveredW.length) revert IFlexMarket.FlexMarketDeliveryLengthMismatch(count, deliveredW.length);
        if (evidenceHash == bytes32(0)) revert IFlexMarket.FlexMarketEvidenceMissing(sessionId);
        SessionRecord storage s = _sessions[sessionId];
        IFlexMarket.SessionMoney memory money = s.money;
        ResultStatus status = money.resultStatus;
        if (
            status == ResultStatus.None || status == ResultStatus.Committing || status == ResultStatus.Voided
                || _endedWithoutResult(s)
        ) revert IFlexMarket.FlexMarketResultStatusInvalid(sessionId, status);
        uint40 deadline = s.deliveryDeadline;
        if (block.timestamp >= deadline) revert IFlexMarket.FlexMarketDeliveryClosed(sessionId, deadline);
        for (uint256 i; i < count; ++i) {
            uint32 awardIndex = awardIndices[i];
            if (awardIndex >= money.awardCount) revert IFlexMarket.FlexMarketAwardUnknown(sessionId, awardIndex);
            IFlexMarket.AwardCore storage a = _awardCores[sessionId][awardIndex];
            if (a.delivered) revert IFlexMarket.FlexMarketDeliveryAlreadyRecorded(sessionId, awardIndex);
            a.delivered = true;
            a.deliveredW = deliveredW[i];
            if (money.correctionWindowS != 0) _deliveredAt[sessionId][awardIndex] = uint40(block.timestamp);
            emit IFlexMarket.DeliveryRecorded(sessionId, awardIndex, msg.sender, deliveredW[i], evidenceHash);
        }
    }

    /// @notice See IFlexMarket.correctDelivery: FlexMarket checks the caller's role, then runs
    /// this by delegatecall.
    function correctDelivery(uint64 sessionId, uint32 awardIndex, uint40 deliveredW, bytes32 evidenceHash) external {
                if (evidenceHash == bytes32(0)) revert IFlexMarket.FlexMarketEvidenceMissing(sessionId);
        IFlexMarket.AwardCore storage a = _awardCores[sessionId][awardIndex];
        uint256 until = uint256(_deliveredAt[sessionId][awardIndex]) + _sessions[sessionId].money.correctionWindowS;
        // a settled award's window has closed (settlement waits for it); unrecorded: until = 0
        if (!a.delivered || block.timestamp >= until) revert IFlexMarket.FlexMarketCorrectionWindowClosed(sessionId, awardIndex, a.delivered ? until : 0);
        uint40 previousW = a.deliveredW;
        a.deliveredW = deliveredW;
        emit IFlexMarket.DeliveryCorrected(sessionId, awardIndex, msg.sender, previousW, deliveredW, evidenceHash);
    }

    /// @dev A row with `quantityW > 0` opens an award of its bid and charges `paymentUeur` of the
    /// award's `quantityW * priceEurPerMw` to its need; a row with `quantityW == 0` (a share row)
    /// charges `paymentUeur` more of the award opened last, of the same bid, to its need. The
    /// rows of an award must charge exactly its payment before the next award opens. A balancing
    /// need (no quantities) is charged only by an award row carrying the whole payment, with no
    /// share rows after it.
    function _commitAwards(uint64 sessionId, SessionRecord storage s, Award[] calldata awards) internal {
        uint32 awardIndex = s.money.awardCount;
        uint16 needCount = s.money.needCount;
        Pricing pricing = s.timing.pricing;
        uint32 granularityW = s.rules.granularityW;
        uint64 capEurPerMw = s.rules.priceCapEurPerMw;
        bytes32 lastBid = s.lastAwardBid;
        uint16 lastNeed = s.lastAwardNeed;
        bool hasLast = s.hasLastAward;
        uint256 leftUeur = s.lastAwardLeftUeur;
        uint64 awardPrice = s.lastAwardPriceEurPerMw;
        uint256 count = awards.length;
        if (uint256(awardIndex) + count > type(uint32).max) revert IFlexMarket.FlexMarketTooManyAwards(sessionId);
        for (uint256 i; i < count; ++i) {
            Award calldata a = awards[i];
            bytes32 bidId = a.bidId;
            if (hasLast && (bidId < lastBid || (bidId == lastBid && a.needIndex <= lastNeed))) {
                revert IFlexMarket.FlexMarketAwardsNotSorted(sessionId, i);
            }
            bool isShare = a.quantityW == 0;
            if (isShare) {
                if (!hasLast || bidId != lastBid) revert IFlexMarket.FlexMarketAwardShareWithoutAward(sessionId, i);
            } else if (hasLast) {
                if (leftUeur != 0) revert IFlexMarket.FlexMarketAwardSharesIncomplete(sessionId, awardIndex - 1, leftUeur);
                if (bidId != lastBid) _closeBidAward(lastBid, granularityW);
            }
            IFlexMarket.BidCore memory core = _bidCores[bidId];
            if (core.status != BidStatus.Revealed || core.sessionId != sessionId) {
                revert IFlexMarket.FlexMarketAwardBidInvalid(sessionId, i, bidId);
            }
            IFlexMarket.BidTerms memory terms = _bidTerms[bidId];
            if (a.needIndex >= needCount) revert IFlexMarket.FlexMarketAwardNeedInvalid(sessionId, i, a.needIndex);
            IFlexMarket.NeedCore memory needCore = _needCores[sessionId][a.needIndex];
            if (
                needCore.direction != terms.direction
                    || (needCore.zoneIndex != 0 && needCore.zoneIndex != terms.zoneIndex)
                    || a.priceEurPerMw > needCore.maxPriceEurPerMw
            ) revert IFlexMarket.FlexMarketAwardNeedInvalid(sessionId, i, a.needIndex);
            if (
                (pricing == Pricing.PayAsBid && a.priceEurPerMw != terms.priceEurPerMw)
                    || a.priceEurPerMw < terms.priceEurPerMw || a.priceEurPerMw > capEurPerMw
            ) revert IFlexMarket.FlexMarketAwardPriceInvalid(sessionId, i, a.priceEurPerMw, terms.priceEurPerMw);
            uint256 paymentUeur = a.paymentUeur;
            IFlexMarket.NeedMoney storage needMoney = _needMoney[sessionId][a.needIndex];
            bool balancing = needMoney.balancing;
            if (isShare) {
                uint32 opened = awardIndex - 1;
                IFlexMarket.AwardPay storage pay = _awardPays[sessionId][opened];
                // a balancing need pays whole awards: no share of one, no share after one
                if (balancing || _needMoney[sessionId][pay.needIndex].balancing) {
                    revert IFlexMarket.FlexMarketBalancingRowInvalid(sessionId, i, a.needIndex);
                }
                // a share charges part of its award's payment: at the award's price, some money
                if (a.priceEurPerMw != awardPrice) {
                    revert IFlexMarket.FlexMarketSharePriceMismatch(sessionId, i, a.priceEurPerMw, awardPrice);
                }
                if (paymentUeur == 0) revert IFlexMarket.FlexMarketShareZero(sessionId, i);
                if (paymentUeur > leftUeur) revert IFlexMarket.FlexMarketAwardPaymentMismatch(sessionId, i, paymentUeur, leftUeur);
                leftUeur -= paymentUeur;
                uint8 shareIndex = pay.shareCount;
                if (shareIndex == type(uint8).max) revert IFlexMarket.FlexMarketTooManyAwards(sessionId);
                pay.shareCount = shareIndex + 1;
                _awardShares[sessionId][opened][shareIndex] =
                    IFlexMarket.AwardShare({buyer: needCore.buyer, paymentUeur: uint72(paymentUeur), needIndex: a.needIndex});
                emit IFlexMarket.AwardShared(sessionId, opened, a.needIndex, needCore.buyer, paymentUeur);
            } else {
                uint256 expected = uint256(a.quantityW) * a.priceEurPerMw;
                if (paymentUeur > expected || expected > type(uint72).max) {
                    revert IFlexMarket.FlexMarketAwardPaymentMismatch(sessionId, i, paymentUeur, expected);
                }
                if (balancing && paymentUeur != expected) {
                    revert IFlexMarket.FlexMarketBalancingRowInvalid(sessionId, i, a.needIndex);
                }
                leftUeur = expected - paymentUeur;
                awardPrice = a.priceEurPerMw;
                uint256 awardedW = uint256(terms.awardedW) + a.quantityW;
                if (awardedW > terms.quantityW) revert IFlexMarket.FlexMarketAwardExceedsBid(bidId, awardedW, terms.quantityW);
                _bidTerms[bidId].awardedW = uint40(awardedW);
                _awardCores[sessionId][awardIndex] =
                    IFlexMarket.AwardCore({seller: core.seller, quantityW: a.quantityW, deliveredW: 0, delivered: false, settled: false});
                _awardPays[sessionId][awardIndex] =
                    IFlexMarket.AwardPay({buyer: needCore.buyer, paymentUeur: uint72(expected), needIndex: a.needIndex, shareCount: 0});
                _awardBids[sessionId][awardIndex] = bidId;
                emit IFlexMarket.AwardCommitted(
                    sessionId,
                    awardIndex,
                    bidId,
                    a.needIndex,
                    core.seller,
                    needCore.buyer,
                    a.quantityW,
                    a.priceEurPerMw,
                    expected
                );
                ++awardIndex;
            }
            uint256 committed = needMoney.committedUeur + paymentUeur;
            if (committed > needMoney.budgetUeur) {
                revert IFlexMarket.FlexMarketAwardExceedsBudget(sessionId, a.needIndex, committed, needMoney.budgetUeur);
            }
            needMoney.committedUeur = uint112(committed);
            lastBid = bidId;
            lastNeed = a.needIndex;
            hasLast = true;
        }
        s.money.awardCount = awardIndex;
        s.lastAwardBid = lastBid;
        s.lastAwardNeed = lastNeed;
        s.hasLastAward = hasLast;
        s.lastAwardLeftUeur = uint128(leftUeur); // <= expected < 2^72
        s.lastAwardPriceEurPerMw = awardPrice;
    }

    /// @dev Checks a bid's total award once all its rows are in.
    function _closeBidAward(bytes32 bidId, uint32 granularityW) internal view {
        IFlexMarket.BidTerms memory terms = _bidTerms[bidId];
        if (!terms.divisible) {
            if (terms.awardedW != terms.quantityW) {
                revert IFlexMarket.FlexMarketAwardNotAllOrNothing(bidId, terms.awardedW, terms.quantityW);
            }
        } else if (terms.awardedW < terms.minQuantityW || terms.awardedW % granularityW != 0) {
            revert IFlexMarket.FlexMarketAwardQuantityInvalid(bidId, terms.awardedW, terms.minQuantityW, granularityW);
        }
    }
}
