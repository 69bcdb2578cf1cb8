// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IFlexBatches} from "./interfaces/IFlexBatches.sol";
import {IFlexMarket} from "./interfaces/IFlexMarket.sol";
import {IFlexRelay} from "./interfaces/IFlexRelay.sol";
import {BidReveal} from "./types/FlexTypes.sol";

/// @title FlexRelay
/// @notice Relays bids a seller signed (EIP-712) to its market, which trusts this relay
/// alone as a forwarder: the seller's address is appended to the calldata (ERC-2771).
/// @dev Kept out of FlexMarket for its size (EIP-170). Created by the market's constructor,
/// so the market address is fixed and the relay address is known to the market.
contract FlexRelay is EIP712, IFlexRelay {
    bytes32 private constant _JOIN_TYPEHASH = keccak256(
        "JoinSession(address seller,uint64 sessionId,uint16 addedBids,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _COMMIT_TYPEHASH = keccak256(
        "CommitBid(address seller,uint64 sessionId,bytes32 commitment,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _BATCH_TYPEHASH = keccak256(
        "CommitBatch(address seller,uint64 sessionId,bytes32 root,uint16 count,uint256 nonce,uint256 deadline)"
    );
    bytes32 private constant _REVEAL_TYPEHASH =
        keccak256("RevealBid(address seller,bytes32 commitment,uint256 nonce,uint256 deadline)");
    bytes32 private constant _REVEAL_BATCH_TYPEHASH =
        keccak256("RevealBatch(address seller,bytes32 root,bytes32 bidsHash,uint256 nonce,uint256 deadline)");

    /// @dev Gas each commit of a batch gets (a relayed commitBid uses ~35,000): the batch
    /// checks after a failed call that it really had this much (EIP-150, see commitBidsFor).
    uint256 private constant _COMMIT_GAS = 100_000;

    /// @dev Gas each seller's batch of a commitBatchesFor gets (a relayed commitBatch uses
    /// ~55,000 on a cold participation), checked after a failure as in commitBidsFor.
    uint256 private constant _BATCH_GAS = 150_000;

    address private immutable _market;

    /// @dev Unordered nonces: bit `nonce % 256` of word `nonce / 256`.
    mapping(address seller => mapping(uint256 word => uint256 bits)) private _nonceBits;

    /// @param flexMarket The market (the caller of this constructor).
    constructor(address flexMarket) EIP712("FlexRelay", "1") {
        _market = flexMarket;
    }

    /// @inheritdoc IFlexRelay
    function joinSessionFor(
        address seller,
        uint64 sessionId,
        uint16 addedBids,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _verify(
            seller,
            keccak256(abi.encode(_JOIN_TYPEHASH, seller, sessionId, addedBids, nonce, deadline)),
            nonce,
            deadline,
            signature
        );
        _forward(abi.encodeCall(IFlexMarket.joinSession, (sessionId, addedBids)), seller);
        emit Relayed(seller, nonce);
    }

    /// @inheritdoc IFlexRelay
    function commitBidFor(CommitRequest calldata r) external returns (bytes32 bidId) {
        _verifyCommit(r);
        bidId = abi.decode(_forward(abi.encodeCall(IFlexMarket.commitBid, (r.sessionId, r.commitment)), r.seller), (bytes32));
        emit Relayed(r.seller, r.nonce);
    }

    /// @inheritdoc IFlexRelay
    /// @dev A request the relay refuses (expired, bad signature, nonce used) is skipped with
    /// its nonce untouched; a commit the market refuses spends its nonce (the signed message
    /// can never be relayed again). A commit that failed for lack of gas reverts the batch:
    /// a relayer cannot burn a signed commit by starving it.
    function commitBidsFor(CommitRequest[] calldata requests) external returns (uint256 failed) {
        uint256 count = requests.length;
        for (uint256 i; i < count; ++i) {
            CommitRequest calldata r = requests[i];
            bytes memory refused = _check(
                r.seller,
                keccak256(abi.encode(_COMMIT_TYPEHASH, r.seller, r.sessionId, r.commitment, r.nonce, r.deadline)),
                r.nonce,
                r.deadline,
                r.signature
            );
            if (refused.length != 0) {
                ++failed;
                emit RelayFailed(r.seller, r.nonce, refused);
                continue;
            }
            if (!_relay(
                    r.seller,
                    r.nonce,
                    _COMMIT_GAS,
                    abi.encodeCall(IFlexMarket.commitBid, (r.sessionId, r.commitment))
                )) ++failed;
        }
    }

    /// @inheritdoc IFlexRelay
    /// @dev As commitBidsFor, one signature check per seller's batch: a refused request is
    /// skipped (nonce untouched), a batch the market refuses spends its nonce, a batch that
    /// failed for lack of gas reverts them all.
    function commitBatchesFor(BatchRequest[] calldata requests) external returns (uint256 failed) {
        uint256 count = requests.length;
        for (uint256 i; i < count; ++i) {
            BatchRequest calldata r = requests[i];
            bytes memory refused = _check(
                r.seller,
                keccak256(abi.encode(_BATCH_TYPEHASH, r.seller, r.sessionId, r.root, r.count, r.nonce, r.deadline)),
                r.nonce,
                r.deadline,
                r.signature
            );
            if (refused.length != 0) {
                ++failed;
                emit RelayFailed(r.seller, r.nonce, refused);
                continue;
            }
            if (!_relay(
                    r.seller,
                    r.nonce,
                    _BATCH_GAS,
                    abi.encodeCall(IFlexBatches.commitBatch, (r.sessionId, r.root, r.count))
                )) ++failed;
        }
    }

    /// @inheritdoc IFlexRelay
    function revealBidFor(
        address seller,
        BidReveal calldata bid,
        uint256 nonce,
        uint256 deadline,
        bytes calldata signature
    ) external returns (bytes32 bidId) {
        bytes32 commitment = keccak256(
            abi.encode(
                bid.sessionId,
                seller,
                bid.zone,
                bid.direction,
                bid.divisible,
                bid.quantityW,
                bid.minQuantityW,
                bid.priceEurPerMw,
                bid.slotMask,
                bid.assetIds,
                bid.salt
            )
        );
        _verify(
            seller, keccak256(abi.encode(_REVEAL_TYPEHASH, seller, commitment, nonce, deadline)), nonce, deadline, signature
        );
        bidId = abi.decode(_forward(abi.encodeCall(IFlexMarket.revealBid, (bid)), seller), (bytes32));
        emit Relayed(seller, nonce);
    }

    /// @inheritdoc IFlexRelay
    /// @dev `bidsHash` is taken over the bids' calldata copied past the free memory pointer
    /// (scratch: the call's encoding then reuses that memory, paid for once).
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
    ) external returns (bytes32 termsRoot) {
        bytes32 bidsHash;
        assembly ("memory-safe") {
            let m := mload(0x40)
            let size := mul(bids.length, 0xa0)
            calldatacopy(m, bids.offset, size)
            bidsHash := keccak256(m, size)
        }
        _verify(
            seller,
            keccak256(abi.encode(_REVEAL_BATCH_TYPEHASH, seller, root, bidsHash, nonce, deadline)),
            nonce,
            deadline,
            signature
        );
        termsRoot = abi.decode(
            _forward(abi.encodeCall(IFlexBatches.revealBatch, (root, assetIds, bids, proof, proofFlags)), seller),
            (bytes32)
        );
        emit Relayed(seller, nonce);
    }

    /// @inheritdoc IFlexRelay
    function nonceUsed(address seller, uint256 nonce) external view returns (bool) {
        return _nonceBits[seller][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @inheritdoc IFlexRelay
    function market() external view returns (address) {
        return _market;
    }

    /// @inheritdoc IFlexRelay
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _verifyCommit(CommitRequest calldata r) private {
        _verify(
            r.seller,
            keccak256(abi.encode(_COMMIT_TYPEHASH, r.seller, r.sessionId, r.commitment, r.nonce, r.deadline)),
            r.nonce,
            r.deadline,
            r.signature
        );
    }

    /// @dev Reverts with the error _check returns.
    function _verify(address seller, bytes32 structHash, uint256 nonce, uint256 deadline, bytes calldata signature)
        private
    {
        bytes memory refused = _check(seller, structHash, nonce, deadline, signature);
        if (refused.length != 0) {
            assembly ("memory-safe") {
                revert(add(refused, 0x20), mload(refused))
            }
        }
    }

    /// @dev Deadline, then signature, then nonce; if all hold, marks the nonce used (checks
    /// before effects) and returns nothing, else the encoded error and changes nothing.
    /// @dev One relayed call to the market for `seller` (its address appended to the
    /// calldata, ERC-2771 style), with `gasLimit`: emits Relayed, or RelayFailed with the
    /// market's revert data and returns false. EIP-150: the call got at most 63/64 of the gas
    /// left; if it ran out of gas with less than `gasLimit`, what is left now is below
    /// `gasLimit / 63`, and the whole batch reverts (FlexRelayGasTooLow) instead of spending
    /// the request's nonce on a failure the relayer caused.
    function _relay(address seller, uint256 nonce, uint256 gasLimit, bytes memory call) private returns (bool) {
        (bool ok, bytes memory ret) = _market.call{gas: gasLimit}(abi.encodePacked(call, seller));
        if (ok) {
            emit Relayed(seller, nonce);
            return true;
        }
        if (gasleft() < gasLimit / 63) revert FlexRelayGasTooLow(seller, nonce);
        emit RelayFailed(seller, nonce, ret);
        return false;
    }

    function _check(address seller, bytes32 structHash, uint256 nonce, uint256 deadline, bytes calldata signature)
        private
        returns (bytes memory refused)
    {
        if (block.timestamp > deadline) return abi.encodeWithSelector(FlexRelayExpired.selector, seller, deadline);
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError || signer != seller) {
            return abi.encodeWithSelector(FlexRelayInvalidSignature.selector, seller, signer);
        }
        uint256 bit = 1 << (nonce & 0xff);
        uint256 bits = _nonceBits[seller][nonce >> 8];
        if (bits & bit != 0) return abi.encodeWithSelector(FlexRelayNonceUsed.selector, seller, nonce);
        _nonceBits[seller][nonce >> 8] = bits | bit;
    }

    /// @dev Calls the market with the seller appended (ERC-2771); bubbles its revert data.
    function _forward(bytes memory data, address seller) private returns (bytes memory ret) {
        bool ok;
        (ok, ret) = _market.call(abi.encodePacked(data, seller));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
