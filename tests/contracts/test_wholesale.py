"""FlexWholesale: the wholesale intermediary's record (grid check rows, the book fixed
before gate closure, the results after it) and the validators' attestations."""

from __future__ import annotations

import pytest
from brownie import web3
from conftest import reverts
from eth_abi import encode
from eth_utils import keccak

AUCTION = keccak(b"Reference Exchange/DA-1")
TERMS = keccak(b"terms")
BOOK = keccak(b"book")
RESULTS = keccak(b"results")
CURVES = keccak(b"curves")
ZONE = b"T0-L24".ljust(32, b"\0")


@pytest.fixture(scope="module")
def wh(module_isolation, accounts, FlexWholesale):
    intermediary, v1, v2, v3 = accounts[1], accounts[2], accounts[3], accounts[4]
    contract = FlexWholesale.deploy(intermediary, [v1, v2, v3], 2, {"from": accounts[0]})
    return contract, intermediary, (v1, v2, v3)


@pytest.fixture(autouse=True)
def isolation(fn_isolation):
    pass


def now(chain):
    """The latest block's timestamp (brownie's chain.time() follows the wall clock)."""
    return int(web3.eth.get_block("latest").timestamp)


def past(chain, gate):
    """Mine a block after `gate` (as conftest's Env.sleep_until)."""
    web3.provider.make_request("evm_setNextBlockTimestamp", [gate + 1])
    web3.provider.make_request("evm_mine", [])


def opened(wh, chain, gate_in_s=3600):
    contract, intermediary, _ = wh
    gate = now(chain) + gate_in_s
    contract.openAuction(AUCTION, gate, TERMS, {"from": intermediary})
    return gate


def test_setup_reverts_without_intermediary_or_with_a_quorum_beyond_the_validators(
        accounts, FlexWholesale):
    zero = "0x" + "00" * 20
    with reverts("FlexWholesaleBadSetup"):
        FlexWholesale.deploy(zero, [accounts[2]], 1, {"from": accounts[0]})
    with reverts("FlexWholesaleBadSetup"):
        FlexWholesale.deploy(accounts[1], [accounts[2]], 2, {"from": accounts[0]})
    with reverts("FlexWholesaleBadSetup"):
        FlexWholesale.deploy(accounts[1], [accounts[2]], 0, {"from": accounts[0]})


def test_a_whole_auction_grid_rows_book_results_and_a_quorum_makes_it_final(wh, chain):
    contract, intermediary, (v1, v2, _) = wh
    gate = opened(wh, chain)
    rows = [(ZONE, 17, 50_000, 30_000), (ZONE, 18, 0, 20_000)]
    contract.recordGridChecks(AUCTION, rows[:1], {"from": intermediary})
    contract.recordGridChecks(AUCTION, rows[1:], {"from": intermediary})
    running = b"\0" * 32
    for r in rows:
        running = keccak(encode(["bytes32", "bytes32", "uint32", "uint64", "uint64"],
                                [running, *r]))
    tx = contract.commitBook(AUCTION, BOOK, 3, {"from": intermediary})
    assert tx.events["BookCommitted"]["gridHash"] == "0x" + running.hex()
    with reverts("FlexWholesaleGateOpen"):
        contract.commitResults(AUCTION, RESULTS, CURVES, 6_475_000, 0, {"from": intermediary})
    past(chain, gate)
    tx = contract.commitResults(AUCTION, RESULTS, CURVES, 6_475_000, -12, {"from": intermediary})
    assert tx.events["ResultsCommitted"]["buyPaymentUeur"] == -12
    rows = [(keccak(b"O1"), True, 40_000, 5_180_000), (keccak(b"O2"), True, 10_000, 1_295_000)]
    contract.recordOrderResults(AUCTION, rows, {"from": intermediary})
    with reverts("FlexWholesaleResultsIncomplete"):  # a replica attests complete results only
        contract.attestResults(AUCTION, RESULTS, True, {"from": v1})
    tx = contract.recordOrderResults(AUCTION, [(keccak(b"O3"), False, 0, -12)],
                                     {"from": intermediary})
    assert tx.events["OrderResultRecorded"]["paymentUeur"] == -12
    contract.attestResults(AUCTION, RESULTS, True, {"from": v1})
    tx = contract.attestResults(AUCTION, RESULTS, True, {"from": v2})
    assert "ResultsFinal" in tx.events
    record = contract.auction(AUCTION)
    assert (record["gateClosure"], record["gridRows"], record["orders"], record["orderRows"],
            record["agreeing"], record["disputed"]) == (gate, 2, 3, 3, 2, False)
    assert (record["sellRowsUeur"], record["buyRowsUeur"]) == (6_475_000, -12)
    assert record["gridHash"] == "0x" + running.hex()


