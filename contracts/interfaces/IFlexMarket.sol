// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEscrow} from "./IEscrow.sol";
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
} from "../types/FlexTypes.sol";

/// @title IFlexMarket
/// @notice Local flexibility market: sessions, needs with escrowed budgets, sealed bids
/// (commit, reveal), clearing results committed by the oracle and checked on chain, metered
/// delivery and paginated settlement with pull payments (see IEscrow).
///
/// Lifecycle of a session `s` (all times are the session's deadlines, Unix seconds):
/// 1. `openSession` (DSO or oracle role; attestation quorum at least the deployment's
///    `minimumQuorum`, set by the admin, never 0).
/// 2. Until gate closure (`biddingEnd`): buyers `postNeed` (budget locked; a DSO's zonal need
///    only in a zone it published; a zone never needs up and down in one slot); aggregators
///    `joinSession` (locks `maxBids * bidBondUeur`) and `commitBid` / `commitBids`. A commit
///    reads and writes only its bid's slot and the seller's participation: the seller must
///    have joined, gate closure must not have passed, and it may commit at most `maxBids`
///    bids (each backed by its bond).
/// 3. `[biddingEnd, revealDeadline)`: `revealBid` checks the bid and locks its collateral
///    in the seller's session pool (with its bond).
/// 4. From `revealDeadline` anyone may forfeit unrevealed bonds (`forfeitBond` per bid,
///    `forfeitBonds` per seller; `releaseSellerFunds` does it too): they go to the session
///    operator. In `[revealDeadline, clearingDeadline)` the oracle commits the awards with
///    `commitResult` (one or more pages). The result waits for `attestationQuorum`
///    validators' `attestResult` until `attestationDeadline`; a validator's `disputeResult`
///    freezes every payment until the admin's `resolveDispute` (also before that deadline).
///    A result not final at `attestationDeadline` ends the session without a result.
/// 5. The metering operator `recordDeliveries` per award (with an evidence hash) before
///    `deliveryDeadline` and may `correctDelivery` during `correctionWindowS` after; anyone
///    `settleAward(s)` once the window closed. An award with no delivery recorded at
///    `deliveryDeadline` lapses: its settlement pays nothing and returns its payment to
///    its buyers ({DeliveryLapsed}).
/// 6. Once every award is settled (or the session ended without a result):
///    `releaseBudget` per need and `releaseSellerFunds` per seller return what stays
///    locked; participants `withdraw`. No money stays locked past `deliveryDeadline` for
///    want of someone's action: each step after it is open to anyone.
///
/// Money moves are carried by the events below; balances change exactly as their
/// documentation says, so a replay of the events rebuilds every balance.
interface IFlexMarket is IEscrow {
    // Records as stored (one storage slot each) and returned by the views.

    /// @notice A session's deadlines and slots.
    struct SessionTiming {
        uint40 biddingEnd;
        uint40 revealDeadline;
        uint40 clearingDeadline;
        uint40 deliveryStart;
        uint16 slotCount;
        uint16 slotMinutes;
        Pricing pricing;
        uint8 attestationQuorum;
        uint8 attestations;
        uint40 attestationDeadline;
    }

    /// @notice A session's bid rules.
    struct SessionRules {
        uint40 minBidW;
        uint32 granularityW;
        uint64 priceFloorEurPerMw;
        uint64 priceCapEurPerMw;
        uint56 collateralUeurPerW;
    }

    /// @notice Everything a settlement reads and writes about its session.
    struct SessionMoney {
        ResultStatus resultStatus;
        uint16 toleranceBps;
        uint64 shortfallPenaltyEurPerMw;
        uint16 needCount;
        uint32 awardCount;
        uint32 settledCount;
        uint64 bidBondUeur;
        uint24 correctionWindowS;
    }

    /// @notice A bid as committed (its status changes later).
    struct BidCore {
        address seller;
        uint48 sessionId;
        BidStatus status;
        uint40 committedAt;
    }

    /// @notice A bid's terms, written at reveal (`awardedW` by the result).
    struct BidTerms {
        uint40 quantityW;
        uint40 minQuantityW;
        uint64 priceEurPerMw;
        uint40 awardedW;
        uint16 zoneIndex;
        Direction direction;
        bool divisible;
    }

    /// @notice A need.
    struct NeedCore {
        address buyer;
        uint16 zoneIndex;
        Direction direction;
        BuyerRole buyerRole;
        uint64 maxPriceEurPerMw;
    }

    /// @notice A need's escrowed budget and the payments committed from it. `balancing`: a
    /// balancing need (posted with no quantities): a DSO's budget for counter-activations,
    /// charged only by whole awards (see {postNeed}).
    struct NeedMoney {
        uint112 budgetUeur;
        uint112 committedUeur;
        bool released;
        bool balancing;
    }

    /// @notice An award's power and delivery.
    struct AwardCore {
        address seller;
        uint40 quantityW;
        uint40 deliveredW;
        bool delivered;
        bool settled;
    }

    /// @notice An award's payment: `paymentUeur = quantityW * priceEurPerMw`, paid to the seller;
    /// the buyer of need `needIndex` pays it, less the award's `shareCount` shares (see
    /// {AwardShared}) that other needs pay.
    struct AwardPay {
        address buyer;
        uint72 paymentUeur;
        uint16 needIndex;
        uint8 shareCount;
    }

    /// @notice The part of a shared award's payment that another need pays.
    struct AwardShare {
        address buyer;
        uint72 paymentUeur;
        uint16 needIndex;
    }

    /// @notice A seller's pool in a session: bond and collateral of all its bids. `committed`
    /// never exceeds `maxBids` (checked at commit), so every commit is backed by a bond and
    /// `revealed + forfeited <= committed`; `biddingEnd` is the session's gate closure, copied
    /// at join so that a commit reads this one slot.
    struct Participation {
        uint16 maxBids;
        uint16 revealed;
        uint16 forfeited;
        uint64 bondLockedUeur;
        uint72 collateralLockedUeur;
        bool released;
        uint16 committed;
        uint40 biddingEnd;
    }

