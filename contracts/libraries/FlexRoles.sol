// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FlexRoles
/// @notice Role identifiers of the flexibility market, held by the FlexRegistry
/// (OpenZeppelin AccessControl). The admin is AccessControl's DEFAULT_ADMIN_ROLE (0x00).
library FlexRoles {
    /// @notice Distribution system operator: buyer, validator of its zones, pre-qualifies assets.
    bytes32 internal constant DSO = keccak256("DSO_ROLE");
    /// @notice Transmission system operator: buyer of system-wide needs.
    bytes32 internal constant TSO = keccak256("TSO_ROLE");
    /// @notice Balance responsible party: buyer of system-wide needs.
    bytes32 internal constant BRP = keccak256("BRP_ROLE");
    /// @notice Flexibility service provider: registers and manages assets, bids, delivers.
    bytes32 internal constant AGGREGATOR = keccak256("AGGREGATOR_ROLE");
    /// @notice Market operator: opens sessions, commits clearing results.
    bytes32 internal constant ORACLE = keccak256("ORACLE_ROLE");
    /// @notice Re-checks results and attests (or disputes) them.
    bytes32 internal constant VALIDATOR = keccak256("VALIDATOR_ROLE");
    /// @notice Metering data operator: commits metered delivery per award.
    bytes32 internal constant METERING = keccak256("METERING_ROLE");
}
