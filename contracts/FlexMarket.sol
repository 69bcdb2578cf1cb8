// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Escrow} from "./Escrow.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IFlexRegistry} from "./interfaces/IFlexRegistry.sol";
import {FlexRoles} from "./libraries/FlexRoles.sol";
import {
    Award,
    BidReveal,
    BidStatus,
    BuyerRole,
    Direction,
    NeedParams,
    Pricing,
    ResultStatus,
    SessionParams
} from "./types/FlexTypes.sol";

/// @title FlexMarket
/// @notice Sessions, needs, sealed bids, clearing results, delivery and settlement of the
/// local flexibility market, with the escrow of its participants' money.
/// @dev Storage is packed so that the hot paths stay within their gas figures:
/// `commitBid` reads one slot (the seller's session registration, which carries a copy of
/// gate closure) and writes one; `revealBid` writes one new slot; `settleAward` touches the
/// session's money slot, the award's two slots and the two participants' balance slots.
contract FlexMarket is Escrow, IFlexMarket {
    // ------------------------------------------------------------- storage types

    struct SessionTiming {
        uint40 biddingEnd;
        uint40 revealDeadline;
        uint40 clearingDeadline;
        uint40 deliveryStart;
        uint16 slotCount;
        uint16 slotMinutes;
        Pricing pricing;
        ResultStatus resultStatus;
        uint8 attestationQuorum;
        uint8 attestations;
    }

    struct SessionRules {
        uint40 minBidW;
        uint32 granularityW;
        uint64 priceFloorEurPerMw;
        uint64 priceCapEurPerMw;
        uint56 collateralUeurPerW;
    }

    struct SessionMoney {
        uint96 bidBondUeur;
        uint64 shortfallPenaltyEurPerMw;
        uint16 toleranceBps;
        uint16 needCount;
        uint32 awardCount;
        uint32 settledCount;
    }

    struct SessionRecord {
        SessionTiming timing; // slot 0
        SessionRules rules; // slot 1
        SessionMoney money; // slot 2
        address operator; // slot 3
        uint64 unmetPenaltyEurPerMw;
        uint16 lastAwardNeed; // sorting key of the last award row committed
        bool hasLastAward;
        bytes32 lastAwardBid; // slot 4
        bytes32 marketId; // slot 5
        bytes32 product; // slot 6
        bytes32 inputHash; // slot 7
        bytes32 resultHash; // slot 8
    }

    /// @dev Written at commit; rewritten in place at reveal.
    struct BidCore {
        address seller;
        uint48 sessionId;
        BidStatus status;
        Direction direction;
        bool divisible;
        uint16 zoneIndex;
    }

    /// @dev Written at reveal.
    struct BidTerms {
        uint40 quantityW;
        uint40 minQuantityW;
        uint64 priceEurPerMw;
        uint40 awardedW;
        uint72 collateralUeur; // remaining collateral
    }

    struct NeedCore {
        address buyer;
        uint16 zoneIndex;
        Direction direction;
        BuyerRole buyerRole;
        uint64 maxPriceEurPerMw;
    }

    struct NeedMoney {
        uint112 budgetUeur;
        uint112 committedUeur;
        bool released;
    }

    struct AwardCore {
        address seller;
        uint40 quantityW;
        uint40 deliveredW;
        bool delivered;
        bool settled;
    }

    struct AwardPay {
        address buyer;
        uint80 paymentUeur;
        uint16 needIndex;
    }

    struct Participation {
        uint40 biddingEnd; // copy of the session's gate closure: commitBid reads this slot only
        uint16 maxBids;
        uint16 revealed;
        uint16 forfeited;
        uint96 bondLockedUeur;
        bool bondReleased;
    }

    /// @dev FLECH: a seller that fails for the fourth time loses its standing.
    uint8 private constant _FAILURES_TO_SUSPEND = 4;
    uint64 private constant _NO_LIMIT = type(uint64).max;

    IFlexRegistry private immutable _registry;

    uint64 private _sessionCount;
    mapping(uint64 sessionId => SessionRecord) private _sessions;
    mapping(uint64 sessionId => mapping(address seller => Participation)) private _participations;
    mapping(bytes32 bidId => BidCore) private _bidCores;
    mapping(bytes32 bidId => BidTerms) private _bidTerms;
    mapping(uint64 sessionId => mapping(uint16 needIndex => NeedCore)) private _needCores;
    mapping(uint64 sessionId => mapping(uint16 needIndex => NeedMoney)) private _needMoney;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => AwardCore)) private _awardCores;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => AwardPay)) private _awardPays;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => bytes32 bidId)) private _awardBids;
    mapping(uint64 sessionId => mapping(address validator => bool)) private _attested;

    /// @param settlementToken The µEUR token.
    /// @param flexRegistry Roles, zones and assets.
    constructor(IERC20 settlementToken, IFlexRegistry flexRegistry) Escrow(settlementToken) {
        _registry = flexRegistry;
    }

    // ------------------------------------------------------------- sessions and needs

    /// @inheritdoc IFlexMarket
    function openSession(SessionParams calldata params) external returns (uint64 sessionId) {
        if (!_registry.hasRole(FlexRoles.DSO, msg.sender) && !_registry.hasRole(FlexRoles.ORACLE, msg.sender)) {
            revert FlexMarketUnauthorized(msg.sender, FlexRoles.DSO);
        }
        _checkSessionParams(params);
        sessionId = ++_sessionCount;
        SessionRecord storage s = _sessions[sessionId];
        s.timing = SessionTiming({
            biddingEnd: params.biddingEnd,
            revealDeadline: params.revealDeadline,
            clearingDeadline: params.clearingDeadline,
            deliveryStart: params.deliveryStart,
            slotCount: params.slotCount,
            slotMinutes: params.slotMinutes,
            pricing: params.pricing,
            resultStatus: ResultStatus.None,
            attestationQuorum: params.attestationQuorum,
            attestations: 0
        });
        s.rules = SessionRules({
            minBidW: params.minBidW,
            granularityW: params.granularityW,
            priceFloorEurPerMw: params.priceFloorEurPerMw,
            priceCapEurPerMw: params.priceCapEurPerMw,
            collateralUeurPerW: params.collateralUeurPerW
        });
        s.money = SessionMoney({
            bidBondUeur: params.bidBondUeur,
            shortfallPenaltyEurPerMw: params.shortfallPenaltyEurPerMw,
            toleranceBps: params.toleranceBps,
            needCount: 0,
            awardCount: 0,
            settledCount: 0
        });
        s.operator = msg.sender;
        s.unmetPenaltyEurPerMw = params.unmetPenaltyEurPerMw;
        s.marketId = params.marketId;
        s.product = params.product;
        emit SessionOpened(sessionId, msg.sender, params);
    }

    /// @inheritdoc IFlexMarket
    function postNeed(NeedParams calldata params) external returns (uint16 needIndex) {
        bytes32 role = params.buyerRole == BuyerRole.DSO
            ? FlexRoles.DSO
            : (params.buyerRole == BuyerRole.TSO ? FlexRoles.TSO : FlexRoles.BRP);
        _requireRole(role);
        uint64 sessionId = params.sessionId;
        SessionRecord storage s = _existingSession(sessionId);
        uint40 biddingEnd = s.timing.biddingEnd;
        if (block.timestamp >= biddingEnd) revert FlexMarketBiddingClosed(sessionId, biddingEnd);
        uint256 length = params.quantityW.length;
        if (length != 1 && length != s.timing.slotCount) revert FlexMarketNeedQuantitiesInvalid(sessionId, length);
        if (params.budgetUeur == 0) revert FlexMarketNeedBudgetInvalid(sessionId);
        needIndex = s.money.needCount;
        if (needIndex == type(uint16).max) revert FlexMarketTooManyNeeds(sessionId);
        uint16 zoneIndex = _registry.zoneIndexOf(params.zone);

        s.money.needCount = needIndex + 1;
        _needCores[sessionId][needIndex] = NeedCore({
            buyer: msg.sender,
            zoneIndex: zoneIndex,
            direction: params.direction,
            buyerRole: params.buyerRole,
            maxPriceEurPerMw: params.maxPriceEurPerMw
        });
        _needMoney[sessionId][needIndex] =
            NeedMoney({budgetUeur: params.budgetUeur, committedUeur: 0, released: false});
        _lock(msg.sender, params.budgetUeur);
        emit NeedPosted(
            sessionId,
            needIndex,
            msg.sender,
            params.buyerRole,
            params.zone,
            params.direction,
            params.maxPriceEurPerMw,
            params.budgetUeur,
            params.quantityW
        );
    }

    // ------------------------------------------------------------- sealed bids

    /// @inheritdoc IFlexMarket
    function joinSession(uint64 sessionId, uint16 addedBids) external {
        _requireRole(FlexRoles.AGGREGATOR);
        SessionRecord storage s = _existingSession(sessionId);
        uint40 biddingEnd = s.timing.biddingEnd;
        if (block.timestamp >= biddingEnd) revert FlexMarketBiddingClosed(sessionId, biddingEnd);
        if (_accounts[msg.sender].suspended) revert FlexMarketSellerSuspended(msg.sender);
        Participation storage p = _participations[sessionId][msg.sender];
        uint256 maxBids = uint256(p.maxBids) + addedBids;
        if (addedBids == 0 || maxBids > type(uint16).max) revert FlexMarketMaxBidsInvalid(sessionId, maxBids);
        uint256 bondUeur = uint256(addedBids) * s.money.bidBondUeur;
        p.biddingEnd = biddingEnd;
        p.maxBids = uint16(maxBids);
        p.bondLockedUeur += uint96(bondUeur);
        _lock(msg.sender, bondUeur);
        emit SessionJoined(sessionId, msg.sender, addedBids, uint16(maxBids), bondUeur);
    }

    /// @inheritdoc IFlexMarket
    function commitBid(uint64 sessionId, bytes32 commitment) external returns (bytes32 bidId) {
        _checkCanCommit(sessionId);
        bidId = _commit(sessionId, commitment);
    }

    /// @inheritdoc IFlexMarket
    function commitBids(uint64 sessionId, bytes32[] calldata commitments) external {
        _checkCanCommit(sessionId);
        uint256 count = commitments.length;
        for (uint256 i; i < count; ++i) {
            _commit(sessionId, commitments[i]);
        }
    }

    /// @inheritdoc IFlexMarket
    function revealBid(BidReveal calldata b) external returns (bytes32 bidId) {
        uint64 sessionId = b.sessionId;
        bidId = _bidId(msg.sender, _commitment(msg.sender, b));
        BidCore storage core = _bidCores[bidId];
        BidStatus status = core.status;
        if (status != BidStatus.Committed) {
            if (status == BidStatus.None) revert FlexMarketBidNotCommitted(bidId);
            revert FlexMarketBidStatusInvalid(bidId, status);
        }
        SessionRecord storage s = _sessions[sessionId];
        SessionTiming memory timing = s.timing;
        if (block.timestamp < timing.biddingEnd) revert FlexMarketRevealNotOpen(sessionId, timing.biddingEnd);
        if (block.timestamp >= timing.revealDeadline) revert FlexMarketRevealClosed(sessionId, timing.revealDeadline);
        Participation storage p = _participations[sessionId][msg.sender];
        uint16 revealed = p.revealed;
        if (revealed >= p.maxBids) revert FlexMarketTooManyBids(sessionId, msg.sender, p.maxBids);

        SessionRules memory rules = s.rules;
        uint40 quantityW = b.quantityW;
        if (quantityW == 0 || quantityW < rules.minBidW) {
            revert FlexMarketBidBelowMinimum(bidId, quantityW, rules.minBidW);
        }
        if (quantityW % rules.granularityW != 0) revert FlexMarketBidNotGranular(bidId, quantityW, rules.granularityW);
        if (b.priceEurPerMw < rules.priceFloorEurPerMw || b.priceEurPerMw > rules.priceCapEurPerMw) {
            revert FlexMarketBidPriceOutOfRange(
                bidId, b.priceEurPerMw, rules.priceFloorEurPerMw, rules.priceCapEurPerMw
            );
        }
        if (b.slotMask == 0 || (timing.slotCount < 256 && b.slotMask >> timing.slotCount != 0)) {
            revert FlexMarketBidSlotsInvalid(bidId, b.slotMask, timing.slotCount);
        }
        if (b.assetIds.length == 0) revert FlexMarketBidWithoutAssets(bidId);
        (uint16 zoneIndex, uint64 sumPMaxW, uint32 maxPMinW) =
            _registry.checkBidAssets(msg.sender, b.zone, b.assetIds);
        if (sumPMaxW < quantityW) revert FlexMarketBidExceedsAssets(bidId, quantityW, sumPMaxW);
        uint40 minQuantityW = quantityW;
        if (b.divisible) {
            minQuantityW = b.minQuantityW;
            if (minQuantityW == 0) {
                minQuantityW = maxPMinW > rules.granularityW ? maxPMinW : rules.granularityW;
            }
            if (minQuantityW > quantityW) revert FlexMarketBidMinQuantityInvalid(bidId, minQuantityW, quantityW);
        }
        uint256 collateralUeur = uint256(quantityW) * rules.collateralUeurPerW;

        core.status = BidStatus.Revealed;
        core.direction = b.direction;
        core.divisible = b.divisible;
        core.zoneIndex = zoneIndex;
        _bidTerms[bidId] = BidTerms({
            quantityW: quantityW,
            minQuantityW: minQuantityW,
            priceEurPerMw: b.priceEurPerMw,
            awardedW: 0,
            collateralUeur: uint72(collateralUeur)
        });
        p.revealed = revealed + 1;
        _lock(msg.sender, collateralUeur);
        emit BidRevealed(
            sessionId,
            bidId,
            msg.sender,
            b.zone,
            b.direction,
            b.divisible,
            quantityW,
            minQuantityW,
            b.priceEurPerMw,
            b.slotMask,
            b.assetIds,
            collateralUeur
        );
    }

    /// @inheritdoc IFlexMarket
    function forfeitBond(bytes32 bidId) external {
        BidCore storage core = _bidCores[bidId];
        uint64 sessionId = core.sessionId;
        SessionRecord storage s = _sessions[sessionId];
        if (core.status != BidStatus.Committed || block.timestamp < s.timing.revealDeadline) {
            revert FlexMarketBondNotForfeitable(bidId);
        }
        address seller = core.seller;
        Participation storage p = _participations[sessionId][seller];
        uint256 bond = s.money.bidBondUeur;
        uint256 amountUeur = p.bondLockedUeur < bond ? p.bondLockedUeur : bond;
        address operator = s.operator;
        core.status = BidStatus.Forfeited;
        p.bondLockedUeur -= uint96(amountUeur);
        p.forfeited += 1;
        _payLocked(seller, operator, amountUeur);
        emit BondForfeited(sessionId, bidId, seller, operator, amountUeur);
    }

    // ------------------------------------------------------------- clearing result

    /// @inheritdoc IFlexMarket
    function commitResult(
        uint64 sessionId,
        bytes32 inputHash,
        bytes32 resultHash,
        Award[] calldata awards,
        bool lastPage
    ) external {
        _requireRole(FlexRoles.ORACLE);
        SessionRecord storage s = _existingSession(sessionId);
        {
            SessionTiming memory timing = s.timing;
            if (block.timestamp < timing.revealDeadline) revert FlexMarketClearingNotOpen(sessionId, timing.revealDeadline);
            if (block.timestamp >= timing.clearingDeadline) {
                revert FlexMarketClearingClosed(sessionId, timing.clearingDeadline);
            }
            if (inputHash == bytes32(0) || resultHash == bytes32(0)) revert FlexMarketResultHashMismatch(sessionId);
            if (timing.resultStatus == ResultStatus.None) {
                s.inputHash = inputHash;
                s.resultHash = resultHash;
                s.timing.resultStatus = ResultStatus.Committing;
            } else if (timing.resultStatus == ResultStatus.Committing) {
                if (s.inputHash != inputHash || s.resultHash != resultHash) revert FlexMarketResultHashMismatch(sessionId);
            } else {
                revert FlexMarketResultStatusInvalid(sessionId, timing.resultStatus);
            }
        }
        _commitAwards(sessionId, s, awards);
        if (lastPage) {
            if (s.hasLastAward) _closeBidAward(s.lastAwardBid, s.rules.granularityW);
            ResultStatus status = s.timing.attestationQuorum == 0 ? ResultStatus.Final : ResultStatus.Pending;
            s.timing.resultStatus = status;
            emit ResultCommitted(sessionId, msg.sender, inputHash, resultHash, s.money.awardCount, status);
        }
    }

    /// @inheritdoc IFlexMarket
    function attestResult(uint64 sessionId, bytes32 resultHash) external {
        _requireRole(FlexRoles.VALIDATOR);
        SessionRecord storage s = _existingSession(sessionId);
        SessionTiming memory timing = s.timing;
        if (timing.resultStatus != ResultStatus.Pending) revert FlexMarketResultStatusInvalid(sessionId, timing.resultStatus);
        if (resultHash != s.resultHash) revert FlexMarketResultHashMismatch(sessionId);
        if (_attested[sessionId][msg.sender]) revert FlexMarketAlreadyAttested(sessionId, msg.sender);
        _attested[sessionId][msg.sender] = true;
        uint8 attestations = timing.attestations + 1;
        ResultStatus status = attestations >= timing.attestationQuorum ? ResultStatus.Final : ResultStatus.Pending;
        s.timing.attestations = attestations;
        s.timing.resultStatus = status;
        emit ResultAttested(sessionId, msg.sender, attestations, status);
    }

    /// @inheritdoc IFlexMarket
    function disputeResult(uint64 sessionId, bytes32 reasonHash) external {
        _requireRole(FlexRoles.VALIDATOR);
        SessionRecord storage s = _existingSession(sessionId);
        ResultStatus status = s.timing.resultStatus;
        // Once a payment went out the result can no longer be disputed on chain.
        if ((status != ResultStatus.Pending && status != ResultStatus.Final) || s.money.settledCount != 0) {
            revert FlexMarketResultStatusInvalid(sessionId, status);
        }
        s.timing.resultStatus = ResultStatus.Disputed;
        emit ResultDisputed(sessionId, msg.sender, reasonHash);
    }

    /// @inheritdoc IFlexMarket
    function resolveDispute(uint64 sessionId, bool resultStands) external {
        _requireRole(0x00); // DEFAULT_ADMIN_ROLE
        SessionRecord storage s = _existingSession(sessionId);
        ResultStatus status = s.timing.resultStatus;
        if (status != ResultStatus.Disputed) revert FlexMarketResultStatusInvalid(sessionId, status);
        status = resultStands ? ResultStatus.Final : ResultStatus.Voided;
        s.timing.resultStatus = status;
        emit DisputeResolved(sessionId, msg.sender, status);
    }

    /// @inheritdoc IFlexMarket
    function reinstateSeller(address seller) external {
        _requireRole(0x00); // DEFAULT_ADMIN_ROLE
        Account storage account = _accounts[seller];
        account.failures = 0;
        account.suspended = false;
        emit SellerReinstated(seller, msg.sender);
    }

    // ------------------------------------------------------------- delivery and settlement

    /// @inheritdoc IFlexMarket
    function recordDeliveries(
        uint64 sessionId,
        uint32[] calldata awardIndices,
        uint40[] calldata deliveredW,
        bytes32 evidenceHash
    ) external {
        _requireRole(FlexRoles.METERING);
        uint256 count = awardIndices.length;
        if (count != deliveredW.length) revert FlexMarketDeliveryLengthMismatch(count, deliveredW.length);
        uint32 awardCount = _sessions[sessionId].money.awardCount;
        ResultStatus status = _sessions[sessionId].timing.resultStatus;
        if (status == ResultStatus.None || status == ResultStatus.Committing || status == ResultStatus.Voided) {
            revert FlexMarketResultStatusInvalid(sessionId, status);
        }
        for (uint256 i; i < count; ++i) {
            uint32 awardIndex = awardIndices[i];
            if (awardIndex >= awardCount) revert FlexMarketAwardUnknown(sessionId, awardIndex);
            AwardCore storage a = _awardCores[sessionId][awardIndex];
            if (a.delivered) revert FlexMarketDeliveryAlreadyRecorded(sessionId, awardIndex);
            a.delivered = true;
            a.deliveredW = deliveredW[i];
            emit DeliveryRecorded(sessionId, awardIndex, msg.sender, deliveredW[i], evidenceHash);
        }
    }

    /// @inheritdoc IFlexMarket
    function settleAward(uint64 sessionId, uint32 awardIndex) external {
        SessionRecord storage s = _settleableSession(sessionId);
        SessionMoney memory money = s.money;
        if (awardIndex >= money.awardCount) revert FlexMarketAwardUnknown(sessionId, awardIndex);
        if (!_settle(sessionId, awardIndex, money)) revert FlexMarketAwardAlreadySettled(sessionId, awardIndex);
        s.money.settledCount = money.settledCount + 1;
    }

    /// @inheritdoc IFlexMarket
    function settleAwards(uint64 sessionId, uint32 fromIndex, uint32 count) external {
        SessionRecord storage s = _settleableSession(sessionId);
        SessionMoney memory money = s.money;
        uint256 end = uint256(fromIndex) + count;
        if (end > money.awardCount) revert FlexMarketAwardUnknown(sessionId, uint32(end > 0 ? end - 1 : 0));
        uint32 settled = money.settledCount;
        for (uint32 i = fromIndex; i < end; ++i) {
            if (_settle(sessionId, i, money)) ++settled; // already settled: skipped
        }
        s.money.settledCount = settled;
    }

    // ------------------------------------------------------------- releases

    /// @inheritdoc IFlexMarket
    function releaseCollateral(bytes32 bidId) external {
        BidCore storage core = _bidCores[bidId];
        if (core.status != BidStatus.Revealed) revert FlexMarketBidStatusInvalid(bidId, core.status);
        uint64 sessionId = core.sessionId;
        SessionRecord storage s = _sessions[sessionId];
        BidTerms storage terms = _bidTerms[bidId];
        bool allowed = _endedWithoutResult(s) || _fullySettled(s)
            || (terms.awardedW == 0 && _resultComplete(s.timing.resultStatus));
        if (!allowed) revert FlexMarketReleaseNotAllowed(sessionId);
        uint256 amountUeur = terms.collateralUeur;
        address seller = core.seller;
        core.status = BidStatus.Released;
        terms.collateralUeur = 0;
        _unlock(seller, amountUeur);
        emit CollateralReleased(sessionId, bidId, seller, amountUeur);
    }

    /// @inheritdoc IFlexMarket
    function releaseBudget(uint64 sessionId, uint16 needIndex) external {
        SessionRecord storage s = _existingSession(sessionId);
        if (needIndex >= s.money.needCount) revert FlexMarketNeedUnknown(sessionId, needIndex);
        NeedMoney storage money = _needMoney[sessionId][needIndex];
        if (money.released) revert FlexMarketAlreadyReleased(sessionId);
        uint256 amountUeur;
        if (_endedWithoutResult(s)) {
            amountUeur = money.budgetUeur; // nothing was paid
        } else if (_fullySettled(s)) {
            amountUeur = money.budgetUeur - money.committedUeur; // settlements took the rest
        } else {
            revert FlexMarketReleaseNotAllowed(sessionId);
        }
        address buyer = _needCores[sessionId][needIndex].buyer;
        money.released = true;
        _unlock(buyer, amountUeur);
        emit BudgetReleased(sessionId, needIndex, buyer, amountUeur);
    }

    /// @inheritdoc IFlexMarket
    function releaseBond(uint64 sessionId) external {
        SessionRecord storage s = _existingSession(sessionId);
        Participation storage p = _participations[sessionId][msg.sender];
        if (p.maxBids == 0) revert FlexMarketNotJoined(sessionId, msg.sender);
        if (p.bondReleased) revert FlexMarketAlreadyReleased(sessionId);
        if (!_resultComplete(s.timing.resultStatus) && !_endedWithoutResult(s)) {
            revert FlexMarketReleaseNotAllowed(sessionId);
        }
        uint256 amountUeur = p.bondLockedUeur;
        p.bondReleased = true;
        p.bondLockedUeur = 0;
        _unlock(msg.sender, amountUeur);
        emit BondReleased(sessionId, msg.sender, amountUeur);
    }

    // ------------------------------------------------------------- views

    /// @inheritdoc IFlexMarket
    function computeCommitment(address seller, BidReveal calldata b) external pure returns (bytes32) {
        return _commitment(seller, b);
    }

    /// @inheritdoc IFlexMarket
    function bidIdOf(address seller, bytes32 commitment) external pure returns (bytes32) {
        return _bidId(seller, commitment);
    }

    /// @inheritdoc IFlexMarket
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IFlexMarket
    function sessionCount() external view returns (uint64) {
        return _sessionCount;
    }

    /// @inheritdoc IFlexMarket
    function session(uint64 sessionId) external view returns (SessionView memory v) {
        SessionRecord storage s = _sessions[sessionId];
        SessionTiming memory timing = s.timing;
        SessionRules memory rules = s.rules;
        SessionMoney memory money = s.money;
        v.operator = s.operator;
        v.resultStatus = timing.resultStatus;
        v.params = SessionParams({
            marketId: s.marketId,
            product: s.product,
            pricing: timing.pricing,
            slotCount: timing.slotCount,
            slotMinutes: timing.slotMinutes,
            deliveryStart: timing.deliveryStart,
            biddingEnd: timing.biddingEnd,
            revealDeadline: timing.revealDeadline,
            clearingDeadline: timing.clearingDeadline,
            minBidW: rules.minBidW,
            granularityW: rules.granularityW,
            priceFloorEurPerMw: rules.priceFloorEurPerMw,
            priceCapEurPerMw: rules.priceCapEurPerMw,
            unmetPenaltyEurPerMw: s.unmetPenaltyEurPerMw,
            bidBondUeur: money.bidBondUeur,
            collateralUeurPerW: rules.collateralUeurPerW,
            shortfallPenaltyEurPerMw: money.shortfallPenaltyEurPerMw,
            toleranceBps: money.toleranceBps,
            attestationQuorum: timing.attestationQuorum
        });
        v.needCount = money.needCount;
        v.awardCount = money.awardCount;
        v.settledCount = money.settledCount;
        v.attestations = timing.attestations;
        v.inputHash = s.inputHash;
        v.resultHash = s.resultHash;
    }

    /// @inheritdoc IFlexMarket
    function bid(bytes32 bidId) external view returns (BidView memory) {
        BidCore memory core = _bidCores[bidId];
        BidTerms memory terms = _bidTerms[bidId];
        return BidView({
            seller: core.seller,
            sessionId: core.sessionId,
            status: core.status,
            direction: core.direction,
            divisible: core.divisible,
            zoneIndex: core.zoneIndex,
            quantityW: terms.quantityW,
            minQuantityW: terms.minQuantityW,
            priceEurPerMw: terms.priceEurPerMw,
            awardedW: terms.awardedW,
            collateralUeur: terms.collateralUeur
        });
    }

    /// @inheritdoc IFlexMarket
    function need(uint64 sessionId, uint16 needIndex) external view returns (NeedView memory) {
        NeedCore memory core = _needCores[sessionId][needIndex];
        NeedMoney memory money = _needMoney[sessionId][needIndex];
        return NeedView({
            buyer: core.buyer,
            zoneIndex: core.zoneIndex,
            direction: core.direction,
            buyerRole: core.buyerRole,
            maxPriceEurPerMw: core.maxPriceEurPerMw,
            budgetUeur: money.budgetUeur,
            committedUeur: money.committedUeur,
            released: money.released
        });
    }

    /// @inheritdoc IFlexMarket
    function award(uint64 sessionId, uint32 awardIndex) external view returns (AwardView memory) {
        AwardCore memory core = _awardCores[sessionId][awardIndex];
        AwardPay memory pay = _awardPays[sessionId][awardIndex];
        return AwardView({
            bidId: _awardBids[sessionId][awardIndex],
            seller: core.seller,
            buyer: pay.buyer,
            needIndex: pay.needIndex,
            quantityW: core.quantityW,
            paymentUeur: pay.paymentUeur,
            delivered: core.delivered,
            deliveredW: core.deliveredW,
            settled: core.settled
        });
    }

    /// @inheritdoc IFlexMarket
    function participation(uint64 sessionId, address seller) external view returns (ParticipationView memory) {
        Participation memory p = _participations[sessionId][seller];
        return ParticipationView({
            biddingEnd: p.biddingEnd,
            maxBids: p.maxBids,
            revealed: p.revealed,
            forfeited: p.forfeited,
            bondLockedUeur: p.bondLockedUeur,
            bondReleased: p.bondReleased
        });
    }

    /// @inheritdoc IFlexMarket
    function standingOf(address seller) external view returns (uint8 failures, bool suspended) {
        Account memory account = _accounts[seller];
        return (account.failures, account.suspended);
    }

    // ------------------------------------------------------------- internals

    function _requireRole(bytes32 role) private view {
        if (!_registry.hasRole(role, msg.sender)) revert FlexMarketUnauthorized(msg.sender, role);
    }

    function _existingSession(uint64 sessionId) private view returns (SessionRecord storage s) {
        if (sessionId == 0 || sessionId > _sessionCount) revert FlexMarketSessionUnknown(sessionId);
        return _sessions[sessionId];
    }

    function _checkSessionParams(SessionParams calldata params) private view {
        if (params.slotCount == 0 || params.slotCount > 256) revert FlexMarketSessionParamInvalid("slotCount");
        if (params.slotMinutes == 0) revert FlexMarketSessionParamInvalid("slotMinutes");
        if (params.granularityW == 0) revert FlexMarketSessionParamInvalid("granularityW");
        if (params.priceFloorEurPerMw > params.priceCapEurPerMw) revert FlexMarketSessionParamInvalid("priceCapEurPerMw");
        if (params.toleranceBps > 10_000) revert FlexMarketSessionParamInvalid("toleranceBps");
        if (params.biddingEnd <= block.timestamp) revert FlexMarketSessionParamInvalid("biddingEnd");
        if (params.revealDeadline <= params.biddingEnd) revert FlexMarketSessionParamInvalid("revealDeadline");
        if (params.clearingDeadline <= params.revealDeadline) revert FlexMarketSessionParamInvalid("clearingDeadline");
    }

    /// @dev One SLOAD: the registration carries gate closure, so the session is not read.
    function _checkCanCommit(uint64 sessionId) private view {
        uint40 biddingEnd = _participations[sessionId][msg.sender].biddingEnd;
        if (biddingEnd == 0) revert FlexMarketNotJoined(sessionId, msg.sender);
        if (block.timestamp >= biddingEnd) revert FlexMarketBiddingClosed(sessionId, biddingEnd);
    }

    function _commit(uint64 sessionId, bytes32 commitment) private returns (bytes32 bidId) {
        bidId = _bidId(msg.sender, commitment);
        BidCore storage core = _bidCores[bidId];
        if (core.status != BidStatus.None) revert FlexMarketBidExists(bidId);
        _bidCores[bidId] = BidCore({
            seller: msg.sender,
            sessionId: uint48(sessionId),
            status: BidStatus.Committed,
            direction: Direction.Up,
            divisible: false,
            zoneIndex: 0
        });
        emit BidCommitted(sessionId, bidId, msg.sender, commitment);
    }

    function _commitment(address seller, BidReveal calldata b) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                b.sessionId,
                seller,
                b.zone,
                b.direction,
                b.divisible,
                b.quantityW,
                b.minQuantityW,
                b.priceEurPerMw,
                b.slotMask,
                b.assetIds,
                b.salt
            )
        );
    }

    /// @dev The sender is part of the id, so copying someone's commitment cannot block theirs.
    function _bidId(address seller, bytes32 commitment) private pure returns (bytes32) {
        return keccak256(abi.encode(seller, commitment));
    }

    function _commitAwards(uint64 sessionId, SessionRecord storage s, Award[] calldata awards) private {
        uint32 awardIndex = s.money.awardCount;
        uint16 needCount = s.money.needCount;
        Pricing pricing = s.timing.pricing;
        uint32 granularityW = s.rules.granularityW;
        uint64 capEurPerMw = s.rules.priceCapEurPerMw;
        bytes32 lastBid = s.lastAwardBid;
        uint16 lastNeed = s.lastAwardNeed;
        bool hasLast = s.hasLastAward;
        uint256 count = awards.length;
        if (uint256(awardIndex) + count > type(uint32).max) revert FlexMarketTooManyAwards(sessionId);
        for (uint256 i; i < count; ++i) {
            Award calldata a = awards[i];
            bytes32 bidId = a.bidId;
            if (hasLast && (bidId < lastBid || (bidId == lastBid && a.needIndex <= lastNeed))) {
                revert FlexMarketAwardsNotSorted(sessionId, i);
            }
            if (hasLast && bidId != lastBid) _closeBidAward(lastBid, granularityW);
            BidCore memory core = _bidCores[bidId];
            if (core.status != BidStatus.Revealed || core.sessionId != sessionId) {
                revert FlexMarketAwardBidInvalid(sessionId, i, bidId);
            }
            BidTerms storage terms = _bidTerms[bidId];
            uint64 bidPrice = terms.priceEurPerMw;
            if (a.needIndex >= needCount) revert FlexMarketAwardNeedInvalid(sessionId, i, a.needIndex);
            NeedCore memory needCore = _needCores[sessionId][a.needIndex];
            if (
                needCore.direction != core.direction
                    || (needCore.zoneIndex != 0 && needCore.zoneIndex != core.zoneIndex)
                    || a.priceEurPerMw > needCore.maxPriceEurPerMw
            ) revert FlexMarketAwardNeedInvalid(sessionId, i, a.needIndex);
            if (
                (pricing == Pricing.PayAsBid && a.priceEurPerMw != bidPrice)
                    || a.priceEurPerMw < bidPrice || a.priceEurPerMw > capEurPerMw
            ) revert FlexMarketAwardPriceInvalid(sessionId, i, a.priceEurPerMw, bidPrice);
            uint256 expected = uint256(a.quantityW) * a.priceEurPerMw;
            if (a.paymentUeur != expected || expected > type(uint80).max) {
                revert FlexMarketAwardPaymentMismatch(sessionId, i, a.paymentUeur, expected);
            }
            uint256 awardedW = uint256(terms.awardedW) + a.quantityW;
            if (a.quantityW == 0 || awardedW > terms.quantityW) {
                revert FlexMarketAwardExceedsBid(bidId, awardedW, terms.quantityW);
            }
            terms.awardedW = uint40(awardedW);
            NeedMoney storage needMoney = _needMoney[sessionId][a.needIndex];
            uint256 committed = needMoney.committedUeur + expected;
            if (committed > needMoney.budgetUeur) {
                revert FlexMarketAwardExceedsBudget(sessionId, a.needIndex, committed, needMoney.budgetUeur);
            }
            needMoney.committedUeur = uint112(committed);

            _awardCores[sessionId][awardIndex] =
                AwardCore({seller: core.seller, quantityW: a.quantityW, deliveredW: 0, delivered: false, settled: false});
            _awardPays[sessionId][awardIndex] =
                AwardPay({buyer: needCore.buyer, paymentUeur: uint80(expected), needIndex: a.needIndex});
            _awardBids[sessionId][awardIndex] = bidId;
            emit AwardCommitted(
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
            lastBid = bidId;
            lastNeed = a.needIndex;
            hasLast = true;
        }
        s.money.awardCount = awardIndex;
        s.lastAwardBid = lastBid;
        s.lastAwardNeed = lastNeed;
        s.hasLastAward = hasLast;
    }

    /// @dev Checks a bid's total award once all its rows are in.
    function _closeBidAward(bytes32 bidId, uint32 granularityW) private view {
        BidTerms memory terms = _bidTerms[bidId];
        if (!_bidCores[bidId].divisible) {
            if (terms.awardedW != terms.quantityW) {
                revert FlexMarketAwardNotAllOrNothing(bidId, terms.awardedW, terms.quantityW);
            }
        } else if (terms.awardedW < terms.minQuantityW || terms.awardedW % granularityW != 0) {
            revert FlexMarketAwardQuantityInvalid(bidId, terms.awardedW, terms.minQuantityW, granularityW);
        }
    }

    /// @dev The attestation and dispute hook: payments need a final result.
    function _settleableSession(uint64 sessionId) private view returns (SessionRecord storage s) {
        s = _sessions[sessionId];
        ResultStatus status = s.timing.resultStatus;
        if (status != ResultStatus.Final) revert FlexMarketResultStatusInvalid(sessionId, status);
    }

    /// @dev Settles one award; false if it was settled already. The caller counts it.
    function _settle(uint64 sessionId, uint32 awardIndex, SessionMoney memory money) private returns (bool) {
        AwardCore storage a = _awardCores[sessionId][awardIndex];
        AwardCore memory core = a;
        if (core.settled) return false;
        if (!core.delivered) revert FlexMarketDeliveryMissing(sessionId, awardIndex);
        AwardPay memory pay = _awardPays[sessionId][awardIndex];
        uint256 quantityW = core.quantityW;
        uint256 deliveredW = core.deliveredW < quantityW ? core.deliveredW : quantityW;
        uint256 shortfallW = quantityW - deliveredW;
        uint256 paymentUeur = pay.paymentUeur;
        uint256 refundUeur;
        uint256 penaltyUeur;
        Account storage seller = _accounts[core.seller];
        uint8 failures = seller.failures;
        a.settled = true;
        if (shortfallW * 10_000 > quantityW * money.toleranceBps) {
            // Beyond tolerance: pay what was delivered, penalise the shortfall from collateral.
            uint256 fullPaymentUeur = paymentUeur;
            paymentUeur = fullPaymentUeur / quantityW * deliveredW; // exact: payment = quantity * price
            refundUeur = fullPaymentUeur - paymentUeur;
            BidTerms storage terms = _bidTerms[_awardBids[sessionId][awardIndex]];
            uint256 collateral = terms.collateralUeur;
            penaltyUeur = shortfallW * money.shortfallPenaltyEurPerMw;
            if (penaltyUeur > collateral) penaltyUeur = collateral;
            terms.collateralUeur = uint72(collateral - penaltyUeur);
            if (failures < type(uint8).max) ++failures;
            seller.failures = failures;
            seller.lockedUeur -= uint112(penaltyUeur);
            if (failures >= _FAILURES_TO_SUSPEND && !seller.suspended) {
                seller.suspended = true;
                emit SellerSuspended(core.seller, failures);
            }
        }
        seller.freeUeur += uint112(paymentUeur);
        Account storage buyer = _accounts[pay.buyer];
        buyer.lockedUeur -= uint112(paymentUeur + refundUeur);
        buyer.freeUeur += uint112(refundUeur + penaltyUeur);
        emit AwardSettled(
            sessionId,
            awardIndex,
            core.seller,
            pay.buyer,
            core.deliveredW,
            paymentUeur,
            refundUeur,
            penaltyUeur,
            failures
        );
        return true;
    }

    function _resultComplete(ResultStatus status) private pure returns (bool) {
        return status == ResultStatus.Pending || status == ResultStatus.Final || status == ResultStatus.Disputed
            || status == ResultStatus.Voided;
    }

    function _endedWithoutResult(SessionRecord storage s) private view returns (bool) {
        ResultStatus status = s.timing.resultStatus;
        return status == ResultStatus.Voided
            || (
                (status == ResultStatus.None || status == ResultStatus.Committing)
                    && block.timestamp >= s.timing.clearingDeadline
            );
    }

    function _fullySettled(SessionRecord storage s) private view returns (bool) {
        return s.timing.resultStatus == ResultStatus.Final && s.money.settledCount == s.money.awardCount;
    }
}