    // ---------------------------------------------------------------- events

    /// @notice A session was opened.
    /// @param sessionId Its id (1, 2, ...).
    /// @param operator The caller; receives forfeited bonds.
    /// @param params All its parameters.
    event SessionOpened(uint64 indexed sessionId, address indexed operator, SessionParams params);

    /// @notice A buyer posted a need; `budgetUeur` moved from its free to its locked balance.
    /// @param sessionId The session.
    /// @param needIndex Index of the need in the session (0, 1, ...).
    /// @param buyer The buyer.
    /// @param buyerRole Role it buys in.
    /// @param zone Zone of the need, bytes32(0) = system-wide.
    /// @param direction Up or down.
    /// @param maxPriceEurPerMw Highest price it pays (type(uint64).max = no limit).
    /// @param budgetUeur Escrowed budget.
    /// @param quantityW Needed power, one value (every slot) or one per slot; none: a balancing
    /// need (a DSO's system-wide budget for counter-activations, see {postNeed}).
    event NeedPosted(
        uint64 indexed sessionId,
        uint16 indexed needIndex,
        address indexed buyer,
        BuyerRole buyerRole,
        bytes32 zone,
        Direction direction,
        uint64 maxPriceEurPerMw,
        uint256 budgetUeur,
        uint40[] quantityW
    );

    /// @notice A seller joined a session (or raised its bid allowance); `bondUeur` moved from
    /// its free to its locked balance.
    /// @param sessionId The session.
    /// @param seller The aggregator.
    /// @param addedBids Bids added to its allowance.
    /// @param maxBids Its allowance now.
    /// @param bondUeur Bond locked by this call (`addedBids * bidBondUeur`).
    event SessionJoined(
        uint64 indexed sessionId, address indexed seller, uint16 addedBids, uint16 maxBids, uint256 bondUeur
    );

    /// @notice A sealed bid was committed (at the block's time, see {bid}).
    /// @param sessionId The session.
    /// @param bidId `keccak256(abi.encode(seller, commitment))` where commitment =
    /// `keccak256(abi.encode(sessionId, seller, zone, direction, divisible, quantityW,
    /// minQuantityW, priceEurPerMw, slotMask, assetIds, salt))`; a replay recomputes both
    /// from the revealed fields.
    /// @param seller The aggregator.
    event BidCommitted(uint64 indexed sessionId, bytes32 indexed bidId, address indexed seller);

    /// @notice A bid was revealed and passed every check; `collateralUeur` moved from the
    /// seller's free to its locked balance (its session pool, with the bond).
    /// @param sessionId The session.
    /// @param bidId The bid.
    /// @param seller The aggregator.
    /// @param zone Zone of the bid.
    /// @param direction Up or down.
    /// @param divisible Whether a part of it may be accepted.
    /// @param quantityW Offered power in every slot of `slotMask`.
    /// @param minQuantityW Smallest acceptable part (= quantityW when indivisible).
    /// @param priceEurPerMw Asked price.
    /// @param slotMask Delivery slots (bit i = slot i).
    /// @param assetIds Assets backing the bid.
    /// @param collateralUeur Collateral locked.
    event BidRevealed(
        uint64 indexed sessionId,
        bytes32 indexed bidId,
        address indexed seller,
        bytes32 zone,
        Direction direction,
        bool divisible,
        uint40 quantityW,
        uint40 minQuantityW,
        uint64 priceEurPerMw,
        uint256 slotMask,
        bytes32[] assetIds,
        uint256 collateralUeur
    );

    /// @notice An unrevealed bid lost its bond: `amountUeur` moved from the seller's locked
    /// balance to the operator's free balance.
    /// @param sessionId The session.
    /// @param bidId The bid.
    /// @param seller The aggregator.
    /// @param operator The session operator, who received the bond.
    /// @param amountUeur Amount forfeited.
    event BondForfeited(
        uint64 indexed sessionId, bytes32 indexed bidId, address indexed seller, address operator, uint256 amountUeur
    );

    /// @notice Every bond of a seller's unrevealed bids in a session was forfeited at once
    /// ({forfeitBonds}, or {releaseSellerFunds} before it releases): `amountUeur` moved from the
    /// seller's locked balance to the operator's free balance. The bids stay `Committed`.
    /// @param sessionId The session.
    /// @param seller The aggregator.
    /// @param operator The session operator, who received the bonds.
    /// @param bids Bonds forfeited (committed bids neither revealed nor forfeited before).
    /// @param amountUeur Amount forfeited (`bids * bidBondUeur`).
    event BondsForfeited(
        uint64 indexed sessionId, address indexed seller, address operator, uint16 bids, uint256 amountUeur
    );

    /// @notice The admin set the deployment-wide minimum attestation quorum (the constructor
    /// sets 1): no session opened from now on may require fewer attestations.
    /// @param minimumQuorum The minimum (>= 1).
    /// @param admin The caller (the deployer in the constructor).
    event MinimumQuorumSet(uint8 minimumQuorum, address indexed admin);

    /// @notice One award row of a clearing result; `paymentUeur` is now committed from the
    /// need's budget (still locked with the buyer until settlement).
    /// @param sessionId The session.
    /// @param awardIndex Index of the award in the session (0, 1, ...).
    /// @param bidId The awarded bid.
    /// @param needIndex The need it serves.
    /// @param seller The bid's seller.
    /// @param buyer The need's buyer.
    /// @param quantityW Awarded power.
    /// @param priceEurPerMw Price paid.
    /// @param paymentUeur `quantityW * priceEurPerMw`.
    event AwardCommitted(
        uint64 indexed sessionId,
        uint32 indexed awardIndex,
        bytes32 indexed bidId,
        uint16 needIndex,
        address seller,
        address buyer,
        uint40 quantityW,
        uint64 priceEurPerMw,
        uint256 paymentUeur
    );

