"""Bytes a careless vendor or an attacker can put on any topic, each with the reason its
dead letter must give: the catalogue both the consumer and the end-to-end tests send."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts.strict_json import MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class BadInput:
    name: str
    value: bytes
    reason: str  # what x-dlq-error must contain
    headers: tuple[tuple[str, bytes], ...] = ()


JSON_HEADER = (("content-type", b"application/json"),)

BAD_INPUTS = (
    BadInput("deep-nesting", b"[" * 10_000 + b"]" * 10_000, "nested 10000 levels deep", JSON_HEADER),
    BadInput(
        "huge-integer", b'{"event_id": ' + b"7" * 5_000 + b"}", "an integer of 5000 digits", JSON_HEADER
    ),
    BadInput("text-as-json", b"this is plain text, not JSON", "not JSON", JSON_HEADER),
    BadInput("empty", b"", "empty message", JSON_HEADER),
    BadInput("invalid-utf8", b'{"event_id": "\xff\xfe\xfd"}', "not valid UTF-8", JSON_HEADER),
    BadInput("over-size", b'{"padding": "' + b"x" * MAX_MESSAGE_BYTES + b'"}', "the limit is", JSON_HEADER),
    BadInput("duplicate-keys", b'{"event_id": "a", "event_id": "b"}', "duplicate key", JSON_HEADER),
    # Not the body's fault but the headers': FastStream would decode them strictly.
    BadInput(
        "invalid-utf8-header", b"{}", "", (("content-type", b"application/json"), ("x-note", b"\xff\xfe"))
    ),
)
BAD_INPUT_IDS = [bad.name for bad in BAD_INPUTS]
