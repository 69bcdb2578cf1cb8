// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";

/// @title IFlexToken
/// @notice Settlement token of the market: an ERC-20 with 6 decimals, one unit = 1 µEUR.
/// In the demo the admin mints it; in deployment it would be a bridged e-money token.
interface IFlexToken is IERC20Metadata {
    /// @notice Creates `amountUeur` tokens for `to`. Only the owner (the admin).
    /// @param to Receiver of the new tokens.
    /// @param amountUeur Amount in µEUR.
    function mint(address to, uint256 amountUeur) external;
}
