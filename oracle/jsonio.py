"""Strict JSON reading: a key given twice in one object is an error, never "the last wins".

Python's `json` and pydantic's parser both keep the last value of a repeated key, so a
file or a request body that says `"quantity_w": 100, ..., "quantity_w": 10000` would
silently mean the second. Every JSON that reaches the market from outside (scenario files,
API bodies) goes through `loads` or `check_no_duplicate_keys` first. One home: use these,
do not write a second hook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from oracle.errors import DocumentError, OracleError

ModelT = TypeVar("ModelT", bound=BaseModel)


class DuplicateKeyError(OracleError, ValueError):
    """A JSON object names a key twice (a ValueError too: raised inside `json.loads`).
    `path` is where the object lies (`bids[3]`, or "" for the top level), `key` the repeated
    key; `field` joins them (`bids[3].quantity_w`)."""

    def __init__(self, path: str, key: str) -> None:
        self.path = path
        self.key = key
        self.field = f"{path}.{key}" if path else key
        super().__init__(f"{self.field}: key given twice")


class _Object(dict[str, Any]):
    """A decoded object that remembers the first key it saw twice."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.duplicate is None:
            obj.duplicate = key
        obj[key] = value
    return obj


def _first_duplicate(value: Any, path: str) -> DuplicateKeyError | None:
    """The first repeated key in document order (depth first), with its path."""
    if isinstance(value, dict):
        if isinstance(value, _Object) and value.duplicate is not None:
            return DuplicateKeyError(path, value.duplicate)
        for key, item in value.items():
            found = _first_duplicate(item, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_duplicate(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def loads(text: str | bytes) -> Any:
    """`json.loads`, but a key repeated in one object raises `DuplicateKeyError` naming it.
    Invalid JSON raises `json.JSONDecodeError` as usual. Objects come back as plain dicts
    (a subclass of dict: compare and serialise them like dicts)."""
    value = json.loads(text, object_pairs_hook=_pairs)
    found = _first_duplicate(value, "")
    if found is not None:
        raise found
    return value


def _repeats_a_key(text: str | bytes) -> bool:
    """Whether some object of `text` names a key twice: one pass with plain dicts (the
    common, clean case costs little more than json.loads)."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        obj = dict(items)
        if len(obj) != len(items):
            repeated = True
        return obj

    json.loads(text, object_pairs_hook=pairs)
    return repeated


def check_no_duplicate_keys(text: str | bytes) -> None:
    """Raise `DuplicateKeyError` if `text` repeats a key in an object; do nothing for text
    that is not valid JSON (the caller's own parser reports that, with its own message)."""
    try:
        if _repeats_a_key(text):
            loads(text)  # again, to name the first repeated key and where it is
    except json.JSONDecodeError:
        return


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        # Unions report one branch per error ("int", "list[...]"): drop the branch names.
        loc = [p for p in loc if p not in ("int", "list[constrained-int]", "constrained-int")]
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "json_invalid":
            msg = f"invalid JSON: {err.get('ctx', {}).get('error', msg)}"
        problems.append((_path(loc), msg))
    # one message per path (union branches repeat themselves)
    seen: set[tuple[str, str]] = set()
    unique = []
    for p in problems:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


def parse_model(
    model: type[ModelT],
    data: str | bytes | Mapping[str, Any],
    error: type[DocumentError],
    problems: Callable[[ModelT], list[tuple[str, str]]] | None = None,
) -> ModelT:
    """Parse a strict pydantic document from JSON text (or a decoded mapping): a repeated
    key, a wrong type, an unknown field each become a `(field path, message)` problem of
    `error`, all of them at once; then the document's own `problems` (ids, references,
    sizes), raised the same way."""
    text = data if isinstance(data, str | bytes) else json.dumps(data)
    try:
        check_no_duplicate_keys(text)
    except DuplicateKeyError as exc:
        raise error([(exc.field, "key given twice")]) from None
    try:
        document = model.model_validate_json(text)
    except ValidationError as exc:
        raise error(_pydantic_problems(exc)) from None
    found = problems(document) if problems is not None else []
    if found:
        raise error(found)
    return document


def read_document(path: str | Path, error: type[DocumentError]) -> bytes:
    """The bytes of a document file; an unreadable file is `error` naming it (exit 2)."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise error([("", f"cannot read {path}: {exc.strerror}")]) from None
