"""A reporter's phone as people write it: one number, one spelling (shared/phone.py), one keyed digest
(shared/crypto.py) that no national id's digest equals; what is not a phone number is told apart."""

from __future__ import annotations

import pytest

from shared.crypto import LookupHasher
from shared.phone import normalise_phone, phone_number

KEY = bytes(range(32))


@pytest.mark.parametrize(
    "written",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86-13800138000",
        "+86 138 0013 8000",
        "(+86) 13800138000",
        "008613800138000",
        "8613800138000",
        "１３８ ００１３ ８０００",
    ],
)
def test_every_way_of_writing_a_mobile_number_is_one_number(written: str) -> None:
    assert normalise_phone(written) == phone_number(written) == "13800138000"


@pytest.mark.parametrize(
    "written",
    ["0351-1234567", "(0351) 123 4567", "+86 351 1234567", "+86 (0)351 1234567", "0086 351 123-4567"],
)
def test_a_landline_is_one_number_at_home_and_from_abroad(written: str) -> None:
    assert phone_number(written) == "3511234567"


def test_another_countrys_number_keeps_its_code() -> None:
    assert phone_number("+1 555 010 0199") == phone_number("001-555-010-0199") == "+15550100199"
    assert phone_number("+1 555 010 0199") != phone_number("555 010 0199")


@pytest.mark.parametrize(
    "written",
    [
        "",
        "12345",
        "0123456",
        "+",
        "1234567890123456",
        "138 0013 800O",
        "14040220120101001X",
        "Wang Xiaoming",
        "138/0013/8000",
    ],
)
def test_what_is_not_a_phone_number_is_none(written: str) -> None:
    assert phone_number(written) is None


def test_the_digest_is_of_the_number_however_written_and_never_a_national_ids() -> None:
    hasher = LookupHasher(KEY)
    digest = hasher.reporter_phone_digest("+86 138-0013-8000")
    assert (
        digest == hasher.reporter_phone_digest("138 0013 8000") == hasher.reporter_phone_digest("13800138000")
    )
    assert digest != hasher.reporter_phone_digest("13800138001")
    assert digest != LookupHasher(bytes(range(1, 33))).reporter_phone_digest("13800138000"), "keyed"
    assert "13800138000" not in digest
    # The same digits as a national id (the old 15-digit kind) and a phone: two digests.
    assert hasher.reporter_phone_digest("110101201001011") != hasher.national_id_digest("110101201001011")
