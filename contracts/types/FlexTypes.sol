// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Kind of a flexible asset, as in the scenario file (`load | generation | storage`).
enum AssetType {
    Load,
    Generation,
    Storage
}

/// @notice Direction of a need or a bid, seen from the grid (ENTSO-E): `Up` = more net
/// injection (less consumption or more generation), `Down` = less net injection.
enum Direction {
    Up,
    Down
}

/// @notice How awards are priced: each at its own bid price, or every award of a zone and
/// direction at the highest price accepted there.
enum Pricing {
    PayAsBid,
    Uniform
}

/// @notice The role a buyer acts in when it posts a need.
enum BuyerRole {
    DSO,
    TSO,
    BRP
}

/// @notice Life of a sealed bid.
enum BidStatus {
    None,
    Committed, // hash on chain, fields secret
    Revealed, // fields checked, collateral locked
    Forfeited, // never revealed: its bond went to the session operator (forfeitBond; forfeitBonds and
    // releaseSellerFunds forfeit a seller's unrevealed bonds together and leave the bids Committed)
    Released // collateral returned to the seller (end of its life)
}

/// @notice Life of a session's clearing result.
/// `Pending` waits for validator attestations (a quorum of 0 skips it), `Disputed` freezes
/// every payment until an admin resolves it, `Voided` cancels the result: nothing is paid and
/// every budget and collateral is returned.
enum ResultStatus {
    None,
    Committing, // some pages of awards are on chain, the last one is not
    Pending,
    Final,
    Disputed,
    Voided
}

/// @notice Parameters of a market session, as in the scenario file's `market` object plus
/// the deadlines and money rules of the chain. Times are Unix seconds, power in W, prices in
/// EUR per MW of accepted power for the whole delivery window (= µEUR per W), money in µEUR.
struct SessionParams {
    bytes32 marketId; // scenario market.id (UTF-8, right-padded)
    bytes32 product; // free label: PowerMax, PowerCut_Planned, ...
    Pricing pricing;
    uint16 slotCount; // 1..256: a bid's slots fit a 256-bit mask
    uint16 slotMinutes;
    uint40 deliveryStart;
    uint40 biddingEnd; // gate closure: last second for needs, joins and commits is biddingEnd - 1
    uint40 revealDeadline; // reveals in [biddingEnd, revealDeadline)
    uint40 clearingDeadline; // results in [revealDeadline, clearingDeadline)
    uint40 minBidW;
    uint32 granularityW; // >= 1
    uint64 priceFloorEurPerMw;
    uint64 priceCapEurPerMw; // type(uint64).max = no cap
    uint64 unmetPenaltyEurPerMw; // clearing objective only; recorded for replays
    uint64 bidBondUeur; // bond per sealed bid, forfeited if the bid is never revealed
    uint56 collateralUeurPerW; // collateral locked per W offered, at reveal
    uint64 shortfallPenaltyEurPerMw; // per W of shortfall beyond tolerance, from collateral
    uint16 toleranceBps; // shortfall tolerated without penalty, in 1/10000 of the award
    uint8 attestationQuorum; // validator attestations needed before payment, >= the market's minimum (>= 1)
    uint40 attestationDeadline; // a result not final by then (pending, disputed) ends the session without result
    uint40 deliveryDeadline; // deliveries recorded before it; an award still unrecorded then lapses (nothing paid)
    uint24 correctionWindowS; // seconds after a delivery is recorded during which metering may correct it
}

/// @notice A bid as revealed: every field bound by the commitment, plus the salt.
struct BidReveal {
    uint64 sessionId;
    bytes32 zone;
    Direction direction;
    bool divisible;
    uint40 quantityW; // offered in every slot of slotMask
    uint40 minQuantityW; // divisible bids; 0 = the largest p_min_w of its assets, >= granularity
    uint64 priceEurPerMw;
    uint256 slotMask; // bit i = delivery slot i
    bytes32[] assetIds; // strictly ascending
    bytes32 salt;
}

/// @notice A need as posted by a buyer. `quantityW` has one entry (the same need in every
/// slot) or one per slot; none: a balancing need (a DSO's system-wide budget for
/// counter-activations, see IFlexMarket.postNeed).
struct NeedParams {
    uint64 sessionId;
    bytes32 zone; // bytes32(0) = system-wide
    Direction direction;
    BuyerRole buyerRole;
    uint64 maxPriceEurPerMw; // type(uint64).max = no limit
    uint96 budgetUeur; // escrowed from the buyer's free balance
    uint40[] quantityW; // empty: a balancing need
}

/// @notice One row of a clearing result: the part of bid `bidId` that serves need
/// `needIndex`. A bid split over several needs has several rows.
struct Award {
    bytes32 bidId;
    uint16 needIndex;
    uint40 quantityW;
    uint64 priceEurPerMw;
    uint128 paymentUeur; // = quantityW * priceEurPerMw
}
