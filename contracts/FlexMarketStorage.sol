// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Escrow} from "./Escrow.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {Direction, ResultStatus} from "./types/FlexTypes.sol";

/// @title FlexMarketStorage
/// @notice The market's storage, shared by FlexMarket and FlexResults: FlexMarket runs
/// FlexResults' code (commitResult) by delegatecall on its own storage, so both contracts
/// inherit this one base and have the same storage layout, slot for slot (Escrow's
/// ReentrancyGuard status and accounts first, then the variables below).
abstract contract FlexMarketStorage is Escrow {
    struct SessionRecord {
        IFlexMarket.SessionTiming timing; // slot 0
        IFlexMarket.SessionRules rules; // slot 1
        IFlexMarket.SessionMoney money; // slot 2
        address operator; // slot 3
        uint16 lastAwardNeed; // sorting key of the last award row committed
        bool hasLastAward;
        bool coordinationPublished;
        uint40 deliveryDeadline; // SessionParams.deliveryDeadline (SessionOpened carries it too)
        bytes32 lastAwardBid; // slot 4
        bytes32 inputHash; // slot 5
        bytes32 resultHash; // slot 6
        uint128 lastAwardLeftUeur; // slot 7: payment of the last award not yet charged to a need
        uint64 lastAwardPriceEurPerMw; // its price: its share rows must carry the same
        // marketId, product and unmetPenaltyEurPerMw are only in SessionOpened: no rule
        // on chain reads them.
    }

    uint64 internal _sessionCount;
    mapping(uint64 sessionId => SessionRecord) internal _sessions;
    mapping(uint64 sessionId => mapping(address seller => IFlexMarket.Participation)) internal _participations;
    mapping(bytes32 bidId => IFlexMarket.BidCore) internal _bidCores;
    mapping(bytes32 bidId => IFlexMarket.BidTerms) internal _bidTerms;
    mapping(uint64 sessionId => mapping(uint16 needIndex => IFlexMarket.NeedCore)) internal _needCores;
    mapping(uint64 sessionId => mapping(uint16 needIndex => IFlexMarket.NeedMoney)) internal _needMoney;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => IFlexMarket.AwardCore)) internal _awardCores;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => IFlexMarket.AwardPay)) internal _awardPays;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => bytes32 bidId)) internal _awardBids;
    mapping(uint64 sessionId => mapping(uint32 awardIndex => mapping(uint8 share => IFlexMarket.AwardShare))) internal
        _awardShares;
    mapping(uint64 sessionId => mapping(address validator => bool)) internal _attested;
    /// @dev Block time at which an award's delivery was recorded (its correction window runs from it).
    mapping(uint64 sessionId => mapping(uint32 awardIndex => uint40 recordedAt)) internal _deliveredAt;
    /// @dev Slots (bit i = slot i) in which a zone (index >= 1) has a need of a direction: a
    /// zone may not need up and down in the same slot.
    mapping(uint64 sessionId => mapping(uint16 zoneIndex => mapping(Direction direction => uint256 slotMask))) internal
        _needSlots;
    /// @dev Deployment-wide minimum attestation quorum of every session (>= 1), set by the admin.
    uint8 internal _minimumQuorum;
    /// @dev A session's grid inputs published in parts (publishGrid): parts received and their
    /// count (fixed by part 0); complete (published) when received == count != 0.
    mapping(uint64 sessionId => GridParts) internal _gridParts;

    struct GridParts {
        uint16 received;
        uint16 count;
    }


    /// @param settlementToken The µEUR token (FlexResults passes none: it never moves money).
    constructor(IERC20 settlementToken) Escrow(settlementToken) {}

    function _existingSession(uint64 sessionId) internal view returns (SessionRecord storage s) {
        if (sessionId == 0 || sessionId > _sessionCount) revert IFlexMarket.FlexMarketSessionUnknown(sessionId);
        return _sessions[sessionId];
    }

    /// @dev (FlexMarket.commitBid(s), FlexBatches.commitBatch.) Counts `count` commits of `seller` in its participation slot (one SLOAD, one
    /// SSTORE): the seller joined, gate closure has not passed (copied at join) and the
    /// commits stay within its allowance, so every commit is backed by a bond. Layout of
    /// Participation, low bits first: maxBids [0, 16), revealed [16, 32), forfeited [32, 48),
    /// bondLockedUeur [48, 112), collateralLockedUeur [112, 184), released [184, 192),
    /// committed [192, 208), biddingEnd [208, 248).
    function _countCommits(uint64 sessionId, address seller, uint256 count) internal {
        IFlexMarket.Participation storage p = _participations[sessionId][seller];
        uint256 word;
        assembly ("memory-safe") {
            word := sload(p.slot)
        }
        uint16 maxBids = uint16(word);
        if (maxBids == 0) revert IFlexMarket.FlexMarketNotJoined(sessionId, seller);
        uint40 biddingEnd = uint40(word >> 208);
        if (block.timestamp >= biddingEnd) revert IFlexMarket.FlexMarketBiddingClosed(sessionId, biddingEnd);
        uint256 committed = uint16(word >> 192) + count;
        if (committed > maxBids) revert IFlexMarket.FlexMarketTooManyBids(sessionId, seller, maxBids);
        word = (word & ~(uint256(0xffff) << 192)) | (committed << 192);
        assembly ("memory-safe") {
            sstore(p.slot, word)
        }
    }

    /// @dev Voided; or no complete result at the clearing deadline; or a result not final
    /// (pending, disputed) at the attestation deadline: nothing of it is ever paid (attest,
    /// dispute and resolve are closed from that deadline on).
    function _endedWithoutResult(SessionRecord storage s) internal view returns (bool) {
        ResultStatus status = s.money.resultStatus;
        return status == ResultStatus.Voided
            || (
                (status == ResultStatus.None || status == ResultStatus.Committing)
                    && block.timestamp >= s.timing.clearingDeadline
            )
            || (
                (status == ResultStatus.Pending || status == ResultStatus.Disputed)
                    && block.timestamp >= s.timing.attestationDeadline
            );
    }
}
