"""The case number (shared/case_number.py): one spelling, parsed back exactly; the county and the
year in China Standard Time it is counted by; and a batch's new cases sharing out the ranges it
reserved, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.case_number import CaseNumberParts, counter_of, county_of, numbers_in, tally, year_of
from shared.contracts.vocabulary import CaseNumber

CONTRACT = TypeAdapter(CaseNumber)


@pytest.mark.parametrize(
    "parts, spelled",
    [
        (CaseNumberParts("140402", 2026, 123), "140402-2026-00123"),
        (CaseNumberParts("140403", 2027, 1), "140403-2027-00001"),
        (CaseNumberParts("140402", 2026, 99_999), "140402-2026-99999"),
        (CaseNumberParts("140402", 2026, 100_000), "140402-2026-100000"),  # past 99999: more digits
        (CaseNumberParts("140402", 2026, 999_999_999), "140402-2026-999999999"),
    ],
)
def test_a_number_is_spelled_one_way_the_contract_takes_and_parsed_back(parts, spelled) -> None:
    assert str(parts) == spelled
    assert CONTRACT.validate_python(spelled) == spelled
    assert CaseNumberParts.parse(spelled) == parts


@pytest.mark.parametrize(
    "text",
    [
        "",
        "140402-2026-0012",
        "140402-2026-000123",  # too short; a leading zero past five digits
        "14040-2026-00123",
        "140402-26-00123",
        "140402-2026-00000",
        "140402/2026/00123",
        " 140402-2026-00123",
        "140402-2026-1234567890",
        "１４０４０２-2026-00123",
    ],
)
def test_anything_else_is_not_a_case_number(text) -> None:
    with pytest.raises(ValueError):
        CaseNumberParts.parse(text)


@pytest.mark.parametrize(
    "county, year, sequence",
    [
        ("14040", 2026, 1),
        ("1404021", 2026, 1),
        ("14040a", 2026, 1),
        ("140402", 999, 1),
        ("140402", 2026, 0),
        ("140402", 2026, 10**9),
        ("１４０４０２", 2026, 1),
    ],
)
def test_parts_outside_the_format_are_refused(county, year, sequence) -> None:
    with pytest.raises(ValueError):
        CaseNumberParts(county, year, sequence)


def test_the_contract_refuses_what_the_format_never_spells() -> None:
    with pytest.raises(ValidationError):
        CONTRACT.validate_python("140402-2026-123")


def test_the_county_is_the_first_six_digits_of_the_territory() -> None:
    assert county_of("140402001001") == "140402"
    assert county_of("140403100000") == "140403"
    assert county_of("140400000000") == "140400"  # a case at the city itself: the city's six digits
    with pytest.raises(ValueError):
        county_of("1404")


def test_the_year_is_the_year_in_china_standard_time() -> None:
    assert year_of(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)) == 2026
    assert year_of(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == 2027  # midnight in Beijing
    tokyo = timezone(timedelta(hours=9))
    assert year_of(datetime(2027, 1, 1, 0, 30, tzinfo=tokyo)) == 2026  # 23:30 in Beijing
    assert counter_of("140403100201", datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == ("140403", 2027)
    with pytest.raises(ValueError):
        year_of(datetime(2026, 6, 1))


def test_a_batch_asks_each_counter_once_in_key_order() -> None:
    counters = [("140403", 2026), ("140402", 2026), ("140403", 2026), ("140402", 2025), ("140403", 2026)]
    assert tally(counters) == [("140402", 2025, 1), ("140402", 2026, 1), ("140403", 2026, 3)]
    assert tally([]) == []


def test_new_cases_take_their_counter_s_reserved_range_in_order() -> None:
    counters = [("140403", 2026), ("140402", 2026), ("140403", 2026), ("140403", 2026)]
    # The counters after the reservation: 140403 moved from 7 to 10, 140402 from 0 to 1.
    last = {("140403", 2026): 10, ("140402", 2026): 1}
    assert numbers_in(counters, last) == [
        "140403-2026-00008",
        "140402-2026-00001",
        "140403-2026-00009",
        "140403-2026-00010",
    ]
    assert numbers_in([], {}) == []