    /// @notice A share row of a clearing result: `paymentUeur` of award `awardIndex`'s payment
    /// is charged to need `needIndex` (committed from its budget, still locked with `buyer`)
    /// instead of the award's own need, whose part is its payment less all its shares.
    /// @param sessionId The session.
    /// @param awardIndex The shared award.
    /// @param needIndex The need that pays this share.
    /// @param buyer The need's buyer.
    /// @param paymentUeur The share.
    event AwardShared(
        uint64 indexed sessionId, uint32 indexed awardIndex, uint16 needIndex, address buyer, uint256 paymentUeur
    );

    /// @notice The session operator published the session's coordination inputs (issue 7):
    /// canonical JSON (UTF-8) of `{"coupling", "priority", "balance_dso", "zones": [{"id",
    /// "forecast_w", "limit_w", "red_slots"}]}` as in the scenario format, fields at their
    /// defaults left out. No rule on chain reads it: the oracle and the verifiers rebuild the
    /// session's scenario with it (see docs/contracts.md).
    /// @param sessionId The session.
    /// @param operator The session operator.
    /// @param coordination The canonical JSON.
    event CoordinationPublished(uint64 indexed sessionId, address indexed operator, bytes coordination);

    /// @notice The session operator published a part of the session's grid inputs (issue 19).
    /// The inputs are the concatenation of the parts 0 .. partCount - 1, in order: canonical
    /// JSON (UTF-8) of the scenario's `grid` object with its `inputs` (the model's identity and
    /// hash, the day, the profiles' hash, the zones' forecasts, the limits, each asset's bus and
    /// the linear cuts the session is cleared with; see docs/grid.md). They are published once
    /// the last part is. No rule on chain reads them: the oracle and the verifiers clear the
    /// rebuilt session with these cuts, and nodes holding the model re-derive them and run the
    /// AC check.
    /// @param sessionId The session.
    /// @param operator The session operator.
    /// @param partIndex Position of this part (0 first; parts are accepted only in order).
    /// @param partCount Number of parts (the same in every part, fixed by part 0).
    /// @param part The part's bytes.
    event GridPublished(
        uint64 indexed sessionId, address indexed operator, uint16 partIndex, uint16 partCount, bytes part
    );

    /// @notice The last page of a clearing result was committed.
    /// @param sessionId The session.
    /// @param oracle The caller.
    /// @param inputHash keccak256 of the canonical scenario the oracle cleared.
    /// @param resultHash keccak256 of the canonical result.
    /// @param awardCount Number of award rows.
    /// @param status `Final`, or `Pending` when validator attestations are required.
    event ResultCommitted(
        uint64 indexed sessionId,
        address indexed oracle,
        bytes32 inputHash,
        bytes32 resultHash,
        uint32 awardCount,
        ResultStatus status
    );

    /// @notice A validator attested the result.
    /// @param sessionId The session.
    /// @param validator The validator.
    /// @param attestations Attestations so far.
    /// @param status Result status after this attestation.
    event ResultAttested(uint64 indexed sessionId, address indexed validator, uint8 attestations, ResultStatus status);

    /// @notice A validator disputed the result: payments are frozen.
    /// @param sessionId The session.
    /// @param validator The validator.
    /// @param reasonHash Hash of the validator's report (kept off chain).
    event ResultDisputed(uint64 indexed sessionId, address indexed validator, bytes32 reasonHash);

    /// @notice The admin resolved a dispute.
    /// @param sessionId The session.
    /// @param admin The admin.
    /// @param status `Final` (the result stands) or `Voided` (nothing is paid).
    event DisputeResolved(uint64 indexed sessionId, address indexed admin, ResultStatus status);

    /// @notice The metering operator recorded the delivery of an award.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param operator The metering operator.
    /// @param deliveredW Delivered power (baseline minus metered), in W.
    /// @param evidenceHash Hash of the metering report kept off chain (no raw readings).
    event DeliveryRecorded(
        uint64 indexed sessionId, uint32 indexed awardIndex, address indexed operator, uint40 deliveredW, bytes32 evidenceHash
    );

    /// @notice The metering operator corrected a delivery within its correction window.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param operator The metering operator.
    /// @param previousW Delivered power recorded until now.
    /// @param deliveredW Delivered power from now on.
    /// @param evidenceHash Hash of the corrected metering report (e.g. of the meter data file).
    event DeliveryCorrected(
        uint64 indexed sessionId,
        uint32 indexed awardIndex,
        address indexed operator,
        uint40 previousW,
        uint40 deliveredW,
        bytes32 evidenceHash
    );

    /// @notice No delivery was recorded for the award by the session's `deliveryDeadline`: it
    /// is settled without payment (the {AwardSettled} that follows has payment 0, refund = the
    /// whole payment, penalty 0, and the seller's failures do not grow).
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param seller The seller.
    event DeliveryLapsed(uint64 indexed sessionId, uint32 indexed awardIndex, address indexed seller);

    /// @notice An award was settled (buyer and delivery: see {AwardCommitted} and
    /// {DeliveryRecorded}): the buyer's locked balance lost `paymentUeur + refundUeur`, the
    /// seller's free balance gained `paymentUeur`, the buyer's free balance gained
    /// `refundUeur + penaltyUeur`, the seller's locked balance (its session collateral) lost
    /// `penaltyUeur`. A non-zero penalty is one more failure of the seller.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param seller The seller.
    /// @param paymentUeur Paid to the seller.
    /// @param refundUeur Part of the committed payment returned to the buyer (shortfall).
    /// @param penaltyUeur Taken from the seller's collateral for a shortfall beyond tolerance.
    event AwardSettled(
        uint64 indexed sessionId,
        uint32 indexed awardIndex,
        address indexed seller,
        uint256 paymentUeur,
        uint256 refundUeur,
        uint256 penaltyUeur
    );

