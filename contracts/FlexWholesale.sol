// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IFlexWholesale
/// @notice The wholesale intermediary's record on chain (docs/wholesale.md,
/// ../shared/spec/wholesale.md): for each auction of an external exchange, the local grid
/// check's rows (zone, MTU, the sell and buy watts it allowed: check 5's record), the hash of
/// the forwarded order book fixed before gate closure, then the hashes of the exchange's
/// results and curves, our payment totals and each of our orders' acceptance and payment
/// (the rows must add up to the totals), which validator nodes re-check off chain (checks
/// 1-5) and attest once every row is in. A quorum of agreeing attestations makes the results final; one
/// disagreement marks them disputed. Nothing here holds money.
interface IFlexWholesale {
    /// @notice The state of an auction's results.
    /// @param gateClosure Gate closure (unix seconds): the book before it, the results after.
    /// @param termsHash keccak256 of the auction's terms (exchange, auction, delivery start,
    /// MTUs, floor and cap) as the intermediary read them.
    /// @param gridHash Running hash of the grid check rows recorded so far.
    /// @param bookHash The forwarded book's hash (0 until committed).
    /// @param resultsHash The imported results file's hash (0 until committed).
    /// @param curvesHash keccak256 of the results' curves and prices (0 until committed).
    /// @param orderRows Our orders' result rows recorded so far (complete at `orders`).
    /// @param agreeing Attestations that agree with resultsHash.
    /// @param disputed True once a validator disagreed.
    /// @param sellPaymentUeur What our sells are paid, as committed with the results.
    /// @param buyPaymentUeur What our buys pay, as committed with the results.
    /// @param sellRowsUeur The sum of the sell rows recorded so far.
    /// @param buyRowsUeur The sum of the buy rows recorded so far.
    struct AuctionRecord {
        uint64 gateClosure;
        uint32 gridRows;
        uint32 orders;
        uint32 orderRows;
        uint16 agreeing;
        bool disputed;
        bool exists;
        bytes32 termsHash;
        bytes32 gridHash;
        bytes32 bookHash;
        bytes32 resultsHash;
        bytes32 curvesHash;
        int256 sellPaymentUeur;
        int256 buyPaymentUeur;
        int256 sellRowsUeur;
        int256 buyRowsUeur;
    }

    /// @notice One row of the local grid check: what it allowed in a zone and MTU.
    /// @param zone The zone id as bytes32 (UTF-8, right-padded with zeros).
    /// @param mtu The MTU index.
    /// @param sellW The forwarded sells, all accepted, in W.
    /// @param buyW The forwarded buys, all accepted, in W.
    struct GridRow {
        bytes32 zone;
        uint32 mtu;
        uint64 sellW;
        uint64 buyW;
    }

    /// @notice An auction was opened for forwarding.
    /// @param auctionId The auction (keccak256 of the exchange's name and auction id).
    /// @param gateClosure Gate closure (unix seconds).
    /// @param termsHash keccak256 of the auction's terms.
    event AuctionOpened(bytes32 indexed auctionId, uint64 gateClosure, bytes32 termsHash);

    /// @notice A grid check row was recorded.
    /// @param auctionId The auction.
    /// @param zone The zone (bytes32).
    /// @param mtu The MTU.
    /// @param sellW Sells allowed, W.
    /// @param buyW Buys allowed, W.
    event GridCheckRecorded(bytes32 indexed auctionId, bytes32 zone, uint32 mtu, uint64 sellW, uint64 buyW);

    /// @notice One of our orders as the exchange treated it.
    /// @param orderId keccak256 of the order's id (UTF-8).
    /// @param sell True for a sell (paid), false for a buy (pays).
    /// @param acceptedW Accepted watts.
    /// @param paymentUeur Its payment, µEUR (may be negative).
    struct OrderRow {
        bytes32 orderId;
        bool sell;
        uint64 acceptedW;
        int128 paymentUeur;
    }

    /// @notice The forwarded book's hash was fixed.
    /// @param auctionId The auction.
    /// @param bookHash keccak256 of the canonical forwarded book.
    /// @param orders How many orders it holds.
    /// @param gridHash The running hash of every grid check row recorded before it.
    event BookCommitted(bytes32 indexed auctionId, bytes32 bookHash, uint32 orders, bytes32 gridHash);

