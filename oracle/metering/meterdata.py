"""Meter data files (`../shared/spec/metering.md`): parsing, the canonical form and its hash.

A file is CSV, UTF-8, comma separated, header `asset_id,interval_start,net_import_wh`, one
row per asset and 15-minute interval, in any order. `interval_start` is ISO 8601 with an
offset, aligned to :00/:15/:30/:45; `net_import_wh` a signed integer (energy taken from the
grid in the interval, negative when fed in). A row that repeats an (asset, interval) with the
same value is the same reading; with another value it is an error, like a bad timestamp or a
non-integer value: every problem is reported with its line number, nothing is loaded.

The hash put on chain is keccak256 of the canonical form: rows sorted by asset id, then by
interval start as UTC, written `asset,unix_seconds,wh\\n`, no header.

Wall clock: a baseline compares the same local time of day on other days, so each reading
also keeps the offset it was written with (`local_interval`: its interval number in local
wall-clock time). At the end of summer time a local quarter hour occurs twice; the earlier
one (in UTC) is the one a local time of day refers to.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from oracle.canonical import keccak_hex
from oracle.errors import OracleError

INTERVAL_S = 900
"""One metering interval: 15 minutes."""
INTERVALS_PER_DAY = 96
DAY_S = 86_400
WH_LIMIT = 10**12
"""|net_import_wh| above this (1 TWh in 15 minutes) is refused: no meter reads it, and every
sum the baselines take stays exact in 64-bit integers."""
HEADER = ("asset_id", "interval_start", "net_import_wh")
ACTIVATIONS_HEADER = ("asset_id", "interval_start")

_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                  r"(Z|[+-][0-9]{2}:[0-9]{2})\Z")


class MeterDataError(OracleError):
    """A meter data (or activations, or nominated schedule) file is not well formed.

    `problems` lists every `(where, message)` found, `where` being `line N` (1 is the header)
    or the file itself, e.g. `("line 7", "net_import_wh '4.5' is not an integer")`.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{where}: {msg}" for where, msg in problems))


@dataclass(frozen=True, slots=True)
class Reading:
    unix_s: int
    offset_s: int
    wh: int
    line: int = 0  # where the file gave it (for messages)

    @property
    def local_interval(self) -> int:
        """The interval number in the wall-clock time of its own offset (local seconds since
        1970-01-01T00:00 local, divided by 900)."""
        return (self.unix_s + self.offset_s) // INTERVAL_S


@dataclass(frozen=True)
class MeterData:
    """Readings per asset, keyed by the interval start in UTC seconds."""

    readings: Mapping[str, Mapping[int, Reading]]

    def assets(self) -> list[str]:
        return sorted(self.readings)

    def canonical(self) -> bytes:
        """The canonical form whose keccak256 goes on chain."""
        out = io.StringIO()
        for asset in sorted(self.readings):
            rows = self.readings[asset]
            for unix_s in sorted(rows):
                out.write(f"{asset},{unix_s},{rows[unix_s].wh}\n")
        return out.getvalue().encode("utf-8")

    def hash(self) -> str:
        return keccak_hex(self.canonical())

    def local_series(self, asset: str) -> dict[int, int]:
        """Local interval number -> Wh of one asset (the earlier reading when a local quarter
        hour occurs twice)."""
        series: dict[int, int] = {}
        rows = self.readings.get(asset, {})
        for unix_s in sorted(rows):
            r = rows[unix_s]
            series.setdefault(r.local_interval, r.wh)
        return series

    def offset_near(self, asset: str, unix_s: int) -> int | None:
        """The offset the file uses for `asset` at the instant `unix_s`: that of its reading
        nearest in time (the earlier one on a tie); None when the asset has no reading."""
        rows = self.readings.get(asset)
        if not rows:
            return None
        best = min(rows, key=lambda t: (abs(t - unix_s), t))
        return rows[best].offset_s


def parse_instant(text: str) -> tuple[int, int]:
    """`2026-05-12T00:15:00+02:00` -> (unix seconds, offset seconds). Raises ValueError with
    a message fit to show the user."""
    if not _ISO.match(text):
        raise ValueError(f"{text!r} is not an ISO 8601 time with an offset "
                         "(e.g. 2026-05-12T00:15:00+02:00)")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid time ({exc})") from None
    offset = moment.utcoffset()
    if offset is None:  # the pattern requires one; kept for the type checker
        raise ValueError(f"{text!r} has no offset")
    offset_s = int(offset.total_seconds())
    unix_s = int((moment - datetime(1970, 1, 1, tzinfo=moment.tzinfo)).total_seconds()) \
        - offset_s
    return unix_s, offset_s