    /// @notice One buyer's part of the settlement of a shared award (one event per share, the
    /// award's own need last, after which {AwardSettled} gives the totals): the buyer's locked
    /// balance lost `paymentUeur + refundUeur`, its free balance gained `refundUeur +
    /// penaltyUeur`. Refund and penalty are split in proportion to the shares: share rows in
    /// order, then the award's own need, each taking `floor(x * cumulative / payment) -
    /// floor(x * cumulativeBefore / payment)` of `x` (all of it to the own need if the payment
    /// is zero).
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param buyer The buyer.
    /// @param needIndex The need its part was committed from.
    /// @param paymentUeur What it paid to the seller.
    /// @param refundUeur Part of its share returned to it (shortfall).
    /// @param penaltyUeur Its part of the seller's penalty.
    event ShareSettled(
        uint64 indexed sessionId,
        uint32 indexed awardIndex,
        address indexed buyer,
        uint16 needIndex,
        uint256 paymentUeur,
        uint256 refundUeur,
        uint256 penaltyUeur
    );

    /// @notice A seller reached its fourth failure and can no longer join sessions.
    /// @param seller The seller.
    /// @param failures Its failures.
    event SellerSuspended(address indexed seller, uint8 failures);

    /// @notice The admin lifted a seller's suspension and reset its failures.
    /// @param seller The seller.
    /// @param admin The admin.
    event SellerReinstated(address indexed seller, address indexed admin);


    /// @notice The uncommitted part of a need's budget moved from the buyer's locked to free balance.
    /// @param sessionId The session.
    /// @param needIndex The need.
    /// @param buyer The buyer.
    /// @param amountUeur Amount released.
    event BudgetReleased(uint64 indexed sessionId, uint16 indexed needIndex, address indexed buyer, uint256 amountUeur);

    /// @notice What remains of a seller's session bond and collateral moved from its locked
    /// to its free balance.
    /// @param sessionId The session.
    /// @param seller The seller.
    /// @param bondUeur Bond released (after forfeits).
    /// @param collateralUeur Collateral released (after penalties).
    event SellerFundsReleased(uint64 indexed sessionId, address indexed seller, uint256 bondUeur, uint256 collateralUeur);

    // ---------------------------------------------------------------- errors

