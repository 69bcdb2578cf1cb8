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
        Account storage balances = _accounts[account];
        uint256 free = balances.freeUeur;
        if (free < amountUeur) revert EscrowInsufficientFree(account, amountUeur, free);
        balances.freeUeur = uint112(free - amountUeur);
        balances.lockedUeur += uint112(amountUeur); // bounded: free + locked <= token supply held
    }

    /// @dev Moves `amountUeur` of `account` from locked to free. Callers only release what
    /// they locked (the market keeps the per-need and per-bid amounts).
    function _unlock(address account, uint256 amountUeur) internal {
        Account storage balances = _accounts[account];
        balances.lockedUeur -= uint112(amountUeur);
        balances.freeUeur += uint112(amountUeur);
    }

    /// @dev Moves `amountUeur` from the locked balance of `from` to the free balance of `to`.
    function _payLocked(address from, address to, uint256 amountUeur) internal {
        _accounts[from].lockedUeur -= uint112(amountUeur);
        _accounts[to].freeUeur += uint112(amountUeur);
    }
}
