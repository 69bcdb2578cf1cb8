// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {FlexMarketStorage} from "./FlexMarketStorage.sol";
import {IFlexBatches} from "./interfaces/IFlexBatches.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IFlexRegistry} from "./interfaces/IFlexRegistry.sol";
import {BidStatus} from "./types/FlexTypes.sol";

/// @title FlexBatches
/// @notice Batched sealed bids (issue 21): commit one Merkle root of many sealed bids, reveal
/// them in batches with a multiproof, load revealed ones into the bid records for the result,
/// forfeit unrevealed ones. Part of the FlexResults module (one module, not two: FlexMarket's
/// deployment carries the creation code of everything it creates, at most 49,152 bytes,
/// EIP-3860), which FlexMarket runs by delegatecall for every selector it lacks (its
/// fallback): the code runs on the market's storage (same layout: FlexMarketStorage, plus
/// these records at an ERC-7201 slot) and its events are the market's. Called directly, it
/// has no session and reverts.
/// @dev Gas: a commit writes one fresh slot whatever its size; a reveal writes per call (the
/// terms root, the participation, the account, one bitmap word per 256 leaves) and emits one
/// event, never a fresh slot per bid.
abstract contract FlexBatches is FlexMarketStorage, IFlexBatches {
    /// @custom:storage-location erc7201:flexmarket.batches
    struct BatchStorage {
        mapping(bytes32 batchId => Batch) batches;
        /// @dev bit `index % 256` of word `index / 256`: the leaf was revealed or forfeited
        mapping(bytes32 batchId => mapping(uint256 word => uint256 bits)) used;
        /// @dev per reveal call: seller [0, 160), sessionId [160, 208), committedAt [208, 248)
        mapping(bytes32 termsRoot => uint256 record) reveals;
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("flexmarket.batches")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _BATCH_STORAGE_SLOT = 0xd2cd558820a0e2df1a1d3d7e586b1c8ebdda93cb58e542ccde878aa8ac02c000;
    /// @dev Bytes per bid in BatchRevealed.bids (python_client.contract_types mirrors it).
    uint256 private constant _BID_RECORD_BYTES = 118;

    address private immutable _relay;
    IFlexRegistry private immutable _registry;

    /// @param relay The market's trusted forwarder (ERC-2771: the seller it appends).
    /// @param flexRegistry Roles, zones and assets.
    constructor(address relay, IFlexRegistry flexRegistry) {
        _relay = relay;
        _registry = flexRegistry;
    }

    /// @inheritdoc IFlexBatches
    function commitBatch(uint64 sessionId, bytes32 root, uint16 count) external returns (bytes32 batchId) {
        address seller = _sender();
        if (root == bytes32(0) || count == 0) revert FlexBatchesInvalid(root, count);
        _countCommits(sessionId, seller, count);
        batchId = keccak256(abi.encode(seller, root));
        Batch storage b = _store().batches[batchId];
        if (b.sessionId != 0) revert FlexBatchesExists(batchId);
        // One SSTORE. Layout of Batch, low bits first: seller [0, 160), sessionId [160, 208),
        // count [208, 224), committedAt [224, 256). _countCommits checked the session exists.
        uint256 word = uint256(uint160(seller)) | (uint256(uint48(sessionId)) << 160) | (uint256(count) << 208)
            | (uint256(uint32(block.timestamp)) << 224);
        assembly ("memory-safe") {
            sstore(b.slot, word)
        }
        emit BatchCommitted(sessionId, batchId, seller, root, count);
    }

    /// @dev What one reveal call carries from bid to bid (the stack is short).
    struct RevealContext {
        bytes32 batchId;
        address seller;
        uint64 sessionId;
        uint256 count;
        IFlexMarket.SessionRules rules;
        uint256 slotCount;
        bytes32 cacheZone; // the last registry check: its zone and asset mask
        uint256 cacheMask;
        uint16 zoneIndex;
        uint64 sumPMaxW;
        uint32 maxPMinW;
        uint256 collateralUeur;
    }

    /// @inheritdoc IFlexBatches
    function revealBatch(
        bytes32 root,
        bytes32[] calldata assetIds,
        BatchedBid[] calldata bids,
        bytes32[] calldata proof,
        uint256[] calldata proofFlags
    ) external returns (bytes32 termsRoot) {
        RevealContext memory c;
        c.seller = _sender();
        c.batchId = keccak256(abi.encode(c.seller, root));
        Batch memory b = _store().batches[c.batchId];
        if (b.sessionId == 0) revert FlexBatchesUnknown(c.batchId);
        c.sessionId = b.sessionId;
        c.count = b.count;
        SessionRecord storage s = _sessions[c.sessionId];
        {
            IFlexMarket.SessionTiming memory timing = s.timing;
            if (block.timestamp < timing.biddingEnd) {
                revert IFlexMarket.FlexMarketRevealNotOpen(c.sessionId, timing.biddingEnd);
            }
            if (block.timestamp >= timing.revealDeadline) {
                revert IFlexMarket.FlexMarketRevealClosed(c.sessionId, timing.revealDeadline);
            }
            c.slotCount = timing.slotCount;
        }
        c.rules = s.rules;
        uint256 n = bids.length;
        if (n == 0) revert FlexBatchesLeavesNotAscending(c.batchId, 0);
        bytes32[] memory leaves = new bytes32[](n);
        // the terms tree in OpenZeppelin's layout: 2n - 1 nodes, leaf i at 2n - 2 - i
        bytes32[] memory tree = new bytes32[](2 * n - 1);
        bytes memory records = new bytes(n * _BID_RECORD_BYTES);
        uint256 previous;
        for (uint256 i; i < n; ++i) {
            BatchedBid calldata bid = bids[i];
            uint256 index = ((bid.terms >> 144) & 0xffff);
            if (i != 0 && index <= previous) revert FlexBatchesLeavesNotAscending(c.batchId, i);
            if (index >= c.count) revert FlexBatchesIndexInvalid(c.batchId, index);
            previous = index;
            (leaves[i], tree[2 * n - 2 - i]) = _revealOne(c, bid, assetIds, records, i);
        }
        if (_processMultiProof(leaves, proof, proofFlags) != root) revert FlexBatchesProofInvalid(c.batchId);
        for (uint256 k = n - 1; k != 0; --k) {
            tree[k - 1] = Hashes.commutativeKeccak256(tree[2 * k - 1], tree[2 * k]);
        }
        termsRoot = tree[0];

        // effects: the leaves' bits, the reveal record, the seller's pool and balance
        _markUsed(c.batchId, bids);
        _store().reveals[termsRoot] =
            uint256(uint160(c.seller)) | (uint256(c.sessionId) << 160) | (uint256(b.committedAt) << 208);
        IFlexMarket.Participation storage p = _participations[c.sessionId][c.seller];
        uint256 pooledUeur = p.collateralLockedUeur + c.collateralUeur;
        if (pooledUeur > type(uint72).max) revert EscrowAmountTooLarge(c.collateralUeur);
        p.revealed += uint16(n); // <= count <= committed: every leaf counted at commit
        p.collateralLockedUeur = uint72(pooledUeur);
        _lock(c.seller, c.collateralUeur);
        emit BatchRevealed(c.sessionId, c.batchId, c.seller, termsRoot, assetIds, records, c.collateralUeur);
    }

    /// @dev Checks one bid as revealBid does, writes its record into `records` and returns its
    /// leaf and its terms leaf. Memory it allocates is given back (the free memory pointer
    /// is restored), so a call's memory grows with its bids only by what they keep.
    function _revealOne(
        RevealContext memory c,
        BatchedBid calldata bid,
        bytes32[] calldata assetIds,
        bytes memory records,
        uint256 position
    ) private returns (bytes32 leaf, bytes32 termsLeaf) {
        uint256 freePointer;
        assembly ("memory-safe") {
            freePointer := mload(0x40)
        }
        uint256 index = ((bid.terms >> 144) & 0xffff);
        bytes32 bidId = _bidIdOf(c.batchId, index);
        if ((bid.terms >> 160) & ~uint256(0x101) != 0) revert FlexBatchesTermsInvalid(bidId);
        uint40 quantityW = uint40(bid.terms);
        {
            IFlexMarket.SessionRules memory rules = c.rules;
            if (quantityW == 0 || quantityW < rules.minBidW) {
                revert IFlexMarket.FlexMarketBidBelowMinimum(bidId, quantityW, rules.minBidW);
            }
            if (quantityW % rules.granularityW != 0) {
                revert IFlexMarket.FlexMarketBidNotGranular(bidId, quantityW, rules.granularityW);
            }
            uint64 price = uint64(bid.terms >> 80);
            if (price < rules.priceFloorEurPerMw || price > rules.priceCapEurPerMw) {
                revert IFlexMarket.FlexMarketBidPriceOutOfRange(
                    bidId, price, rules.priceFloorEurPerMw, rules.priceCapEurPerMw
                );
            }
        }
        uint256 slotMask = bid.slotMask;
        if (slotMask == 0 || (c.slotCount < 256 && slotMask >> c.slotCount != 0)) {
            revert IFlexMarket.FlexMarketBidSlotsInvalid(bidId, slotMask, uint16(c.slotCount));
        }
        uint256 assetMask = bid.assetMask;
        if (assetMask == 0) revert IFlexMarket.FlexMarketBidWithoutAssets(bidId);
        if (assetIds.length < 256 && assetMask >> assetIds.length != 0) {
            revert FlexBatchesAssetMaskInvalid(bidId, assetMask);
        }
        if (bid.zone != c.cacheZone || assetMask != c.cacheMask) {
            bytes32[] memory ids = _selectAssets(assetMask, assetIds);
            (c.zoneIndex, c.sumPMaxW, c.maxPMinW) = _registry.checkBidAssets(c.seller, bid.zone, ids);
            c.cacheZone = bid.zone;
            c.cacheMask = assetMask;
        }
        if (c.sumPMaxW < quantityW) revert IFlexMarket.FlexMarketBidExceedsAssets(bidId, quantityW, c.sumPMaxW);
        uint40 minQuantityW = quantityW;
        if ((bid.terms >> 168) & 1 != 0) {
            minQuantityW = uint40(bid.terms >> 40);
            if (minQuantityW == 0) {
                minQuantityW = c.maxPMinW > c.rules.granularityW ? c.maxPMinW : c.rules.granularityW;
            }
            if (minQuantityW > quantityW) {
                revert IFlexMarket.FlexMarketBidMinQuantityInvalid(bidId, minQuantityW, quantityW);
            }
        }
        c.collateralUeur += uint256(quantityW) * c.rules.collateralUeurPerW;
        leaf = _leaf(c, bid, index, slotMask, assetMask, assetIds);
        termsLeaf = _termsLeaf(bidId, bid, minQuantityW, c.zoneIndex);
        _writeRecord(records, position, bid, minQuantityW);
        assembly ("memory-safe") {
            mstore(0x40, freePointer)
        }
    }

    /// @dev The assets a mask selects from the call's table, in table order (ascending); the
    /// mask was checked to lie within the table.
    function _selectAssets(uint256 assetMask, bytes32[] calldata assetIds) private pure returns (bytes32[] memory ids) {
        ids = new bytes32[](assetIds.length < 256 ? assetIds.length : 256);
        uint256 k;
        for (uint256 j; assetMask != 0;) {
            if (assetMask & 0xff == 0) {
                assetMask >>= 8; // a byte of the mask without assets
                j += 8;
                continue;
            }
            if (assetMask & 1 != 0) {
                ids[k] = assetIds[j];
                ++k;
            }
            assetMask >>= 1;
            ++j;
        }
        assembly ("memory-safe") {
            mstore(ids, k)
        }
    }

    /// @dev The bid's leaf: keccak256(bytes.concat(keccak256(abi.encode(market, sessionId, seller,
    /// index, commitment)))), commitment = keccak256(abi.encode(sessionId, seller, zone,
    /// direction, divisible, quantityW, minQuantityW, priceEurPerMw, slotMask, assetIds, salt))
    /// as commitBid's, hashed in scratch memory past the free memory pointer (the generic
    /// encoder cost ~3,000 gas a bid more).
    function _leaf(
        RevealContext memory c,
        BatchedBid calldata bid,
        uint256 index,
        uint256 slotMask,
        uint256 assetMask,
        bytes32[] calldata assetIds
    ) private view returns (bytes32 leaf) {
        uint256 sessionId = c.sessionId;
        address seller = c.seller;
        bytes32 zone = bid.zone;
        uint256 direction = ((bid.terms >> 160) & 1);
        uint256 divisible = ((bid.terms >> 168) & 1);
        uint256 quantityW = uint40(bid.terms);
        uint256 minQuantityW = uint40(bid.terms >> 40);
        uint256 price = uint64(bid.terms >> 80);
        bytes32 salt = bid.salt;
        assembly ("memory-safe") {
            let table := assetIds.offset
            let m := mload(0x40)
            mstore(m, sessionId)
            mstore(add(m, 0x20), seller)
            mstore(add(m, 0x40), zone)
            mstore(add(m, 0x60), direction)
            mstore(add(m, 0x80), divisible)
            mstore(add(m, 0xa0), quantityW)
            mstore(add(m, 0xc0), minQuantityW)
            mstore(add(m, 0xe0), price)
            mstore(add(m, 0x100), slotMask)
            mstore(add(m, 0x120), 0x160) // offset of the asset ids
            mstore(add(m, 0x140), salt)
            let p := add(m, 0x180)
            for { let j := 0 } assetMask {} {
                switch and(assetMask, 0xff)
                case 0 {
                    // a byte of the mask without assets: skipped at once
                    assetMask := shr(8, assetMask)
                    j := add(j, 8)
                }
                default {
                    if and(assetMask, 1) {
                        mstore(p, calldataload(add(table, shl(5, j))))
                        p := add(p, 0x20)
                    }
                    assetMask := shr(1, assetMask)
                    j := add(j, 1)
                }
            }
            mstore(add(m, 0x160), shr(5, sub(p, add(m, 0x180)))) // their number
            let commitment := keccak256(m, sub(p, m))
            mstore(m, address())
            mstore(add(m, 0x20), sessionId)
            mstore(add(m, 0x40), seller)
            mstore(add(m, 0x60), index)
            mstore(add(m, 0x80), commitment)
            mstore(0, keccak256(m, 0xa0))
            leaf := keccak256(0, 0x20)
        }
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(bidId, quantityW, minQuantityW,
    /// priceEurPerMw, zoneIndex, direction, divisible)))), in scratch memory.
    function _termsLeaf(bytes32 bidId, BatchedBid calldata bid, uint256 minQuantityW, uint256 zoneIndex)
        private
        pure
        returns (bytes32 termsLeaf)
    {
        uint256 quantityW = uint40(bid.terms);
        uint256 price = uint64(bid.terms >> 80);
        uint256 direction = ((bid.terms >> 160) & 1);
        uint256 divisible = ((bid.terms >> 168) & 1);
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, bidId)
            mstore(add(m, 0x20), quantityW)
            mstore(add(m, 0x40), minQuantityW)
            mstore(add(m, 0x60), price)
            mstore(add(m, 0x80), zoneIndex)
            mstore(add(m, 0xa0), direction)
            mstore(add(m, 0xc0), divisible)
            mstore(0, keccak256(m, 0xe0))
            termsLeaf := keccak256(0, 0x20)
        }
    }

    /// @dev Record `position` of BatchRevealed.bids (layout in IFlexBatchEvents): fields
    /// left-aligned and written in order, each overwriting the previous one's spill.
    function _writeRecord(bytes memory records, uint256 position, BatchedBid calldata bid, uint40 minQuantityW)
        private
        pure
    {
        uint256 index = ((bid.terms >> 144) & 0xffff);
        bytes32 zone = bid.zone;
        uint256 direction = ((bid.terms >> 160) & 1);
        uint256 divisible = ((bid.terms >> 168) & 1);
        uint256 quantityW = uint40(bid.terms);
        uint256 price = uint64(bid.terms >> 80);
        uint256 slotMask = bid.slotMask;
        uint256 assetMask = bid.assetMask;
        uint256 recordBytes = _BID_RECORD_BYTES;
        assembly ("memory-safe") {
            let p := add(add(records, 0x20), mul(position, recordBytes))
            mstore(p, shl(240, index))
            mstore(add(p, 2), zone)
            mstore(add(p, 34), shl(248, direction))
            mstore(add(p, 35), shl(248, divisible))
            mstore(add(p, 36), shl(216, quantityW))
            mstore(add(p, 41), shl(216, minQuantityW))
            mstore(add(p, 46), shl(192, price))
            mstore(add(p, 54), slotMask)
            mstore(add(p, 86), assetMask)
        }
    }

    /// @dev Sets the bits of the revealed leaves, one storage word per 256 leaves; reverts if
    /// one was revealed or forfeited before. `bids` is in strictly ascending index order.
    function _markUsed(bytes32 batchId, BatchedBid[] calldata bids) private {
        mapping(uint256 => uint256) storage used = _store().used[batchId];
        uint256 n = bids.length;
        uint256 word = uint256(((bids[0].terms >> 144) & 0xffff)) >> 8;
        uint256 bits;
        for (uint256 i; i <= n; ++i) {
            uint256 index = i < n ? ((bids[i].terms >> 144) & 0xffff) : type(uint256).max;
            if (i == n || index >> 8 != word) {
                uint256 stored = used[word];
                uint256 clash = stored & bits;
                if (clash != 0) {
                    uint256 bit;
                    while (clash & 1 == 0) {
                        clash >>= 1;
                        ++bit;
                    }
                    revert FlexBatchesLeafUsed(batchId, (word << 8) | bit);
                }
                used[word] = stored | bits;
                if (i == n) break;
                word = index >> 8;
                bits = 0;
            }
            bits |= uint256(1) << (index & 0xff);
        }
    }

    /// @inheritdoc IFlexBatches
    function loadBatchedBids(BatchedTerms[] calldata bids) external {
        uint256 n = bids.length;
        for (uint256 i; i < n; ++i) {
            BatchedTerms calldata t = bids[i];
            IFlexMarket.BidCore storage core = _bidCores[t.bidId];
            if (core.status != BidStatus.None) continue; // loaded already
            uint256 record = _store().reveals[t.termsRoot];
            if (record == 0) revert FlexBatchesRevealUnknown(t.termsRoot);
            bytes32 leaf = keccak256(
                bytes.concat(
                    keccak256(
                        abi.encode(
                            t.bidId, t.quantityW, t.minQuantityW, t.priceEurPerMw, t.zoneIndex, t.direction, t.divisible
                        )
                    )
                )
            );
            if (!MerkleProof.verifyCalldata(t.proof, t.termsRoot, leaf)) revert FlexBatchesProofInvalid(t.termsRoot);
            // BidCore in one SSTORE (layout in FlexMarket._commit): the reveal record's seller,
            // session and commit time, status Revealed
            uint256 word = (record & ((uint256(1) << 208) - 1)) | (uint256(uint8(BidStatus.Revealed)) << 208)
                | ((record >> 208) << 216);
            assembly ("memory-safe") {
                sstore(core.slot, word)
            }
            _bidTerms[t.bidId] = IFlexMarket.BidTerms({
                quantityW: t.quantityW,
                minQuantityW: t.minQuantityW,
                priceEurPerMw: t.priceEurPerMw,
                awardedW: 0,
                zoneIndex: t.zoneIndex,
                direction: t.direction,
                divisible: t.divisible
            });
        }
    }

    /// @inheritdoc IFlexBatches
    function forfeitBatchedBond(bytes32 batchId, uint16 index) external {
        Batch memory b = _store().batches[batchId];
        if (b.sessionId == 0) revert FlexBatchesUnknown(batchId);
        if (index >= b.count) revert FlexBatchesIndexInvalid(batchId, index);
        bytes32 bidId = _bidIdOf(batchId, index);
        SessionRecord storage s = _sessions[b.sessionId];
        IFlexMarket.Participation storage p = _participations[b.sessionId][b.seller];
        mapping(uint256 => uint256) storage used = _store().used[batchId];
        uint256 bit = uint256(1) << (index & 0xff);
        uint256 bits = used[index >> 8];
        // as forfeitBond: unless the seller's unrevealed bonds were all forfeited at once
        if (
            bits & bit != 0 || block.timestamp < s.timing.revealDeadline
                || uint256(p.revealed) + p.forfeited >= p.committed
        ) revert IFlexMarket.FlexMarketBondNotForfeitable(bidId);
        uint256 amountUeur = s.money.bidBondUeur;
        address operator = s.operator;
        used[index >> 8] = bits | bit;
        p.bondLockedUeur -= uint64(amountUeur);
        p.forfeited += 1;
        _payLocked(b.seller, operator, amountUeur);
        emit IFlexMarket.BondForfeited(b.sessionId, bidId, b.seller, operator, amountUeur);
    }

    /// @inheritdoc IFlexBatches
    function batch(bytes32 batchId) external view returns (Batch memory) {
        return _store().batches[batchId];
    }

    /// @inheritdoc IFlexBatches
    function leafUsed(bytes32 batchId, uint256 index) external view returns (bool) {
        return _store().used[batchId][index >> 8] & (uint256(1) << (index & 0xff)) != 0;
    }

    // ------------------------------------------------------------- internals

    /// @dev keccak256(abi.encode(batchId, index)): a batched bid's id.
    function _bidIdOf(bytes32 batchId, uint256 index) private pure returns (bytes32 bidId) {
        assembly ("memory-safe") {
            mstore(0, batchId)
            mstore(0x20, index)
            bidId := keccak256(0, 0x40)
        }
    }

    function _store() private pure returns (BatchStorage storage $) {
        assembly ("memory-safe") {
            $.slot := _BATCH_STORAGE_SLOT
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

    /// @dev OpenZeppelin's MerkleProof.processMultiProof (sorted pairs) with the flags packed
    /// as bits and the proof in calldata. Requires leaves + proof = flags + 1 hashes in all.
    function _processMultiProof(bytes32[] memory leaves, bytes32[] calldata proof, uint256[] calldata proofFlags)
        private
        pure
        returns (bytes32 merkleRoot)
    {
        uint256 leavesLen = leaves.length;
        uint256 proofLen = proof.length;
        uint256 flagsLen = leavesLen + proofLen - 1; // leavesLen >= 1
        if (proofFlags.length < (flagsLen + 255) >> 8) return bytes32(0);
        bytes32[] memory hashes = new bytes32[](flagsLen);
        uint256 leafPos;
        uint256 hashPos;
        uint256 proofPos;
        for (uint256 i; i < flagsLen; ++i) {
            bytes32 a = leafPos < leavesLen ? leaves[leafPos++] : hashes[hashPos++];
            bytes32 b;
            if ((proofFlags[i >> 8] >> (i & 0xff)) & 1 != 0) {
                b = leafPos < leavesLen ? leaves[leafPos++] : hashes[hashPos++];
            } else {
                if (proofPos >= proofLen) return bytes32(0);
                b = proof[proofPos++];
            }
            // a hash taken before it was computed would be 0: refuse it (OpenZeppelin's check)
            if (hashPos > i) return bytes32(0);
            hashes[i] = Hashes.commutativeKeccak256(a, b);
        }
        if (flagsLen > 0) {
            if (proofPos != proofLen) return bytes32(0);
            return hashes[flagsLen - 1];
        }
        return leaves[0];
    }
}