    /// @notice The caller lacks the role this function needs.
    /// @param account The caller.
    /// @param role The role needed (for "DSO or oracle", the DSO role).
    error FlexMarketUnauthorized(address account, bytes32 role);
    /// @notice A session parameter is out of range.
    /// @param param Name of the parameter.
    error FlexMarketSessionParamInvalid(bytes32 param);
    /// @notice No session with this id.
    /// @param sessionId The id.
    error FlexMarketSessionUnknown(uint64 sessionId);
    /// @notice Gate closure has passed.
    /// @param sessionId The session.
    /// @param biddingEnd Gate closure.
    error FlexMarketBiddingClosed(uint64 sessionId, uint40 biddingEnd);
    /// @notice A need's quantities must be one value or one per slot (none: a balancing need).
    /// @param sessionId The session.
    /// @param length Number of values given.
    error FlexMarketNeedQuantitiesInvalid(uint64 sessionId, uint256 length);
    /// @notice A balancing need (no quantities) must be a DSO's (`buyerRole` DSO) and
    /// system-wide (zone bytes32(0)).
    /// @param sessionId The session.
    error FlexMarketBalancingNeedInvalid(uint64 sessionId);
    /// @notice A need's budget must be positive.
    /// @param sessionId The session.
    error FlexMarketNeedBudgetInvalid(uint64 sessionId);
    /// @notice The session has 65,535 needs already.
    /// @param sessionId The session.
    error FlexMarketTooManyNeeds(uint64 sessionId);
    /// @notice A seller must join with at least one bid, and at most 65,535 in all.
    /// @param sessionId The session.
    /// @param maxBids The resulting allowance.
    error FlexMarketMaxBidsInvalid(uint64 sessionId, uint256 maxBids);
    /// @notice A suspended seller cannot join sessions.
    /// @param seller The seller.
    error FlexMarketSellerSuspended(address seller);
    /// @notice The seller has not joined the session.
    /// @param sessionId The session.
    /// @param seller The seller.
    error FlexMarketNotJoined(uint64 sessionId, address seller);
    /// @notice This seller committed this commitment already.
    /// @param bidId The bid.
    error FlexMarketBidExists(bytes32 bidId);
    /// @notice No committed bid matches the revealed fields and the caller.
    /// @param bidId The bid id the fields give.
    error FlexMarketBidNotCommitted(bytes32 bidId);
    /// @notice The bid is not in the state this call needs.
    /// @param bidId The bid.
    /// @param status Its status.
    error FlexMarketBidStatusInvalid(bytes32 bidId, BidStatus status);
    /// @notice The bid was committed at or after gate closure: it cannot be revealed.
    /// @param bidId The bid.
    /// @param committedAt Block time of its commit.
    /// @param biddingEnd Gate closure.
    error FlexMarketCommittedLate(bytes32 bidId, uint40 committedAt, uint40 biddingEnd);
    /// @notice Reveals open at gate closure.
    /// @param sessionId The session.
    /// @param biddingEnd Gate closure.
    error FlexMarketRevealNotOpen(uint64 sessionId, uint40 biddingEnd);
    /// @notice The reveal deadline has passed.
    /// @param sessionId The session.
    /// @param revealDeadline The deadline.
    error FlexMarketRevealClosed(uint64 sessionId, uint40 revealDeadline);
    /// @notice The seller revealed as many bids as its allowance.
    /// @param sessionId The session.
    /// @param seller The seller.
    /// @param maxBids Its allowance.
    error FlexMarketTooManyBids(uint64 sessionId, address seller, uint16 maxBids);
    /// @notice The quantity is zero or below the session's minimum bid.
    /// @param bidId The bid.
    /// @param quantityW Its quantity.
    /// @param minBidW The session's minimum.
    error FlexMarketBidBelowMinimum(bytes32 bidId, uint40 quantityW, uint40 minBidW);
    /// @notice The quantity is not a multiple of the session's granularity.
    /// @param bidId The bid.
    /// @param quantityW Its quantity.
    /// @param granularityW The granularity.
    error FlexMarketBidNotGranular(bytes32 bidId, uint40 quantityW, uint32 granularityW);
    /// @notice The price is outside the session's floor and cap.
    /// @param bidId The bid.
    /// @param priceEurPerMw Its price.
    /// @param floorEurPerMw The floor.
    /// @param capEurPerMw The cap.
    error FlexMarketBidPriceOutOfRange(bytes32 bidId, uint64 priceEurPerMw, uint64 floorEurPerMw, uint64 capEurPerMw);
    /// @notice The slot mask is empty or names slots the session does not have.
    /// @param bidId The bid.
    /// @param slotMask Its mask.
    /// @param slotCount The session's slots.
    error FlexMarketBidSlotsInvalid(bytes32 bidId, uint256 slotMask, uint16 slotCount);
    /// @notice A bid must name at least one asset.
    /// @param bidId The bid.
    error FlexMarketBidWithoutAssets(bytes32 bidId);
    /// @notice The assets' summed p_max_w is below the quantity.
    /// @param bidId The bid.
    /// @param quantityW Its quantity.
    /// @param sumPMaxW Sum of its assets' p_max_w.
    error FlexMarketBidExceedsAssets(bytes32 bidId, uint40 quantityW, uint64 sumPMaxW);
    /// @notice A divisible bid's minimum quantity exceeds its quantity.
    /// @param bidId The bid.
    /// @param minQuantityW Effective minimum.
    /// @param quantityW Its quantity.
    error FlexMarketBidMinQuantityInvalid(bytes32 bidId, uint40 minQuantityW, uint40 quantityW);
    /// @notice The bond cannot be forfeited: no such committed bid, the bid was revealed, its
    /// seller's unrevealed bonds were forfeited already, or reveals are still open.
    /// @param bidId The bid.
    error FlexMarketBondNotForfeitable(bytes32 bidId);
    /// @notice The seller has no unrevealed bond left to forfeit in the session, or reveals
    /// are still open.
    /// @param sessionId The session.
    /// @param seller The seller.
    error FlexMarketNothingToForfeit(uint64 sessionId, address seller);
    /// @notice The session's attestation quorum is below the deployment's minimum.
    /// @param quorum The quorum asked.
    /// @param minimumQuorum The minimum.
    error FlexMarketQuorumBelowMinimum(uint8 quorum, uint8 minimumQuorum);
    /// @notice The minimum quorum must be at least 1: every result is checked by a validator.
    error FlexMarketMinimumQuorumInvalid();
    /// @notice A DSO need in a zone another DSO published (or the caller is not its DSO).
    /// @param zone The zone.
    /// @param account The caller.
    error FlexMarketNotZoneDso(bytes32 zone, address account);
    /// @notice The need would make its zone need up and down in the same slot (system-wide
    /// needs are not zonal and not counted).
    /// @param sessionId The session.
    /// @param zone The zone.
    /// @param slot The first such slot.
    error FlexMarketNeedDirectionConflict(uint64 sessionId, bytes32 zone, uint256 slot);
    /// @notice A share row must carry its award's price.
    /// @param sessionId The session.
    /// @param position Position of the row in the call.
    /// @param priceEurPerMw The row's price.
    /// @param awardPriceEurPerMw The award's price.
    error FlexMarketSharePriceMismatch(
        uint64 sessionId, uint256 position, uint64 priceEurPerMw, uint64 awardPriceEurPerMw
    );
    /// @notice A share row must charge a positive payment.
    /// @param sessionId The session.
    /// @param position Position of the row in the call.
    error FlexMarketShareZero(uint64 sessionId, uint256 position);
    /// @notice The attestation deadline has passed: a result not final by then can no longer
    /// be attested, disputed or resolved (the session ended without a result).
    /// @param sessionId The session.
    /// @param attestationDeadline The deadline.
    error FlexMarketAttestationClosed(uint64 sessionId, uint40 attestationDeadline);
    /// @notice The delivery deadline has passed: deliveries can no longer be recorded.
    /// @param sessionId The session.
    /// @param deliveryDeadline The deadline.
    error FlexMarketDeliveryClosed(uint64 sessionId, uint40 deliveryDeadline);
    /// @notice A delivery needs the hash of its evidence (the metering report).
    /// @param sessionId The session.
    error FlexMarketEvidenceMissing(uint64 sessionId);
    /// @notice The award's delivery may still be corrected: it is settled from `until` on.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param until End of its correction window.
    error FlexMarketCorrectionWindowOpen(uint64 sessionId, uint32 awardIndex, uint256 until);
    /// @notice The award's delivery is not recorded, or its correction window closed at `until`.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param until End of its correction window (0: no delivery recorded).
    error FlexMarketCorrectionWindowClosed(uint64 sessionId, uint32 awardIndex, uint256 until);
    /// @notice Results are accepted from the reveal deadline on.
    /// @param sessionId The session.
    /// @param revealDeadline The reveal deadline.
    error FlexMarketClearingNotOpen(uint64 sessionId, uint40 revealDeadline);
    /// @notice The clearing deadline has passed.
    /// @param sessionId The session.
    /// @param clearingDeadline The deadline.
    error FlexMarketClearingClosed(uint64 sessionId, uint40 clearingDeadline);
    /// @notice The result is not in the state this call needs.
    /// @param sessionId The session.
    /// @param status Its status.
    error FlexMarketResultStatusInvalid(uint64 sessionId, ResultStatus status);
    /// @notice Hashes must be non-zero and equal on every page.
    /// @param sessionId The session.
    error FlexMarketResultHashMismatch(uint64 sessionId);
    /// @notice An award names a bid that is not a revealed bid of this session.
    /// @param sessionId The session.
    /// @param position Position of the award in the call.
    /// @param bidId The bid.
    error FlexMarketAwardBidInvalid(uint64 sessionId, uint256 position, bytes32 bidId);
    /// @notice An award names a need the session does not have, or one it cannot serve
    /// (other direction, other zone, price above the need's maximum).
    /// @param sessionId The session.
    /// @param position Position of the award in the call.
    /// @param needIndex The need.
    error FlexMarketAwardNeedInvalid(uint64 sessionId, uint256 position, uint16 needIndex);
    /// @notice Award rows must be sorted by (bidId, needIndex) without repeats, across pages.
    /// @param sessionId The session.
    /// @param position Position of the award in the call.
    error FlexMarketAwardsNotSorted(uint64 sessionId, uint256 position);
    /// @notice The award's price breaks the pricing rule (pay-as-bid: the bid's price;
    /// uniform: at least the bid's price, at most the cap).
    /// @param sessionId The session.
    /// @param position Position of the award in the call.
    /// @param priceEurPerMw Award price.
    /// @param bidPriceEurPerMw Bid price.
    error FlexMarketAwardPriceInvalid(uint64 sessionId, uint256 position, uint64 priceEurPerMw, uint64 bidPriceEurPerMw);
    /// @notice A row charges more than its award has left to charge: an award row more than
    /// `quantityW * priceEurPerMw`, a share row more than the rows before it left.
    /// @param sessionId The session.
    /// @param position Position of the row in the call.
    /// @param paymentUeur Given payment.
    /// @param expectedUeur At most this much (for an award row: quantityW * priceEurPerMw).
    error FlexMarketAwardPaymentMismatch(uint64 sessionId, uint256 position, uint256 paymentUeur, uint256 expectedUeur);
    /// @notice A share row (`quantityW == 0`) must follow a row of the same bid.
    /// @param sessionId The session.
    /// @param position Position of the row in the call.
    error FlexMarketAwardShareWithoutAward(uint64 sessionId, uint256 position);
    /// @notice The rows of an award charge less than its payment (`quantityW * priceEurPerMw`).
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param leftUeur Payment charged to no need.
    error FlexMarketAwardSharesIncomplete(uint64 sessionId, uint32 awardIndex, uint256 leftUeur);
    /// @notice Only the session's operator may do this.
    /// @param sessionId The session.
    /// @param account The caller.
    error FlexMarketNotOperator(uint64 sessionId, address account);
    /// @notice The session's coordination inputs were published already.
    /// @param sessionId The session.
    error FlexMarketCoordinationExists(uint64 sessionId);
    /// @notice The session's grid inputs were published already (every part).
    /// @param sessionId The session.
    error FlexMarketGridExists(uint64 sessionId);
    /// @notice A part of the session's grid inputs is not the next one: parts are published in
    /// order from 0.
    /// @param sessionId The session.
    /// @param expected Index of the next part.
    /// @param given The part's index.
    error FlexMarketGridPartOutOfOrder(uint64 sessionId, uint16 expected, uint16 given);
    /// @notice A part's count of parts is zero, or differs from the count part 0 fixed.
    /// @param sessionId The session.
    /// @param given The part's count.
    error FlexMarketGridPartCount(uint64 sessionId, uint16 given);
    /// @notice A balancing need pays whole awards only: a row charging it must be an award row
    /// (`quantityW > 0`) charging its whole payment, and no share row may follow an award
    /// charged to a balancing need.
    /// @param sessionId The session.
    /// @param position Position of the row in the call.
    /// @param needIndex The row's need.
    error FlexMarketBalancingRowInvalid(uint64 sessionId, uint256 position, uint16 needIndex);
    /// @notice A bid's awarded quantity is zero or above its quantity.
    /// @param bidId The bid.
    /// @param awardedW Awarded so far.
    /// @param quantityW Its quantity.
    error FlexMarketAwardExceedsBid(bytes32 bidId, uint256 awardedW, uint40 quantityW);
    /// @notice An indivisible bid must be awarded all or nothing.
    /// @param bidId The bid.
    /// @param awardedW Awarded.
    /// @param quantityW Its quantity.
    error FlexMarketAwardNotAllOrNothing(bytes32 bidId, uint40 awardedW, uint40 quantityW);
    /// @notice A divisible bid's award is below its minimum or not a multiple of granularity.
    /// @param bidId The bid.
    /// @param awardedW Awarded.
    /// @param minQuantityW Its minimum.
    /// @param granularityW The granularity.
    error FlexMarketAwardQuantityInvalid(bytes32 bidId, uint40 awardedW, uint40 minQuantityW, uint32 granularityW);
    /// @notice The payments committed from a need exceed its escrowed budget.
    /// @param sessionId The session.
    /// @param needIndex The need.
    /// @param committedUeur Payments committed.
    /// @param budgetUeur Its budget.
    error FlexMarketAwardExceedsBudget(uint64 sessionId, uint16 needIndex, uint256 committedUeur, uint256 budgetUeur);
    /// @notice The session has 2^32 - 1 awards already.
    /// @param sessionId The session.
    error FlexMarketTooManyAwards(uint64 sessionId);
    /// @notice The validator attested this result already.
    /// @param sessionId The session.
    /// @param validator The validator.
    error FlexMarketAlreadyAttested(uint64 sessionId, address validator);
    /// @notice No award with this index.
    /// @param sessionId The session.
    /// @param awardIndex The index.
    error FlexMarketAwardUnknown(uint64 sessionId, uint32 awardIndex);
    /// @notice Delivery vectors must have the same length.
    /// @param awards Number of award indices.
    /// @param deliveries Number of delivered values.
    error FlexMarketDeliveryLengthMismatch(uint256 awards, uint256 deliveries);
    /// @notice The award's delivery is recorded already.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    error FlexMarketDeliveryAlreadyRecorded(uint64 sessionId, uint32 awardIndex);
    /// @notice The award's delivery is not recorded yet.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    error FlexMarketDeliveryMissing(uint64 sessionId, uint32 awardIndex);
    /// @notice The award is settled already.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    error FlexMarketAwardAlreadySettled(uint64 sessionId, uint32 awardIndex);
    /// @notice Locked money cannot be released yet (awards unsettled, result pending or disputed).
    /// @param sessionId The session.
    error FlexMarketReleaseNotAllowed(uint64 sessionId);
    /// @notice No need with this index.
    /// @param sessionId The session.
    /// @param needIndex The index.
    error FlexMarketNeedUnknown(uint64 sessionId, uint16 needIndex);
    /// @notice The budget or the seller's funds were released already.
    /// @param sessionId The session.
    error FlexMarketAlreadyReleased(uint64 sessionId);