    /// @notice The exchange's results were recorded.
    /// @param auctionId The auction.
    /// @param resultsHash keccak256 of the canonical results file.
    /// @param curvesHash keccak256 of its curves and prices.
    /// @param sellPaymentUeur What our sells are paid, in total (µEUR, may be negative).
    /// @param buyPaymentUeur What our buys pay, in total (µEUR, may be negative).
    event ResultsCommitted(
        bytes32 indexed auctionId, bytes32 resultsHash, bytes32 curvesHash, int256 sellPaymentUeur, int256 buyPaymentUeur
    );

    /// @notice One of our orders' result was recorded.
    /// @param auctionId The auction. @param orderId keccak256 of the order's id.
    /// @param sell A sell. @param acceptedW Accepted W. @param paymentUeur Its payment, µEUR.
    event OrderResultRecorded(bytes32 indexed auctionId, bytes32 orderId, bool sell, uint64 acceptedW, int128 paymentUeur);

    /// @notice A validator attested the results.
    /// @param auctionId The auction.
    /// @param validator The validator.
    /// @param resultsHash The results hash the validator checked.
    /// @param agrees Whether checks 1-5 held for the validator on that hash.
    event ResultsAttested(bytes32 indexed auctionId, address indexed validator, bytes32 resultsHash, bool agrees);

    /// @notice The results reached the quorum of agreeing attestations.
    /// @param auctionId The auction.
    event ResultsFinal(bytes32 indexed auctionId);

    /// @notice A validator disagreed: the results are disputed.
    /// @param auctionId The auction.
    /// @param validator The validator that disagreed.
    event ResultsDisputed(bytes32 indexed auctionId, address indexed validator);

    /// @notice Only the intermediary may do this. @param caller The caller.
    error FlexWholesaleNotIntermediary(address caller);
    /// @notice Only a validator may attest. @param caller The caller.
    error FlexWholesaleNotValidator(address caller);
    /// @notice An address is zero, or the quorum is 0 or above the validators' number.
    error FlexWholesaleBadSetup();
    /// @notice The auction was opened before. @param auctionId The auction.
    error FlexWholesaleAuctionExists(bytes32 auctionId);
    /// @notice No such auction. @param auctionId The auction.
    error FlexWholesaleAuctionUnknown(bytes32 auctionId);
    /// @notice Gate closure is not in the future. @param gateClosure It. @param nowS The block time.
    error FlexWholesaleGateClosureInPast(uint64 gateClosure, uint256 nowS);
    /// @notice Too late: the gate closed. @param auctionId The auction. @param gateClosure Gate closure.
    error FlexWholesaleGateClosed(bytes32 auctionId, uint64 gateClosure);
    /// @notice Too early: the gate is still open. @param auctionId The auction. @param gateClosure Gate closure.
    error FlexWholesaleGateOpen(bytes32 auctionId, uint64 gateClosure);
    /// @notice A hash is zero. @param auctionId The auction.
    error FlexWholesaleHashMissing(bytes32 auctionId);
    /// @notice The book was committed already: it never changes. @param auctionId The auction.
    error FlexWholesaleBookCommitted(bytes32 auctionId);
    /// @notice No book was committed before gate closure. @param auctionId The auction.
    error FlexWholesaleBookMissing(bytes32 auctionId);
    /// @notice The results were committed already. @param auctionId The auction.
    error FlexWholesaleResultsCommitted(bytes32 auctionId);
    /// @notice No results to attest yet. @param auctionId The auction.
    error FlexWholesaleResultsMissing(bytes32 auctionId);
    /// @notice More order rows than the book's orders. @param auctionId The auction.
    /// @param orders The book's orders.
    error FlexWholesaleTooManyRows(bytes32 auctionId, uint32 orders);
    /// @notice Not every order's row is recorded yet. @param auctionId The auction.
    /// @param rows Rows recorded. @param orders The book's orders.
    error FlexWholesaleResultsIncomplete(bytes32 auctionId, uint32 rows, uint32 orders);
    /// @notice The rows' payments do not add up to the committed totals.
    /// @param auctionId The auction. @param sellRowsUeur Sum of the sell rows.
    /// @param buyRowsUeur Sum of the buy rows.
    error FlexWholesaleTotalsMismatch(bytes32 auctionId, int256 sellRowsUeur, int256 buyRowsUeur);
    /// @notice The validator attested these results already.
    /// @param auctionId The auction. @param validator The validator.
    error FlexWholesaleAlreadyAttested(bytes32 auctionId, address validator);

    /// @notice Opens an auction for forwarding (intermediary).
    function openAuction(bytes32 auctionId, uint64 gateClosure, bytes32 termsHash) external;

    /// @notice Records grid check rows, in pages, before the book (intermediary).
    function recordGridChecks(bytes32 auctionId, GridRow[] calldata rows) external;

