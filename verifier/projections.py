"""Projection tables derived from the decoded events, and the schema that holds them.

Every projection row is written by exactly one event and never updated: it carries that
event's position (`block_number`, `log_index`, plus `seq` where one event writes several
rows). Current state (a bid's status, an asset's manager, an account's balance) is a view
over these rows. So a reorg is undone by deleting every row at or above the fork block in
every table, and a replay from genesis writes the very same rows as a live run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oracle.canonical import keccak_hex
from python_client.contract_types import ResultStatus
from verifier.events import DecodedLog

SCHEMA_VERSION = "3"  # 2: sessions.market, the market id as text (v_session_status shows it)
# 3: grid_parts and v_grid_publications (grid inputs published in parts, issue 19)
ZERO_ADDRESS = "0x" + "00" * 20
POSITION = ("block_number", "log_index")

# Projection tables: name -> columns after (block_number, log_index); "seq" first where an
# event writes several rows. Types: {U256} for integers that may pass 63 bits.
PROJECTIONS: dict[str, list[tuple[str, str]]] = {
    "zones": [("zone", "TEXT"), ("zone_index", "INTEGER"), ("dso", "TEXT"),
              ("limit_w", "{U256}")],
    "roles": [("role", "TEXT"), ("account", "TEXT"), ("granted", "SMALLINT"),
              ("sender", "TEXT")],
    "assets": [("asset_id", "TEXT"), ("manager", "TEXT"), ("owner", "TEXT"),
               ("asset_type", "INTEGER"), ("p_max_w", "BIGINT"), ("p_min_w", "BIGINT"),
               ("zone", "TEXT")],
    "asset_managers": [("asset_id", "TEXT"), ("previous_manager", "TEXT"),
                       ("new_manager", "TEXT"), ("by_account", "TEXT")],
    "asset_prequalifications": [("asset_id", "TEXT"), ("prequalified", "SMALLINT"),
                                ("dso", "TEXT")],
    "sessions": [("session_id", "BIGINT"), ("operator", "TEXT"), ("market_id", "TEXT"),
                 ("product", "TEXT"), ("pricing", "INTEGER"), ("slot_count", "INTEGER"),
                 ("slot_minutes", "INTEGER"), ("delivery_start", "BIGINT"),
                 ("bidding_end", "BIGINT"), ("reveal_deadline", "BIGINT"),
                 ("clearing_deadline", "BIGINT"), ("min_bid_w", "BIGINT"),
                 ("granularity_w", "BIGINT"), ("price_floor_eur_per_mw", "{U256}"),
                 ("price_cap_eur_per_mw", "{U256}"), ("unmet_penalty_eur_per_mw", "{U256}"),
                 ("bid_bond_ueur", "{U256}"), ("collateral_ueur_per_w", "{U256}"),
                 ("shortfall_penalty_eur_per_mw", "{U256}"), ("tolerance_bps", "INTEGER"),
                 ("attestation_quorum", "INTEGER"), ("market", "TEXT")],
    "session_joins": [("session_id", "BIGINT"), ("seller", "TEXT"), ("added_bids", "INTEGER"),
                      ("max_bids", "INTEGER"), ("bond_ueur", "{U256}")],
    "needs": [("session_id", "BIGINT"), ("need_index", "INTEGER"), ("buyer", "TEXT"),
              ("buyer_role", "INTEGER"), ("zone", "TEXT"), ("direction", "INTEGER"),
              ("max_price_eur_per_mw", "{U256}"), ("budget_ueur", "{U256}"),
              ("quantity_w", "TEXT")],
    "budget_releases": [("session_id", "BIGINT"), ("need_index", "INTEGER"),
                        ("buyer", "TEXT"), ("amount_ueur", "{U256}")],
    "bids": [("session_id", "BIGINT"), ("bid_id", "TEXT"), ("seller", "TEXT"),
             ("committed_at", "BIGINT")],
    "bid_reveals": [("session_id", "BIGINT"), ("bid_id", "TEXT"), ("seller", "TEXT"),
                    ("zone", "TEXT"), ("direction", "INTEGER"), ("divisible", "SMALLINT"),
                    ("quantity_w", "BIGINT"), ("min_quantity_w", "BIGINT"),
                    ("price_eur_per_mw", "{U256}"), ("slot_mask", "TEXT"),
                    ("asset_count", "INTEGER"), ("collateral_ueur", "{U256}")],
    "bid_assets": [("seq", "INTEGER"), ("bid_id", "TEXT"), ("asset_id", "TEXT")],
    "bond_forfeits": [("session_id", "BIGINT"), ("bid_id", "TEXT"), ("seller", "TEXT"),
                      ("operator", "TEXT"), ("amount_ueur", "{U256}")],
    "seller_bond_forfeits": [("session_id", "BIGINT"), ("seller", "TEXT"), ("operator", "TEXT"),
                             ("bids", "INTEGER"), ("amount_ueur", "{U256}")],
    "results": [("session_id", "BIGINT"), ("oracle", "TEXT"), ("input_hash", "TEXT"),
                ("result_hash", "TEXT"), ("award_count", "BIGINT"), ("status", "INTEGER")],
    "result_status_changes": [("session_id", "BIGINT"), ("kind", "TEXT"),
                              ("account", "TEXT"), ("status", "INTEGER"),
                              ("attestations", "INTEGER"), ("reason_hash", "TEXT")],
    "awards": [("session_id", "BIGINT"), ("award_index", "BIGINT"), ("bid_id", "TEXT"),
               ("need_index", "INTEGER"), ("seller", "TEXT"), ("buyer", "TEXT"),
               ("quantity_w", "BIGINT"), ("price_eur_per_mw", "{U256}"),
               ("payment_ueur", "{U256}")],
    "deliveries": [("session_id", "BIGINT"), ("award_index", "BIGINT"), ("operator", "TEXT"),
                   ("delivered_w", "BIGINT"), ("evidence_hash", "TEXT")],
    "delivery_corrections": [("session_id", "BIGINT"), ("award_index", "BIGINT"),
                             ("operator", "TEXT"), ("previous_w", "BIGINT"),
                             ("delivered_w", "BIGINT"), ("evidence_hash", "TEXT")],
    "settlements": [("session_id", "BIGINT"), ("award_index", "BIGINT"), ("seller", "TEXT"),
                    ("buyer", "TEXT"), ("payment_ueur", "{U256}"), ("refund_ueur", "{U256}"),
                    ("penalty_ueur", "{U256}")],
    "seller_fund_releases": [("session_id", "BIGINT"), ("seller", "TEXT"),
                             ("bond_ueur", "{U256}"), ("collateral_ueur", "{U256}")],
    "seller_standing": [("seller", "TEXT"), ("suspended", "SMALLINT"), ("failures", "INTEGER"),
                        ("admin", "TEXT")],
    "escrow_movements": [("seq", "INTEGER"), ("account", "TEXT"), ("session_id", "BIGINT"),
                         ("kind", "TEXT"), ("free_delta_ueur", "{U256}"),
                         ("locked_delta_ueur", "{U256}")],
    "token_transfers": [("from_account", "TEXT"), ("to_account", "TEXT"),
                        ("amount_ueur", "{U256}")],
    # GridPublished: a part of a session's grid inputs (0x hex); on the last part, the
    # keccak256 of all parts joined (what every node rebuilds the session's grid from)
    "grid_parts": [("session_id", "BIGINT"), ("operator", "TEXT"), ("part_index", "INTEGER"),
                   ("part_count", "INTEGER"), ("size_bytes", "BIGINT"), ("part", "TEXT"),
                   ("joined_hash", "TEXT")],
}  # fmt: skip

# Secondary indexes for the look-ups auditors and the API make.
INDEXES: dict[str, list[str]] = {
    "assets": ["asset_id"],
    "asset_managers": ["asset_id"],
    "asset_prequalifications": ["asset_id"],
    "roles": ["account"],
    "sessions": ["session_id"],
    "session_joins": ["session_id", "seller"],
    "needs": ["session_id"],
    "bids": ["bid_id", "session_id", "seller"],
    "bid_reveals": ["bid_id", "session_id"],
    "bid_assets": ["bid_id", "asset_id"],
    "bond_forfeits": ["bid_id"],
    "seller_bond_forfeits": ["session_id, seller"],
    "results": ["session_id"],
    "result_status_changes": ["session_id"],
    "awards": ["session_id, award_index", "bid_id"],
    "deliveries": ["session_id, award_index"],
    "delivery_corrections": ["session_id, award_index"],
    "settlements": ["session_id, award_index"],
    "seller_fund_releases": ["session_id"],
    "escrow_movements": ["account"],
    "token_transfers": ["from_account", "to_account"],
    "grid_parts": ["session_id"],
}

BOOKKEEPING_DDL = [
    "CREATE TABLE IF NOT EXISTS indexer_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS indexer_checkpoint (
        chain_id BIGINT PRIMARY KEY, block_number BIGINT NOT NULL, block_hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS indexer_blocks (
        number BIGINT PRIMARY KEY, hash TEXT NOT NULL, parent_hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS events (
        chain_id BIGINT NOT NULL, block_hash TEXT NOT NULL, log_index INTEGER NOT NULL,
        block_number BIGINT NOT NULL, block_timestamp BIGINT NOT NULL,
        tx_hash TEXT NOT NULL, tx_index INTEGER NOT NULL, address TEXT NOT NULL,
        contract TEXT NOT NULL, event TEXT NOT NULL, args TEXT NOT NULL,
        PRIMARY KEY (chain_id, block_hash, log_index))""",
    "CREATE INDEX IF NOT EXISTS events_position ON events (block_number, log_index)",
    "CREATE INDEX IF NOT EXISTS events_event ON events (event, block_number)",
]

