// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IFlexToken} from "./interfaces/IFlexToken.sol";

/// @title FlexToken
/// @notice µEUR settlement token (6 decimals) minted by the admin for the demo.
contract FlexToken is ERC20, Ownable, IFlexToken {
    /// @param admin Owner allowed to mint.
    constructor(address admin) ERC20("Flexmarket micro-euro", "uEUR") Ownable(admin) {}

    /// @notice One token unit is 1 µEUR: 6 decimals.
    function decimals() public pure override(ERC20, IERC20Metadata) returns (uint8) {
        return 6;
    }

    /// @inheritdoc IFlexToken
    function mint(address to, uint256 amountUeur) external onlyOwner {
        _mint(to, amountUeur);
    }
}
