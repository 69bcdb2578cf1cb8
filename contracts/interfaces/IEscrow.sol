// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IEscrow
/// @notice Money held by the market for its participants, in the settlement token (µEUR).
/// Each account has a free balance (withdrawable) and a locked balance (budgets of needs,
/// bid bonds, bid collateral). Tokens enter only through {deposit} and leave only through
/// {withdraw}, pulled by their owner: the market never pushes payments. Between the two,
/// the market's events say which balances moved (see IFlexMarket), so a replay of the
/// events rebuilds every balance, and
/// `token.balanceOf(escrow) == sum over accounts of (free + locked)` at all times.
interface IEscrow {
    /// @notice Tokens were deposited into the caller's free balance.
    /// @param account The depositor.
    /// @param amountUeur Amount deposited.
    event Deposited(address indexed account, uint256 amountUeur);

    /// @notice Tokens were withdrawn from the caller's free balance.
    /// @param account The owner, who received the tokens.
    /// @param amountUeur Amount withdrawn.
    event Withdrawn(address indexed account, uint256 amountUeur);

    /// @notice Deposits and withdrawals must move a positive amount.
    error EscrowZeroAmount();
    /// @notice The free balance does not cover the amount.
    /// @param account The account.
    /// @param requestedUeur Amount needed.
    /// @param freeUeur Free balance.
    error EscrowInsufficientFree(address account, uint256 requestedUeur, uint256 freeUeur);
    /// @notice An amount does not fit the balance type (uint112).
    /// @param amountUeur The amount.
    error EscrowAmountTooLarge(uint256 amountUeur);

    /// @notice Pulls `amountUeur` tokens from the caller (after `approve`) into its free balance.
    /// @param amountUeur Amount in µEUR.
    function deposit(uint256 amountUeur) external;

    /// @notice Sends `amountUeur` of the caller's free balance to the caller.
    /// @param amountUeur Amount in µEUR.
    function withdraw(uint256 amountUeur) external;

    /// @notice Balances of an account.
    /// @param account The account.
    /// @return freeUeur Withdrawable balance.
    /// @return lockedUeur Balance locked in budgets, bonds and collateral.
    function balancesOf(address account) external view returns (uint256 freeUeur, uint256 lockedUeur);

    /// @notice The settlement token.
    /// @return The token's address.
    function token() external view returns (address);
}
