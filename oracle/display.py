"""Text for people: control characters escaped, so that no id can drive the terminal.

Ids, names, labels and reasons come from files and from the chain, written by anyone: a
bid id holding `ESC ] 0 ; ... BEL` retitles the terminal, `ESC [ 2 J` clears it, a carriage
return overwrites the line before it, a bidi override (U+202E) reverses what follows.
Everything printed for a person goes through `printable` (the `flexmarket` command wraps its
stdout and stderr with it: `EscapingWriter`); JSON output is left exact. One home: use
this, do not write a second escaper.
"""

from __future__ import annotations

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