    // ---------------------------------------------------------------- functions

    /// @notice Opens a session. Only a DSO or the oracle (market operator), with an attestation
    /// quorum of at least {minimumQuorum}.
    /// @param params Its parameters; deadlines strictly increasing (bidding end, reveal,
    /// clearing, attestation, delivery), bidding end in the future.
    /// @return sessionId The new session's id.
    function openSession(SessionParams calldata params) external returns (uint64 sessionId);

    /// @notice Posts a need and locks its budget. Only a DSO, TSO or BRP (as `buyerRole`),
    /// before gate closure; a DSO need in a zone only by the DSO that published the zone; a
    /// zone may not need up and down in the same slot
    /// ({FlexMarketNeedDirectionConflict}). A need with no quantities is a *balancing need* (issue 7,
    /// `balance_dso`): a DSO's system-wide budget, per direction, for counter-activations
    /// (awards no request counted, bought so that the DSO's actions leave the system
    /// balanced). It asks for no watts; rows charge it like any need (direction, price,
    /// budget), but only whole awards (see {FlexMarketBalancingRowInvalid}); verifiers check
    /// that exactly the counter-activations are charged to it.
    /// @param need The need.
    /// @return needIndex Its index in the session.
    function postNeed(NeedParams calldata need) external returns (uint16 needIndex);