    /// @notice Fixes the forwarded book's hash, once, before gate closure (intermediary).
    function commitBook(bytes32 auctionId, bytes32 bookHash, uint32 orders) external;

    /// @notice Records the exchange's results, once, after gate closure (intermediary).
    function commitResults(
        bytes32 auctionId,
        bytes32 resultsHash,
        bytes32 curvesHash,
        int256 sellPaymentUeur,
        int256 buyPaymentUeur
    ) external;

    /// @notice Records our orders' results, in pages, after the results (intermediary); the
    /// last row makes the sums equal the committed totals or reverts.
    function recordOrderResults(bytes32 auctionId, OrderRow[] calldata rows) external;

    /// @notice A validator's verdict on the committed results (checks 1-5 off chain).
    function attestResults(bytes32 auctionId, bytes32 resultsHash, bool agrees) external;

    /// @notice An auction's record.
    function auction(bytes32 auctionId) external view returns (AuctionRecord memory);
}

/// @title FlexWholesale
/// @notice See IFlexWholesale. One intermediary, a fixed set of validators and a quorum, set
/// at deployment.
contract FlexWholesale is IFlexWholesale {
    address private immutable _intermediary;
    uint16 private immutable _quorum;
    mapping(address validator => bool) private _isValidator;
    mapping(bytes32 auctionId => AuctionRecord) private _auctions;
    mapping(bytes32 auctionId => mapping(address validator => bool)) private _attested;

    /// @param intermediary The wholesale intermediary's address.
    /// @param validators The validator nodes.
    /// @param quorum Agreeing attestations that make results final (1..validators).
    constructor(address intermediary, address[] memory validators, uint16 quorum) {
        if (intermediary == address(0) || quorum == 0 || quorum > validators.length) revert FlexWholesaleBadSetup();
        _intermediary = intermediary;
        _quorum = quorum;
        for (uint256 i = 0; i < validators.length; ++i) {
            if (validators[i] == address(0)) revert FlexWholesaleBadSetup();
            _isValidator[validators[i]] = true;
        }
    }

    modifier onlyIntermediary() {
        if (msg.sender != _intermediary) revert FlexWholesaleNotIntermediary(msg.sender);
        _;
    }

    function _existing(bytes32 auctionId) private view returns (AuctionRecord storage a) {
        a = _auctions[auctionId];
        if (!a.exists) revert FlexWholesaleAuctionUnknown(auctionId);
    }

    function _beforeGate(bytes32 auctionId, AuctionRecord storage a) private view {
        if (block.timestamp >= a.gateClosure) revert FlexWholesaleGateClosed(auctionId, a.gateClosure);
        if (a.bookHash != bytes32(0)) revert FlexWholesaleBookCommitted(auctionId);
    }

    /// @inheritdoc IFlexWholesale
    function openAuction(bytes32 auctionId, uint64 gateClosure, bytes32 termsHash) external onlyIntermediary {
        if (_auctions[auctionId].exists) revert FlexWholesaleAuctionExists(auctionId);
        if (gateClosure <= block.timestamp) revert FlexWholesaleGateClosureInPast(gateClosure, block.timestamp);
        if (auctionId == bytes32(0) || termsHash == bytes32(0)) revert FlexWholesaleHashMissing(auctionId);
        AuctionRecord storage a = _auctions[auctionId];
        a.exists = true;
        a.gateClosure = gateClosure;
        a.termsHash = termsHash;
        emit AuctionOpened(auctionId, gateClosure, termsHash);
    }

    /// @inheritdoc IFlexWholesale
    function recordGridChecks(bytes32 auctionId, GridRow[] calldata rows) external onlyIntermediary {
        AuctionRecord storage a = _existing(auctionId);
        _beforeGate(auctionId, a);
        bytes32 running = a.gridHash;
        for (uint256 i = 0; i < rows.length; ++i) {
            GridRow calldata r = rows[i];
            running = keccak256(abi.encode(running, r.zone, r.mtu, r.sellW, r.buyW));
            emit GridCheckRecorded(auctionId, r.zone, r.mtu, r.sellW, r.buyW);
        }
        a.gridHash = running;
        a.gridRows += uint32(rows.length);
    }

    /// @inheritdoc IFlexWholesale
    function commitBook(bytes32 auctionId, bytes32 bookHash, uint32 orders) external onlyIntermediary {
        AuctionRecord storage a = _existing(auctionId);
        _beforeGate(auctionId, a);
        if (bookHash == bytes32(0)) revert FlexWholesaleHashMissing(auctionId);
        a.bookHash = bookHash;
        a.orders = orders;
        emit BookCommitted(auctionId, bookHash, orders, a.gridHash);
    }

    /// @inheritdoc IFlexWholesale
    function commitResults(
        bytes32 auctionId,
        bytes32 resultsHash,
        bytes32 curvesHash,
        int256 sellPaymentUeur,
        int256 buyPaymentUeur
    ) external onlyIntermediary {
        AuctionRecord storage a = _existing(auctionId);
        if (block.timestamp < a.gateClosure) revert FlexWholesaleGateOpen(auctionId, a.gateClosure);
        if (a.bookHash == bytes32(0)) revert FlexWholesaleBookMissing(auctionId);
        if (a.resultsHash != bytes32(0)) revert FlexWholesaleResultsCommitted(auctionId);
        if (resultsHash == bytes32(0) || curvesHash == bytes32(0)) revert FlexWholesaleHashMissing(auctionId);
        a.resultsHash = resultsHash;
        a.curvesHash = curvesHash;
        a.sellPaymentUeur = sellPaymentUeur;
        a.buyPaymentUeur = buyPaymentUeur;
        emit ResultsCommitted(auctionId, resultsHash, curvesHash, sellPaymentUeur, buyPaymentUeur);
        _checkComplete(auctionId, a, false);
    }

    /// @inheritdoc IFlexWholesale
    function recordOrderResults(bytes32 auctionId, OrderRow[] calldata rows) external onlyIntermediary {
        AuctionRecord storage a = _existing(auctionId);
        if (a.resultsHash == bytes32(0)) revert FlexWholesaleResultsMissing(auctionId);
        if (a.agreeing != 0 || a.disputed) revert FlexWholesaleResultsCommitted(auctionId);
        if (uint256(a.orderRows) + rows.length > a.orders) revert FlexWholesaleTooManyRows(auctionId, a.orders);
        int256 sells = a.sellRowsUeur;
        int256 buys = a.buyRowsUeur;
        for (uint256 i = 0; i < rows.length; ++i) {
            OrderRow calldata r = rows[i];
            if (r.sell) sells += r.paymentUeur;
            else buys += r.paymentUeur;
            emit OrderResultRecorded(auctionId, r.orderId, r.sell, r.acceptedW, r.paymentUeur);
        }
        a.sellRowsUeur = sells;
        a.buyRowsUeur = buys;
        a.orderRows += uint32(rows.length);
        _checkComplete(auctionId, a, false);
    }

    /// @dev Once every row is in, the rows' sums must be the committed totals (spec check 4:
    /// the totals on chain equal the file's). `required`: revert when rows are missing.
    function _checkComplete(bytes32 auctionId, AuctionRecord storage a, bool required) private view {
        if (a.orderRows < a.orders) {
            if (required) revert FlexWholesaleResultsIncomplete(auctionId, a.orderRows, a.orders);
            return;
        }
        if (a.sellRowsUeur != a.sellPaymentUeur || a.buyRowsUeur != a.buyPaymentUeur) {
            revert FlexWholesaleTotalsMismatch(auctionId, a.sellRowsUeur, a.buyRowsUeur);
        }
    }

    /// @inheritdoc IFlexWholesale
    function attestResults(bytes32 auctionId, bytes32 resultsHash, bool agrees) external {
        if (!_isValidator[msg.sender]) revert FlexWholesaleNotValidator(msg.sender);
        AuctionRecord storage a = _existing(auctionId);
        if (a.resultsHash == bytes32(0)) revert FlexWholesaleResultsMissing(auctionId);
        if (_attested[auctionId][msg.sender]) revert FlexWholesaleAlreadyAttested(auctionId, msg.sender);
        _checkComplete(auctionId, a, true);
        _attested[auctionId][msg.sender] = true;
        // a verdict on other bytes than the committed ones is a disagreement
        bool agreed = agrees && resultsHash == a.resultsHash;
        emit ResultsAttested(auctionId, msg.sender, resultsHash, agrees);
        if (!agreed) {
            if (!a.disputed) {
                a.disputed = true;
                emit ResultsDisputed(auctionId, msg.sender);
            }
            return;
        }
        a.agreeing += 1;
        if (a.agreeing == _quorum && !a.disputed) emit ResultsFinal(auctionId);
    }

    /// @inheritdoc IFlexWholesale
    function auction(bytes32 auctionId) external view returns (AuctionRecord memory) {
        return _auctions[auctionId];
    }
}
