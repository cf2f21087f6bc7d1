"""The one gate every JSON message passes before it is parsed: size, UTF-8, nesting depth,
duplicate keys, numbers — so nothing a producer sends can crash or fool a parser.

Pydantic's parser keeps the last of duplicate keys while another reader may keep the first
(a parser-mismatch risk), Python's recurses on deep nesting and refuses 5,000-digit
integers with errors no contract describes; here each is one `MalformedMessage` whose
reason names the rule and never quotes the value (it may be a child's personal data).
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.contracts.envelope import ContractError

MAX_MESSAGE_BYTES = 256 * 1024
"""Default limit of a message on any topic (the hotline's reports have a smaller one)."""
MAX_DEPTH = 32
"""No contract nests deeper than a handful of levels; 32 leaves room and stops recursion bombs."""
MAX_NUMBER_DIGITS = 40
"""No contract has a number near this long (ids are strings); longer ones are an attack."""

# A JSON string (with escapes), so brackets inside strings are not counted as nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


class MalformedMessage(ContractError):
    """Bytes that are not acceptable JSON; the message says which rule, never the value."""


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise MalformedMessage("duplicate key in a JSON object")
        seen[key] = value
    return seen


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise MalformedMessage(
            f"an integer of {len(text.lstrip('-'))} digits (the limit is {MAX_NUMBER_DIGITS})"
        )
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise MalformedMessage(f"a number of {len(text)} characters (the limit is {MAX_NUMBER_DIGITS})")
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise MalformedMessage("a number too large for a float")
    return value


def _constant(name: str) -> Any:
    raise MalformedMessage(f"{name} is not JSON")


def _deeper_than(text: str, limit: int) -> int | None:
    """The nesting depth of `text` when it exceeds `limit`, else None."""
    if text.count("[") + text.count("{") <= limit:  # most messages: too few brackets to need a scan
        return None
    deepest = depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest if deepest > limit else None


def load_strict(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `raw`, or MalformedMessage naming the rule it breaks. Limits are
    checked before the parser runs: size first, then UTF-8, then depth."""
    if not raw:
        raise MalformedMessage("empty message")
    if len(raw) > max_bytes:
        raise MalformedMessage(f"message is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedMessage(f"not valid UTF-8 (at byte {exc.start})") from None
    if (depth := _deeper_than(text, max_depth)) is not None:
        raise MalformedMessage(f"nested {depth} levels deep; the limit is {max_depth}")
    try:
        return json.loads(
            text,
            object_pairs_hook=_refuse_duplicates,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:  # unreachable after the depth check; kept so no input escapes as a crash
        raise MalformedMessage("nested too deeply") from None


def inspect_json(raw: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES, max_depth: int = MAX_DEPTH) -> None:
    """Raise MalformedMessage unless `raw` is acceptable JSON (see load_strict)."""
    load_strict(raw, max_bytes=max_bytes, max_depth=max_depth)
