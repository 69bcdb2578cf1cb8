// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IEscrow} from "./interfaces/IEscrow.sol";

/// @title Escrow
/// @notice Free and locked balances in the settlement token; the market inherits it so that
/// locking money for a bid or a need costs one storage write, not a call.
/// @dev An account's balances share one slot with the seller standing used by the market
/// (failures, suspension), so a reveal or a settlement touches one slot per participant.
abstract contract Escrow is ReentrancyGuard, IEscrow {
    using SafeERC20 for IERC20;

    struct Account {
        uint112 freeUeur;
        uint112 lockedUeur;
        uint8 failures; // delivery failures beyond tolerance (FLECH: the 4th suspends)
        bool suspended;
    }

    IERC20 internal immutable _token;
    mapping(address account => Account) internal _accounts;

    /// @param settlementToken The µEUR token.
    constructor(IERC20 settlementToken) {
        _token = settlementToken;
    }

    /// @inheritdoc IEscrow
    function deposit(uint256 amountUeur) external nonReentrant {
        if (amountUeur == 0) revert EscrowZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint256 freeAfter = account.freeUeur + amountUeur;
        if (freeAfter > type(uint112).max) revert EscrowAmountTooLarge(amountUeur);
        account.freeUeur = uint112(freeAfter);
        emit Deposited(msg.sender, amountUeur);
        _token.safeTransferFrom(msg.sender, address(this), amountUeur);
    }

    /// @inheritdoc IEscrow
    function withdraw(uint256 amountUeur) external nonReentrant {
        if (amountUeur == 0) revert EscrowZeroAmount();
        Account storage account = _accounts[msg.sender];
        uint256 free = account.freeUeur;
        if (free < amountUeur) revert EscrowInsufficientFree(msg.sender, amountUeur, free);
        account.freeUeur = uint112(free - amountUeur);
        emit Withdrawn(msg.sender, amountUeur);
        _token.safeTransfer(msg.sender, amountUeur);
    }

    /// @inheritdoc IEscrow
    function balancesOf(address account) external view returns (uint256 freeUeur, uint256 lockedUeur) {
        Account memory balances = _accounts[account];
        return (balances.freeUeur, balances.lockedUeur);
    }

    /// @inheritdoc IEscrow
    function token() external view returns (address) {
        return address(_token);
    }

    /// @dev Moves `amountUeur` of `account` from free to locked.
    function _lock(address account, uint256 amountUeur) internal {
        Account memory balances = _accounts[account];
        if (balances.freeUeur < amountUeur) revert EscrowInsufficientFree(account, amountUeur, balances.freeUeur);
        balances.freeUeur -= uint112(amountUeur);
        balances.lockedUeur += uint112(amountUeur); // bounded: free + locked <= tokens held
        _storeAccount(account, balances);
    }

    /// @dev Moves `amountUeur` of `account` from locked to free. Callers only release what
    /// they locked (the market keeps the per-need and per-seller amounts).
    function _unlock(address account, uint256 amountUeur) internal {
        Account memory balances = _accounts[account];
        balances.lockedUeur -= uint112(amountUeur);
        balances.freeUeur += uint112(amountUeur);
        _storeAccount(account, balances);
    }

    /// @dev Moves `amountUeur` from the locked balance of `from` to the free balance of `to`.
    function _payLocked(address from, address to, uint256 amountUeur) internal {
        Account memory payer = _accounts[from];
        payer.lockedUeur -= uint112(amountUeur);
        _storeAccount(from, payer);
        Account memory payee = _accounts[to];
        payee.freeUeur += uint112(amountUeur);
        _storeAccount(to, payee);
    }

    /// @dev Writes an account in one SSTORE. The IR pipeline writes a struct field by field
    /// (a warm SLOAD and SSTORE per field); this keeps settlement within its gas figure.
    /// Layout (Solidity's packing, low bits first): freeUeur [0, 112), lockedUeur [112, 224),
    /// failures [224, 232), suspended [232, 240).
    function _storeAccount(address account, Account memory balances) internal {
        Account storage slot = _accounts[account];
        uint256 word = uint256(balances.freeUeur) | (uint256(balances.lockedUeur) << 112)
            | (uint256(balances.failures) << 224) | (balances.suspended ? uint256(1) << 232 : 0);
        assembly ("memory-safe") {
            sstore(slot.slot, word)
        }
    }
}
