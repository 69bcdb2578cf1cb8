// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IFlexBatches} from "./IFlexBatches.sol";
import {BidReveal} from "../types/FlexTypes.sol";

/// @title IFlexRelay
/// @notice Gas-less bidding: a seller signs an EIP-712 message (domain `FlexRelay`, version
/// `1`, this chain id, this relay's address) and anyone (the participant API's relayer)
/// submits it; the market then acts for the seller exactly as if the seller had called it.
///
/// The relay is created by its market's constructor and is the only forwarder that market
/// trusts, so a signature is bound to one chain and one market. Each message carries a
/// nonce (unordered: any unused value, so a seller can sign many messages at once) and a
/// deadline (Unix seconds, inclusive). The market appends nothing to the relay's checks:
/// its own errors (joined, gate closure, bid exists, ...) come back unchanged.
///
/// Typed messages:
/// - `JoinSession(address seller,uint64 sessionId,uint16 addedBids,uint256 nonce,uint256 deadline)`
/// - `CommitBid(address seller,uint64 sessionId,bytes32 commitment,uint256 nonce,uint256 deadline)`
/// - `CommitBatch(address seller,uint64 sessionId,bytes32 root,uint16 count,uint256 nonce,uint256 deadline)`:
///   a batch of sealed bids (IFlexBatches.commitBatch); the signature covers the root and the
///   count, so no relayer can add, drop or reorder a leaf.
/// - `RevealBid(address seller,bytes32 commitment,uint256 nonce,uint256 deadline)`: the
///   commitment is recomputed from the revealed fields, so the signature covers them all.
/// - `RevealBatch(address seller,bytes32 root,bytes32 bidsHash,uint256 nonce,uint256 deadline)`:
///   a reveal of leaves of the seller's batch `root` (IFlexBatches.revealBatch); `bidsHash` is
///   keccak256 of the revealed `BatchedBid`s' words side by side (5 words each, in call
///   order), so the signature covers which leaves are revealed and their fields; the proof
///   binds those to the committed root.
interface IFlexRelay {
    /// @notice A signed commit (one entry of {commitBidsFor}).
    struct CommitRequest {
        address seller;
        uint64 sessionId;
        bytes32 commitment;
        uint256 nonce;
        uint256 deadline;
        bytes signature;
    }

    /// @notice A seller's signed batch (one entry of {commitBatchesFor}).
    struct BatchRequest {
        address seller;
        uint64 sessionId;
        bytes32 root;
        uint16 count;
        uint256 nonce;
        uint256 deadline;
        bytes signature;
    }

    /// @notice A signed message was relayed to the market.
    /// @param seller The signer, for whom the market acted.
    /// @param nonce The message's nonce, now used.
    event Relayed(address indexed seller, uint256 indexed nonce);

    /// @notice One commit of a {commitBidsFor} batch was not committed; the other commits of the
    /// batch stand. Refused by the market (`reason` a FlexMarket error): its nonce is used, the
    /// message can never be relayed again. Refused by the relay (`reason` FlexRelayExpired,
    /// FlexRelayInvalidSignature or FlexRelayNonceUsed): its nonce is untouched.
    /// @param seller The seller the message names.
    /// @param nonce The message's nonce.
    /// @param reason The revert data (custom error) of the market or the relay.
    event RelayFailed(address indexed seller, uint256 indexed nonce, bytes reason);

    /// @notice The message's deadline has passed.
    /// @param seller The seller named in the message.
    /// @param deadline The deadline signed.
    error FlexRelayExpired(address seller, uint256 deadline);

    /// @notice The seller already used this nonce.
    /// @param seller The seller.
    /// @param nonce The nonce.
    error FlexRelayNonceUsed(address seller, uint256 nonce);

    /// @notice A commit of a batch failed with less gas than the relay forwards to each
    /// commit (the sender gave the batch too little gas): the whole batch reverts, so no
    /// signed commit is burnt.
    /// @param seller The seller of the commit.
    /// @param nonce Its nonce.
    error FlexRelayGasTooLow(address seller, uint256 nonce);

    /// @notice The signature is malformed or was not made by the seller the message names.
    /// @param seller The seller named in the message.
    /// @param signer Who signed it (zero when the signature is malformed).
    error FlexRelayInvalidSignature(address seller, address signer);

    /// @notice Relay a signed `JoinSession`: the seller joins and locks `addedBids` bonds.
    /// @param seller The seller.
    /// @param sessionId The session.
    /// @param addedBids Bids added to the seller's allowance.
    /// @param nonce The message's nonce.
    /// @param deadline Last valid second.
    /// @param signature The seller's 65-byte signature.
    function joinSessionFor(
        address seller,
        uint64 sessionId,
        uint16 addedBids,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external;

    /// @notice Relay a signed `CommitBid`.
    /// @param request The signed commit.
    /// @return bidId The committed bid.
    function commitBidFor(CommitRequest calldata request) external returns (bytes32 bidId);

    /// @notice Relay many signed commits in one transaction (batched relaying). A request
    /// the relay refuses (deadline, signature, nonce) or the market refuses is reported by
    /// {RelayFailed} and skipped: one bad request never takes the batch down. Each commit is
    /// called with a fixed gas allowance; if one fails having had less, the batch reverts
    /// ({FlexRelayGasTooLow}).
    /// @param requests The signed commits.
    /// @return failed How many the market refused.
    function commitBidsFor(CommitRequest[] calldata requests) external returns (uint256 failed);

    /// @notice Relay many sellers' signed batches (`CommitBatch`) in one transaction: one
    /// signature check per seller's batch, whatever its size. Refusals as in {commitBidsFor}
    /// ({RelayFailed}; the others stand; {FlexRelayGasTooLow} if one was starved of gas).
    /// @param requests The signed batches.
    /// @return failed How many were not committed.
    function commitBatchesFor(BatchRequest[] calldata requests) external returns (uint256 failed);

    /// @notice Relay a signed `RevealBid` with the bid's fields.
    /// @param seller The seller.
    /// @param bid The revealed fields (their commitment is what the seller signed).
    /// @param nonce The message's nonce.
    /// @param deadline Last valid second.
    /// @param signature The seller's 65-byte signature.
    /// @return bidId The revealed bid.
    function revealBidFor(
        address seller,
        BidReveal calldata bid,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 bidId);

    /// @notice Relay a signed `RevealBatch`: `IFlexBatches.revealBatch` for the seller, its
    /// errors unchanged (the nonce then not spent).
    /// @param seller The seller.
    /// @param nonce The message's nonce.
    /// @param deadline Last valid second.
    /// @param signature The seller's 65-byte signature.
    /// @param root The batch's root.
    /// @param assetIds Asset table, ascending.
    /// @param bids The revealed bids (their words hashed are the signed `bidsHash`).
    /// @param proof Multiproof hashes.
    /// @param proofFlags Its flags, packed.
    /// @return termsRoot Root of the revealed terms.
    function revealBatchFor(
        address seller,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature,
        bytes32 root,
        bytes32[] calldata assetIds,
        IFlexBatches.BatchedBid[] calldata bids,
        bytes32[] calldata proof,
        uint256[] calldata proofFlags
    ) external returns (bytes32 termsRoot);

    /// @notice Whether a seller's nonce is used.
    /// @param seller The seller.
    /// @param nonce The nonce.
    /// @return True once used.
    function nonceUsed(address seller, uint256 nonce) external view returns (bool);

    /// @notice The market this relay forwards to.
    /// @return Its address.
    function market() external view returns (address);

    /// @notice The EIP-712 domain separator of this relay.
    /// @return The separator.
    function domainSeparator() external view returns (bytes32);
}
