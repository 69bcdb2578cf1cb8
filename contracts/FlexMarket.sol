// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";
import {FlexResults} from "./FlexResults.sol";
import {FlexRelay} from "./FlexRelay.sol";
import {IFlexBatchEvents} from "./interfaces/IFlexBatches.sol";
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
/// `commitBid` reads and writes only the bid's own slot (gate closure and joining are
/// checked at reveal); `revealBid` writes one new slot; `settleAward` touches the session's
/// money slot, the award's two slots and the two participants' balance slots.
contract FlexMarket is FlexMarketStorage, IFlexMarket, IFlexBatchEvents {
    /// @dev FLECH: a seller that fails for the fourth time loses its standing.
    uint8 private constant _FAILURES_TO_SUSPEND = 4;

    IFlexRegistry private immutable _registry;
    /// @dev The one trusted forwarder (ERC-2771): bids its sellers signed (see IFlexRelay).
    address private immutable _relay;
    /// @dev The code of commitResult, run here by delegatecall (this contract's size limit).
    address private immutable _results;

    /// @param settlementToken The µEUR token.
    /// @param flexRegistry Roles, zones and assets.
    constructor(IERC20 settlementToken, IFlexRegistry flexRegistry) FlexMarketStorage(settlementToken) {
        _registry = flexRegistry;
        _relay = address(new FlexRelay(address(this)));
        _results = address(new FlexResults(_relay, flexRegistry));
        _minimumQuorum = 1;
        emit MinimumQuorumSet(1, msg.sender);
    }

    /// @notice Every selector this contract lacks runs on FlexResults by delegatecall, on this
    /// contract's storage: the batched sealed bids (IFlexBatches, FlexBatches), which check
    /// their callers themselves. FlexResults' own entry points are this contract's functions
    /// (their roles checked here first); an unknown selector reverts there, without data.
    fallback() external {
        _run(_results);
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
            attestationQuorum: params.attestationQuorum,
            attestations: 0,
            attestationDeadline: params.attestationDeadline
        });
        s.rules = SessionRules({
            minBidW: params.minBidW,
            granularityW: params.granularityW,
            priceFloorEurPerMw: params.priceFloorEurPerMw,
            priceCapEurPerMw: params.priceCapEurPerMw,
            collateralUeurPerW: params.collateralUeurPerW
        });
        s.money = SessionMoney({
            resultStatus: ResultStatus.None,
            toleranceBps: params.toleranceBps,
            shortfallPenaltyEurPerMw: params.shortfallPenaltyEurPerMw,
            needCount: 0,
            awardCount: 0,
            settledCount: 0,
            bidBondUeur: params.bidBondUeur,
            correctionWindowS: params.correctionWindowS
        });
        s.operator = msg.sender;
        s.deliveryDeadline = params.deliveryDeadline;
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
        bool balancing = length == 0;
        if (balancing) {
            // a DSO's system-wide budget for counter-activations (balance_dso), no watts asked
            if (params.buyerRole != BuyerRole.DSO || params.zone != bytes32(0)) {
                revert FlexMarketBalancingNeedInvalid(sessionId);
            }
        } else if (length != 1 && length != s.timing.slotCount) {
            revert FlexMarketNeedQuantitiesInvalid(sessionId, length);
        }
        if (params.budgetUeur == 0) revert FlexMarketNeedBudgetInvalid(sessionId);
        needIndex = s.money.needCount;
        if (needIndex == type(uint16).max) revert FlexMarketTooManyNeeds(sessionId);
        uint16 zoneIndex;
        if (params.zone != bytes32(0)) {
            address zoneDso;
            (zoneDso, zoneIndex,) = _registry.zoneInfo(params.zone);
            if (zoneIndex == 0) revert IFlexRegistry.FlexRegistryZoneUnknown(params.zone);
            if (params.buyerRole == BuyerRole.DSO && zoneDso != msg.sender) {
                revert FlexMarketNotZoneDso(params.zone, msg.sender);
            }
        }
        if (zoneIndex != 0 && !balancing) _claimNeedSlots(sessionId, params, zoneIndex);

        s.money.needCount = needIndex + 1;
        _needCores[sessionId][needIndex] = NeedCore({
            buyer: msg.sender,
            zoneIndex: zoneIndex,
            direction: params.direction,
            buyerRole: params.buyerRole,
            maxPriceEurPerMw: params.maxPriceEurPerMw
        });
        _needMoney[sessionId][needIndex] =
            NeedMoney({budgetUeur: params.budgetUeur, committedUeur: 0, released: false, balancing: balancing});
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

    /// @inheritdoc IFlexMarket
    function publishCoordination(uint64 sessionId, bytes calldata coordination) external {
        SessionRecord storage s = _operatorBeforeGate(sessionId);
        if (s.coordinationPublished) revert FlexMarketCoordinationExists(sessionId);
        s.coordinationPublished = true;
        emit CoordinationPublished(sessionId, msg.sender, coordination);
    }

    /// @inheritdoc IFlexMarket
    function publishGrid(uint64 sessionId, uint16 partIndex, uint16 partCount, bytes calldata part) external {
        _operatorBeforeGate(sessionId);
        GridParts memory g = _gridParts[sessionId];
        if (g.count != 0 && g.received == g.count) revert FlexMarketGridExists(sessionId);
        if (partIndex != g.received) revert FlexMarketGridPartOutOfOrder(sessionId, g.received, partIndex);
        if (partCount == 0 || (partIndex != 0 && partCount != g.count)) {
            revert FlexMarketGridPartCount(sessionId, partCount);
        }
        unchecked {
            _gridParts[sessionId] = GridParts(partIndex + 1, partCount); // partIndex < partCount
        }
        emit GridPublished(sessionId, msg.sender, partIndex, partCount, part);
    }

    // ------------------------------------------------------------- sealed bids

    /// @inheritdoc IFlexMarket
    function joinSession(uint64 sessionId, uint16 addedBids) external {
        address seller = _sender();
        if (!_registry.hasRole(FlexRoles.AGGREGATOR, seller)) revert FlexMarketUnauthorized(seller, FlexRoles.AGGREGATOR);
        SessionRecord storage s = _existingSession(sessionId);
        uint40 biddingEnd = s.timing.biddingEnd;
        if (block.timestamp >= biddingEnd) revert FlexMarketBiddingClosed(sessionId, biddingEnd);
        if (_accounts[seller].suspended) revert FlexMarketSellerSuspended(seller);
        Participation storage p = _participations[sessionId][seller];
        uint256 maxBids = uint256(p.maxBids) + addedBids;
        uint256 bondUeur = uint256(addedBids) * s.money.bidBondUeur;
        if (addedBids == 0 || maxBids > type(uint16).max || p.bondLockedUeur + bondUeur > type(uint64).max) {
            revert FlexMarketMaxBidsInvalid(sessionId, maxBids);
        }
        p.maxBids = uint16(maxBids);
        p.bondLockedUeur += uint64(bondUeur);
        p.biddingEnd = biddingEnd;
        _lock(seller, bondUeur);
        emit SessionJoined(sessionId, seller, addedBids, uint16(maxBids), bondUeur);
    }

    /// @inheritdoc IFlexMarket
    function commitBid(uint64 sessionId, bytes32 commitment) external returns (bytes32 bidId) {
        address seller = _sender();
        _countCommits(sessionId, seller, 1);
        bidId = _commit(sessionId, commitment, seller);
    }

    /// @inheritdoc IFlexMarket
    function commitBids(uint64 sessionId, bytes32[] calldata commitments) external {
        uint256 count = commitments.length;
        address seller = _sender();
        _countCommits(sessionId, seller, count);
        for (uint256 i; i < count; ++i) {
            _commit(sessionId, commitments[i], seller);
        }
    }

    /// @inheritdoc IFlexMarket
    function revealBid(BidReveal calldata b) external returns (bytes32 bidId) {
        uint64 sessionId = b.sessionId;
        address seller = _sender();
        bidId = _bidId(seller, _commitment(seller, b));
        BidCore storage core = _bidCores[bidId];
        BidCore memory committed = core;
        if (committed.status != BidStatus.Committed) {
            if (committed.status == BidStatus.None) revert FlexMarketBidNotCommitted(bidId);
            revert FlexMarketBidStatusInvalid(bidId, committed.status);
        }
        SessionRecord storage s = _sessions[sessionId];
        SessionTiming memory timing = s.timing;
        if (committed.committedAt >= timing.biddingEnd) {
            revert FlexMarketCommittedLate(bidId, committed.committedAt, timing.biddingEnd);
        }
        if (block.timestamp < timing.biddingEnd) revert FlexMarketRevealNotOpen(sessionId, timing.biddingEnd);
        if (block.timestamp >= timing.revealDeadline) revert FlexMarketRevealClosed(sessionId, timing.revealDeadline);
        Participation memory p = _participations[sessionId][seller];
        if (p.maxBids == 0) revert FlexMarketNotJoined(sessionId, seller);
        if (p.revealed >= p.maxBids) revert FlexMarketTooManyBids(sessionId, seller, p.maxBids);

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
            _registry.checkBidAssets(seller, b.zone, b.assetIds);
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
        uint256 pooledUeur = p.collateralLockedUeur + collateralUeur;
        if (pooledUeur > type(uint72).max) revert EscrowAmountTooLarge(collateralUeur);

        core.status = BidStatus.Revealed;
        _bidTerms[bidId] = BidTerms({
            quantityW: quantityW,
            minQuantityW: minQuantityW,
            priceEurPerMw: b.priceEurPerMw,
            awardedW: 0,
            zoneIndex: zoneIndex,
            direction: b.direction,
            divisible: b.divisible
        });
        p.revealed += 1;
        p.collateralLockedUeur = uint72(pooledUeur);
        _participations[sessionId][seller] = p;
        _lock(seller, collateralUeur);
        emit BidRevealed(
            sessionId,
            bidId,
            seller,
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
        address seller = core.seller;
        Participation storage p = _participations[sessionId][seller];
        // a bid exists only if its seller had joined (checked at commit): its bond is locked,
        // unless the seller's unrevealed bonds were all forfeited at once (forfeitBonds)
        if (
            core.status != BidStatus.Committed || block.timestamp < s.timing.revealDeadline
                || uint256(p.revealed) + p.forfeited >= p.committed
        ) revert FlexMarketBondNotForfeitable(bidId);
        uint256 amountUeur = s.money.bidBondUeur;
        address operator = s.operator;
        core.status = BidStatus.Forfeited;
        p.bondLockedUeur -= uint64(amountUeur);
        p.forfeited += 1;
        _payLocked(seller, operator, amountUeur);
        emit BondForfeited(sessionId, bidId, seller, operator, amountUeur);
    }

    /// @inheritdoc IFlexMarket
    function forfeitBonds(uint64 sessionId, address seller) external {
        SessionRecord storage s = _existingSession(sessionId);
        if (block.timestamp < s.timing.revealDeadline || _forfeitUnrevealed(s, sessionId, seller) == 0) {
            revert FlexMarketNothingToForfeit(sessionId, seller);
        }
    }

    // ------------------------------------------------------------- clearing result

    /// @inheritdoc IFlexMarket
    /// @dev Runs FlexResults' code on this contract's storage (see FlexMarketStorage).
    function commitResult(uint64, bytes32, bytes32, Award[] calldata, bool) external {
        _requireRole(FlexRoles.ORACLE);
        _run(_results);
    }

    /// @inheritdoc IFlexMarket
    function attestResult(uint64 sessionId, bytes32 resultHash) external {
        _requireRole(FlexRoles.VALIDATOR);
        SessionRecord storage s = _existingSession(sessionId);
        ResultStatus status = s.money.resultStatus;
        if (status != ResultStatus.Pending) revert FlexMarketResultStatusInvalid(sessionId, status);
        _requireAttestationOpen(s, sessionId);
        if (resultHash != s.resultHash) revert FlexMarketResultHashMismatch(sessionId);
        if (_attested[sessionId][msg.sender]) revert FlexMarketAlreadyAttested(sessionId, msg.sender);
        _attested[sessionId][msg.sender] = true;
        uint8 attestations = s.timing.attestations + 1;
        if (attestations >= s.timing.attestationQuorum) status = ResultStatus.Final;
        s.timing.attestations = attestations;
        s.money.resultStatus = status;
        emit ResultAttested(sessionId, msg.sender, attestations, status);
    }

    /// @inheritdoc IFlexMarket
    function disputeResult(uint64 sessionId, bytes32 reasonHash) external {
        _requireRole(FlexRoles.VALIDATOR);
        SessionRecord storage s = _existingSession(sessionId);
        ResultStatus status = s.money.resultStatus;
        // Once a payment went out the result can no longer be disputed on chain.
        if ((status != ResultStatus.Pending && status != ResultStatus.Final) || s.money.settledCount != 0) {
            revert FlexMarketResultStatusInvalid(sessionId, status);
        }
        _requireAttestationOpen(s, sessionId);
        s.money.resultStatus = ResultStatus.Disputed;
        emit ResultDisputed(sessionId, msg.sender, reasonHash);
    }

    /// @inheritdoc IFlexMarket
    function resolveDispute(uint64 sessionId, bool resultStands) external {
        _requireRole(0x00); // DEFAULT_ADMIN_ROLE
        SessionRecord storage s = _existingSession(sessionId);
        ResultStatus status = s.money.resultStatus;
        if (status != ResultStatus.Disputed) revert FlexMarketResultStatusInvalid(sessionId, status);
        _requireAttestationOpen(s, sessionId);
        status = resultStands ? ResultStatus.Final : ResultStatus.Voided;
        s.money.resultStatus = status;
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

    /// @inheritdoc IFlexMarket
    function setMinimumQuorum(uint8 minimumQuorum_) external {
        _requireRole(0x00); // DEFAULT_ADMIN_ROLE
        if (minimumQuorum_ == 0) revert FlexMarketMinimumQuorumInvalid();
        _minimumQuorum = minimumQuorum_;
        emit MinimumQuorumSet(minimumQuorum_, msg.sender);
    }

    // ------------------------------------------------------------- delivery and settlement

    /// @inheritdoc IFlexMarket
    /// @dev Runs FlexResults' code on this contract's storage (see FlexMarketStorage).
    function recordDeliveries(uint64, uint32[] calldata, uint40[] calldata, bytes32) external {
        _requireRole(FlexRoles.METERING);
        _run(_results);
    }

    /// @inheritdoc IFlexMarket
    /// @dev Runs FlexResults' code on this contract's storage (see FlexMarketStorage).
    function correctDelivery(uint64, uint32, uint40, bytes32) external {
        _requireRole(FlexRoles.METERING);
        _run(_results);
    }

    /// @inheritdoc IFlexMarket
    function settleAward(uint64 sessionId, uint32 awardIndex) external {
        SessionMoney storage money = _sessions[sessionId].money;
        SessionMoney memory m = money;
        _requireSettleable(sessionId, m.resultStatus);
        if (awardIndex >= m.awardCount) revert FlexMarketAwardUnknown(sessionId, awardIndex);
        if (!_settle(sessionId, awardIndex, m)) revert FlexMarketAwardAlreadySettled(sessionId, awardIndex);
        money.settledCount = m.settledCount + 1;
    }

    /// @inheritdoc IFlexMarket
    function settleAwards(uint64 sessionId, uint32 fromIndex, uint32 count) external {
        SessionMoney storage money = _sessions[sessionId].money;
        SessionMoney memory m = money;
        _requireSettleable(sessionId, m.resultStatus);
        uint256 end = uint256(fromIndex) + count;
        if (end > m.awardCount) revert FlexMarketAwardUnknown(sessionId, uint32(end > 0 ? end - 1 : 0));
        uint32 settled = m.settledCount;
        for (uint32 i = fromIndex; i < end; ++i) {
            if (_settle(sessionId, i, m)) ++settled; // already settled: skipped
        }
        money.settledCount = settled;
    }

    // ------------------------------------------------------------- releases

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
    function releaseSellerFunds(uint64 sessionId, address seller) external {
        SessionRecord storage s = _existingSession(sessionId);
        Participation storage p = _participations[sessionId][seller];
        if (p.maxBids == 0) revert FlexMarketNotJoined(sessionId, seller);
        if (p.released) revert FlexMarketAlreadyReleased(sessionId);
        if (!_fullySettled(s) && !_endedWithoutResult(s)) revert FlexMarketReleaseNotAllowed(sessionId);
        _forfeitUnrevealed(s, sessionId, seller); // reveals closed: a result or the clearing deadline came
        uint256 bondUeur = p.bondLockedUeur;
        uint256 collateralUeur = p.collateralLockedUeur;
        p.released = true;
        p.bondLockedUeur = 0;
        p.collateralLockedUeur = 0;
        _unlock(seller, bondUeur + collateralUeur);
        emit SellerFundsReleased(sessionId, seller, bondUeur, collateralUeur);
    }

    // ------------------------------------------------------------- views

    /// @inheritdoc IFlexMarket
    function bidIdOf(address seller, bytes32 commitment) external pure returns (bytes32) {
        return _bidId(seller, commitment);
    }

    /// @inheritdoc IFlexMarket
    function relay() external view returns (address) {
        return _relay;
    }

    /// @inheritdoc IFlexMarket
    function results() external view returns (address) {
        return _results;
    }

    /// @inheritdoc IFlexMarket
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IFlexMarket
    function minimumQuorum() external view returns (uint8) {
        return _minimumQuorum;
    }

    /// @inheritdoc IFlexMarket
    function sessionCount() external view returns (uint64) {
        return _sessionCount;
    }

    /// @inheritdoc IFlexMarket
    function session(uint64 sessionId)
        external
        view
        returns (
            address operator,
            SessionTiming memory timing,
            SessionRules memory rules,
            SessionMoney memory money,
            bytes32 inputHash,
            bytes32 resultHash
        )
    {
        SessionRecord storage s = _sessions[sessionId];
        return (s.operator, s.timing, s.rules, s.money, s.inputHash, s.resultHash);
    }

    /// @inheritdoc IFlexMarket
    function bid(bytes32 bidId) external view returns (BidCore memory core, BidTerms memory terms) {
        return (_bidCores[bidId], _bidTerms[bidId]);
    }

    /// @inheritdoc IFlexMarket
    function need(uint64 sessionId, uint16 needIndex)
        external
        view
        returns (NeedCore memory core, NeedMoney memory money)
    {
        return (_needCores[sessionId][needIndex], _needMoney[sessionId][needIndex]);
    }

    /// @inheritdoc IFlexMarket
    function award(uint64 sessionId, uint32 awardIndex)
        external
        view
        returns (bytes32 bidId, AwardCore memory core, AwardPay memory pay)
    {
        return (_awardBids[sessionId][awardIndex], _awardCores[sessionId][awardIndex], _awardPays[sessionId][awardIndex]);
    }

    /// @inheritdoc IFlexMarket
    function participation(uint64 sessionId, address seller) external view returns (Participation memory) {
        return _participations[sessionId][seller];
    }

    /// @inheritdoc IFlexMarket
    function standingOf(address seller) external view returns (uint8 failures, bool suspended) {
        Account memory account = _accounts[seller];
        return (account.failures, account.suspended);
    }

    // ------------------------------------------------------------- internals

    /// @dev Runs this call's calldata on FlexResults by delegatecall and returns or reverts
    /// with what it returned (the caller's role is checked before, if any).
    function _run(address module) private {
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @dev The caller, or the seller the relay appended to the calldata (ERC-2771).
    function _sender() private view returns (address sender) {
        sender = msg.sender;
        if (sender == _relay) {
            assembly ("memory-safe") {
                sender := shr(96, calldataload(sub(calldatasize(), 20)))
            }
        }
    }

    function _requireRole(bytes32 role) private view {
        if (!_registry.hasRole(role, msg.sender)) revert FlexMarketUnauthorized(msg.sender, role);
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
        if (params.attestationDeadline <= params.clearingDeadline) {
            revert FlexMarketSessionParamInvalid("attestationDeadline");
        }
        if (params.deliveryDeadline <= params.attestationDeadline) revert FlexMarketSessionParamInvalid("deliveryDeadline");
        if (params.attestationQuorum < _minimumQuorum) {
            revert FlexMarketQuorumBelowMinimum(params.attestationQuorum, _minimumQuorum);
        }
    }

    /// @dev Marks the slots a zonal need asks power in (one quantity: every slot; else the
    /// slots with a positive quantity) for its zone and direction; reverts if the zone needs
    /// the other direction in one of them (as oracle.scenario refuses such a file).
    /// System-wide needs are not zonal: a TSO's and a BRP's may go opposite ways. At most
    /// 256 slots (slotCount).
    function _claimNeedSlots(uint64 sessionId, NeedParams calldata params, uint16 zoneIndex) private {
        uint256 mask;
        uint256 length = params.quantityW.length;
        if (length == 1) {
            uint256 slotCount = _sessions[sessionId].timing.slotCount;
            if (params.quantityW[0] != 0) mask = slotCount == 256 ? type(uint256).max : (uint256(1) << slotCount) - 1;
        } else {
            for (uint256 i; i < length; ++i) {
                if (params.quantityW[i] != 0) mask |= uint256(1) << i;
            }
        }
        Direction other = params.direction == Direction.Up ? Direction.Down : Direction.Up;
        uint256 clash = mask & _needSlots[sessionId][zoneIndex][other];
        if (clash != 0) {
            uint256 slot;
            while (clash & 1 == 0) {
                clash >>= 1;
                ++slot;
            }
            revert FlexMarketNeedDirectionConflict(sessionId, params.zone, slot);
        }
        _needSlots[sessionId][zoneIndex][params.direction] |= mask;
    }

    /// @dev Forfeits every bond of `seller`'s bids in the session that were committed and
    /// neither revealed nor forfeited; returns how many. Callers check that reveals closed.
    function _forfeitUnrevealed(SessionRecord storage s, uint64 sessionId, address seller)
        private
        returns (uint256 bids)
    {
        Participation storage p = _participations[sessionId][seller];
        bids = uint256(p.committed) - p.revealed - p.forfeited;
        if (bids == 0) return 0;
        uint256 amountUeur = bids * s.money.bidBondUeur; // locked at join: bids <= maxBids
        address operator = s.operator;
        p.forfeited += uint16(bids);
        p.bondLockedUeur -= uint64(amountUeur);
        _payLocked(seller, operator, amountUeur);
        emit BondsForfeited(sessionId, seller, operator, uint16(bids), amountUeur);
    }

    /// @dev The session, when the caller is its operator and gate closure has not passed
    /// (what may publish a session's inputs: coordination, grid).
    function _operatorBeforeGate(uint64 sessionId) private view returns (SessionRecord storage s) {
        s = _existingSession(sessionId);
        if (msg.sender != s.operator) revert FlexMarketNotOperator(sessionId, msg.sender);
        uint40 biddingEnd = s.timing.biddingEnd;
        if (block.timestamp >= biddingEnd) revert FlexMarketBiddingClosed(sessionId, biddingEnd);
    }

    function _requireAttestationOpen(SessionRecord storage s, uint64 sessionId) private view {
        uint40 deadline = s.timing.attestationDeadline;
        if (block.timestamp >= deadline) revert FlexMarketAttestationClosed(sessionId, deadline);
    }

    /// @dev The seller's participation was checked and counted first (_countCommits): the
    /// session exists, so its id fits the 48 bits of the bid's slot.
    function _commit(uint64 sessionId, bytes32 commitment, address seller) private returns (bytes32 bidId) {
        bidId = _bidId(seller, commitment);
        BidCore storage core = _bidCores[bidId];
        if (core.status != BidStatus.None) revert FlexMarketBidExists(bidId);
        // One SSTORE. Layout of BidCore, low bits first: seller [0, 160), sessionId
        // [160, 208), status [208, 216), committedAt [216, 256).
        uint256 word = uint256(uint160(seller)) | (uint256(uint48(sessionId)) << 160)
            | (uint256(uint8(BidStatus.Committed)) << 208) | (uint256(uint40(block.timestamp)) << 216);
        assembly ("memory-safe") {
            sstore(core.slot, word)
        }
        emit BidCommitted(sessionId, bidId, seller);
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

    /// @dev The attestation and dispute hook: payments need a final result (a later k-of-n
    /// attestation rule or dispute window plugs in here and in attestResult/disputeResult).
    function _requireSettleable(uint64 sessionId, ResultStatus status) private pure {
        if (status != ResultStatus.Final) revert FlexMarketResultStatusInvalid(sessionId, status);
    }

    /// @dev Settles one award; false if it was settled already. The caller counts it.
    function _settle(uint64 sessionId, uint32 awardIndex, SessionMoney memory money) private returns (bool) {
        AwardCore storage a = _awardCores[sessionId][awardIndex];
        AwardCore memory core = a;
        if (core.settled) return false;
        bool lapsed = !core.delivered;
        if (lapsed) {
            if (block.timestamp < _sessions[sessionId].deliveryDeadline) {
                revert FlexMarketDeliveryMissing(sessionId, awardIndex);
            }
        } else if (money.correctionWindowS != 0) {
            uint256 until = uint256(_deliveredAt[sessionId][awardIndex]) + money.correctionWindowS;
            if (block.timestamp < until) revert FlexMarketCorrectionWindowOpen(sessionId, awardIndex, until);
        }
        AwardPay memory pay = _awardPays[sessionId][awardIndex];
        uint256 quantityW = core.quantityW;
        uint256 deliveredW = core.deliveredW < quantityW ? core.deliveredW : quantityW;
        uint256 shortfallW = quantityW - deliveredW;
        uint256 paymentUeur = pay.paymentUeur;
        uint256 refundUeur;
        uint256 penaltyUeur;
        a.settled = true;
        Account memory seller = _accounts[core.seller];
        if (lapsed) {
            // nobody recorded a delivery: the buyers get their payment back, the seller
            // neither payment nor penalty (it is not its failure that nothing was recorded)
            refundUeur = paymentUeur;
            paymentUeur = 0;
            emit DeliveryLapsed(sessionId, awardIndex, core.seller);
        } else if (shortfallW * 10_000 > quantityW * money.toleranceBps) {
            // Beyond tolerance: pay what was delivered, penalise the shortfall from the
            // seller's collateral in this session.
            uint256 fullPaymentUeur = paymentUeur;
            paymentUeur = fullPaymentUeur / quantityW * deliveredW; // exact: payment = quantity * price
            refundUeur = fullPaymentUeur - paymentUeur;
            Participation storage p = _participations[sessionId][core.seller];
            uint256 collateral = p.collateralLockedUeur;
            penaltyUeur = shortfallW * money.shortfallPenaltyEurPerMw;
            if (penaltyUeur > collateral) penaltyUeur = collateral;
            p.collateralLockedUeur = uint72(collateral - penaltyUeur);
            if (seller.failures < type(uint8).max) ++seller.failures;
            seller.lockedUeur -= uint112(penaltyUeur);
            if (seller.failures >= _FAILURES_TO_SUSPEND && !seller.suspended) {
                seller.suspended = true;
                emit SellerSuspended(core.seller, seller.failures);
            }
        }
        seller.freeUeur += uint112(paymentUeur);
        _storeAccount(core.seller, seller);
        if (pay.shareCount == 0) {
            Account memory buyer = _accounts[pay.buyer];
            buyer.lockedUeur -= uint112(paymentUeur + refundUeur);
            buyer.freeUeur += uint112(refundUeur + penaltyUeur);
            _storeAccount(pay.buyer, buyer);
        } else {
            _settleShares(sessionId, awardIndex, pay, refundUeur, penaltyUeur);
        }
        emit AwardSettled(sessionId, awardIndex, core.seller, paymentUeur, refundUeur, penaltyUeur);
        return true;
    }

    /// @dev Splits a shared award's refund and penalty among its shares in proportion to their
    /// payments: share rows in order, then the award's first need, each taking
    /// `floor(x * cumulative / total) - floor(x * cumulativeBefore / total)` of `x`, so that
    /// no share gets back more than it paid and the parts add up exactly.
    function _settleShares(
        uint64 sessionId,
        uint32 awardIndex,
        AwardPay memory pay,
        uint256 refundUeur,
        uint256 penaltyUeur
    ) private {
        uint256 totalUeur = pay.paymentUeur;
        uint256 cumulativeUeur;
        uint256 refundDone;
        uint256 penaltyDone;
        for (uint8 k; k < pay.shareCount; ++k) {
            AwardShare memory share = _awardShares[sessionId][awardIndex][k];
            cumulativeUeur += share.paymentUeur;
            // a zero payment (price 0) has no proportion: its first need takes everything
            uint256 refund = totalUeur == 0 ? 0 : refundUeur * cumulativeUeur / totalUeur - refundDone;
            uint256 penalty = totalUeur == 0 ? 0 : penaltyUeur * cumulativeUeur / totalUeur - penaltyDone;
            refundDone += refund;
            penaltyDone += penalty;
            _settleShare(sessionId, awardIndex, share.needIndex, share.buyer, share.paymentUeur, refund, penalty);
        }
        _settleShare(
            sessionId,
            awardIndex,
            pay.needIndex,
            pay.buyer,
            totalUeur - cumulativeUeur,
            refundUeur - refundDone,
            penaltyUeur - penaltyDone
        );
    }

    /// @dev One buyer's part of a shared award: `shareUeur` leaves its locked balance, of which
    /// `refundUeur` comes back to its free balance with `penaltyUeur`.
    function _settleShare(
        uint64 sessionId,
        uint32 awardIndex,
        uint16 needIndex,
        address buyerAddress,
        uint256 shareUeur,
        uint256 refundUeur,
        uint256 penaltyUeur
    ) private {
        Account memory buyer = _accounts[buyerAddress];
        buyer.lockedUeur -= uint112(shareUeur);
        buyer.freeUeur += uint112(refundUeur + penaltyUeur);
        _storeAccount(buyerAddress, buyer);
        emit ShareSettled(sessionId, awardIndex, buyerAddress, needIndex, shareUeur - refundUeur, refundUeur, penaltyUeur);
    }

    function _fullySettled(SessionRecord storage s) private view returns (bool) {
        SessionMoney memory money = s.money;
        return money.resultStatus == ResultStatus.Final && money.settledCount == money.awardCount;
    }
}
