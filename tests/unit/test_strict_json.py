"""The gate before every parser: each rule refuses what it must with a reason that never
quotes the value, and lets every real message through unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.contracts.strict_json import MAX_DEPTH, MalformedMessage, load_strict
from tests.malformed import BAD_INPUTS, BadInput

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


@pytest.mark.parametrize(
    "bad", [b for b in BAD_INPUTS if b.reason], ids=[b.name for b in BAD_INPUTS if b.reason]
)
def test_each_bad_input_is_refused_with_its_reason(bad: BadInput) -> None:
    with pytest.raises(MalformedMessage, match=bad.reason):
        load_strict(bad.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_real_messages_pass_unchanged(path: Path) -> None:
    raw = path.read_bytes()
    assert load_strict(raw) == json.loads(raw)


def test_depth_counts_nesting_not_brackets_inside_strings() -> None:
    nested_to_the_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert load_strict(nested_to_the_limit) is not None
    with pytest.raises(MalformedMessage, match=f"nested {MAX_DEPTH + 1} levels"):
        load_strict(b"[" + nested_to_the_limit + b"]")
    many_brackets_in_a_string = json.dumps({"note": "[{" * 500, "list": [[1], [2], [3]] * 20}).encode()
    assert load_strict(many_brackets_in_a_string)["note"] == "[{" * 500
    flat_but_many = json.dumps([[i] for i in range(100)]).encode()  # 101 brackets, depth 2
    assert len(load_strict(flat_but_many, max_depth=2)) == 100


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": Infinity}', "Infinity is not JSON"),
        (b'{"a": 1e999}', "too large for a float"),
        (b'{"a": {"b": 1, "b": 1}}', "duplicate key"),
        (b'{"a": 1', "not JSON"),
    ],
)
def test_numbers_and_objects_json_does_not_allow(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        load_strict(raw)


def test_reasons_never_quote_the_value() -> None:
    secret = "110101201605011234"
    for raw in (
        f'{{"id": "{secret}", "id": "{secret}"}}'.encode(),
        f'{{"id": {secret * 3}}}'.encode(),
        f"not json {secret}".encode(),
        f'{{"id": "{secret}"}}'.encode() + b"\xff",
    ):
        with pytest.raises(MalformedMessage) as refused:
            load_strict(raw)
        assert secret not in str(refused.value)