    /// @notice Publishes the session's coordination inputs (coupling, priority, zone forecasts,
    /// limits and red slots; see {CoordinationPublished}). Only the session operator, once,
    /// before gate closure.
    /// @param sessionId The session.
    /// @param coordination Canonical JSON of the inputs.
    function publishCoordination(uint64 sessionId, bytes calldata coordination) external;

    /// @notice Publishes a part of the session's grid inputs (model identity and hash,
    /// profiles' hash, forecasts, limits, asset buses and linear cuts; see {GridPublished}):
    /// the inputs are the concatenation of `partCount` parts, published in order from 0 (an
    /// MV grid's inputs do not fit one block). Only the session operator, before gate closure;
    /// complete after the last part, after which no part is accepted.
    /// @param sessionId The session.
    /// @param partIndex Position of this part: the number of parts published so far.
    /// @param partCount Number of parts, >= 1, the same in every part.
    /// @param part The part's bytes of the canonical JSON of the inputs.
    function publishGrid(uint64 sessionId, uint16 partIndex, uint16 partCount, bytes calldata part) external;

    /// @notice Registers the caller (an aggregator, not suspended) for a session with an
    /// allowance of `addedBids` more bids, locking `addedBids * bidBondUeur`. Before gate closure.
    /// @param sessionId The session.
    /// @param addedBids Bids to add to the allowance.
    function joinSession(uint64 sessionId, uint16 addedBids) external;

    /// @notice Commits a sealed bid before gate closure. The seller must have joined the session
    /// ({FlexMarketNotJoined}: also for a session that does not exist) and may commit at most
    /// its allowance ({FlexMarketTooManyBids}): every commit is backed by a bond.
    /// @param sessionId The session.
    /// @param commitment See {BidCommitted}; the SDK computes it off chain (the fields stay secret).
    /// @return bidId The bid's id.
    function commitBid(uint64 sessionId, bytes32 commitment) external returns (bytes32 bidId);

    /// @notice Commits many sealed bids in one transaction.
    /// @param sessionId The session.
    /// @param commitments The commitments.
    function commitBids(uint64 sessionId, bytes32[] calldata commitments) external;

    /// @notice Reveals the caller's bid between gate closure and the reveal deadline, checks
    /// it (registry: the caller manages every asset, pre-qualified, in the zone; session
    /// rules) and locks its collateral.
    /// @param bid The bid's fields and salt.
    /// @return bidId The bid's id.
    function revealBid(BidReveal calldata bid) external returns (bytes32 bidId);

    /// @notice Forfeits the bond of a bid never revealed, once reveals are closed. Anyone; the
    /// bond goes to the session operator.
    /// @param bidId The bid.
    function forfeitBond(bytes32 bidId) external;

    /// @notice Forfeits every bond of a seller's unrevealed bids in a session at once (one
    /// storage write whatever their number), once reveals are closed. Anyone; the bonds go to
    /// the session operator ({BondsForfeited}).
    /// @param sessionId The session.
    /// @param seller The seller.
    function forfeitBonds(uint64 sessionId, address seller) external;

    /// @notice Commits (a page of) the clearing result. Only the oracle, between the reveal
    /// and clearing deadlines. A row with `quantityW > 0` is an award: its need pays
    /// `paymentUeur` of the award's `quantityW * priceEurPerMw`; the rows with `quantityW == 0`
    /// that follow it (same bid, later needs) are its shares, each paid by its own need, and
    /// the award's rows must add up to its payment exactly (shared payments between buyers,
    /// issue 7). Every row is checked: revealed bid of the session, need it can serve,
    /// pricing rule, payments, all-or-nothing for indivisible bids, minimum and granularity for
    /// divisible ones, payments within each need's budget.
    /// @param sessionId The session.
    /// @param inputHash keccak256 of the canonical scenario (same on every page).
    /// @param resultHash keccak256 of the canonical result (same on every page).
    /// @param awards Award and share rows, sorted by (bidId, needIndex) across pages.
    /// @param lastPage Whether this page completes the result.
    function commitResult(
        uint64 sessionId,
        bytes32 inputHash,
        bytes32 resultHash,
        Award[] calldata awards,
        bool lastPage
    ) external;

    /// @notice Attests a pending result before the attestation deadline. Only a validator; the
    /// quorum makes it final.
    /// @param sessionId The session.
    /// @param resultHash The hash the validator recomputed.
    function attestResult(uint64 sessionId, bytes32 resultHash) external;