VIEWS = {
    # Free and locked µEUR per account in the market's escrow: the sum of its movements.
    "v_escrow_balances": """
        SELECT account, SUM(free_delta_ueur) AS free_ueur, SUM(locked_delta_ueur) AS locked_ueur
        FROM escrow_movements GROUP BY account""",
    "v_token_balances": """
        SELECT account, SUM(delta) AS balance_ueur FROM (
            SELECT to_account AS account, amount_ueur AS delta FROM token_transfers
            UNION ALL
            SELECT from_account AS account, -amount_ueur AS delta FROM token_transfers
        ) moves WHERE account <> '0x0000000000000000000000000000000000000000'
        GROUP BY account""",
    # Each asset with its current manager and pre-qualification (latest event wins).
    "v_assets": """
        SELECT a.asset_id, a.owner, a.asset_type, a.p_max_w, a.p_min_w, a.zone,
            COALESCE((SELECT m.new_manager FROM asset_managers m WHERE m.asset_id = a.asset_id
                      ORDER BY m.block_number DESC, m.log_index DESC LIMIT 1),
                     a.manager) AS manager,
            COALESCE((SELECT p.prequalified FROM asset_prequalifications p
                      WHERE p.asset_id = a.asset_id
                      ORDER BY p.block_number DESC, p.log_index DESC LIMIT 1), 0) AS prequalified
        FROM assets a""",
    # Each bid with its revealed terms, status and awarded power (sum over its awards).
    "v_bids": """
        SELECT b.session_id, b.bid_id, b.seller, b.committed_at,
            CASE WHEN f.bid_id IS NOT NULL THEN 'forfeited'
                 WHEN r.bid_id IS NOT NULL THEN 'revealed' ELSE 'committed' END AS status,
            r.zone, r.direction, r.divisible, r.quantity_w, r.min_quantity_w,
            r.price_eur_per_mw, r.slot_mask, r.collateral_ueur,
            (SELECT COALESCE(SUM(w.quantity_w), 0) FROM awards w
             WHERE w.bid_id = b.bid_id) AS awarded_w
        FROM bids b
        LEFT JOIN bid_reveals r ON r.bid_id = b.bid_id
        LEFT JOIN bond_forfeits f ON f.bid_id = b.bid_id""",
    # Each session with its result's latest status (NULL before any result).
    "v_session_status": """
        SELECT s.session_id, s.operator, s.market,
            (SELECT c.status FROM result_status_changes c WHERE c.session_id = s.session_id
             ORDER BY c.block_number DESC, c.log_index DESC LIMIT 1) AS result_status,
            (SELECT COUNT(*) FROM bids b WHERE b.session_id = s.session_id) AS bids,
            (SELECT COUNT(*) FROM bid_reveals r WHERE r.session_id = s.session_id) AS revealed,
            (SELECT COUNT(*) FROM awards w WHERE w.session_id = s.session_id) AS awards,
            (SELECT COUNT(*) FROM settlements t WHERE t.session_id = s.session_id) AS settled
        FROM sessions s""",
    # Each session that published grid inputs: parts received of their count, complete when
    # all are, the bytes and the keccak256 of the joined inputs (NULL until complete).
    "v_grid_publications": """
        SELECT g.session_id, MIN(g.operator) AS operator, COUNT(*) AS parts,
            MAX(g.part_count) AS part_count,
            CASE WHEN COUNT(*) = MAX(g.part_count) THEN 1 ELSE 0 END AS complete,
            SUM(g.size_bytes) AS size_bytes, MAX(g.joined_hash) AS joined_hash
        FROM grid_parts g GROUP BY g.session_id""",
}