def test_the_book_never_changes_and_nothing_is_recorded_after_it_or_after_gate_closure(
        wh, chain):
    contract, intermediary, _ = wh
    opened(wh, chain)
    contract.commitBook(AUCTION, BOOK, 3, {"from": intermediary})
    with reverts("FlexWholesaleBookCommitted"):
        contract.commitBook(AUCTION, keccak(b"other"), 3, {"from": intermediary})
    with reverts("FlexWholesaleBookCommitted"):
        contract.recordGridChecks(AUCTION, [(ZONE, 1, 1, 1)], {"from": intermediary})
    other = keccak(b"second auction")
    contract.openAuction(other, now(chain) + 100, TERMS, {"from": intermediary})
    past(chain, now(chain) + 100)
    with reverts("FlexWholesaleGateClosed"):
        contract.commitBook(other, BOOK, 3, {"from": intermediary})
    with reverts("FlexWholesaleBookMissing"):
        contract.commitResults(other, RESULTS, CURVES, 0, 0, {"from": intermediary})


def test_roles_replays_and_missing_pieces_revert_by_name(wh, chain, accounts):
    contract, intermediary, (v1, _, _) = wh
    with reverts("FlexWholesaleNotIntermediary"):
        contract.openAuction(AUCTION, now(chain) + 100, TERMS, {"from": v1})
    with reverts("FlexWholesaleGateClosureInPast"):
        contract.openAuction(AUCTION, now(chain) - 1, TERMS, {"from": intermediary})
    with reverts("FlexWholesaleAuctionUnknown"):
        contract.commitBook(AUCTION, BOOK, 1, {"from": intermediary})
    gate = opened(wh, chain, 100)
    with reverts("FlexWholesaleAuctionExists"):
        contract.openAuction(AUCTION, now(chain) + 100, TERMS, {"from": intermediary})
    with reverts("FlexWholesaleHashMissing"):
        contract.commitBook(AUCTION, b"\0" * 32, 1, {"from": intermediary})
    contract.commitBook(AUCTION, BOOK, 1, {"from": intermediary})
    with reverts("FlexWholesaleResultsMissing"):
        contract.attestResults(AUCTION, RESULTS, True, {"from": v1})
    past(chain, gate)
    with reverts("FlexWholesaleHashMissing"):
        contract.commitResults(AUCTION, RESULTS, b"\0" * 32, 0, 0, {"from": intermediary})
    contract.commitResults(AUCTION, RESULTS, CURVES, 0, 0, {"from": intermediary})
    with reverts("FlexWholesaleResultsCommitted"):
        contract.commitResults(AUCTION, keccak(b"x"), CURVES, 0, 0, {"from": intermediary})
    with reverts("FlexWholesaleTooManyRows"):
        contract.recordOrderResults(AUCTION, [(keccak(b"a"), True, 0, 0)] * 2,
                                    {"from": intermediary})
    contract.recordOrderResults(AUCTION, [(keccak(b"a"), True, 0, 0)], {"from": intermediary})
    with reverts("FlexWholesaleNotValidator"):
        contract.attestResults(AUCTION, RESULTS, True, {"from": accounts[7]})
    contract.attestResults(AUCTION, RESULTS, True, {"from": v1})
    with reverts("FlexWholesaleAlreadyAttested"):
        contract.attestResults(AUCTION, RESULTS, True, {"from": v1})


def test_a_verdict_on_other_bytes_or_a_disagreement_disputes_and_blocks_final(wh, chain):
    contract, intermediary, (v1, v2, v3) = wh
    gate = opened(wh, chain, 100)
    contract.commitBook(AUCTION, BOOK, 1, {"from": intermediary})
    past(chain, gate)
    contract.commitResults(AUCTION, RESULTS, CURVES, 0, 0, {"from": intermediary})
    contract.recordOrderResults(AUCTION, [(keccak(b"a"), False, 0, 0)], {"from": intermediary})
    tx = contract.attestResults(AUCTION, keccak(b"what v1 imported"), True, {"from": v1})
    assert tx.events["ResultsDisputed"]["validator"] == v1
    contract.attestResults(AUCTION, RESULTS, True, {"from": v2})
    tx = contract.attestResults(AUCTION, RESULTS, True, {"from": v3})
    assert "ResultsFinal" not in tx.events
    record = contract.auction(AUCTION)
    assert record["disputed"] and record["agreeing"] == 2


def test_order_rows_must_add_up_to_the_committed_totals(wh, chain):
    contract, intermediary, _ = wh
    gate = opened(wh, chain, 100)
    contract.commitBook(AUCTION, BOOK, 2, {"from": intermediary})
    past(chain, gate)
    contract.commitResults(AUCTION, RESULTS, CURVES, 1_000, 500, {"from": intermediary})
    contract.recordOrderResults(AUCTION, [(keccak(b"s"), True, 10, 1_000)],
                                {"from": intermediary})
    with reverts("FlexWholesaleTotalsMismatch"):  # the buy row pays 499, the total says 500
        contract.recordOrderResults(AUCTION, [(keccak(b"b"), False, 10, 499)],
                                    {"from": intermediary})
    contract.recordOrderResults(AUCTION, [(keccak(b"b"), False, 10, 500)],
                                {"from": intermediary})
    assert contract.auction(AUCTION)["orderRows"] == 2