    /// @notice Disputes a committed result before any payment and before the attestation
    /// deadline, freezing its payments. Only a validator.
    /// @param sessionId The session.
    /// @param reasonHash Hash of the validator's report.
    function disputeResult(uint64 sessionId, bytes32 reasonHash) external;

    /// @notice Resolves a dispute before the attestation deadline (after it the session ended
    /// without a result). Only the admin.
    /// @param sessionId The session.
    /// @param resultStands True: the result becomes final; false: it is voided.
    function resolveDispute(uint64 sessionId, bool resultStands) external;

    /// @notice Lifts a seller's suspension and resets its failures. Only the admin.
    /// @param seller The seller.
    function reinstateSeller(address seller) external;

    /// @notice Sets the deployment-wide minimum attestation quorum of the sessions opened from
    /// now on. Only the admin; at least 1.
    /// @param minimumQuorum The minimum.
    function setMinimumQuorum(uint8 minimumQuorum) external;

    /// @notice Records metered deliveries. Only the metering operator, once per award, before
    /// the delivery deadline, with a non-zero evidence hash; each opens the award's correction
    /// window.
    /// @param sessionId The session.
    /// @param awardIndices Awards.
    /// @param deliveredW Delivered power per award.
    /// @param evidenceHash Hash of the metering report (kept off chain), e.g. of the meter data file.
    function recordDeliveries(
        uint64 sessionId,
        uint32[] calldata awardIndices,
        uint40[] calldata deliveredW,
        bytes32 evidenceHash
    ) external;

    /// @notice Corrects a recorded delivery during its correction window (`correctionWindowS`
    /// after it was recorded; a window of 0 allows no correction). Only the metering operator.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @param deliveredW Delivered power.
    /// @param evidenceHash Hash of the corrected metering report (non-zero).
    function correctDelivery(uint64 sessionId, uint32 awardIndex, uint40 deliveredW, bytes32 evidenceHash) external;

    /// @notice Settles one award of a final result whose delivery is recorded and whose
    /// correction window closed, or whose delivery was not recorded by the delivery deadline
    /// (it lapses: {DeliveryLapsed}). Anyone.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    function settleAward(uint64 sessionId, uint32 awardIndex) external;

    /// @notice Settles awards `fromIndex .. fromIndex + count - 1` (pagination). Anyone.
    /// @param sessionId The session.
    /// @param fromIndex First award.
    /// @param count Number of awards.
    function settleAwards(uint64 sessionId, uint32 fromIndex, uint32 count) external;


    /// @notice Returns the uncommitted part of a need's budget to its buyer (all of it when
    /// the session ended without a result), once every award is settled. Anyone.
    /// @param sessionId The session.
    /// @param needIndex The need.
    function releaseBudget(uint64 sessionId, uint16 needIndex) external;

    /// @notice Returns what remains of a seller's session bond and collateral, once every
    /// award is settled or the session ended without a result (voided, clearing deadline
    /// passed with no complete result, or attestation deadline passed with no final result).
    /// Bonds of unrevealed bids not forfeited yet are forfeited first ({BondsForfeited}). Anyone.
    /// @param sessionId The session.
    /// @param seller The seller.
    function releaseSellerFunds(uint64 sessionId, address seller) external;

    // ---------------------------------------------------------------- views

    /// @notice The id of the bid a seller commits with `commitment`.
    /// @param seller The seller.
    /// @param commitment The commitment.
    /// @return The bid id.
    function bidIdOf(address seller, bytes32 commitment) external pure returns (bytes32);

    /// @notice The relay (see IFlexRelay) trusted to join, commit and reveal for the sellers
    /// who signed: for its calls the seller is the last 20 bytes of the calldata (ERC-2771).
    /// @return Its address.
    function relay() external view returns (address);

    /// @notice The FlexResults contract whose code `commitResult` runs (delegatecall); created
    /// with this market.
    /// @return Its address.
    function results() external view returns (address);

    /// @notice The registry of roles, zones and assets.
    /// @return Its address.
    function registry() external view returns (address);

    /// @notice The deployment-wide minimum attestation quorum (see {setMinimumQuorum}).
    /// @return The minimum.
    function minimumQuorum() external view returns (uint8);

    /// @notice Number of sessions opened (the last id).
    /// @return The count.
    function sessionCount() external view returns (uint64);

    /// @notice A session (its labels and unmet penalty are in {SessionOpened}).
    /// @param sessionId The session.
    /// @return operator Who opened it.
    /// @return timing Deadlines and slots.
    /// @return rules Bid rules.
    /// @return money Result status, counters and money rules.
    /// @return inputHash Committed input hash (zero before the result).
    /// @return resultHash Committed result hash (zero before the result).
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
        );

    /// @notice A bid.
    /// @param bidId The bid.
    /// @return core Seller, session, status, commit time.
    /// @return terms Terms (zero until revealed).
    function bid(bytes32 bidId) external view returns (BidCore memory core, BidTerms memory terms);

    /// @notice A need.
    /// @param sessionId The session.
    /// @param needIndex The need.
    /// @return core Buyer, zone, direction, role, maximum price.
    /// @return money Budget and committed payments.
    function need(uint64 sessionId, uint16 needIndex)
        external
        view
        returns (NeedCore memory core, NeedMoney memory money);

    /// @notice An award.
    /// @param sessionId The session.
    /// @param awardIndex The award.
    /// @return bidId The awarded bid.
    /// @return core Seller, power, delivery, settled.
    /// @return pay Buyer, payment, need.
    function award(uint64 sessionId, uint32 awardIndex)
        external
        view
        returns (bytes32 bidId, AwardCore memory core, AwardPay memory pay);

    /// @notice A seller's pool in a session.
    /// @param sessionId The session.
    /// @param seller The seller.
    /// @return The pool.
    function participation(uint64 sessionId, address seller) external view returns (Participation memory);

    /// @notice A seller's standing (FLECH: the fourth failure suspends).
    /// @param seller The seller.
    /// @return failures Failures beyond tolerance.
    /// @return suspended Whether it is suspended.
    function standingOf(address seller) external view returns (uint8 failures, bool suspended);
}
