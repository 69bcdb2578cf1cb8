"""Text for people: control characters escaped, so that no id can drive the terminal.

Ids, names, labels and reasons come from files and from the chain, written by anyone: a
bid id holding `ESC ] 0 ; ... BEL` retitles the terminal, `ESC [ 2 J` clears it, a carriage
return overwrites the line before it, a bidi override (U+202E) reverses what follows.
Everything printed for a person goes through `printable` (the `flexmarket` command wraps its
stdout and stderr with it: `EscapingWriter`); JSON output is left exact. One home: use
this, do not write a second escaper.
"""

from __future__ import annotations

import argparse
import logging
import unicodedata
from typing import Any, TextIO

# format characters that reorder or hide text (Trojan Source, CVE-2021-42574)
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    return f"\\u{ord(ch):04x}"


def printable(text: object, *, newlines: bool = False) -> str:
    """`text` (any value, through str) with every control character (C0, DEL, C1) and
    bidi control written as `\\uXXXX`. `newlines=True` keeps "\\n" and "\\t" as they are
    (whole messages); values (an id, a name) keep none. The escape is JSON's, so text that
    was JSON stays valid JSON with the same meaning."""
    s = str(text)
    if s.isprintable() and not (_BIDI & set(s)):  # the common case, without a loop
        return s
    out = []
    for ch in s:
        if newlines and ch in "\n\t":
            out.append(ch)
        elif ch in _BIDI or unicodedata.category(ch) == "Cc":
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)


class EscapingWriter:
    """A text stream that writes `printable(text, newlines=True)` to the stream it wraps:
    a terminal's escape sequences cannot get through, whoever calls `print`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text, newlines=True))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, buffer, ...
        return getattr(self.stream, name)


# ------------------------------------------------------------------ progress on stderr
# One mechanism for long work: modules log to their stdlib logger (`logging.getLogger(
# __name__)`): `log.info(...)` for a phase, `progress(log, what, done, total)` for a count
# with a known total. `flexmarket` shows them on stderr when it is a terminal (never with
# --json or -q; -v shows them anywhere, with debug lines): `show_progress`.

# every package (tests/flexmarket/test_cli_commands.py holds it to pyproject's mypy list)
PACKAGES = ("oracle", "python_client", "refmarkets", "verifier", "nodes", "api", "flexmarket")
_BAR = 24


def progress(log: logging.Logger, what: str, done: int, total: int) -> None:
    """`what: done/total` with a bar on a terminal (one line, redrawn); elsewhere only the
    last count. Cheap when nothing is shown."""
    if log.isEnabledFor(logging.INFO):
        log.info("%s: %d/%d", what, done, total, extra={"progress": (done, total)})


class ProgressHandler(logging.Handler):
    """Log lines as `PREFIX: message` on a stream, escaped (`printable`); records carrying
    `progress=(done, total)` as a bar redrawn in place on a terminal, else only when done."""

    def __init__(self, stream: TextIO | EscapingWriter, prefix: str) -> None:
        super().__init__()
        self.stream = getattr(stream, "stream", stream)  # under an EscapingWriter: its stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.prefix = prefix
        self.open_bar = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"{self.prefix}: {printable(record.getMessage())}"
            counts = getattr(record, "progress", None)
            if counts is not None:
                done, total = counts
                if self.tty:
                    filled = _BAR * done // max(total, 1)
                    bar = "#" * filled + "." * (_BAR - filled)
                    self.stream.write(f"\r\x1b[K{text} [{bar}]")
                    self.open_bar = done < total
                    if not self.open_bar:
                        self.stream.write("\n")
                    self.stream.flush()
                    return
                if done < total:
                    return
            if self.open_bar:
                self.stream.write("\n")
                self.open_bar = False
            self.stream.write(text + "\n")
            self.stream.flush()
        except Exception:  # noqa: BLE001 - logging must never break the work
            self.handleError(record)


def show_progress(
    stream: TextIO | EscapingWriter, prefix: str, *, json: bool = False, verbosity: int = 0
) -> None:
    """Route the packages' loggers to `stream`: INFO (phases, counts) when it is a terminal
    and neither --json nor -q (verbosity < 0) was given; -v (verbosity > 0) DEBUG anywhere;
    otherwise warnings only (as Python shows them without any set-up)."""
    tty = bool(getattr(stream, "isatty", lambda: False)())
    if verbosity > 0:
        level = logging.DEBUG
    elif verbosity == 0 and tty and not json:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = ProgressHandler(stream, prefix)
    for name in PACKAGES:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, ProgressHandler)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False


class HelpFormatter(argparse.HelpFormatter):
    """Every command's help: an option's default is shown after its help (unless the help
    names it, or there is none: a flag, an optional value left out)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or action.option_strings == []
        ):
            return text
        return f"{text} (default: %(default)s)"
