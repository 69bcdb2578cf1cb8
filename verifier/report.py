"""What the replica read of a session, in its report: each award as the chain committed it,
who pays it (its own need first, then its share rows), each buyer's part of its settlement,
and the published coordination inputs. `flexmarket verify --json` and the API's audit route
(`GET /sessions/{id}/audit`) print the same report: `verify.verify_chain`'s, whose sessions
carry this reading (`SessionReport.to_json`)."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from verifier.rebuild import AwardRecord, SessionRecord

SETTLEMENT_FIELDS = ("payment_ueur", "refund_ueur", "penalty_ueur")


def award_read(a: AwardRecord) -> dict[str, Any]:
    """One award as the replica read it (addresses checksummed)."""
    return {
        "award_index": a.index,
        "bid_id": a.bid,
        "seller": to_checksum_address(a.seller),
        "quantity_w": a.quantity_w,
        "payment_ueur": a.payment_ueur,
        "parts": [
            {"need_index": n, "buyer": to_checksum_address(b), "payment_ueur": p}
            for n, b, p in a.parts()
        ],
        "settlement": None
        if a.settlement is None
        else dict(zip(SETTLEMENT_FIELDS, a.settlement, strict=True)),
        "share_settlements": [
            {"need_index": n, "buyer": to_checksum_address(b), "payment_ueur": p,
             "refund_ueur": r, "penalty_ueur": x}
            for n, b, p, r, x in a.share_settlements
        ],  # fmt: skip
    }


def session_read(rec: SessionRecord) -> dict[str, Any]:
    """The session's awards as read (`awards`) and its published coordination inputs
    (`coordination`: 0x hex of the JSON bytes, or None)."""
    return {"coordination": rec.coordination, "awards": [award_read(a) for a in rec.awards]}