def parse_interval_start(text: str) -> tuple[int, int]:
    """As `parse_instant`, and aligned to a quarter hour of its own wall clock."""
    unix_s, offset_s = parse_instant(text)
    if (unix_s + offset_s) % INTERVAL_S:
        raise ValueError(f"{text!r} is not aligned to :00, :15, :30 or :45")
    return unix_s, offset_s


def format_instant(unix_s: int, offset_s: int) -> str:
    """The ISO 8601 form with the offset, seconds always written (`...T17:00:00+02:00`)."""
    local = datetime(1970, 1, 1) + timedelta(seconds=unix_s + offset_s)
    sign = "+" if offset_s >= 0 else "-"
    hh, mm = divmod(abs(offset_s) // 60, 60)
    return f"{local.isoformat(timespec='seconds')}{sign}{hh:02d}:{mm:02d}"


def _rows(text: str, header: tuple[str, ...], problems: list[tuple[str, str]]
          ) -> Iterable[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    first = next(reader, None)
    if first is None:
        problems.append(("line 1", f"empty file: the header {','.join(header)} is missing"))
        return
    if tuple(c.strip().lstrip("\ufeff") for c in first) != header:
        problems.append(("line 1", f"header {','.join(first)!r} is not {','.join(header)}"))
        return
    width = len(header)
    for row in reader:
        if len(row) != width:
            if not row or all(not c.strip() for c in row):
                continue  # blank lines carry nothing
            problems.append((f"line {reader.line_num}", f"{len(row)} fields, expected "
                             f"{width} ({','.join(header)})"))
            continue
        yield reader.line_num, row


def _text(source: str | Path | bytes) -> str:
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise MeterDataError([(str(source), f"cannot read: {exc.strerror}")]) from None
    elif isinstance(source, bytes):
        data = source
    else:
        return source
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MeterDataError([("file", f"not UTF-8 (byte {exc.start})")]) from None


def _is_integer(text: str) -> bool:
    digits = text[1:] if text[:1] in ("+", "-") else text
    return digits.isascii() and digits.isdigit()


def parse_meter_data(source: str | Path | bytes) -> MeterData:
    """Parse a meter data file (text, bytes or a path). Raises MeterDataError listing every
    problem with its line; returns nothing partial."""
    problems: list[tuple[str, str]] = []
    readings: dict[str, dict[int, Reading]] = {}
    instants: dict[str, tuple[int, int]] = {}  # a file repeats its times for every asset
    for line, (asset, start, wh_text) in _rows(_text(source), HEADER, problems):
        where = f"line {line}"
        asset, wh_text = asset.strip(), wh_text.strip()
        if not asset:
            problems.append((where, "asset_id is empty"))
            continue
        instant = instants.get(start)
        if instant is None:
            try:
                instant = instants[start] = parse_interval_start(start.strip())
            except ValueError as exc:
                problems.append((where, f"interval_start {exc}"))
                continue
        if not _is_integer(wh_text):
            problems.append((where, f"net_import_wh {wh_text!r} is not an integer"))
            continue
        wh = int(wh_text)
        if abs(wh) > WH_LIMIT:
            problems.append((where, f"net_import_wh {wh} is beyond ±{WH_LIMIT}"))
            continue
        unix_s = instant[0]
        rows = readings.get(asset)
        if rows is None:
            rows = readings[asset] = {}
        seen = rows.get(unix_s)
        if seen is not None:
            if seen.wh != wh:
                problems.append((where, f"{asset} at {start} again with {wh} Wh (line "
                                 f"{seen.line} has {seen.wh} Wh)"))
            continue
        rows[unix_s] = Reading(unix_s, instant[1], wh, line)
    if problems:
        raise MeterDataError(problems)
    return MeterData(readings)


def parse_activations(source: str | Path | bytes) -> dict[str, set[int]]:
    """An activations file (`asset_id,interval_start`): per asset, the local days (days since
    1970-01-01 in each row's own offset) on which it had an activation."""
    problems: list[tuple[str, str]] = []
    days: dict[str, set[int]] = {}
    for line, (asset, start) in _rows(_text(source), ACTIVATIONS_HEADER, problems):
        asset = asset.strip()
        try:
            unix_s, offset_s = parse_interval_start(start.strip())
        except ValueError as exc:
            problems.append((f"line {line}", f"interval_start {exc}"))
            continue
        if not asset:
            problems.append((f"line {line}", "asset_id is empty"))
            continue
        days.setdefault(asset, set()).add((unix_s + offset_s) // DAY_S)
    if problems:
        raise MeterDataError(problems)
    return days
