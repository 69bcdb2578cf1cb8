// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Direction} from "../types/FlexTypes.sol";

/// @title IFlexBatchEvents
/// @notice Events and errors of batched sealed bids (issue 21). FlexMarket inherits them (its
/// ABI carries them: the code runs in FlexBatches by delegatecall, the events are the market's).
interface IFlexBatchEvents {
    /// @notice A seller committed a batch: one Merkle root of `count` sealed bids. Its bids'
    /// ids are `keccak256(abi.encode(batchId, index))` for index 0 .. count - 1, committed at
    /// this block's time; each is revealed, forfeited, awarded and settled on its own.
    /// @param sessionId The session.
    /// @param batchId `keccak256(abi.encode(seller, root))`.
    /// @param seller The aggregator (the relay's signer when relayed).
    /// @param root Root of the leaves (see {IFlexBatches-commitBatch}).
    /// @param count Bids in the batch, counted against the seller's allowance (bonded at join).
    event BatchCommitted(
        uint64 indexed sessionId, bytes32 indexed batchId, address indexed seller, bytes32 root, uint16 count
    );

    /// @notice Bids of a batch were revealed and passed every check a single reveal makes;
    /// `collateralUeur` moved from the seller's free to its locked balance (its session pool).
    /// @param sessionId The session.
    /// @param batchId The batch.
    /// @param seller The aggregator.
    /// @param termsRoot Root of the revealed bids' terms leaves, in `bids` order (what
    /// {IFlexBatches-loadBatchedBids} proves against).
    /// @param assetIds The asset table the bids' asset masks select from (ascending).
    /// @param bids One 118-byte record per bid, packed big-endian: index uint16, zone bytes32,
    /// direction uint8, divisible uint8, quantityW uint40, minQuantityW uint40 (as filled in
    /// by the contract), priceEurPerMw uint64, slotMask uint256, assetMask uint256 (bit j =
    /// assetIds[j]). The bid id is `keccak256(abi.encode(batchId, index))`, its collateral
    /// `quantityW * collateralUeurPerW`.
    /// @param collateralUeur Collateral locked for all of them.
    event BatchRevealed(
        uint64 indexed sessionId,
        bytes32 indexed batchId,
        address indexed seller,
        bytes32 termsRoot,
        bytes32[] assetIds,
        bytes bids,
        uint256 collateralUeur
    );

    /// @notice The batch is unknown (never committed by this seller with this root).
    /// @param batchId The batch id computed from the caller and the root.
    error FlexBatchesUnknown(bytes32 batchId);

    /// @notice The seller committed this root already (a batch id is committed once).
    /// @param batchId The batch.
    error FlexBatchesExists(bytes32 batchId);

    /// @notice A batch needs a non-zero root and 1 .. 65,535 bids.
    /// @param root The root.
    /// @param count The count.
    error FlexBatchesInvalid(bytes32 root, uint256 count);

    /// @notice A leaf index is not below the batch's count.
    /// @param batchId The batch.
    /// @param index The index.
    error FlexBatchesIndexInvalid(bytes32 batchId, uint256 index);

    /// @notice The revealed bids are not in strictly ascending index order (a leaf given
    /// twice, or out of order), or none is given.
    /// @param batchId The batch.
    /// @param position Position in the call.
    error FlexBatchesLeavesNotAscending(bytes32 batchId, uint256 position);

    /// @notice The leaf was revealed or forfeited already.
    /// @param batchId The batch.
    /// @param index The leaf.
    error FlexBatchesLeafUsed(bytes32 batchId, uint256 index);

    /// @notice The proof does not lead from the leaves to the batch's root (a forged leaf,
    /// terms changed, a proof of another batch).
    /// @param batchId The batch (or the terms root, for {IFlexBatches-loadBatchedBids}).
    error FlexBatchesProofInvalid(bytes32 batchId);

    /// @notice An asset mask is empty of known assets or selects beyond the call's asset
    /// table (at most 256 assets).
    /// @param bidId The bid.
    /// @param assetMask Its mask.
    error FlexBatchesAssetMaskInvalid(bytes32 bidId, uint256 assetMask);

    /// @notice A bid's packed terms hold a direction or divisible flag other than 0 or 1, or
    /// bits above them.
    /// @param bidId The bid.
    error FlexBatchesTermsInvalid(bytes32 bidId);

    /// @notice No reveal stored this terms root.
    /// @param termsRoot The root.
    error FlexBatchesRevealUnknown(bytes32 termsRoot);
}