def projection_ddl() -> list[str]:
    """CREATE statements of the projection tables, their indexes and the views."""
    statements = []
    for table, columns in PROJECTIONS.items():
        key = ["block_number", "log_index"] + (["seq"] if columns[0][0] == "seq" else [])
        cols = ", ".join(f"{name} {kind}" for name, kind in columns)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} (block_number BIGINT NOT NULL, "
            f"log_index INTEGER NOT NULL, {cols}, PRIMARY KEY ({', '.join(key)}))"
        )
    for table, indexed in INDEXES.items():
        for key_columns in indexed:
            name = f"{table}_{key_columns.replace(', ', '_')}"
            statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({key_columns})")
    for view, body in VIEWS.items():
        statements.append(f"CREATE VIEW {view} AS {body.strip()}")
    return statements


def insert_sql(table: str) -> str:
    columns = [*POSITION, *(name for name, _ in PROJECTIONS[table])]
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


# ------------------------------------------------------------------ handlers


@dataclass
class Batch:
    """Rows of one block range, per table, and what handlers look up across events."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    award_buyers: dict[tuple[int, int], str] = field(default_factory=dict)
    # awards whose buyers' moves came with ShareSettled (shared payments, issue 7)
    shared_settled: set[tuple[int, int]] = field(default_factory=set)
    lookup_buyer: Callable[[int, int], str | None] = lambda session, award: None
    # a session's grid parts (0x hex) stored before this batch, in order
    lookup_grid_parts: Callable[[int], list[str]] = lambda session: []
    grid_parts: dict[int, list[str]] = field(default_factory=dict)  # this batch's, per session

    def add(self, table: str, ev: DecodedLog, *values: Any) -> None:
        self.rows.setdefault(table, []).append((ev.block_number, ev.log_index, *values))

    def move(
        self, ev: DecodedLog, seq: int, account: str, session: int | None, free: int, locked: int
    ) -> None:
        """One balance movement in the escrow (a signed change of free and locked)."""
        self.add("escrow_movements", ev, seq, account, session, ev.event, free, locked)


Handler = Callable[[Batch, DecodedLog, int], None]  # (batch, event, block timestamp)


def _zone_registered(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("zones", ev, a["zone"], a["zoneIndex"], a["dso"], a["limitW"])


def _role(granted: bool) -> Handler:
    def handle(b: Batch, ev: DecodedLog, ts: int) -> None:
        a = ev.args
        b.add("roles", ev, a["role"], a["account"], granted, a["sender"])

    return handle


def _asset_registered(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("assets", ev, a["assetId"], a["manager"], a["owner"], a["assetType"], a["pMaxW"],
          a["pMinW"], a["zone"])  # fmt: skip


def _management_transferred(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("asset_managers", ev, a["assetId"], a["previousManager"], a["newManager"], a["by"])


def _asset_prequalified(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("asset_prequalifications", ev, a["assetId"], a["prequalified"], a["dso"])


SESSION_FIELDS = (
    "marketId", "product", "pricing", "slotCount", "slotMinutes", "deliveryStart",
    "biddingEnd", "revealDeadline", "clearingDeadline", "minBidW", "granularityW",
    "priceFloorEurPerMw", "priceCapEurPerMw", "unmetPenaltyEurPerMw", "bidBondUeur",
    "collateralUeurPerW", "shortfallPenaltyEurPerMw", "toleranceBps", "attestationQuorum",
)  # fmt: skip


def _session_opened(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    params = a["params"]
    b.add("sessions", ev, a["sessionId"], a["operator"], *(params.get(f) for f in SESSION_FIELDS),
          _label(params.get("marketId")))


def _label(value: object) -> str | None:
    """A bytes32 label (market id) for people: its text when it is printable UTF-8 (the
    padding removed), else `0x` and its 64 hex digits (`python_client.hashing.label_text`)."""
    from oracle.display import printable
    from python_client.hashing import label_text

    if isinstance(value, str):
        raw = bytes.fromhex(value.removeprefix("0x"))
    elif isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        return None
    text = label_text(raw)
    return text if printable(text) == text else "0x" + raw.hex()


def _need_posted(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid = a["sessionId"]
    b.add("needs", ev, sid, a["needIndex"], a["buyer"], a["buyerRole"], a["zone"],
          a["direction"], a["maxPriceEurPerMw"], a["budgetUeur"],
          json.dumps(a["quantityW"], separators=(",", ":")))  # fmt: skip
    b.move(ev, 0, a["buyer"], sid, -a["budgetUeur"], a["budgetUeur"])


def _session_joined(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid = a["sessionId"]
    b.add("session_joins", ev, sid, a["seller"], a["addedBids"], a["maxBids"], a["bondUeur"])
    b.move(ev, 0, a["seller"], sid, -a["bondUeur"], a["bondUeur"])


def _bid_committed(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("bids", ev, a["sessionId"], a["bidId"], a["seller"], ts)


def _bid_revealed(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, bid, assets = a["sessionId"], a["bidId"], a["assetIds"]
    b.add("bid_reveals", ev, sid, bid, a["seller"], a["zone"], a["direction"], a["divisible"],
          a["quantityW"], a["minQuantityW"], a["priceEurPerMw"], hex(a["slotMask"]),
          len(assets), a["collateralUeur"])  # fmt: skip
    for seq, asset in enumerate(assets):
        b.add("bid_assets", ev, seq, bid, asset)
    b.move(ev, 0, a["seller"], sid, -a["collateralUeur"], a["collateralUeur"])


def _bond_forfeited(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, amount = a["sessionId"], a["amountUeur"]
    b.add("bond_forfeits", ev, sid, a["bidId"], a["seller"], a["operator"], amount)
    _forfeit_moves(b, ev, sid, amount)


def _bonds_forfeited(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, amount = a["sessionId"], a["amountUeur"]
    b.add("seller_bond_forfeits", ev, sid, a["seller"], a["operator"], a["bids"], amount)
    _forfeit_moves(b, ev, sid, amount)


def _forfeit_moves(b: Batch, ev: DecodedLog, sid: int, amount: int) -> None:
    """A forfeited bond (one bid's or a seller's bids'): the seller's locked amount goes to
    the operator's free balance."""
    a = ev.args
    b.move(ev, 0, a["seller"], sid, 0, -amount)
    b.move(ev, 1, a["operator"], sid, amount, 0)


def _award_committed(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, index = a["sessionId"], a["awardIndex"]
    b.add("awards", ev, sid, index, a["bidId"], a["needIndex"], a["seller"], a["buyer"],
          a["quantityW"], a["priceEurPerMw"], a["paymentUeur"])  # fmt: skip
    b.award_buyers[(sid, index)] = a["buyer"]


def _result_committed(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid = a["sessionId"]
    b.add("results", ev, sid, a["oracle"], a["inputHash"], a["resultHash"], a["awardCount"],
          a["status"])  # fmt: skip
    b.add("result_status_changes", ev, sid, "committed", a["oracle"], a["status"], None, None)


def _result_attested(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("result_status_changes", ev, a["sessionId"], "attested", a["validator"],
          a.get("status"), a.get("attestations"), None)  # fmt: skip


def _result_disputed(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("result_status_changes", ev, a["sessionId"], "disputed", a["validator"],
          int(ResultStatus.DISPUTED), None, a.get("reasonHash"))  # fmt: skip


def _dispute_resolved(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("result_status_changes", ev, a["sessionId"], "resolved", a["admin"], a["status"],
          None, None)  # fmt: skip


def _delivery_recorded(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("deliveries", ev, a["sessionId"], a["awardIndex"], a["operator"], a["deliveredW"],
          a["evidenceHash"])  # fmt: skip


def _delivery_corrected(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("delivery_corrections", ev, a["sessionId"], a["awardIndex"], a["operator"],
          a["previousW"], a["deliveredW"], a["evidenceHash"])  # fmt: skip


def _award_settled(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, index, seller = a["sessionId"], a["awardIndex"], a["seller"]
    pay, refund, penalty = a["paymentUeur"], a["refundUeur"], a["penaltyUeur"]
    buyer = b.award_buyers.get((sid, index)) or b.lookup_buyer(sid, index)
    b.add("settlements", ev, sid, index, seller, buyer, pay, refund, penalty)
    b.move(ev, 0, seller, sid, pay, -penalty)
    if (sid, index) in b.shared_settled:  # each buyer's part moved with its ShareSettled
        return
    if buyer is not None:  # None only when indexing started after the award was committed
        b.move(ev, 1, buyer, sid, refund + penalty, -(pay + refund))


def _share_settled(b: Batch, ev: DecodedLog, ts: int) -> None:
    """One buyer's part of a shared award's settlement; its AwardSettled follows in the
    same transaction."""
    a = ev.args
    pay, refund, penalty = a["paymentUeur"], a["refundUeur"], a["penaltyUeur"]
    b.shared_settled.add((a["sessionId"], a["awardIndex"]))
    b.move(ev, 0, a["buyer"], a["sessionId"], refund + penalty, -(pay + refund))


def _seller_suspended(b: Batch, ev: DecodedLog, ts: int) -> None:
    b.add("seller_standing", ev, ev.args["seller"], True, ev.args["failures"], None)


def _seller_reinstated(b: Batch, ev: DecodedLog, ts: int) -> None:
    b.add("seller_standing", ev, ev.args["seller"], False, 0, ev.args["admin"])


def _budget_released(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, amount = a["sessionId"], a["amountUeur"]
    b.add("budget_releases", ev, sid, a["needIndex"], a["buyer"], amount)
    b.move(ev, 0, a["buyer"], sid, amount, -amount)


def _seller_funds_released(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    sid, total = a["sessionId"], a["bondUeur"] + a["collateralUeur"]
    b.add("seller_fund_releases", ev, sid, a["seller"], a["bondUeur"], a["collateralUeur"])
    b.move(ev, 0, a["seller"], sid, total, -total)


def _deposited(b: Batch, ev: DecodedLog, ts: int) -> None:
    b.move(ev, 0, ev.args["account"], None, ev.args["amountUeur"], 0)


def _withdrawn(b: Batch, ev: DecodedLog, ts: int) -> None:
    b.move(ev, 0, ev.args["account"], None, -ev.args["amountUeur"], 0)


def _grid_published(b: Batch, ev: DecodedLog, ts: int) -> None:
    """A part (the contract takes them in order from 0); the last one carries the hash of
    the session's grid inputs, all parts joined."""
    a = ev.args
    sid, part = int(a["sessionId"]), a["part"]
    index, count = int(a["partIndex"]), int(a["partCount"])
    if sid not in b.grid_parts:
        b.grid_parts[sid] = list(b.lookup_grid_parts(sid)) if index else []
    parts = b.grid_parts[sid]
    parts.append(part)
    joined_hash = None
    if index == count - 1 and len(parts) == count:
        joined_hash = keccak_hex(bytes.fromhex("".join(p[2:] for p in parts)))
    size = (len(part) - 2) // 2
    b.add("grid_parts", ev, sid, a["operator"], index, count, size, part, joined_hash)


def _transfer(b: Batch, ev: DecodedLog, ts: int) -> None:
    a = ev.args
    b.add("token_transfers", ev, a["from"], a["to"], a["value"])


# (contract, event) -> handler. Events not listed (Approval, OwnershipTransferred,
# RoleAdminChanged, any later addition) are kept in the raw `events` table only.
HANDLERS: dict[tuple[str, str], Handler] = {
    ("FlexRegistry", "ZoneRegistered"): _zone_registered,
    ("FlexRegistry", "RoleGranted"): _role(True),
    ("FlexRegistry", "RoleRevoked"): _role(False),
    ("FlexRegistry", "AssetRegistered"): _asset_registered,
    ("FlexRegistry", "ManagementTransferred"): _management_transferred,
    ("FlexRegistry", "AssetPrequalified"): _asset_prequalified,
    ("FlexMarket", "SessionOpened"): _session_opened,
    ("FlexMarket", "NeedPosted"): _need_posted,
    ("FlexMarket", "SessionJoined"): _session_joined,
    ("FlexMarket", "BidCommitted"): _bid_committed,
    ("FlexMarket", "BidRevealed"): _bid_revealed,
    ("FlexMarket", "BondForfeited"): _bond_forfeited,
    ("FlexMarket", "BondsForfeited"): _bonds_forfeited,
    ("FlexMarket", "AwardCommitted"): _award_committed,
    ("FlexMarket", "ResultCommitted"): _result_committed,
    ("FlexMarket", "ResultAttested"): _result_attested,
    ("FlexMarket", "ResultDisputed"): _result_disputed,
    ("FlexMarket", "DisputeResolved"): _dispute_resolved,
    ("FlexMarket", "DeliveryRecorded"): _delivery_recorded,
    ("FlexMarket", "DeliveryCorrected"): _delivery_corrected,
    ("FlexMarket", "ShareSettled"): _share_settled,
    ("FlexMarket", "AwardSettled"): _award_settled,
    ("FlexMarket", "SellerSuspended"): _seller_suspended,
    ("FlexMarket", "SellerReinstated"): _seller_reinstated,
    ("FlexMarket", "BudgetReleased"): _budget_released,
    ("FlexMarket", "SellerFundsReleased"): _seller_funds_released,
    ("FlexMarket", "Deposited"): _deposited,
    ("FlexMarket", "Withdrawn"): _withdrawn,
    ("FlexMarket", "GridPublished"): _grid_published,
    ("FlexToken", "Transfer"): _transfer,
}


def project(batch: Batch, ev: DecodedLog, block_timestamp: int) -> None:
    handler = HANDLERS.get((ev.contract, ev.event))
    if handler is not None:
        handler(batch, ev, block_timestamp)