/// @title IFlexBatches
/// @notice Sealed bids committed by batch (issue 21): one Merkle root of many sealed bids per
/// transaction, revealed in batches with a multiproof; every bid keeps its own id, reveal,
/// bond, forfeit, award and settlement. Called on the market's address (FlexMarket runs
/// FlexBatches' code, part of its FlexResults module, by delegatecall for every selector it
/// does not have itself).
///
/// Leaves (OpenZeppelin's double-hash convention, sorted pairs; `python_client.batches`):
/// `leaf = keccak256(bytes.concat(keccak256(abi.encode(market, sessionId, seller, index,
/// commitment))))`, commitment as for `commitBid` (`keccak256(abi.encode(sessionId, seller,
/// zone, direction, divisible, quantityW, minQuantityW, priceEurPerMw, slotMask, assetIds,
/// salt))`): a leaf is bound to its market, session, seller and position.
/// Terms leaves (stored by a reveal as one root): `keccak256(bytes.concat(keccak256(
/// abi.encode(bidId, quantityW, minQuantityW, priceEurPerMw, zoneIndex, direction,
/// divisible))))`, tree in the same layout (OpenZeppelin StandardMerkleTree, leaves unsorted).
interface IFlexBatches is IFlexBatchEvents {
    /// @notice A committed batch.
    struct Batch {
        address seller;
        uint48 sessionId;
        uint16 count;
        uint32 committedAt;
    }

    /// @notice One revealed bid of a batch. Its small fields share one word (calldata is most
    /// of a batched reveal's gas), `terms`, low bits first: quantityW [0, 40), minQuantityW
    /// [40, 80), priceEurPerMw [80, 144), leaf index [144, 160), direction [160, 168) (0 up,
    /// 1 down), divisible [168, 176) (0 or 1), nothing above. Its assets: the bits of
    /// `assetMask` over the call's asset table.
    struct BatchedBid {
        uint256 terms;
        bytes32 zone;
        uint256 slotMask;
        uint256 assetMask;
        bytes32 salt;
    }

    /// @notice A revealed batched bid's terms with the proof that a reveal stored them.
    struct BatchedTerms {
        bytes32 termsRoot;
        bytes32 bidId;
        uint40 quantityW;
        uint40 minQuantityW;
        uint64 priceEurPerMw;
        uint16 zoneIndex;
        Direction direction;
        bool divisible;
        bytes32[] proof;
    }

    /// @notice Commit a batch of `count` sealed bids as one Merkle root: counted against the
    /// seller's allowance (each bid bonded at join) like `commitBids`, same gate closure.
    /// @param sessionId The session.
    /// @param root Root of the leaves with indices 0 .. count - 1.
    /// @param count Bids in the batch (leaves beyond it can never be revealed).
    /// @return batchId `keccak256(abi.encode(seller, root))`.
    function commitBatch(uint64 sessionId, bytes32 root, uint16 count) external returns (bytes32 batchId);

    /// @notice Reveal bids of the caller's batch `root` (any subset, strictly ascending index)
    /// with one multiproof: each bid is checked as `revealBid` checks one, its collateral locked;
    /// one {BatchRevealed} carries them all.
    /// @param root The batch's root.
    /// @param assetIds Asset table, ascending (<= 256); each bid names a subset by its mask.
    /// @param bids The bids.
    /// @param proof Multiproof hashes (OpenZeppelin `processMultiProof` order).
    /// @param proofFlags Its flags, bit `i % 256` of word `i / 256`.
    /// @return termsRoot Root of the revealed terms (see {loadBatchedBids}).
    function revealBatch(
        bytes32 root,
        bytes32[] calldata assetIds,
        BatchedBid[] calldata bids,
        bytes32[] calldata proof,
        uint256[] calldata proofFlags
    ) external returns (bytes32 termsRoot);

    /// @notice Write revealed batched bids into the market's bid records (what `commitResult`
    /// reads), each proved against the terms root its reveal stored; a bid loaded already is
    /// skipped. Anyone (the oracle before committing awards of batched bids).
    /// @param bids Terms with proofs.
    function loadBatchedBids(BatchedTerms[] calldata bids) external;

    /// @notice From the reveal deadline, forfeit the bond of one unrevealed leaf of a batch
    /// (as `forfeitBond`; `forfeitBonds` takes all of a seller's unrevealed bonds at once).
    /// @param batchId The batch.
    /// @param index The leaf.
    function forfeitBatchedBond(bytes32 batchId, uint16 index) external;

    /// @notice A committed batch (zeros: unknown).
    /// @param batchId The batch.
    /// @return The batch.
    function batch(bytes32 batchId) external view returns (Batch memory);

    /// @notice Whether a leaf of a batch was revealed or forfeited.
    /// @param batchId The batch.
    /// @param index The leaf.
    /// @return True once used.
    function leafUsed(bytes32 batchId, uint256 index) external view returns (bool);
}
